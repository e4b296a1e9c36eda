"""pnp_deblur / pnp_super_resolve / pnp_inpaint / pnp_denoise: kinds, layouts, determinism, errors."""

import warnings

import deepinv as dinv
import numpy as np
import pytest
import torch
from scipy import ndimage

import pnpleaves
from pnpleaves.restoration import estimate_sigma, pnp_deblur, pnp_denoise, pnp_inpaint, pnp_super_resolve
from pnpleaves.restoration.baselines import (
    bicubic_upsample,
    tikhonov_deblur,
    tv_deblur,
    tv_inpaint,
    tv_super_resolve,
    wiener_deblur,
)
from pnpleaves.restoration.kernels import levin_kernel


@pytest.fixture(scope="module")
def den():
    with torch.random.fork_rng():  # seed the net's random init without touching the global state
        torch.manual_seed(0)
        return dinv.models.DRUNet(in_channels=3, out_channels=3, nc=(8, 16, 32, 64), nb=1, pretrained=None).eval()


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:37, 0:51]
    smooth = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    rgb = np.clip(np.stack([smooth, smooth**2, 1 - smooth], -1) + 0.02 * rng.standard_normal((37, 51, 3)), 0, 1)
    return {"rgb": rgb.astype(np.float32), "grey_u8": (smooth * 255).round().astype(np.uint8)}


K = np.ones((3, 5)) / 15.0
FAST = dict(n_iter=2)


# --------------------------------------------------------------------------- kinds and layouts


@pytest.mark.parametrize("method", ["hqs", "admm"])
def test_deblur_keeps_kind_and_layout(den, images, method):
    out = pnp_deblur(images["grey_u8"], K, den, sigma=0.02, method=method, **FAST)
    assert isinstance(out, np.ndarray) and out.shape == (37, 51) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    out = pnp_deblur(images["rgb"], K, den, sigma=0.02, method=method, **FAST)
    assert out.shape == (37, 51, 3) and out.dtype == np.float32
    t = torch.from_numpy(images["rgb"]).permute(2, 0, 1)
    out = pnp_deblur(t, K, den, sigma=0.02, method=method, **FAST)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 37, 51)
    out = pnp_deblur(t[None].double().expand(2, -1, -1, -1), K, den, sigma=0.02, method=method, **FAST)
    assert out.shape == (2, 3, 37, 51) and out.dtype == torch.float64
    out = pnp_deblur(t[:1], torch.from_numpy(K), den, sigma=0.02, method=method, **FAST)
    assert out.shape == (1, 37, 51)


def test_other_problems_keep_kind_and_layout(den, images):
    g = images["grey_u8"]
    out = pnp_super_resolve(g, 2, prior=den, sigma=0.0, **FAST)
    assert out.shape == (74, 102) and out.dtype == np.float32
    out = pnp_super_resolve(images["rgb"], 3, kernel="gaussian", prior=den, sigma=0.0, **FAST)
    assert out.shape == (111, 153, 3)
    out = pnp_super_resolve(torch.rand(1, 3, 11, 13), 2, kernel=np.ones((3, 3)) / 9, prior=den, sigma=0.0, **FAST)
    assert out.shape == (1, 3, 22, 26)
    mask = np.random.default_rng(1).random((37, 51)) > 0.5
    out = pnp_inpaint(g, mask, prior=den, sigma=0.0, **FAST)
    assert out.shape == (37, 51) and out.dtype == np.float32
    out = pnp_inpaint(images["rgb"], np.repeat(mask[..., None], 3, -1), prior=den, sigma=0.0, **FAST)
    assert out.shape == (37, 51, 3)
    out = pnp_denoise(g, 0.05, prior=den)
    assert out.shape == (37, 51) and out.dtype == np.float32
    out = pnp_denoise(torch.from_numpy(images["rgb"]).permute(2, 0, 1), 0.05, prior=den)
    assert out.shape == (3, 37, 51)


class _ColourOnly(dinv.models.Denoiser):
    """A 3-channel 'denoiser' that treats channels differently (and stays in [0, 1])."""

    in_channels = 3

    def forward(self, x, sigma, **kwargs):
        assert x.shape[1] == 3, "a colour-only prior received a grey image"
        return x * torch.tensor([0.8, 0.9, 1.0], dtype=x.dtype).view(1, 3, 1, 1)


