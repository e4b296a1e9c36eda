"""pnpleaves.restoration.noise_level: blind noise-level estimation."""

import numpy as np
import pytest
import torch

from pnpleaves.restoration import estimate_sigma
from pnpleaves.restoration.noise_level import estimate_sigma_tensor


def _smooth(h=128, w=128):
    yy, xx = np.mgrid[0:h, 0:w]
    return 0.5 + 0.15 * np.sin(xx / 9.0) * np.cos(yy / 13.0)


def test_estimate_sigma_on_synthetic_noise():
    rng = np.random.default_rng(0)
    clean = _smooth()
    for s in (0.01, 0.05, 0.1):
        noisy = np.clip(clean + s * rng.standard_normal(clean.shape), 0, 1)
        assert abs(estimate_sigma(noisy) - s) < 0.1 * s
        assert abs(estimate_sigma(noisy, method="mad") - s) < 0.15 * s
    mask = rng.random(clean.shape) > 0.3
    noisy = clean + 0.05 * rng.standard_normal(clean.shape)
    assert abs(estimate_sigma(noisy, mask=mask, method="mad") - 0.05) < 0.01


def test_estimate_sigma_tensor_gives_one_value_per_image():
    rng = np.random.default_rng(1)
    clean = torch.from_numpy(_smooth(48, 40))[None, None].expand(2, 3, 48, 40)
    noisy = clean + torch.from_numpy(rng.standard_normal((2, 3, 48, 40))) * torch.tensor([0.02, 0.08]).view(2, 1, 1, 1)
    est = estimate_sigma_tensor(noisy)
    assert len(est) == 2 and abs(est[0] - 0.02) < 0.005 and abs(est[1] - 0.08) < 0.02
    assert estimate_sigma(noisy.clamp(0, 1)) == pytest.approx(estimate_sigma_tensor(noisy.clamp(0, 1)), rel=1e-6)


def test_tiny_images_fall_back_and_hopeless_ones_raise():
    rng = np.random.default_rng(2)
    small = 0.5 + 0.05 * rng.standard_normal((10, 10))
    assert 0.02 < estimate_sigma(np.clip(small, 0, 1)) < 0.1  # every patch, then MAD
    with pytest.raises(ValueError, match="pass sigma explicitly"):
        estimate_sigma(np.full((6, 6), 0.5), mask=np.eye(6, dtype=bool))
    with pytest.raises(ValueError, match="method must be one of 'pca', 'mad'"):
        estimate_sigma(small.clip(0, 1), method="wavelet")
