"""pnpleaves.restoration.api: pnp_deblur / pnp_super_resolve / pnp_inpaint / pnp_denoise: kinds, layouts,
determinism, keyword-only priors, errors."""

import inspect
import warnings

import deepinv as dinv
import numpy as np
import pytest
import torch
from scipy import ndimage

import pnpleaves
from pnpleaves.priors import list_priors
from pnpleaves.restoration import (
    ScheduleParams,
    estimate_sigma,
    levin_kernel,
    pnp_deblur,
    pnp_denoise,
    pnp_inpaint,
    pnp_super_resolve,
)
from test_restoration_pnp import GradientWiener


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
    out = pnp_deblur(images["grey_u8"], K, prior=den, sigma=0.02, method=method, **FAST)
    assert isinstance(out, np.ndarray) and out.shape == (37, 51) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    out = pnp_deblur(images["rgb"], K, prior=den, sigma=0.02, method=method, **FAST)
    assert out.shape == (37, 51, 3) and out.dtype == np.float32
    t = torch.from_numpy(images["rgb"]).permute(2, 0, 1)
    out = pnp_deblur(t, K, prior=den, sigma=0.02, method=method, **FAST)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 37, 51)
    out = pnp_deblur(t[None].double().expand(2, -1, -1, -1), K, prior=den, sigma=0.02, method=method, **FAST)
    assert out.shape == (2, 3, 37, 51) and out.dtype == torch.float64
    out = pnp_deblur(t[:1], torch.from_numpy(K), prior=den, sigma=0.02, method=method, **FAST)
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
    out = pnp_denoise(g, sigma=0.05, prior=den)
    assert out.shape == (37, 51) and out.dtype == np.float32
    out = pnp_denoise(torch.from_numpy(images["rgb"]).permute(2, 0, 1), sigma=0.05, prior=den)
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
    a = pnp_deblur(g, K, prior=_ColourOnly(), sigma=0.02, n_iter=1)
    rgb = np.repeat(g[..., None], 3, -1)
    b = pnp_deblur(rgb, K, prior=_ColourOnly(), sigma=0.02, n_iter=1)
    assert a.shape == (37, 51) and np.allclose(a, b.mean(-1), atol=1e-6)
    assert pnp_denoise(g, sigma=0.1, prior=_ColourOnly()).shape == (37, 51)


def test_same_input_same_output_and_no_in_place_change(den, images):
    rgb = images["rgb"].copy()
    keep = rgb.copy()
    k = K.copy()
    a = pnp_deblur(rgb, k, prior=den, sigma=None, **FAST)
    b = pnp_deblur(rgb, k, prior=den, sigma=None, **FAST)
    assert np.array_equal(a, b)
    assert np.array_equal(rgb, keep) and np.array_equal(k, K)
    t = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
    tk = t.clone()
    mask = torch.ones(37, 51, dtype=torch.bool)
    mask[10:20, 10:30] = False
    mk = mask.clone()
    pnp_inpaint(t, mask, prior=den, sigma=0.0, **FAST)
    pnp_super_resolve(t, 2, prior=den, sigma=0.0, **FAST)
    pnp_denoise(t, sigma=0.1, prior=den)
    assert torch.equal(t, tk) and torch.equal(mask, mk)
    c1 = pnp_deblur(rgb, k, prior=den, sigma=0.01, ensemble="cycle", **FAST)
    c2 = pnp_deblur(rgb, k, prior=den, sigma=0.01, ensemble="cycle", **FAST)
    assert np.array_equal(c1, c2) and np.array_equal(c1, pnp_deblur(rgb, k, prior=den, sigma=0.01, **FAST))
    assert not np.array_equal(c1, pnp_deblur(rgb, k, prior=den, sigma=0.01, ensemble="none", **FAST))
    was_training = den.training
    den.train()
    pnp_denoise(t, sigma=0.1, prior=den)
    assert den.training  # the prior's mode is given back
    den.train(was_training)