def test_grey_image_with_colour_prior_equals_replicated_colour_input(images):
    """A grey image goes through a colour prior as three equal channels, averaged back."""
    g = images["grey_u8"]
    a = pnp_deblur(g, K, _ColourOnly(), sigma=0.02, n_iter=1)
    rgb = np.repeat(g[..., None], 3, -1)
    b = pnp_deblur(rgb, K, _ColourOnly(), sigma=0.02, n_iter=1)
    assert a.shape == (37, 51) and np.allclose(a, b.mean(-1), atol=1e-6)
    assert pnp_denoise(g, 0.1, prior=_ColourOnly()).shape == (37, 51)


def test_same_input_same_output_and_no_in_place_change(den, images):
    rgb = images["rgb"].copy()
    keep = rgb.copy()
    k = K.copy()
    a = pnp_deblur(rgb, k, den, sigma=None, **FAST)
    b = pnp_deblur(rgb, k, den, sigma=None, **FAST)
    assert np.array_equal(a, b)
    assert np.array_equal(rgb, keep) and np.array_equal(k, K)
    t = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
    tk = t.clone()
    mask = torch.ones(37, 51, dtype=torch.bool)
    mask[10:20, 10:30] = False
    mk = mask.clone()
    pnp_inpaint(t, mask, prior=den, sigma=0.0, **FAST)
    pnp_super_resolve(t, 2, prior=den, sigma=0.0, **FAST)
    pnp_denoise(t, 0.1, prior=den)
    assert torch.equal(t, tk) and torch.equal(mask, mk)
    c1 = pnp_deblur(rgb, k, den, sigma=0.01, ensemble="cycle", **FAST)
    c2 = pnp_deblur(rgb, k, den, sigma=0.01, ensemble="cycle", **FAST)
    assert np.array_equal(c1, c2) and np.array_equal(c1, pnp_deblur(rgb, k, den, sigma=0.01, **FAST))
    assert not np.array_equal(c1, pnp_deblur(rgb, k, den, sigma=0.01, ensemble="none", **FAST))
    was_training = den.training
    den.train()
    pnp_denoise(t, 0.1, prior=den)
    assert den.training  # the prior's mode is given back
    den.train(was_training)


def test_deblur_without_circular_model_has_no_border_ringing():
    """An image blurred with reflect boundaries restores with borders close to the interior quality.

    With a linear (Wiener) prior the circular model rings at the borders; the padded, windowed model
    of pnp_deblur does not.
    """
    from test_restoration_solvers import GradientWiener

    yy, xx = np.mgrid[0:64, 0:64]
    x = 0.5 + 0.25 * np.sin(xx / 4.0 + yy / 9.0) + 0.2 * (xx > 40)
    k = levin_kernel(5)
    y = ndimage.convolve(x, k, mode="reflect")
    den = GradientWiener(c=1e-3)
    band = np.ones_like(x, bool)
    band[8:-8, 8:-8] = False

    def err(out):
        return float(np.sqrt(np.mean((out - x)[band] ** 2))), float(np.sqrt(np.mean((out - x)[~band] ** 2)))

    circ = err(pnp_deblur(y, k, den, sigma=0.002, boundary="circular"))
    ours = err(pnp_deblur(y, k, den, sigma=0.002))
    assert ours[0] < circ[0] / 3  # border error
    assert ours[0] < 3 * ours[1]  # borders not much worse than the interior


# --------------------------------------------------------------------------- noise estimation


def test_estimate_sigma_on_synthetic_noise():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    clean = 0.5 + 0.15 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    for s in (0.01, 0.05, 0.1):
        noisy = np.clip(clean + s * rng.standard_normal(clean.shape), 0, 1)
        assert abs(estimate_sigma(noisy) - s) < 0.1 * s
        assert abs(estimate_sigma(noisy, method="mad") - s) < 0.15 * s
    mask = rng.random(clean.shape) > 0.3
    noisy = clean + 0.05 * rng.standard_normal(clean.shape)
    assert abs(estimate_sigma(noisy, mask=mask, method="mad") - 0.05) < 0.01


# --------------------------------------------------------------------------- errors


def _bad_kernel(k, match, den, img):
    with pytest.raises(ValueError, match=match):
        pnp_deblur(img, k, den, sigma=0.01, **FAST)


