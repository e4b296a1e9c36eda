"""pnpleaves.training.config: TOML round trip, validation, shipped configs, path and dev-set lookup."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pnpleaves.errors import InputError
from pnpleaves.models import build_model, count_parameters
from pnpleaves.training.config import DATA_ENV, TrainConfig, dumps_toml, load_config
from training_fixtures import CONFIGS, PROBES, tiny_config


def test_config_round_trips_through_toml(tmp_path):
    cfg = tiny_config(tmp_path, **{"data.options": {"alpha": 3.0}, "noise.blind": True})
    text = cfg.to_toml()
    again = TrainConfig.from_dict(tomllib.loads(text))
    assert again == cfg
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path) == cfg


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")) + sorted(PROBES.glob("*.toml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_configs_parse_and_build(path):
    cfg = load_config(path)
    assert count_parameters(build_model(cfg.model.arch, cfg.model.kwargs)) > 0


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")) + sorted(PROBES.glob("*.toml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_configs_do_not_point_outside_the_repository(path):
    cfg = load_config(path)
    for key, value in (("dev.folder", cfg.dev.folder), ("data.cache_dir", cfg.data.cache_dir)):
        assert not Path(value).is_absolute() and ".." not in Path(value).parts, f"{key} = {value!r}"


@pytest.mark.parametrize("name", ["vl-drunet", "dl-drunet"])
def test_shipped_prior_configs_train_as_the_cards_say(name):
    cfg = load_config(CONFIGS / f"{name}.toml")
    assert cfg.name == name
    assert cfg.noise.sigma_range[0] == 0 and cfg.noise.sigma_range[1] >= 75 / 255 - 1e-9
    assert cfg.data.generator == name[:2] and cfg.data.options.get("color", "natural") == "natural"
    assert cfg.data.permute_channels and cfg.data.augment


@pytest.mark.parametrize("name", ["l2", "nc24", "batch32", "noclip", "lr2e-4"])
def test_probe_configs_change_one_setting_of_the_base_probe(name):
    """Each training-efficiency probe differs from research/probes/base.toml in the setting it names only."""
    base, probe = (load_config(PROBES / f"{n}.toml").to_dict() for n in ("base", name))
    changed = {(sec, key) for sec in base if isinstance(base[sec], dict)
               for key in base[sec] if base[sec][key] != probe[sec][key]}
    expected = {"l2": {("optim", "loss")}, "nc24": {("model", "kwargs")},
                "batch32": {("data", "batch_size"), ("train", "eval_every")}, "noclip": {("optim", "grad_clip")},
                "lr2e-4": {("optim", "lr")}}
    assert changed == expected[name]


def test_the_two_priors_differ_only_by_their_generator():
    """dl-drunet is the control of vl-drunet: same net, noise, optimisation, budget and evaluation."""
    vl, dl = (load_config(CONFIGS / f"{n}.toml").to_dict() for n in ("vl-drunet", "dl-drunet"))
    for section in ("model", "noise", "optim", "train", "dev"):
        assert vl[section] == dl[section], section
    differ = {k for k in vl["data"] if vl["data"][k] != dl["data"][k]}
    assert differ == {"generator", "cache_dir", "options"}


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match=r"unknown key\(s\) \['lr_max'\] in \[optim\]; allowed:"):
        TrainConfig.from_dict({"optim": {"lr_max": 1.0}})
    with pytest.raises(InputError, match="unknown config key 'optimiser'"):
        TrainConfig.from_dict({"optimiser": {}})
    with pytest.raises(InputError, match="data.source must be one of"):
        TrainConfig.from_dict({"data": {"source": "web"}})
    with pytest.raises(InputError, match="noise.sigma_range must satisfy lo <= hi"):
        TrainConfig.from_dict({"noise": {"sigma_range": [0.3, 0.1]}})
    with pytest.raises(InputError, match="needs data.cache_dir"):
        TrainConfig.from_dict({"data": {"source": "cache"}})
    with pytest.raises(InputError, match="model.arch must be one of"):
        TrainConfig.from_dict({"model": {"arch": "unet"}})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_config(bad)


def test_toml_writer_nested_tables():
    data = {"a-b": {"x": 1, "kw": {"nc": [1, 2]}, "card": {"f": 1.5e-7, "d": {"s": "q\"z", "o": {"k": True}}}}}
    assert tomllib.loads(dumps_toml(data)) == data


def test_default_config_has_no_dev_set_outside_the_repository():
    assert TrainConfig().dev.folder == "" and TrainConfig().dev_folder() is None


def test_relative_paths_are_found_under_the_config_folder_and_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATA_ENV, raising=False)
    (tmp_path / "configs" / "images").mkdir(parents=True)
    (tmp_path / "data" / "testsets" / "Set5").mkdir(parents=True)
    path = tmp_path / "configs" / "c.toml"
    path.write_text(tiny_config(tmp_path, **{"dev.folder": "testsets/Set5"}).to_toml(), encoding="utf-8")
    cfg = load_config(path)
    assert cfg.dev_folder() is None  # not on this machine: the run skips its dev evaluation
    assert cfg.override(**{"dev.folder": "images"}).dev_folder() == tmp_path / "configs" / "images"
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    assert cfg.dev_folder() == tmp_path / "data" / "testsets" / "Set5"
    assert cfg.resolve_path("testsets") == tmp_path / "data" / "testsets"
    with pytest.raises(FileNotFoundError, match=f"under \\${DATA_ENV}"):
        cfg.override(**{"dev.folder": "testsets/Set14"}).dev_folder()  # the data folder lacks it
    with pytest.raises(FileNotFoundError, match='dev.folder = ""'):
        cfg.override(**{"dev.folder": str(tmp_path / "nowhere")}).dev_folder()
    assert cfg.override(**{"dev.sigmas": []}).dev_folder() is None


def test_handcrafted_config_is_the_synthetic_one_with_the_hand_set_colour_law():
    """vl-drunet-handcrafted measures the cost of fitting nothing: only the colour law (and names) differ."""
    syn, hc = (load_config(CONFIGS / f"{n}.toml").to_dict() for n in ("vl-drunet-synthetic", "vl-drunet-handcrafted"))
    for section in ("model", "noise", "optim", "train", "dev"):
        assert syn[section] == hc[section], section
    assert {k for k in syn["data"] if syn["data"][k] != hc["data"][k]} == {"cache_dir", "options"}
    assert {**syn["data"]["options"], "color": "handcrafted"} == hc["data"]["options"]
    assert hc["name"] == "vl-drunet-handcrafted" and hc["output_dir"] == "runs/vl-drunet-handcrafted"