def test_deblur_without_circular_model_has_no_border_ringing():
    """An image blurred with reflect boundaries restores with borders close to the interior quality.

    With a linear (Wiener) prior the circular model rings at the borders; the padded, windowed model
    of pnp_deblur does not.
    """
    yy, xx = np.mgrid[0:64, 0:64]
    x = 0.5 + 0.25 * np.sin(xx / 4.0 + yy / 9.0) + 0.2 * (xx > 40)
    k = levin_kernel(5)
    y = ndimage.convolve(x, k, mode="reflect")
    den = GradientWiener(c=1e-3)
    band = np.ones_like(x, bool)
    band[8:-8, 8:-8] = False

    def err(out):
        return float(np.sqrt(np.mean((out - x)[band] ** 2))), float(np.sqrt(np.mean((out - x)[~band] ** 2)))

    circ = err(pnp_deblur(y, k, prior=den, sigma=0.002, boundary="circular"))
    ours = err(pnp_deblur(y, k, prior=den, sigma=0.002))
    assert ours[0] < circ[0] / 3  # border error
    assert ours[0] < 3 * ours[1]  # borders not much worse than the interior


# --------------------------------------------------------------------------- signatures


def test_prior_and_sigma_are_keyword_only():
    for fn in (pnp_deblur, pnp_super_resolve, pnp_inpaint, pnp_denoise):
        params = inspect.signature(fn).parameters
        assert params["prior"].kind is inspect.Parameter.KEYWORD_ONLY, fn.__name__
        assert params["prior"].default == "vl-drunet"
        assert params["sigma"].kind is inspect.Parameter.KEYWORD_ONLY and params["sigma"].default is None


def test_positional_prior_still_works_with_a_deprecation_warning(den, images):
    rgb = images["rgb"]
    with pytest.warns(DeprecationWarning, match=r"passing prior by position to pnp_deblur\(\) is deprecated"):
        old = pnp_deblur(rgb, K, den, sigma=0.02, **FAST)
    assert np.array_equal(old, pnp_deblur(rgb, K, prior=den, sigma=0.02, **FAST))
    with pytest.raises(TypeError, match="multiple values for argument 'prior'"):
        pnp_deblur(rgb, K, den, prior=den, sigma=0.02)
    with pytest.raises(TypeError, match="takes 2 positional arguments"):
        pnp_deblur(rgb, K, den, 0.02)


def test_positional_sigma_of_denoise_still_works_with_a_deprecation_warning(den, images):
    rgb = images["rgb"]
    with pytest.warns(DeprecationWarning, match=r"passing sigma by position to pnp_denoise\(\) is deprecated"):
        old = pnp_denoise(rgb, 0.05, prior=den)
    assert np.array_equal(old, pnp_denoise(rgb, sigma=0.05, prior=den))


def test_denoise_estimates_sigma_by_default(den):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:40]
    noisy = np.clip(0.5 + 0.2 * np.sin(xx / 5.0)[..., None] * np.ones(3) + 0.05 * rng.standard_normal((48, 40, 3)), 0, 1)
    est = estimate_sigma(noisy)
    assert abs(est - 0.05) < 0.01
    auto = pnp_denoise(noisy, prior=den)
    assert np.array_equal(auto, pnp_denoise(noisy, sigma=None, prior=den))
    assert np.array_equal(auto, pnp_denoise(noisy, sigma=est, prior=den))


def test_the_prior_keeps_its_mode_when_wrapped_for_grey_images(images):
    """A colour prior on a grey image runs through a channel adapter; the prior's own mode is given back."""
    colour = _ColourOnly().eval()
    pnp_deblur(images["grey_u8"], K, prior=colour, sigma=0.02, n_iter=1)
    pnp_denoise(images["grey_u8"], sigma=0.1, prior=colour)
    assert not colour.training
    colour.train()
    pnp_deblur(images["grey_u8"], K, prior=colour, sigma=0.02, n_iter=1)
    assert colour.training


def test_schedule_argument_overrides_the_defaults(den, images):
    from_dict = pnp_deblur(images["rgb"], K, prior=den, sigma=0.02, schedule={"n_iter": 2})
    assert np.array_equal(from_dict, pnp_deblur(images["rgb"], K, prior=den, sigma=0.02, n_iter=2))
    params = ScheduleParams(n_iter=2, sigma_start=0.1)
    assert not np.array_equal(from_dict, pnp_deblur(images["rgb"], K, prior=den, sigma=0.02, schedule=params))
    with pytest.raises(TypeError, match="schedule must be a ScheduleParams"):
        pnp_deblur(images["rgb"], K, prior=den, sigma=0.02, schedule=[2])


