"""pnpleaves.sampling.tweedie: the score read off a denoiser, checked against the exact Gaussian case."""

import pytest
import torch

from pnpleaves.sampling import GaussianDenoiser, GaussianFit, tweedie_score


def _fit64(size=(6, 5)):
    return GaussianFit.power_law(size).to(dtype=torch.float64)


def test_denoiser_and_score_match_dense_closed_form():
    # D(x, s) = m + C (C + s^2 I)^-1 (x - m);  score = -(C + s^2 I)^-1 (x - m); odd, non-square size
    fit = _fit64((5, 7))
    den = GaussianDenoiser(fit)
    d = 3 * 5 * 7
    cov = fit.dense_covariance()
    assert torch.allclose(cov, cov.T, atol=1e-12)
    assert float(torch.linalg.eigvalsh(cov).min()) > 0
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 5, 7, generator=g, dtype=torch.float64)
    sigma = torch.tensor([0.05, 0.2], dtype=torch.float64)
    m = fit.mean.expand(3, 5, 7).reshape(-1)
    for b in range(2):
        k = cov + sigma[b] ** 2 * torch.eye(d, dtype=torch.float64)
        r = x[b].reshape(-1) - m
        want_d = m + cov @ torch.linalg.solve(k, r)
        want_s = -torch.linalg.solve(k, r)
        got_d = den(x, sigma)[b].reshape(-1)
        got_s = tweedie_score(den, x, sigma)[b].reshape(-1)
        assert torch.allclose(got_d, want_d, rtol=0, atol=1e-10)
        assert torch.allclose(got_s, want_s, rtol=1e-9, atol=1e-8)
        assert torch.allclose(den.score(x, sigma)[b].reshape(-1), want_s, rtol=1e-9, atol=1e-8)


def test_tweedie_score_sigma_shapes_agree():
    den = GaussianDenoiser(_fit64())
    x = torch.rand(3, 3, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    s = 0.1
    ref = tweedie_score(den, x, s)
    for form in (torch.tensor(s), torch.full((3,), s), torch.full((3, 1, 1, 1), s)):
        assert torch.allclose(tweedie_score(den, x, form.double()), ref, atol=1e-12)
    with pytest.raises(ValueError, match="one value or one per image"):
        tweedie_score(den, x, torch.full((2,), s))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        tweedie_score(den, x, 0.0)
