"""Unconditional samplers (pnpleaves.sampling.sample_prior) checked against an exact Gaussian prior.

With the exact MMSE denoiser of a stationary Gaussian prior N(m, C), every sampler is a linear
recursion per eigenmode (colour basis x Fourier) of C, so both the ideal output law and the exact law
of each *discretised* sampler are known in closed form:

- ideal: exact draw of p_{sigma_min} = N(m, C + sigma_min^2 I), then D(., sigma_min): variance
  c^2 / (c + sigma_min^2) per mode c;
- discretised: the per-mode variance recursions below.

Tolerances come from the sample count: in the eigenbasis the band average of |coef|^2 / v over K
modes and n samples has standard deviation sqrt(2 / (n K)), and n * sum |mean coef|^2 / v ~ chi2_d.
"""

import math

import pytest
import torch
from deepinv.models import Denoiser, DRUNet

from pnpleaves.sampling import GaussianDenoiser, GaussianFit, sample_prior
from pnpleaves.sampling.prior import geometric_sigmas, kadkhodaie_beta

S_MAX, S_MIN = 0.2, 0.01
N = 2000


@pytest.fixture(scope="module")
def prior():
    fit = GaussianFit.power_law(8)
    return fit, GaussianDenoiser(fit, sigma_range=(0.0, S_MAX))


def _modes(fit, x):
    """Coefficients of x - m in the model's eigenbasis, (n, C, H, W) complex float64."""
    w = torch.einsum("ck,bchw->bkhw", fit.basis.double(), x.double() - fit.mean.double())
    return torch.fft.fft2(w, norm="ortho")