# --------------------------------------------------------------------------- errors


def _bad_kernel(k, match, den, img):
    with pytest.raises(ValueError, match=match):
        pnp_deblur(img, k, prior=den, sigma=0.01, **FAST)


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
        a = pnp_deblur(img, K * 15, prior=den, sigma=0.01, **FAST)
    b = pnp_deblur(img, K, prior=den, sigma=0.01, **FAST)
    assert np.array_equal(a, b)


def test_bad_images_raise_clear_errors(den, images):
    img = images["rgb"].copy()
    img[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="img must contain finite values; got 1 NaN/Inf"):
        pnp_deblur(img, K, prior=den, sigma=0.01)
    img[3, 4, 0] = np.inf
    with pytest.raises(ValueError, match="finite values"):
        pnp_denoise(img, sigma=0.1, prior=den)
    with pytest.raises(ValueError, match="channels-last"):
        pnp_deblur(images["rgb"].transpose(2, 0, 1), K, prior=den, sigma=0.01)
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\) channels; got 4"):
        pnp_deblur(np.zeros((20, 20, 4), np.float32), K, prior=den, sigma=0.01)
    with pytest.raises(TypeError, match="uint8, uint16, bool or float"):
        pnp_deblur(np.zeros((20, 20), np.int32), K, prior=den, sigma=0.01)
    with pytest.raises(TypeError, match="img must be an image array, not a path; .*read_image"):
        pnp_deblur("image.png", K, prior=den, sigma=0.01)
    with pytest.raises(TypeError, match="NumPy array .* or a torch tensor"):
        pnp_deblur({"x": 1}, K, prior=den, sigma=0.01)
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(B, C, H, W\)"):
        pnp_deblur(torch.zeros(20, 20), K, prior=den, sigma=0.01)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0 and <= 1.*25/255"):
        pnp_deblur(images["rgb"], K, prior=den, sigma=25)
    with pytest.raises(ValueError, match="method must be one of 'hqs', 'admm'"):
        pnp_deblur(images["rgb"], K, prior=den, sigma=0.01, method="pgd")
    with pytest.raises(ValueError, match="boundary must be one of"):
        pnp_deblur(images["rgb"], K, prior=den, sigma=0.01, boundary="reflect")


def test_float_image_scale_rule(den, images):
    """Issue 14 item 8: noisy floats within [-0.5, 1.5] are used as they are, silently (the output is
    clipped to [0, 1]); a float image on another scale is refused."""
    img = images["rgb"] * 1.4 - 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = pnp_denoise(img, sigma=0.05, prior=den)
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="Divide it by 255"):
        pnp_denoise(images["rgb"] * 255.0, sigma=0.05, prior=den)


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
        pnp_deblur(images["rgb"], K, prior="no-such-prior", sigma=0.01)
    with pytest.raises(TypeError, match="prior must be a registered name"):
        pnp_deblur(images["rgb"], K, prior=3.0, sigma=0.01)


def test_top_level_reexports():
    assert pnpleaves.pnp_deblur is pnp_deblur and pnpleaves.pnp_denoise is pnp_denoise


def test_default_prior_error_names_the_registered_priors(images):
    known = ", ".join(sorted(list_priors())) or "none registered yet"
    with pytest.raises(ValueError, match=f"unknown prior 'no-such-prior'; known priors: {known}"):
        pnp_deblur(images["rgb"], K, prior="no-such-prior")


