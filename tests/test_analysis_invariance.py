"""Tests for pnpleaves.analysis.invariance, .distortions and .equivariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import brentq

from pnpleaves.analysis import DISTORTIONS, distort, equivariance_error, invariance, match_noise
from pnpleaves.analysis.noisy_trials import as_batches, named_priors
from pnpleaves.errors import InputError
from pnpleaves.models import DihedralCycle, GaussianDenoiser, GaussianFit

SKEW = torch.tensor([[0.05, 0.1, 0.0], [0.0, 0.5, 0.25], [0.0, 0.1, 0.0]])


def skewed_denoiser(x, sigma):
    """A linear denoiser with a non-symmetric kernel (zero padding): equivariant to nothing but interior shifts."""
    c = x.shape[1]
    return F.conv2d(x, SKEW.to(x).expand(c, 1, 3, 3), padding=1, groups=c)


def circular_blur(x, sigma):
    """A symmetric blur with circular boundaries: equivariant to flips, quarter turns and circular shifts."""
    k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), k.to(x).expand(c, 1, 3, 3), groups=c)


def smooth_images(n=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = rng.random((size // 4, size // 4, 3))
        img = np.kron(img, np.ones((4, 4, 1)))  # blocks: some structure, values in [0, 1]
        out.append((0.2 + 0.6 * img).astype(np.float32))
    return out


# ---------------------------------------------------------------------------------------- matching
def test_matching_finds_the_sigma_that_equalises_two_gaussian_denoisers():
    v, v_wrong, size = 0.01, 0.04, 32
    fit = GaussianFit.white((3, size, size), mean=0.5, var=v)
    images = [t[0].permute(1, 2, 0).numpy().astype(np.float32)
              for t in fit.sample(8, generator=torch.Generator().manual_seed(0)).split(1)]
    right = GaussianDenoiser(fit)  # exact MMSE: MSE = v s^2 / (v + s^2)
    wrong = GaussianDenoiser(GaussianFit.white((3, size, size), mean=0.5, var=v_wrong))  # misspecified

    def mse_wrong(s):
        a = v_wrong / (v_wrong + s**2)
        return a**2 * s**2 + (1 - a) ** 2 * v

    s0 = 0.1
    target = v * s0**2 / (v + s0**2)
    expected = brentq(lambda s: mse_wrong(s) - target, 1e-3, 1.0)
    priors = named_priors({"right": right, "wrong": wrong})
    sig, psnr_target = match_noise(priors, as_batches(images), s0, tol=1e-3, reference="right")
    assert sig["right"] == s0
    assert psnr_target == pytest.approx(-10 * math.log10(target), abs=0.1)
    assert sig["wrong"] == pytest.approx(expected, rel=0.03)
    assert sig["wrong"] < s0  # the worse denoiser gets less noise
    sig, _ = match_noise(priors, as_batches(images), s0, tol=1e-3)  # default: the weaker one is the reference
    assert sig["wrong"] == s0 and sig["right"] > s0


def test_matching_reports_an_unreachable_target():
    images = smooth_images(2, 16)
    priors = named_priors({"blur": circular_blur, "flat": lambda x, s: torch.full_like(x, 0.5)})
    with pytest.raises(InputError, match="cannot match"):  # a flat output scores the same at any sigma
        match_noise(priors, as_batches(images), 0.1, reference="blur")


# ---------------------------------------------------------------------------------------- invariance
def test_invariance_gap_is_zero_for_an_exactly_equivariant_denoiser():
    images = smooth_images()
    ens = DihedralCycle(named_priors([skewed_denoiser])["skewed_denoiser"], mode="ensemble")
    res = invariance({"x8": ens, "raw": skewed_denoiser}, images, "flip", sigma=0.1, match=False)
    assert res.levels == (1.0, 2.0, 3.0)
    assert max(abs(v) for v in res.delta["x8"]) < 1e-4  # the noise is flipped with the image
    assert max(abs(v) for v in res.delta["raw"]) > 1e-3  # a non-equivariant denoiser does change
    res = invariance([circular_blur], images, "rotation", [90, 180, 270], sigma=0.1)
    assert max(abs(v) for v in res.delta["circular_blur"]) < 1e-4


def test_invariance_result_table_rows_and_gap():
    images = smooth_images(2, 32)
    res = invariance({"a": circular_blur, "b": skewed_denoiser}, images, "blur", [0.5, 1.0], sigma=0.1, reference="a")
    assert set(res.psnr) == {"a", "b"} and res.reference == "a"
    assert res.sigma_in["a"] == 0.1
    assert res.base_psnr["b"] == pytest.approx(res.base_psnr["a"], abs=0.01)  # matched
    assert res.gap["a"] == [0.0, 0.0]
    assert len(res.rows()) == 4 and "gap_to_reference" in res.rows()[0]
    assert "gap b" in res.format()
    for v in res.delta.values():
        assert v[1] > v[0]  # a blurrier image is easier to denoise


# ---------------------------------------------------------------------------------------- distortions
@pytest.mark.parametrize("name", sorted(DISTORTIONS))
def test_distortions_keep_images_in_range_and_have_an_identity(name):
    img = smooth_images(1, 32)[0]
    d = DISTORTIONS[name]
    for level in d.levels:
        out = distort(img, name, level)
        assert out.dtype == np.float32 and out.ndim == 3 and out.shape[-1] == 3
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    ident = distort(img, name, d.identity)
    if name != "subpixel-shift":  # (crops its border at every level)
        assert np.allclose(ident, img, atol=1e-5)


def test_rotation_crops_to_the_inscribed_square_and_quarter_turns_are_exact():
    img = smooth_images(1, 64)[0]
    assert distort(img, "rotation", 45).shape[:2] == (45, 45)  # 64 / (cos 45 + sin 45)
    assert np.array_equal(distort(img, "rotation", 90), np.rot90(img, 1, axes=(0, 1)))


def test_gain_matched_undoes_the_gain_for_a_homogeneous_denoiser():
    images = smooth_images(2, 32)
    res = invariance([lambda x, s: x], images, "gain-matched", [0.5], sigma=0.05, match=False)
    # identity denoiser: the output is T x + a sigma z, undone: x + sigma z, so nothing changes
    assert abs(res.delta["<lambda>"][0]) < 1e-3


# ---------------------------------------------------------------------------------------- equivariance
def test_equivariance_error_of_equivariant_and_non_equivariant_denoisers():
    images = smooth_images(2, 48)
    assert equivariance_error(circular_blur, images, "dihedral").mean < 1e-6
    raw = equivariance_error(skewed_denoiser, images, "flips")
    assert min(raw.errors) > 1e-3
    ens = DihedralCycle(named_priors([skewed_denoiser])["skewed_denoiser"], mode="ensemble")
    assert equivariance_error(ens, images, "dihedral").mean < 1e-6  # the fix
    shifts = equivariance_error(skewed_denoiser, images, "shifts", shifts=((1, 2), (3, 0)), margin=4)
    assert max(shifts.errors) < 1e-6  # a convolution commutes with shifts away from the borders
    assert shifts.elements == ("shift(1,2)", "shift(3,0)")
    with pytest.raises(InputError):
        equivariance_error(skewed_denoiser, images, "shifts", shifts=((40, 40),), margin=8)