def _exact_variance(method, c, steps, **opt):
    """Per-mode variance after the discretised sampler (fitted-Gaussian start) and the final denoise."""
    if method == "ancestral":
        sig = geometric_sigmas(S_MAX, S_MIN, steps + 1)
        v = c + S_MAX**2
        for s, sn in zip(sig[:-1], sig[1:]):
            lam, a = 1 - (sn / s) ** 2, s**2 / (c + s**2)
            v = (1 - lam * a) ** 2 * v + s**2 * lam * (1 - lam)
    elif method == "annealed":
        levels, h = opt.get("levels", 10), opt.get("h", 0.2)
        v = c + S_MAX**2
        for s in geometric_sigmas(S_MAX, S_MIN, levels):
            a = s**2 / (c + s**2)
            for _ in range(steps // levels):
                v = (1 - h * a) ** 2 * v + 2 * h * s**2
    else:  # kadkhodaie, scheduled levels
        beta, h0 = kadkhodaie_beta(steps, ratio=S_MIN / S_MAX), 0.01
        v, s, t = c + S_MAX**2, S_MAX, 0
        while s >= S_MIN:
            t += 1
            h = h0 * t / (1 + h0 * (t - 1))
            a = s**2 / (c + s**2)
            v = (1 - h * a) ** 2 * v + ((1 - beta * h) ** 2 - (1 - h) ** 2) * s**2
            s *= 1 - beta * h
    return (c / (c + S_MIN**2)) ** 2 * v


def _check_law(fit, x, var, bands=4):
    """Mean (chi2) and per-band variance ratio against the per-mode variance ``var``."""
    coef = _modes(fit, x)
    n, d = x.shape[0], var.numel()
    chi2 = float((n * coef.mean(0).abs() ** 2 / var).sum())
    assert chi2 < d + 5 * math.sqrt(2 * d), f"mean off: chi2 = {chi2:.1f} for d = {d}"
    ratio = ((coef.abs() ** 2).mean(0) / var).reshape(-1)
    order = torch.argsort(fit.spectrum.double().reshape(-1), descending=True)
    for k, idx in enumerate(order.chunk(bands)):
        r, tol = float(ratio[idx].mean()), 5 * math.sqrt(2 / (n * idx.numel()))
        assert abs(r - 1) < tol, f"band {k} (coarse -> fine): variance ratio {r:.4f}, tolerance {tol:.4f}"


@pytest.mark.parametrize("method,steps", [("ancestral", 100), ("annealed", 200), ("kadkhodaie", 100)])
def test_sampler_law_matches_exact_discrete_recursion(prior, method, steps):
    fit, den = prior
    x = sample_prior(den, n=N, size=8, method=method, steps=steps, seed=1, clip=False)
    _check_law(fit, x, _exact_variance(method, fit.spectrum.double(), steps))


def test_default_sampler_reproduces_prior(prior):
    # The default method with the fitted-Gaussian start reproduces the prior's mean and variance (up to
    # the final MMSE denoise at sigma_min): its discretisation bias at 100 steps is below 3 % per mode,
    # and the samples agree with the ideal law within that bias plus the sampling tolerance.
    fit, den = prior
    c = fit.spectrum.double()
    ideal = c**2 / (c + S_MIN**2)
    bias = _exact_variance("ancestral", c, 100) / ideal - 1
    assert float(bias.abs().max()) < 0.03
    x = sample_prior(den, n=N, size=8, seed=2, clip=False)  # all defaults: ancestral, 100 steps
    coef = _modes(fit, x)
    d = c.numel()
    assert float((N * coef.mean(0).abs() ** 2 / ideal).sum()) < d + 5 * math.sqrt(2 * d)
    ratio = float(((coef.abs() ** 2).mean(0) / ideal).mean())
    assert abs(ratio - 1) < float(bias.abs().max()) + 5 * math.sqrt(2 / (N * d))


def test_white_start_loses_coarse_variance(prior):
    # The coarse-mode problem: from 0.5 + sigma_max z the modes with c >> sigma_max^2 keep the start's
    # variance sigma_max^2, far below c. The fitted start does not have this defect (tests above).
    fit, den = prior
    x = sample_prior(den, n=500, size=8, steps=50, seed=3, clip=False, init="white")
    coef = _modes(fit, x)
    coarse = fit.spectrum > 10 * S_MAX**2
    assert bool(coarse.any())
    ratio = float(((coef.abs() ** 2).mean(0)[coarse] / fit.spectrum.double()[coarse]).mean())
    assert ratio < 0.2


@pytest.mark.parametrize("method", ["ancestral", "annealed", "kadkhodaie"])
def test_seeds_determinism_and_global_rng(prior, method):
    _, den = prior
    state = torch.get_rng_state()
    a = sample_prior(den, n=3, size=8, method=method, steps=30, seed=5)
    b = sample_prior(den, n=3, size=8, method=method, steps=30, seed=5)
    c = sample_prior(den, n=3, size=8, method=method, steps=30, seed=6)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert a.shape == (3, 3, 8, 8) and float(a.min()) >= 0 and float(a.max()) <= 1


def test_drunet_odd_size_and_callback():
    den = DRUNet(in_channels=3, out_channels=3, nc=[8, 16, 32, 64], nb=1, pretrained=None).eval()
    seen = []
    x = sample_prior(den, n=2, size=(13, 11), steps=4, seed=0, callback=lambda i, xi, s: seen.append((i, s)))
    assert x.shape == (2, 3, 13, 11) and torch.isfinite(x).all()
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    sig = [s for _, s in seen]
    assert len(seen) == 4 and sig == sorted(sig, reverse=True) and math.isclose(sig[-1], S_MIN)


def test_sigma_levels_stay_in_card_range(prior):
    fit, _ = prior

    class Recorder(GaussianDenoiser):
        def forward(self, x, sigma):
            self.levels.append(float(torch.as_tensor(sigma).max()))
            self.levels.append(float(torch.as_tensor(sigma).min()))
            return super().forward(x, sigma)

    den = Recorder(fit, sigma_range=(0.02, 0.15))
    for method in ("ancestral", "annealed", "kadkhodaie"):
        den.levels = []
        sample_prior(den, n=2, size=8, method=method, steps=40, seed=0)
        assert 0.02 * (1 - 1e-6) <= min(den.levels) and max(den.levels) <= 0.15 * (1 + 1e-6), method
        assert math.isclose(den.levels[-1], 0.02, rel_tol=1e-6)  # the final denoise, at max(lo, 0.01)


def test_errors(prior):
    _, den = prior
    with pytest.raises(ValueError, match="method must be one of"):
        sample_prior(den, size=8, method="ddpm")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['beta'\]"):
        sample_prior(den, size=8, method="ancestral", beta=0.1)
    with pytest.raises(ValueError, match="trained noise range"):
        sample_prior(den, size=8, sigma_max=0.5)
    with pytest.raises(ValueError, match="needs at least"):
        sample_prior(den, size=8, method="kadkhodaie", steps=2)
    with pytest.raises(ValueError, match="either steps or beta"):
        sample_prior(den, size=8, method="kadkhodaie", steps=50, beta=0.5)
    with pytest.raises(ValueError, match="steps must be >= levels"):
        sample_prior(den, size=8, method="annealed", steps=5)
    with pytest.raises(ValueError, match="shape"):
        sample_prior(den, size=9)
    with pytest.raises(ValueError, match="n must be"):
        sample_prior(den, n=0, size=8)
    with pytest.raises(TypeError, match="prior must be"):
        sample_prior(3.0, size=8)


def test_kadkhodaie_beta_sets_iteration_count(prior):
    _, den = prior
    seen = []
    sample_prior(den, n=1, size=8, method="kadkhodaie", steps=60, callback=lambda i, x, s: seen.append(i))
    assert abs(len(seen) - 60) <= 1
    assert kadkhodaie_beta(60, ratio=0.05) > kadkhodaie_beta(120, ratio=0.05)


class _MixtureDenoiser(Denoiser):
    """Exact MMSE denoiser of the two-mode mixture sum_k w_k N(mu_k 1, c I) (constant mean images)."""

    def __init__(self, weights, levels, c):
        super().__init__()
        self.w, self.mu, self.c = torch.tensor(weights), torch.tensor(levels), c
        self.sigma_range = (0.0, S_MAX)

    def forward(self, x, sigma):
        v = self.c + torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, 1) ** 2
        diff = x.unsqueeze(1) - self.mu.reshape(1, -1, 1, 1, 1)
        logp = torch.log(self.w).reshape(1, -1) - (diff**2).flatten(2).sum(-1) / (2 * v)
        r = torch.softmax(logp, 1).reshape(*logp.shape, 1, 1, 1)
        return (r * (self.mu.reshape(1, -1, 1, 1, 1) + (self.c / v).reshape(-1, 1, 1, 1, 1) * diff)).sum(1)


