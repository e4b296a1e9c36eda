"""pnpleaves.restoration.baselines: Wiener, Tikhonov, TV, bicubic, PnP-CBM3D; the TV differences."""

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data

from pnpleaves.models import BM3DDenoiser
from pnpleaves.restoration import (
    bicubic_upsample,
    degrade_blur,
    levin_kernel,
    pnp_cbm3d_deblur,
    tikhonov_deblur,
    tv_deblur,
    tv_inpaint,
    tv_super_resolve,
    wiener_deblur,
)
from pnpleaves.restoration.baselines import divergence, gradient, tv_lambda
from test_restoration_problems import adjoint_gap


def test_gradient_and_divergence_are_minus_adjoints():
    shape = (1, 2, 9, 7)
    assert adjoint_gap(gradient, lambda p: -divergence(p), shape, (2, *shape)) < 1e-10
    x = torch.rand(shape, dtype=torch.float64)
    assert gradient(x).shape == (2, *shape)
    assert float(gradient(torch.ones(shape)).abs().max()) == 0.0  # constants have no gradient


def test_tv_lambda():
    assert tv_lambda(0.01) == pytest.approx(1e-3)
    assert tv_lambda(0.0) == tv_lambda(1e-3)  # floored
    assert tv_lambda(0.04, 2.0) == pytest.approx(2 * 0.04**1.5)


def test_baselines_shapes_and_quality():
    x = data.camera()[100:180, 200:280].astype(np.float64) / 255
    k = levin_kernel(5)
    y = np.clip(degrade_blur(x, k, 0.01, 0, dtype=np.float64), 0, 1)
    rng = np.random.default_rng(0)

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


def test_wiener_is_tikhonov_with_mu_alpha_sigma_squared():
    x = data.camera()[100:140, 200:240].astype(np.float64) / 255
    y = degrade_blur(x, levin_kernel(3), 0.02, 1, dtype=np.float64).clip(0, 1)
    assert np.array_equal(wiener_deblur(y, levin_kernel(3), sigma=0.02, alpha=50.0),
                          tikhonov_deblur(y, levin_kernel(3), 50.0 * 0.02**2))


def test_cbm3d_denoiser_matches_bm3d_rgb_and_runs_in_pnp():
    bm3d = pytest.importorskip("bm3d")  # the optional third-party package

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
    blurred = degrade_blur(x, levin_kernel(1), 0.0, dtype=np.float64)
    # 4 iterations: with 2 the margin was 2 % at the old fixed prior weight and none at the kernel's rule
    out = pnp_cbm3d_deblur(blurred, levin_kernel(1), sigma=0.01, n_iter=4, stage="hard")
    assert out.shape == x.shape and mse(out) < mse(blurred) / 2


# --------------------------------------------------------------------------- inpainting interpolation


def _affine_image(h: int = 40, w: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / 60.0
    return np.stack([0.2 + 0.3 * xx + 0.2 * yy, 0.5 - 0.2 * xx + 0.1 * yy, 0.3 + 0.1 * xx], -1)


def test_linear_inpaint_is_exact_on_an_affine_image():
    from pnpleaves.restoration import random_mask
    from pnpleaves.restoration.baselines import linear_inpaint

    x = _affine_image()
    m = random_mask(x.shape[:2], 0.7, 3)
    m[0, 0] = m[0, -1] = m[-1, 0] = m[-1, -1] = 1  # corners observed: every hole is inside the hull
    out = linear_inpaint(x * m[..., None], m)
    assert out.shape == x.shape
    assert np.abs(out - x).max() < 1e-6
    assert np.abs(out[m > 0] - x[m > 0]).max() < 1e-6  # observed pixels kept


def test_linear_inpaint_fills_outside_the_hull_and_per_channel_masks():
    from pnpleaves.restoration.baselines import linear_inpaint

    x = _affine_image(24, 24)
    m = np.zeros((24, 24, 3))
    m[4:20, 4:20, :] = 1
    m[8, 8, 1] = 0  # channel masks differ
    out = linear_inpaint(x * m, m)
    assert np.isfinite(out).all() and abs(out[8, 8, 1] - x[8, 8, 1]) < 1e-6


def test_biharmonic_inpaint_is_exact_on_a_harmonic_function():
    from pnpleaves.restoration.baselines import biharmonic_inpaint

    yy, xx = np.mgrid[0:40, 0:48] / 60.0
    h = 0.3 + 0.2 * ((xx - 0.4) ** 2 - (yy - 0.3) ** 2)  # harmonic, hence biharmonic (also discretely)
    x = np.stack([h, 1 - h, 0.5 + 0.5 * (h - 0.3)], -1)
    m = np.ones((40, 48))
    m[10:20, 15:30] = 0
    m[25:31, 5:12] = 0
    out = biharmonic_inpaint(x * m[..., None], m)
    assert out.shape == x.shape
    assert np.abs(out - x).max() < 1e-5


def test_push_pull_inpaint_keeps_observed_pixels_and_constants():
    from pnpleaves.restoration.baselines import push_pull_inpaint

    x = np.full((20, 20, 3), 0.25)
    m = (np.arange(400).reshape(20, 20) % 3 == 0).astype(float)
    assert np.abs(push_pull_inpaint(x * m[..., None], m) - 0.25).max() < 1e-6
