"""Stationary Gaussian image models and their exact MMSE denoiser (pnpleaves.models.gaussian, re-exported
by pnpleaves.sampling)."""

import math

import pytest
import torch

from pnpleaves.models.gaussian import GaussianDenoiser, GaussianFit


def test_sample_covariance_and_mean():
    # N(mean, Sigma + s^2 I): in the model's eigenbasis the modes are independent with variance P + s^2.
    fit = GaussianFit.power_law(8)
    n, s = 2000, 0.1
    x = fit.sample(n, sigma=s, generator=torch.Generator().manual_seed(0)).double()
    w = torch.einsum("ck,bchw->bkhw", fit.basis.double(), x - fit.mean.double())
    coef = torch.fft.fft2(w, norm="ortho")
    v = fit.spectrum.double() + s**2
    d = v.numel()
    # sum_k n |mean_k|^2 / v_k ~ chi2_d (d real degrees of freedom)
    chi2 = float((n * coef.mean(0).abs() ** 2 / v).sum())
    assert chi2 < d + 5 * math.sqrt(2 * d)
    # band average of |coef|^2 / v has standard deviation sqrt(2 / (n K))
    ratio = (coef.abs() ** 2).mean(0) / v
    assert abs(float(ratio.mean()) - 1) < 5 * math.sqrt(2 / (n * d))


def test_fit_from_images_recovers_model():
    true = GaussianFit.power_law(16, colour_corr=0.6, std=0.2)
    imgs = true.sample(400, generator=torch.Generator().manual_seed(0))
    fit = GaussianFit.from_images(imgs)
    assert fit.shape == (3, 16, 16)
    # channel means: std of the estimate is sqrt(var(image mean) / n) = 0.075 / 20
    assert torch.allclose(fit.mean.reshape(-1), true.mean.reshape(-1), atol=5 * 0.075 / 20)
    # colour basis (up to sign), pixel variance
    assert torch.allclose((fit.basis.T @ true.basis).abs()[0, 0], torch.tensor(1.0), atol=1e-3)
    assert torch.allclose(fit.pixel_variance(), true.pixel_variance(), rtol=0.05)
    with pytest.raises(ValueError, match="at least 2 images"):
        GaussianFit.from_images(imgs[:1])


def test_model_validation_errors():
    with pytest.raises(ValueError, match="orthonormal"):
        GaussianFit(torch.zeros(3), torch.ones(3, 3), torch.ones(3, 4, 4))
    with pytest.raises(ValueError, match="spectrum must be"):
        GaussianFit(torch.zeros(3), torch.eye(3), torch.ones(4, 4))
    with pytest.raises(ValueError, match="variances >= 0"):
        GaussianFit(torch.zeros(1), torch.eye(1), -torch.ones(1, 4, 4))
    den = GaussianDenoiser(GaussianFit.white((3, 4, 4)))
    with pytest.raises(ValueError, match=r"\(B, 3, 4, 4\)"):
        den(torch.zeros(1, 3, 5, 4), 0.1)
    with pytest.raises(TypeError, match="GaussianFit"):
        GaussianDenoiser("not a fit")


def test_power_law_model_statistics():
    fit = GaussianFit.power_law((32, 24), std=0.25, mean_std=0.075, colour_corr=0.8)
    assert torch.allclose(fit.pixel_variance(), torch.full((3,), 0.0625), rtol=1e-5)
    # variance of the image mean = P(0) / N, summed over the decorrelated channels per colour
    n = 32 * 24
    var_mean = (fit.basis**2) @ fit.spectrum[:, 0, 0] / n
    assert torch.allclose(var_mean, torch.full((3,), 0.075**2), rtol=1e-5)
