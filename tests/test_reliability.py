"""Issue 14 (reliability): damaged files, wrong scales, interrupted and concurrent jobs, outputs that are
what they say. Each test names the item of the issue it covers; each failed on the code before its fix."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from pnpleaves import pnp_deblur, pnp_denoise, pnp_inpaint, pnp_super_resolve
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.images import to_bchw
from pnpleaves.models import build_model
from pnpleaves.priors import CallableDenoiser, load_prior, write_weights
from pnpleaves.sampling import sample_posterior, sample_prior

TINY = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}


def _tiny_model(seed: int = 0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model("drunet", TINY)


def _flip_tail_bytes(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) - n, len(data)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _nan_prior(x, sigma):
    return torch.full_like(x, float("nan"))


# --------------------------------------------------------------------------- item 1: damaged weights


def test_item1_flipped_bytes_in_a_weights_file_are_refused_by_path(tmp_path):
    """Item 1: a .safetensors file with flipped tensor bytes loads by path today; now its stored sha256
    (written by write_weights) does not match and load_prior refuses it."""
    path = write_weights(tmp_path / "w.safetensors", _tiny_model(), "drunet", TINY)
    load_prior(path)  # intact: loads
    _flip_tail_bytes(path)
    with pytest.raises(InputError, match="damaged"):
        load_prior(path)


def test_item1_non_finite_weights_are_refused(tmp_path):
    """Item 1: weights holding NaN are refused at load time (finite weights always checked)."""
    model = _tiny_model()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = write_weights(tmp_path / "nan.safetensors", model, "drunet", TINY)
    with pytest.raises(InputError, match="NaN/Inf"):
        load_prior(path)


def test_item1_weights_file_is_mode_0644(tmp_path):
    """Item 1 (smaller): model.safetensors is readable by all (mode 0644), whatever the umask."""
    old = os.umask(0o077)
    try:
        path = write_weights(tmp_path / "m.safetensors", _tiny_model(), "drunet", TINY)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("call", ["denoise", "deblur", "inpaint", "sr"])
def test_item1_non_finite_restoration_output_names_the_prior(call):
    """Item 1: a prior that returns NaN gives an error naming the prior, not an all-NaN image."""
    img = np.full((16, 16, 3), 0.5, np.float32)
    prior = CallableDenoiser(_nan_prior)
    prior.name = "broken-prior"
    with pytest.raises(InputError, match="broken-prior"):
        if call == "denoise":
            pnp_denoise(img, sigma=0.1, prior=prior)
        elif call == "deblur":
            pnp_deblur(img, np.ones((3, 3)) / 9, sigma=0.01, prior=prior, n_iter=2)
        elif call == "inpaint":
            pnp_inpaint(img, np.ones((16, 16)), sigma=0.01, prior=prior, n_iter=2)
        else:
            pnp_super_resolve(img, 2, sigma=0.01, prior=prior, n_iter=2)


def test_item1_non_finite_sample_names_the_prior():
    """Item 1: sample_prior with a NaN-returning prior raises instead of returning NaN images."""
    prior = CallableDenoiser(_nan_prior)
    with pytest.raises(InputError, match="NaN/Inf"):
        sample_prior(prior, n=1, size=8, steps=2, init="white", clip=False)


def _denoising_physics():
    from deepinv.physics import Denoising, GaussianNoise

    return Denoising(GaussianNoise(sigma=0.05))


def _tiny_gaussian_prior():
    from pnpleaves.sampling import GaussianDenoiser, GaussianFit

    return GaussianDenoiser(GaussianFit.power_law(8))


@pytest.mark.parametrize("bad", ["nan", "255", "hwc"])
def test_item1_sample_posterior_validates_its_observation(bad):
    """Item 1 / smaller: sample_posterior checks y like pnp_*: NaN, a 0-255 float and a torch (H, W, C)
    observation are refused with a clear message (before: NaN, nonsense, or an error inside conv)."""
    y = torch.full((3, 8, 8), 0.5)
    if bad == "nan":
        y[0, 0, 0] = float("nan")
    elif bad == "255":
        y = y * 255
    else:
        y = torch.full((8, 8, 3), 0.5)
        y[0, 0, 0] = 0.4
    with pytest.raises(InputError, match={"nan": "finite", "255": "255", "hwc": "permute"}[bad]):
        sample_posterior(y, _denoising_physics(), _tiny_gaussian_prior(), n_samples=1, n_iter=2)


def test_smaller_sample_posterior_without_physics_says_so():
    """Smaller item: sample_posterior(physics=None) says it needs the physics, not a noise level."""
    with pytest.raises(InputTypeError, match="physics"):
        sample_posterior(torch.full((3, 8, 8), 0.5), None, _tiny_gaussian_prior(), n_samples=1, n_iter=2)


# --------------------------------------------------------------------------- item 8: scales and layouts


def test_item8_float_255_scale_is_refused():
    """Item 8: a float image on the 0-255 scale raises (before: clipped to white with a warning)."""
    with pytest.raises(InputError, match="Divide it by 255"):
        to_bchw(np.full((8, 8, 3), 128.0))
    with pytest.raises(InputError, match="65535"):
        to_bchw(np.full((8, 8, 3), 30000.0))


def test_item8_slightly_noisy_floats_are_kept_silently(recwarn):
    """Item 8: noisy data slightly outside [0, 1] is used as it is, without a warning (before: clipped,
    with a warning advising to divide by 255)."""
    img = np.linspace(-0.3, 1.3, 64, dtype=np.float32).reshape(8, 8)
    t, layout = to_bchw(img)
    assert float(t.min()) == pytest.approx(-0.3) and float(t.max()) == pytest.approx(1.3)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    out = layout.restore(t)
    assert out.min() == 0.0 and out.max() == 1.0  # the output is clipped


def test_item8_torch_hwc_tensor_says_permute():
    """Item 8: a torch (H, W, C) tensor gets an error that says to permute."""
    with pytest.raises(InputError, match=r"permute\(2, 0, 1\)"):
        to_bchw(torch.rand(16, 16, 3))


# --------------------------------------------------------------------------- smaller items (API)


def test_smaller_sr_scale_too_large_is_refused_before_allocating():
    """Smaller item: pnp_super_resolve(scale=1000) is refused before allocating (before: 25.6 GB)."""
    with pytest.raises(InputError, match="MP"):
        pnp_super_resolve(np.full((160, 160), 0.5), 1000, prior=CallableDenoiser(lambda x, s: x))


def test_smaller_bogus_schedule_key_is_a_user_error():
    """Smaller item: schedule={'bogus': 1} gives an InputError listing the keys (before: raw TypeError)."""
    with pytest.raises(InputError, match="bogus"):
        pnp_deblur(np.full((16, 16), 0.5), np.ones((3, 3)) / 9, sigma=0.01, schedule={"bogus": 1},
                   prior=CallableDenoiser(lambda x, s: x))


def test_smaller_sample_prior_grey_from_an_rgb_prior(tmp_path):
    """Smaller item: sample_prior(channels=1) with an RGB prior works (before: failed inside conv)."""
    path = write_weights(tmp_path / "w.safetensors", _tiny_model(), "drunet", TINY)
    x = sample_prior(str(path), n=1, size=8, steps=2, channels=1, init="white")
    assert x.shape == (1, 1, 8, 8)


def test_smaller_mask_of_grey_levels_is_not_called_all_zeros():
    """Smaller items: a mask of 0.3 everywhere is not called "all zeros", and a photograph-like mask warns."""
    with pytest.warns(UserWarning, match="photograph"), pytest.raises(InputError, match="no value reaches 0.5"):
        pnp_inpaint(np.full((16, 16), 0.5), np.full((16, 16), 0.3), sigma=0.01, prior=CallableDenoiser(lambda x, s: x))


def test_smaller_photograph_as_kernel_warns():
    """Smaller item: a photograph-sized kernel warns."""
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="photograph"):
        k = rng.random((150, 150))
        pnp_deblur(np.full((200, 200), 0.5), k / k.sum(), sigma=0.01, n_iter=1,
                   prior=CallableDenoiser(lambda x, s: x))