def test_inpainting_defaults_to_admm_from_linear_interpolation(den, images):
    """The default-method switch (ADMM for inpainting) keeps kinds, shapes and determinism."""
    mask = np.random.default_rng(2).random((37, 51)) > 0.5
    g, rgb = images["grey_u8"], images["rgb"]
    assert inspect.signature(pnp_inpaint).parameters["method"].default == "admm"
    a = pnp_inpaint(rgb, mask, prior=den, sigma=0.0, **FAST)
    assert np.array_equal(a, pnp_inpaint(rgb, mask, prior=den, sigma=0.0, method="admm", **FAST))
    assert np.array_equal(a, pnp_inpaint(rgb, mask, prior=den, sigma=0.0, **FAST))  # deterministic
    assert not np.array_equal(a, pnp_inpaint(rgb, mask, prior=den, sigma=0.0, method="hqs", **FAST))
    assert a.shape == rgb.shape and a.dtype == np.float32
    out = pnp_inpaint(g, mask, prior=den, sigma=0.0, **FAST)
    assert out.shape == g.shape and out.dtype == np.float32
    t = pnp_inpaint(torch.from_numpy(rgb).permute(2, 0, 1)[None], torch.from_numpy(mask), prior=den, sigma=0.0, **FAST)
    assert isinstance(t, torch.Tensor) and t.shape == (1, 3, 37, 51)
    # the first estimate is the linear interpolation: with a do-nothing prior and tiny steps it stays there
    from pnpleaves.restoration.baselines import linear_inpaint

    class Identity(dinv.models.Denoiser):
        def forward(self, x, sigma, **kwargs):
            return x

    lin = linear_inpaint(rgb * mask[..., None], mask)
    out = pnp_inpaint(rgb * mask[..., None], mask, prior=Identity(), sigma=0.0, method="hqs", n_iter=1)
    # (the padded band and co-circular grid points may flip a few Delaunay triangles)
    assert (np.abs(out - lin)[6:-6, 6:-6] < 1e-5).mean() > 0.9


# --------------------------------------------------------------------------- the input range follows the noise


def _noisy_photo(sigma, seed=0):
    from pathlib import Path

    from pnpleaves.io import read_image

    clean = read_image(Path(__file__).with_name("data") / "images" / "kodim15_96.png").astype(np.float64)
    return clean, clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)


@pytest.mark.parametrize("sigma255", [50, 75])
def test_heavy_noise_photographs_are_denoised_unclipped(sigma255):
    """Issue 24 item 3: at sigma 50 and 75 / 255 a noisy photograph leaves [-0.5, 1.5]; it is denoised as it
    is, with sigma given or estimated, and the result beats the noisy input."""
    from pnpleaves.metrics import psnr

    sigma = sigma255 / 255
    clean, noisy = _noisy_photo(sigma)
    assert noisy.min() < -0.5 or noisy.max() > 1.5  # the old rule refused these
    for s in (sigma, None):
        out = pnp_denoise(noisy, sigma=s)
        assert out.shape == clean.shape and 0 <= out.min() and out.max() <= 1
        assert psnr(out, clean) > psnr(np.clip(noisy, 0, 1), clean) + 5
    t = torch.from_numpy(noisy).permute(2, 0, 1).float()
    assert pnp_denoise(t, sigma=sigma).shape == t.shape
    blurred_noisy = noisy  # the same rule holds in every pnp_* call
    assert pnp_deblur(blurred_noisy, np.ones((3, 3)) / 9, sigma=sigma, n_iter=2).shape == clean.shape


def test_other_scales_are_refused_with_their_name(images):
    _, noisy = _noisy_photo(50 / 255)
    with pytest.raises(ValueError, match=r"looks like 0-255 \(8-bit\) data. Divide it by 255"):
        pnp_denoise(noisy * 255, sigma=50 / 255)
    with pytest.raises(ValueError, match=r"looks like 0-255 \(8-bit\) data"):
        pnp_denoise(np.clip(noisy, 0, 1) * 255, sigma=None)
    with pytest.raises(ValueError, match=r"looks like 0-65535 \(16-bit\) data"):
        pnp_denoise(np.clip(noisy, 0, 1) * 65535, sigma=None)
    with pytest.raises(ValueError, match=r"outside \[-0.5, 1.5\].*is sigma right"):  # sigma far too small
        pnp_denoise(noisy, sigma=2 / 255)
    with pytest.raises(ValueError, match="down to"):
        pnp_denoise(images["rgb"] * 2 - 1, sigma=0.01)  # data on [-1, 1]