def test_mixture_mode_weights_need_the_fitted_start():
    # Non-Gaussian check: modes 3.4 apart (>> sigma_max = 0.2), weights 0.8 / 0.2.
    # From a Gaussian fitted to prior samples the chains land in the heavy mode with probability 0.8
    # (binomial tolerance, plus 0.02 for the discretisation); from grey + white noise they cannot cross
    # between modes and nearly all end in the mode nearest the start.
    delta = 3.4 / math.sqrt(3 * 8 * 8)
    den = _MixtureDenoiser([0.8, 0.2], [0.4, 0.4 + delta], 0.05**2)
    g = torch.Generator().manual_seed(0)
    label = (torch.rand(4000, generator=g) > 0.8).float().reshape(-1, 1, 1, 1)
    train = 0.4 + delta * label + 0.05 * torch.randn(4000, 3, 8, 8, generator=g)
    n = 2000
    heavy = lambda x: float((x.mean((1, 2, 3)) < 0.4 + delta / 2).float().mean())  # noqa: E731
    fitted = heavy(sample_prior(den, n=n, size=8, seed=0, clip=False, init=GaussianFit.from_images(train)))
    assert abs(fitted - 0.8) < 5 * math.sqrt(0.8 * 0.2 / n) + 0.02, fitted
    white = heavy(sample_prior(den, n=n, size=8, seed=0, clip=False, init="white"))
    assert white > 0.9, white
