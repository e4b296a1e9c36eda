"""The weights registry and load_prior: schema, hashes, errors, sigma handling."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from deepinv.models import Denoiser

from pnpleaves.priors import (
    DEFAULT_SIGMA_RANGE,
    check_registry,
    file_sha256,
    list_priors,
    load_prior,
    prior_sigma_range,
    read_registry,
    resolve_prior,
    write_weights,
)
from pnpleaves.models import build_model, count_parameters
from pnpleaves.training.config import dumps_toml

TINY = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}


def _tiny_model(arch="drunet", kwargs=None, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(arch, kwargs or TINY)


def _card(model, sigma_range=(0.0, 0.2)):
    return {
        "data": {"source": "random", "generator": "dl"},
        "noise": {"kind": "gaussian", "sigma_range": list(sigma_range)},
        "train": {"steps": 1, "wall_time_s": 0.1, "machine": "test"},
        "metrics": {"Set5/sigma=25/psnr": 20.0},
        "num_params": count_parameters(model),
        "date": "2025-01-01",
    }


@pytest.fixture
def tiny_registry(tmp_path, monkeypatch):
    """A temp weights folder with one fp16 tiny DRUNet, and a registry describing it."""
    wdir = tmp_path / "weights"
    model = _tiny_model()
    path = write_weights(wdir / "tiny-a.safetensors", model, "drunet", TINY, sigma_range=(0.0, 0.2),
                         dtype=torch.float16)
    entry = {"file": path.name, "sha256": file_sha256(path), "arch": "drunet", "arch_kwargs": TINY,
             "card": _card(model)}
    reg = tmp_path / "weights.toml"
    reg.write_text(dumps_toml({"tiny-a": entry}), encoding="utf-8")
    monkeypatch.setenv("PNPLEAVES_WEIGHTS_DIR", str(wdir))
    return reg, path, model


def test_registered_prior_loads_in_eval_mode_and_keeps_odd_sizes(tiny_registry):
    reg, _, model = tiny_registry
    den = load_prior("tiny-a", registry=reg)
    assert isinstance(den, Denoiser) and not den.training
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in den.parameters())
    assert den.name == "tiny-a" and den.sigma_range == (0.0, 0.2)
    assert prior_sigma_range("tiny-a", registry=reg) == (0.0, 0.2)
    assert resolve_prior("tiny-a", registry=reg)[0].sigma_range == (0.0, 0.2)
    x = torch.rand(2, 3, 37, 51, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = den(x, 0.1)
        ref = model.eval()(x, 0.1)
    assert out.shape == x.shape and torch.isfinite(out).all()
    # fp16 storage: outputs agree with the float32 model to fp16 precision
    assert (out - ref).abs().max() < 1e-2


def test_sigma_float_tensor_and_per_image_agree(tiny_registry):
    reg, _, _ = tiny_registry
    den = load_prior("tiny-a", registry=reg)
    x = torch.rand(2, 3, 40, 36, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        both = den(x, torch.tensor([0.05, 0.2], dtype=torch.float64))
        first = den(x[:1], 0.05)
        second = den(x[1:], 0.2)
        same = den(x, torch.tensor([0.05, 0.05]))
        scalar = den(x, 0.05)
        zero_d = den(x, torch.tensor(0.05))
        col = den(x, torch.tensor([0.05, 0.2]).view(2, 1, 1, 1))
    torch.testing.assert_close(both[:1], first, atol=1e-6, rtol=0)
    torch.testing.assert_close(both[1:], second, atol=1e-6, rtol=0)
    torch.testing.assert_close(same, scalar, atol=1e-6, rtol=0)
    torch.testing.assert_close(zero_d, scalar, atol=1e-6, rtol=0)
    torch.testing.assert_close(col, both, atol=1e-6, rtol=0)
    assert not torch.allclose(both[1:], den(x[1:], 0.05), atol=1e-4)  # sigma matters
    with pytest.raises(ValueError, match="one noise level per image"):
        den(x, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(TypeError, match="sigma must be a float"):
        den(x, "0.1")


def test_corrupted_file_is_refused(tiny_registry):
    reg, path, _ = tiny_registry
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256 .* corrupted"):
        load_prior("tiny-a", registry=reg)


def test_missing_file_says_where_it_looked(tiny_registry):
    reg, path, _ = tiny_registry
    path.unlink()
    with pytest.raises(FileNotFoundError, match="tiny-a.safetensors.*PNPLEAVES_WEIGHTS_DIR"):
        load_prior("tiny-a", registry=reg)


def test_unknown_name_lists_known_names(tiny_registry):
    reg, _, _ = tiny_registry
    with pytest.raises(ValueError, match="unknown prior 'nope'; known priors: tiny-a"):
        load_prior("nope", registry=reg)
    with pytest.raises(TypeError, match="registered prior name or a path"):
        load_prior(3)


def test_load_makes_no_network_call(tiny_registry, monkeypatch):
    import socket
    import urllib.request

    def forbidden(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    reg, path, _ = tiny_registry
    load_prior("tiny-a", registry=reg)
    load_prior(path)


def test_bare_safetensors_path_is_self_describing(tiny_registry, tmp_path):
    _, path, model = tiny_registry
    den = load_prior(path)
    assert den.sigma_range == (0.0, 0.2) and prior_sigma_range(str(path)) == (0.0, 0.2)
    assert count_parameters(den) == count_parameters(model)
    # a DnCNN written as float32 loads exactly
    kw = {"depth": 4, "nf": 8, "noise_map": True}
    dn = _tiny_model("dncnn", kw)
    p2 = write_weights(tmp_path / "d.safetensors", dn, "dncnn", kw)
    den2 = load_prior(p2)
    x = torch.rand(1, 3, 37, 51, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(den2(x, 0.1), dn.eval()(x, 0.1))
    assert prior_sigma_range(p2) == pytest.approx(DEFAULT_SIGMA_RANGE)


def test_foreign_safetensors_without_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(p))
    with pytest.raises(ValueError, match="no architecture metadata"):
        load_prior(p)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_prior(tmp_path / "absent.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_prior(bad)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path):
    model = _tiny_model()
    p = write_weights(tmp_path / "m.safetensors", model, "drunet", dict(TINY, nb=2))  # wrong metadata
    with pytest.raises(ValueError, match="do not fit drunet"):
        load_prior(p)


def test_resolve_prior_and_sigma_range_of_a_bare_denoiser(tiny_registry):
    _, path, model = tiny_registry
    assert resolve_prior(model)[0] is model
    assert isinstance(resolve_prior(str(path))[0], Denoiser)
    assert prior_sigma_range(model) == DEFAULT_SIGMA_RANGE
    assert prior_sigma_range(resolve_prior(path)[0]) == (0.0, 0.2)
    with pytest.raises(TypeError, match="deepinv.models.Denoiser"):
        resolve_prior(1.5)
    with pytest.raises(ValueError, match="unknown prior"):
        prior_sigma_range("no-such-prior")


def test_schema_checker_on_a_temp_registry(tiny_registry, tmp_path):
    reg, _, model = tiny_registry
    assert check_registry(reg) == []
    assert list(list_priors(reg)) == ["tiny-a"] and list_priors(reg)["tiny-a"]["num_params"] == count_parameters(model)
    good = read_registry(reg)["tiny-a"]
    bad = {
        "no-card": {k: v for k, v in good.items() if k != "card"},
        "wrong-count": dict(good, card=dict(good["card"], num_params=good["card"]["num_params"] + 1)),
        "bad-hash": dict(good, sha256="abc"),
        "bad-arch": dict(good, arch="unet9000"),
        "no-machine": dict(good, card=dict(good["card"], train={"steps": 1, "wall_time_s": 1.0})),
        "bad-range": dict(good, card=dict(good["card"], noise={"sigma_range": [0.3, 0.1]})),
        "no-metrics": dict(good, card={k: v for k, v in good["card"].items() if k != "metrics"}),
    }
    problems = check_registry(bad)
    text = "\n".join(problems)
    assert "no-card: missing key(s) ['card']" in text
    assert f"wrong-count: card.num_params = {count_parameters(model) + 1} but the model has {count_parameters(model)}" in text
    assert "bad-hash: sha256 must be 64" in text
    assert "bad-arch: unknown arch 'unet9000'" in text
    assert "no-machine: card.train is missing ['machine']" in text
    assert "bad-range: card.noise.sigma_range" in text
    assert "no-metrics: card is missing ['metrics']" in text


def test_package_registry_schema():
    assert check_registry() == []
    for name, card in list_priors().items():
        assert card["num_params"] > 0, name


@pytest.mark.parametrize("name", sorted(list_priors()))
def test_every_registered_prior_loads_and_denoises(name):
    den = load_prior(name)
    x = torch.rand(1, 3, 37, 51, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = den(x, 25 / 255)
    assert out.shape == x.shape and torch.isfinite(out).all()
    lo, hi = prior_sigma_range(name)
    assert 0 <= lo < hi and math.isfinite(hi)


SHARED_TESTSETS = Path(os.environ.get("PNPLEAVES_DATA", "/nonexistent")) / "testsets"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vl-drunet", "dl-drunet"])
def test_card_psnr_is_reproduced_by_eval_denoiser(name, capsys):
    """Two entries of the shipped card (Set5, sigma 25 and 50) come back within 0.02 dB from the CLI."""
    from pnpleaves.cli import main

    folder = SHARED_TESTSETS / "Set5"
    if name not in list_priors() or not folder.is_dir():
        pytest.skip(f"needs the registered {name} and {folder}")
    metrics = list_priors()[name]["metrics"]
    assert main(["eval-denoiser", "--prior", name, "--testset", str(folder), "--sigma", "25", "--sigma", "50",
                 "--no-bm3d", "--no-ssim"]) == 0
    out = capsys.readouterr().out
    for sigma in (25, 50):
        row = next(line for line in out.splitlines() if line.split()[:1] == [str(sigma)])
        measured = float(row.split()[1])
        assert abs(measured - metrics[f"Set5/sigma={sigma}/psnr"]) <= 0.02, (sigma, row)


def test_the_synthetic_prior_never_saw_a_photograph():
    """Its card's generator config draws colours from the parametric law, not from photographs (issue 18)."""
    card = list_priors()["vl-drunet-synthetic"]
    gen = card["data"]["generator_config"]
    assert gen["model"] == "vl" and gen["color"] == "synthetic"
    den = load_prior("vl-drunet-synthetic")
    assert den.card["data"]["generator_config"]["color"] == "synthetic"
