"""pnpleaves.priors.engine and the load-once path of pnpleaves.priors: the engines agree with PyTorch, the
export cache is keyed by the weights' sha256, a missing engine falls back with one line, gradients go to
torch, priors are built without their random initialisation and returned safe to change."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pnpleaves
from pnpleaves.io import read_image
from pnpleaves.models import build_model
from pnpleaves.priors import (
    EngineDenoiser,
    TorchInference,
    cache_dir,
    clear_prior_cache,
    load_prior,
    resolve_prior,
    write_weights,
)
from pnpleaves.priors import engine
from pnpleaves.restoration import pnp_deblur, pnp_denoise

DATA = Path(__file__).with_name("data") / "images"
ENGINES = ["openvino", "onnxruntime"]
TINY = {"nc": [8, 16, 32, 64], "nb": 1}


def _psnr(ref: torch.Tensor, x: torch.Tensor) -> float:
    mse = float(((ref.double() - x.double()) ** 2).mean())
    return float("inf") if mse == 0 else -10 * np.log10(mse)


def _need(backend: str) -> None:
    pytest.importorskip(backend)
    if backend == "onnxruntime":
        pytest.importorskip("onnx")


def _tiny_file(folder: Path, name: str = "tiny.safetensors", *, seed: int = 0, channels: int = 3,
               arch: str = "drunet") -> Path:
    kwargs = ({"in_channels": channels, "out_channels": channels, **TINY} if arch == "drunet"
              else {"in_channels": channels, "out_channels": channels, "depth": 4, "nf": 8, "noise_map": True})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch, kwargs)
    return write_weights(folder / name, model, arch, kwargs)


def _noisy(h: int, w: int, sigma: float, *, grey: bool = False, seed: int = 0) -> torch.Tensor:
    img = read_image(DATA / "kodim23_96.png", channels=1 if grey else 3)[:h, :w]
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    return x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- engines agree with torch


@pytest.mark.parametrize("backend", ENGINES)
def test_engine_matches_torch_on_odd_sizes_batches_and_grey_images(backend):
    """Default precision (bf16 where the CPU has it and it measures well, else f32) stays >= 50 dB from fp32
    torch: 37x53 (DRUNet pads), 70x90 (DRUNet tiles), a batch with one noise level per image, grey."""
    _need(backend)
    ref = load_prior("vl-drunet")
    den = load_prior("vl-drunet", backend=backend)
    assert isinstance(den, EngineDenoiser) and den.backend == backend
    assert den.name == "vl-drunet" and den.in_channels == 3 and den.sigma_range == ref.sigma_range
    cases = [(_noisy(37, 53, 0.1), 0.1), (_noisy(70, 90, 0.03), 0.03),
             (torch.cat([_noisy(40, 48, 0.02), _noisy(40, 48, 0.2, seed=1)]), torch.tensor([0.02, 0.2]))]
    for x, s in cases:
        with torch.no_grad():
            expected = ref(x, s)
        out = den(x, s)
        assert out.shape == x.shape and out.dtype == x.dtype and not out.requires_grad
        assert _psnr(expected, out) >= 50, (tuple(x.shape), _psnr(expected, out))
    # grey images through the colour prior (pnp_denoise replicates, then averages)
    grey = _noisy(37, 53, 25 / 255, grey=True)[0, 0].numpy()
    a = pnp_denoise(grey, sigma=25 / 255, backend="torch")
    b = pnp_denoise(grey, sigma=25 / 255, backend=backend)
    assert a.shape == b.shape == (37, 53)
    assert _psnr(torch.from_numpy(a), torch.from_numpy(b)) >= 50


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("arch", ["drunet", "dncnn"])
def test_engine_runs_grey_priors_of_both_architectures_in_f32(tmp_path, backend, arch):
    _need(backend)
    path = _tiny_file(tmp_path, channels=1, arch=arch)
    ref = load_prior(path)
    den = load_prior(path, backend=backend, precision="f32")
    assert den.precision == "f32" and den.in_channels == 1
    x = _noisy(37, 53, 0.05, grey=True)
    with torch.no_grad():
        expected = ref(x, 0.05)
    assert _psnr(expected, den(x, 0.05)) >= 100  # f32: rounding only


def test_pnp_deblur_default_backend_agrees_with_torch():
    """The end-to-end default (engine, auto precision) against backend='torch': same restoration."""
    img = read_image(DATA / "kodim04_96.png")
    k = np.load(Path(__file__).with_name("data") / "levin09_k2.npy")
    from scipy.ndimage import convolve

    y = np.stack([convolve(img[..., c], k / k.sum(), mode="reflect") for c in range(3)], -1)
    y = y + 0.01 * np.random.default_rng(0).standard_normal(y.shape)
    a = pnp_deblur(y, k, sigma=0.01, backend="torch")
    b = pnp_deblur(y, k, sigma=0.01)
    assert _psnr(torch.from_numpy(a), torch.from_numpy(b)) >= 45


# --------------------------------------------------------------------------- the export cache


def test_export_cache_is_keyed_by_the_weights_sha256(tmp_path, monkeypatch):
    _need("openvino")
    monkeypatch.setenv("PNPLEAVES_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    exports = []
    real_export = engine._export
    monkeypatch.setattr(engine, "_export", lambda *a: (exports.append(a[2]), real_export(*a))[1])
    path = _tiny_file(tmp_path / "w")
    x = _noisy(37, 53, 0.05)
    first = load_prior(path, backend="openvino", precision="f32")
    out1 = first(x, 0.05)
    load_prior(path, backend="openvino", precision="f32")  # same file: no new export
    assert len(exports) == 1
    digest1 = exports[0].parent.name
    assert (tmp_path / "cache" / "engine" / digest1 / exports[0].name / "model.xml").is_file()
    _tiny_file(tmp_path / "w", seed=1)  # the same path, other weights
    second = load_prior(path, backend="openvino", precision="f32")
    assert len(exports) == 2 and exports[1].parent.name != digest1
    with torch.no_grad():
        expected = load_prior(path)(x, 0.05)
    assert _psnr(expected, second(x, 0.05)) >= 100 and not torch.allclose(out1, second(x, 0.05))


def test_default_cache_folder_is_the_users_not_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("PNPLEAVES_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "pnpleaves"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "pnpleaves"
    assert Path(pnpleaves.__file__).parent not in cache_dir().parents


# --------------------------------------------------------------------------- fallback, gradients


def test_missing_engine_falls_back_to_torch_with_one_line(monkeypatch, caplog):
    for package in ("openvino", "onnxruntime", "onnx"):
        monkeypatch.setitem(sys.modules, package, None)  # import fails
    monkeypatch.setattr(engine, "_noted", set())
    clear_prior_cache()
    caplog.set_level(logging.WARNING, logger="pnpleaves")
    den = load_prior("vl-drunet", backend="auto")
    assert not isinstance(den, EngineDenoiser)
    load_prior("vl-drunet", backend="auto")
    out = pnp_denoise(_noisy(37, 53, 0.05)[0].permute(1, 2, 0).numpy(), sigma=0.05)
    assert out.shape == (37, 53, 3)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "no inference engine installed" in lines[0] and "pnpleaves[engine]" in lines[0]
    assert isinstance(load_prior("vl-drunet", backend="openvino"), torch.nn.Module)  # named: falls back too
    assert len(caplog.records) == 2 and "'openvino' is not installed" in caplog.records[1].getMessage()
    clear_prior_cache()


@pytest.mark.parametrize("backend", ENGINES)
def test_gradients_run_torch_under_auto_and_a_named_engine_refuses_them(backend, monkeypatch):
    _need(backend)
    if backend == "onnxruntime":  # make "auto" choose ONNX Runtime
        monkeypatch.setitem(sys.modules, "openvino", None)
    x = _noisy(37, 53, 0.05).requires_grad_()
    auto = load_prior("vl-drunet", backend="auto")
    assert isinstance(auto, EngineDenoiser) and auto.backend == backend
    auto(x, 0.05).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    named = load_prior("vl-drunet", backend=backend)
    with pytest.raises(ValueError, match="runs inference only.*backend='torch'"):
        named(x, 0.05)
    with torch.no_grad():
        named(x, 0.05)  # no gradient wanted: fine
    named.train()
    with pytest.raises(ValueError, match="train mode"):
        named(x.detach(), 0.05)


def test_bad_backend_precision_and_device_are_refused():
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'torch', 'openvino', 'onnxruntime'"):
        load_prior("vl-drunet", backend="tensorrt")
    with pytest.raises(ValueError, match="precision must be one of 'auto', 'f32', 'bf16'"):
        load_prior("vl-drunet", precision="fp8")
    with pytest.raises(ValueError, match="backend must be one of"):
        pnp_denoise(np.zeros((8, 8)), sigma=0.1, backend="gpu")
    if engine.engine_installed("onnxruntime"):
        with pytest.raises(ValueError, match="onnxruntime' runs f32 only"):
            load_prior("vl-drunet", backend="onnxruntime", precision="bf16")


# --------------------------------------------------------------------------- torch inference path


def test_torch_inference_is_channels_last_in_inference_mode_and_hands_back_ordinary_tensors():
    ref = load_prior("vl-drunet")
    den, _ = resolve_prior("vl-drunet", backend="torch", shared=True)
    assert isinstance(den, TorchInference)
    assert den.module.m_head.weight.is_contiguous(memory_format=torch.channels_last)
    x = _noisy(37, 53, 0.1)
    with torch.no_grad():
        expected = ref(x, 0.1)
    out = den(x, 0.1)
    assert not out.is_inference() and out.is_contiguous()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    out.add_(1)  # an ordinary tensor: in-place use works
    xg = x.clone().requires_grad_()
    den(xg, 0.1).sum().backward()  # gradients still work through the wrapper
    assert xg.grad is not None


# --------------------------------------------------------------------------- load once


def test_prior_is_built_without_initialising_real_tensors(monkeypatch):
    calls = []
    real = torch.nn.init.orthogonal_

    def spy(tensor, *args, **kwargs):
        calls.append(tensor.is_meta)
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "orthogonal_", spy)
    den = load_prior("vl-drunet")
    assert calls and all(calls)  # deepinv's orthogonal init ran on meta tensors only: no QR work
    assert not any(p.is_meta for p in den.parameters())
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in den.parameters())


def test_loaded_priors_are_independent_and_the_shared_one_is_cached():
    a, b = load_prior("vl-drunet"), load_prior("vl-drunet")
    assert a is not b
    a.train()
    with torch.no_grad():
        a.m_head.weight.add_(1.0)
    assert not b.training and not torch.equal(a.m_head.weight, b.m_head.weight)
    s1, _ = resolve_prior("vl-drunet", backend="torch", shared=True)
    s2, _ = resolve_prior("vl-drunet", backend="torch", shared=True)
    assert s1 is s2
    assert torch.equal(s1.module.m_head.weight, load_prior("vl-drunet").m_head.weight)  # a's change did not leak
    s3, _ = resolve_prior("vl-drunet", backend="torch", precision="bf16", shared=True)
    assert s3 is not s1  # the key holds backend and precision
