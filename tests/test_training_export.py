"""pnpleaves.training.export: fp16 weights, a valid registry entry, atomicity, generator cards."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch

from pnpleaves.cli import main
from pnpleaves.models import build_model, count_parameters
from pnpleaves.priors import check_registry, load_prior, read_registry
from pnpleaves.training import export as export_module
from pnpleaves.training.evaluate import evaluate_denoiser
from pnpleaves.training.export import export_run
from pnpleaves.training.loop import train
from training_fixtures import TINY_NET, make_cache, tiny_config


def test_export_writes_fp16_weights_and_a_valid_registry_entry(tmp_path, monkeypatch):
    dev = make_cache(tmp_path / "dev", n=2, size=40, seed=4)
    cfg = tiny_config(tmp_path, **{"train.steps": 4, "dev.folder": str(dev)})
    train(cfg)
    reg = tmp_path / "weights.toml"
    reg.write_text("# test registry\n", encoding="utf-8")
    wdir = tmp_path / "weights"
    entry, block = export_run(tmp_path / "run", "tiny-x", weights_dir=wdir, registry=reg, update=True)
    assert tomllib.loads(block)["tiny-x"] == entry
    assert reg.read_text().startswith("# test registry")
    assert check_registry(reg) == []
    card = read_registry(reg)["tiny-x"]["card"]
    assert card["train"]["steps"] == 4 and card["noise"]["sigma_range"] == [0.05, 0.2]
    assert card["num_params"] == count_parameters(build_model("drunet", TINY_NET))
    assert sorted(card["metrics"]) == [f"dev/sigma={s}/{m}" for s in (15, 25, 50) for m in ("psnr", "ssim")]
    fp32 = (tmp_path / "run" / "model.safetensors").stat().st_size
    assert (wdir / "tiny-x.safetensors").stat().st_size < 0.6 * fp32
    monkeypatch.setenv("PNPLEAVES_WEIGHTS_DIR", str(wdir))
    den = load_prior("tiny-x", registry=reg)
    assert den(torch.rand(1, 3, 37, 51), 0.1).shape == (1, 3, 37, 51)
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_run(tmp_path / "run", "tiny-x", weights_dir=wdir, registry=reg)
    # an export that fails half-way leaves the shipped file (and so the registry checksum) untouched
    before = (wdir / "tiny-x.safetensors").read_bytes()
    inode = (wdir / "tiny-x.safetensors").stat().st_ino  # a replaced file would get a new inode

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(export_module, "time_denoiser", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        export_run(tmp_path / "run", "tiny-x", weights_dir=wdir, registry=reg, update=True, overwrite=True)
    assert (wdir / "tiny-x.safetensors").read_bytes() == before and check_registry(reg) == []
    assert (wdir / "tiny-x.safetensors").stat().st_ino == inode
    assert sorted(p.name for p in wdir.iterdir()) == ["tiny-x.safetensors"]


def test_the_card_metrics_are_those_of_the_loaded_fp16_prior(tmp_path):
    dev = make_cache(tmp_path / "dev", n=2, size=40, seed=4)
    train(tiny_config(tmp_path, **{"train.steps": 2}))
    entry, _ = export_run(tmp_path / "run", "tiny-m", weights_dir=tmp_path / "w", dev_folder=str(dev))
    res = evaluate_denoiser(load_prior(tmp_path / "w" / "tiny-m.safetensors"), dev, [25 / 255])
    assert entry["card"]["metrics"]["dev/sigma=25/psnr"] == round(res.table["denoiser"][25 / 255]["psnr"], 4)


def test_the_registry_is_written_only_when_one_is_given(tmp_path):
    train(tiny_config(tmp_path, **{"train.steps": 1}))
    with pytest.raises(ValueError, match="needs registry=PATH"):
        export_run(tmp_path / "run", "tiny-r", weights_dir=tmp_path / "w", update=True, dev_folder=[])
    assert not (tmp_path / "w").exists()
    with pytest.raises(ValueError, match="only letters, digits"):
        export_run(tmp_path / "run", "bad name", weights_dir=tmp_path / "w")
    new = tmp_path / "new.toml"  # created when absent
    export_run(tmp_path / "run", "tiny-r", weights_dir=tmp_path / "w", registry=new, update=True, dev_folder=[])
    assert list(read_registry(new)) == ["tiny-r"]


def test_cards_describe_the_generator(tmp_path, capsys):
    opts = {"alpha": 3.0, "r_min": 1.0, "r_max": 100.0}
    live = tiny_config(tmp_path, output_dir=str(tmp_path / "live"),
                       **{"data.source": "generate", "data.generator": "dl", "data.image_size": 40,
                          "data.options": opts, "train.steps": 2, "data.batch_size": 2})
    train(live)
    out = tmp_path / "gen"
    assert main(["generate", "--model", "dl", "--n", "2", "--size", "40", "--out", str(out)]) == 0
    cached = tiny_config(tmp_path, output_dir=str(tmp_path / "cached"),
                         **{"data.source": "cache", "data.cache_dir": str(out), "train.steps": 2})
    train(cached)
    entry, _ = export_run(tmp_path / "cached", "gen-test", weights_dir=tmp_path / "w")
    assert entry["card"]["data"]["generator_config"]["model"] == "dl"
    assert entry["card"]["data"]["cache_images"] == 2
    entry, _ = export_run(tmp_path / "live", "live-test", weights_dir=tmp_path / "w")
    assert entry["card"]["data"]["generator_config"]["r_max"] == 100.0
    capsys.readouterr()


def test_export_from_the_runs_model_safetensors_matches_the_folder(tmp_path):
    """A run copied back from another machine as its model.safetensors alone exports like the folder."""
    train(tiny_config(tmp_path, **{"train.steps": 3}))
    a, _ = export_run(tmp_path / "run", "from-run", weights_dir=tmp_path / "a", dev_folder=[])
    b, _ = export_run(tmp_path / "run" / "model.safetensors", "from-file", weights_dir=tmp_path / "b", dev_folder=[])
    assert a["sha256"] != "" and a["arch_kwargs"] == b["arch_kwargs"]
    assert a["card"]["train"]["steps"] == b["card"]["train"]["steps"] == 3
    assert a["card"]["data"] == b["card"]["data"]
    wa = load_prior(tmp_path / "a" / "from-run.safetensors")
    wb = load_prior(tmp_path / "b" / "from-file.safetensors")
    assert all(torch.equal(p, q) for p, q in zip(wa.state_dict().values(), wb.state_dict().values()))
    # an exported prior has no training config: refused with the fix
    with pytest.raises(ValueError, match="no training metadata"):
        export_run(tmp_path / "a" / "from-run.safetensors", "again", weights_dir=tmp_path / "c", dev_folder=[])


def _package_weights_state():
    folder = Path(__file__).resolve().parents[1] / "pnpleaves" / "priors"
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_from_a_checkout_leaves_the_package_unchanged(tmp_path, monkeypatch):
    """`pnpleaves export` with its default --weights-dir writes ./weights in the working folder and leaves the
    package's priors folder unchanged; from a checkout's root that is a plain folder too, since no link leads
    from the root into pnpleaves/priors/ (the tracked `weights` link did until 2026-12-08)."""
    root = Path(__file__).resolve().parents[1]
    assert not (root / "weights").is_symlink()
    cfg = tiny_config(tmp_path, **{"train.steps": 2})
    train(cfg)
    before = _package_weights_state()
    monkeypatch.chdir(tmp_path)  # a checkout's root stands in: the default is relative to the working folder
    assert main(["export", str(tmp_path / "run"), "--name", "tiny-y"]) == 0
    assert (tmp_path / "weights" / "tiny-y.safetensors").is_file()
    assert _package_weights_state() == before