def test_bad_kernels_raise_clear_errors(den, images):
    img = images["rgb"]
    k = K.copy()
    k[0, 0] = np.nan
    _bad_kernel(k, "kernel must contain finite values; got 1 NaN/Inf", den, img)
    _bad_kernel(K - 0.1, "kernel entries must be >= 0 .* Clip it", den, img)
    _bad_kernel(np.zeros((3, 3)), "kernel must have a positive sum .* got sum 0", den, img)
    _bad_kernel(np.ones((41, 3)) / 123, r"kernel of size 41x3 is larger than the image \(37x51\)", den, img)
    _bad_kernel(np.ones(5) / 5, r"kernel must be a 2-D array \(kh, kw\); got shape \(5,\)", den, img)
    with pytest.warns(UserWarning, match="kernel sums to 15, not 1; it was normalised"):
        a = pnp_deblur(img, K * 15, den, sigma=0.01, **FAST)
    b = pnp_deblur(img, K, den, sigma=0.01, **FAST)
    assert np.array_equal(a, b)


def test_bad_images_raise_clear_errors(den, images):
    img = images["rgb"].copy()
    img[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="img must contain finite values; got 1 NaN/Inf"):
        pnp_deblur(img, K, den, sigma=0.01)
    img[3, 4, 0] = np.inf
    with pytest.raises(ValueError, match="finite values"):
        pnp_denoise(img, 0.1, prior=den)
    with pytest.raises(ValueError, match="channels-last"):
        pnp_deblur(images["rgb"].transpose(2, 0, 1), K, den, sigma=0.01)
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\) channels; got 4"):
        pnp_deblur(np.zeros((20, 20, 4), np.float32), K, den, sigma=0.01)
    with pytest.raises(TypeError, match="uint8, uint16, bool or float"):
        pnp_deblur(np.zeros((20, 20), np.int32), K, den, sigma=0.01)
    with pytest.raises(TypeError, match="img must be an image array, not a path; .*read_image"):
        pnp_deblur("image.png", K, den, sigma=0.01)
    with pytest.raises(TypeError, match="NumPy array .* or a torch tensor"):
        pnp_deblur({"x": 1}, K, den, sigma=0.01)
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(B, C, H, W\)"):
        pnp_deblur(torch.zeros(20, 20), K, den, sigma=0.01)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0 and <= 1.*25/255"):
        pnp_deblur(images["rgb"], K, den, sigma=25)
    with pytest.raises(ValueError, match="method must be one of 'hqs', 'admm'"):
        pnp_deblur(images["rgb"], K, den, sigma=0.01, method="pgd")
    with pytest.raises(ValueError, match="boundary must be one of"):
        pnp_deblur(images["rgb"], K, den, sigma=0.01, boundary="reflect")


def test_float_image_outside_unit_range_is_clipped_with_warning(den, images):
    img = images["rgb"] * 1.5
    with pytest.warns(UserWarning, match=r"img is expected in \[0, 1\]; got values in .* clipped"):
        out = pnp_denoise(img, 0.05, prior=den)
    ref = pnp_denoise(np.clip(img, 0, 1), 0.05, prior=den)
    assert np.array_equal(out, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pnp_denoise(np.clip(img, 0, 1 + 1e-7), 0.05, prior=den)  # round-off is clipped silently


def test_bad_scale_and_mask_raise_clear_errors(den, images):
    img = images["rgb"]
    with pytest.raises(ValueError, match="scale must be an integer >= 2; got 2.5"):
        pnp_super_resolve(img, 2.5, prior=den, sigma=0.0)
    with pytest.raises(ValueError, match="scale must be an integer >= 2; got 1"):
        pnp_super_resolve(img, 1, prior=den, sigma=0.0)
    with pytest.raises(TypeError, match="scale must be an integer"):
        pnp_super_resolve(img, True, prior=den, sigma=0.0)
    with pytest.raises(ValueError, match="kernel must be one of 'bicubic', 'gaussian'"):
        pnp_super_resolve(img, 2, kernel="lanczos", prior=den, sigma=0.0)
    with pytest.raises(ValueError, match=r"mask must be \(H, W\) = \(37, 51\) or the image's shape; got shape \(36, 51\)"):
        pnp_inpaint(img, np.ones((36, 51)), prior=den, sigma=0.0)
    with pytest.raises(ValueError, match="mask values must be in \\[0, 1\\]"):
        pnp_inpaint(img, np.full((37, 51), 2.0), prior=den, sigma=0.0)
    with pytest.raises(ValueError, match="marks no pixel as observed"):
        pnp_inpaint(img, np.zeros((37, 51)), prior=den, sigma=0.0)
    with pytest.raises(ValueError, match="ensemble must be one of 'none', 'cycle', 'x8'; got 'x4'"):
        pnp_super_resolve(img, 2, prior=den, sigma=0.0, ensemble="x4")


def test_unknown_prior_names_the_registered_ones(images):
    with pytest.raises(ValueError, match="unknown prior 'no-such-prior'; known priors: "):
        pnp_deblur(images["rgb"], K, "no-such-prior", sigma=0.01)
    with pytest.raises(TypeError, match="prior must be a registered name"):
        pnp_deblur(images["rgb"], K, 3.0, sigma=0.01)


def test_top_level_reexports():
    assert pnpleaves.pnp_deblur is pnp_deblur and pnpleaves.pnp_denoise is pnp_denoise


# --------------------------------------------------------------------------- baselines


def test_baselines_shapes_and_quality():
    from skimage import data

    x = data.camera()[100:180, 200:280].astype(np.float64) / 255
    k = levin_kernel(5)
    rng = np.random.default_rng(0)
    y = np.clip(ndimage.convolve(x, k, mode="reflect") + 0.01 * rng.standard_normal(x.shape), 0, 1)

    def psnr(a):
        return 10 * np.log10(1 / np.mean((a - x) ** 2))

    w = wiener_deblur(y, k, sigma=0.01)
    assert w.shape == y.shape and psnr(w) > psnr(y) + 4  # measured 27.7 vs 22.3 dB
    assert tikhonov_deblur(y, k, 1e-2).shape == y.shape
    assert psnr(tv_deblur(y, k, sigma=0.01, n_iter=100)) > psnr(w) + 1  # measured 29.4 dB
    lr = ndimage.convolve(x, np.ones((2, 2)) / 4)[::2, ::2]
    assert bicubic_upsample(lr, 2).shape == (80, 80)
    assert tv_super_resolve(lr, 2, sigma=0.0, n_iter=20).shape == (80, 80)
    mask = rng.random(x.shape) > 0.5
    assert psnr(tv_inpaint(x * mask, mask, sigma=0.0, n_iter=100)) > 25  # measured 27.6 dB


def test_cbm3d_denoiser_matches_bm3d_rgb_and_runs_in_pnp():
    bm3d = pytest.importorskip("bm3d")
    from pnpleaves.restoration.baselines import BM3DDenoiser, pnp_cbm3d_deblur

    rng = np.random.default_rng(1)
    x = np.clip(ndimage.gaussian_filter(rng.random((33, 41, 3)), (3, 3, 0)) * 2 - 0.5, 0, 1)
    y = x + 0.1 * rng.standard_normal(x.shape)
    t = torch.from_numpy(y).permute(2, 0, 1)[None]
    full = BM3DDenoiser("all")(t, 0.1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(full, bm3d.bm3d_rgb(y, 0.1), atol=1e-5)  # the reference CBM3D
    hard = BM3DDenoiser("hard")(t, 0.1)[0].permute(1, 2, 0).numpy()
    mse = lambda a: np.mean((a - x) ** 2)  # noqa: E731
    assert mse(hard) < mse(y) / 3 and np.abs(hard - full).max() > 1e-3  # denoises, and is another stage
    grey = BM3DDenoiser("hard")(t[:, :1], 0.1)
    assert grey.shape == (1, 1, 33, 41)
    # a grey image stored as RGB (Set14 "man"): bm3d_rgb gives NaN there; we give grey BM3D, replicated
    as_rgb = BM3DDenoiser("all")(t[:, :1].expand(1, 3, 33, 41), 0.1)
    assert torch.isfinite(as_rgb).all()
    torch.testing.assert_close(as_rgb[:, :1], BM3DDenoiser("all")(t[:, :1], 0.1), atol=1e-4, rtol=0)
    assert torch.equal(as_rgb[:, 0], as_rgb[:, 2])
    blurred = np.stack([ndimage.convolve(x[..., c], levin_kernel(1), mode="reflect") for c in range(3)], -1)
    out = pnp_cbm3d_deblur(blurred, levin_kernel(1), sigma=0.01, n_iter=2, stage="hard")
    assert out.shape == x.shape and mse(out) < mse(blurred)


def test_default_prior_error_names_the_registered_priors(images):
    from pnpleaves.priors import list_priors

    known = ", ".join(sorted(list_priors())) or "none registered yet"
    with pytest.raises(ValueError, match=f"unknown prior 'no-such-prior'; known priors: {known}"):
        pnp_deblur(images["rgb"], K, prior="no-such-prior")
