"""Posterior sampling (pnpleaves.sampling.sample_posterior) against the exact Gaussian (Wiener) posterior.

Prior N(m, C) with its exact MMSE denoiser; y = A x + sigma_y n. Dense matrices on 8x8 colour images.

PnP-ULA with alpha = 1 targets the posterior of the epsilon-smoothed prior N(m, C + eps I)
(eps = sigma_D^2): precision Q = (C + eps I)^-1 + A^T A / sigma_y^2, Wiener mean
Q^-1((C + eps I)^-1 m + A^T y / sigma_y^2). Inside C = [-1, 2]^d the Moreau-Yosida term vanishes and
ULA is an AR(1) chain whose stationary covariance is exactly (Q (I - delta Q / 2))^-1 (the O(delta)
inflation of an unadjusted Langevin step).

Tolerances: the returned samples are the final states of independent chains, so in the whitened
eigenbasis of the target covariance the mean gives n |mean|^2 ~ chi2_d and a band average of squared
coordinates over K directions has standard deviation sqrt(2 / (n K)). The pooled mean and std map
average correlated states of the same chains, whose spread is at most that of one state per chain.
"""

import math

import deepinv as dinv
import pytest
import torch

from pnpleaves.sampling import GaussianDenoiser, GaussianFit, sample_posterior
from pnpleaves.sampling.posterior import DataProjector, operator_norm_sq, pnp_ula_parameters

SHAPE = (3, 8, 8)
D = 3 * 8 * 8


@pytest.fixture(scope="module")
def prior():
    fit = GaussianFit.power_law(8)
    return fit, GaussianDenoiser(fit, sigma_range=(0.0, 0.2))


def _mask(seed, p=0.5):
    """A fixed random pixel mask (same for the three channels), 1 = observed."""
    keep = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) > p
    return keep.float().expand(1, *SHAPE).clone()


def _dense(op):
    """Dense matrix of a linear map on SHAPE images (float64)."""
    eye = torch.eye(D, dtype=torch.float64).reshape(D, *SHAPE)
    return op(eye.float()).double().reshape(D, -1).T


def _observe(fit, physics, sigma_y, seed=3):
    g = torch.Generator().manual_seed(seed)
    x = fit.sample(1, generator=g)
    return x, physics.A(x) + sigma_y * torch.randn(physics.A(x).shape, generator=g)


def _check_samples(samples, mean_t, cov_t, bands=4):
    n = samples.shape[0]
    evals, evecs = torch.linalg.eigh(cov_t)
    u = ((samples.double().reshape(n, -1) - mean_t) @ evecs) / evals.sqrt()
    d = u.shape[1]
    chi2 = float(n * (u.mean(0) ** 2).sum())
    assert chi2 < d + 5 * math.sqrt(2 * d), f"mean off: chi2 {chi2:.1f}, d {d}"
    sq = (u**2).mean(0)
    for k, idx in enumerate(torch.arange(d).chunk(bands)):
        r, tol = float(sq[idx].mean()), 5 * math.sqrt(2 / (n * idx.numel()))
        assert abs(r - 1) < tol, f"band {k} (data-fixed -> prior-driven): variance ratio {r:.4f}, tol {tol:.4f}"


def _ar1_factor(rho, t):
    """Variance of the mean of t consecutive states of a stationary AR(1) chain, per unit variance."""
    return (1 + rho) / (1 - rho) / t - 2 * rho * (1 - rho**t) / (t**2 * (1 - rho) ** 2)


def _check_pooled(mean, std, n, t, mean_t, q, delta):
    # In the eigenbasis of Q each coordinate is an independent AR(1) chain with rho = 1 - delta q and
    # stationary variance 1 / (q (1 - delta q / 2)); its squares have autocorrelation rho^2. So the pooled
    # estimates have known variances (exact for the mean; for the average variance up to the O(1/(n t))
    # effect of centring on the pooled mean).
    qev, vec = torch.linalg.eigh(q)
    var = 1 / (qev * (1 - delta * qev / 2))
    rho = 1 - delta * qev
    u = (mean.double().reshape(-1) - mean_t) @ vec
    d = u.numel()
    chi2 = float((u**2 / (var * _ar1_factor(rho, t) / n)).sum())
    assert chi2 < d + 5 * math.sqrt(2 * d), f"pooled mean off: chi2 {chi2:.1f}, d {d}"
    avg_var = float((std.double() ** 2).mean())
    want = float(var.mean())
    tol = 5 * math.sqrt(float((2 * var**2 * _ar1_factor(rho**2, t)).sum()) / n) / d
    assert abs(avg_var - want) < tol, f"pooled variance {avg_var:.5f} vs {want:.5f} (tol {tol:.5f})"


@pytest.mark.parametrize("kind,delta,n_iter", [("deblur", 0.004, 600), ("inpaint", 0.005, 1000)])
def test_pnp_ula_reproduces_wiener_posterior(prior, kind, delta, n_iter):
    # (a step larger than Laumont's rule, whose Moreau-Yosida term is idle inside C, keeps the test short;
    # the rule itself is checked in test_pnp_ula_step_rule)
    fit, den = prior
    sigma_y, sigma_d, n, burn = 0.1, 0.1, 256, 0.75
    noise = dinv.physics.GaussianNoise(sigma=sigma_y)
    if kind == "deblur":
        physics = dinv.physics.BlurFFT(img_size=SHAPE, filter=torch.ones(1, 1, 3, 3) / 9, noise_model=noise)
    else:
        physics = dinv.physics.Inpainting(img_size=SHAPE, mask=_mask(0, 0.4), noise_model=noise)
    _, y = _observe(fit, physics, sigma_y)
    a = _dense(physics.A)
    c_eps = fit.dense_covariance() + sigma_d**2 * torch.eye(D, dtype=torch.float64)
    prec_prior = torch.linalg.inv(c_eps)
    q = prec_prior + a.T @ a / sigma_y**2
    m = fit.mean.double().expand(*SHAPE).reshape(-1)
    mean_t = torch.linalg.solve(q, prec_prior @ m + a.T @ y.double().reshape(-1) / sigma_y**2)
    cov_t = torch.linalg.inv(q @ (torch.eye(D, dtype=torch.float64) - delta * q / 2))
    qev = torch.linalg.eigvalsh(q)
    assert float(delta * qev.max()) < 1  # stable
    assert (1 - float(delta * qev.min())) ** (burn * n_iter) < 1e-4  # burn-in forgets the start
    mean, std, samples = sample_posterior(
        y, physics, den, n_samples=n, n_chains=n, n_iter=n_iter, burn_in=burn, sigma_denoiser=sigma_d,
        step_size=delta, seed=0,
    )
    assert mean.shape == (1, *SHAPE) and std.shape == (1, *SHAPE) and samples.shape == (n, *SHAPE)
    _check_samples(samples, mean_t, cov_t)
    _check_pooled(mean, std, n, n_iter - round(burn * n_iter), mean_t, q, delta)


def test_pnp_ula_step_rule():
    # Laumont et al.: L_y = ||A||^2 / s^2, lambda = 0.5 / (2 L_y + 1/eps), delta = (L_y + 1/lambda + 1/eps)^-1 / 3;
    # for a normalised blur ||A|| = max |H| = 1.
    phys = dinv.physics.BlurFFT(img_size=SHAPE, filter=torch.ones(1, 1, 5, 5) / 25)
    x = torch.zeros(1, *SHAPE)
    assert math.isclose(operator_norm_sq(phys, x), 1.0, rel_tol=1e-4)
    p = pnp_ula_parameters(phys, x, sigma_noise=1 / 255, sigma_denoiser=5 / 255)
    ly, eps = 255.0**2, (5 / 255) ** 2
    lam = 0.5 / (2 * ly + 1 / eps)
    assert math.isclose(p["L_y"], ly, rel_tol=1e-4)
    assert math.isclose(p["lambda"], lam, rel_tol=1e-4)
    assert math.isclose(p["delta"], 1 / (3 * (ly + 1 / lam + 1 / eps)), rel_tol=1e-4)
    state = torch.get_rng_state()
    operator_norm_sq(phys, x)
    assert torch.equal(torch.get_rng_state(), state)


def test_kadkhodaie_posterior_noiseless_inpainting(prior):
    # Algorithm 2 matches the data exactly and gets the conditional mean; with the exact Gaussian prior it
    # under-disperses (about 60 % of the conditional variance at the published beta = h0 = 0.01; the
    # relaxed denoise-and-renoise steps with h_t -> 1 shrink the coarse modes).
    fit, den = prior
    mask = _mask(1)
    physics = dinv.physics.Inpainting(img_size=SHAPE, mask=mask)
    x, y = _observe(fit, physics, 0.0)
    n = 400
    mean, std, samples = sample_posterior(y, physics, den, method="kadkhodaie", n_samples=n, seed=0)
    obs = mask.reshape(-1).bool()
    assert torch.allclose(samples.reshape(n, -1)[:, obs], x.reshape(-1)[obs].expand(n, -1), atol=1e-6)
    assert float(std.reshape(-1)[obs].abs().max()) < 1e-6
    cov = fit.dense_covariance()
    m = fit.mean.double().expand(*SHAPE).reshape(-1)
    un = ~obs
    k = cov[un][:, obs] @ torch.linalg.inv(cov[obs][:, obs])
    mean_t = m[un] + k @ (x.double().reshape(-1)[obs] - m[obs])
    cov_t = cov[un][:, un] - k @ cov[obs][:, un]
    evals, evecs = torch.linalg.eigh(cov_t)
    u = ((samples.double().reshape(n, -1)[:, un] - mean_t) @ evecs) / evals.sqrt()
    d = u.shape[1]
    assert float(n * (u.mean(0) ** 2).sum()) < d + 5 * math.sqrt(2 * d)
    ratio = float((u**2).mean())
    assert 0.45 < ratio < 0.8, ratio


@pytest.mark.parametrize("method", ["pnp-ula", "kadkhodaie"])
def test_posterior_determinism_and_global_rng(prior, method):
    fit, den = prior
    physics = dinv.physics.BlurFFT(
        img_size=SHAPE, filter=torch.ones(1, 1, 3, 3) / 9, noise_model=dinv.physics.GaussianNoise(sigma=0.05)
    )
    _, y = _observe(fit, physics, 0.05)
    opts = {"n_iter": 30} if method == "pnp-ula" else {"steps": 40}
    state = torch.get_rng_state()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pnpleaves.sampling.posterior.logger.warning", lambda *a, **k: None)
        a = sample_posterior(y[0], physics, den, method=method, n_samples=4, seed=1, **opts)
        b = sample_posterior(y[0], physics, den, method=method, n_samples=4, seed=1, **opts)
        c = sample_posterior(y[0], physics, den, method=method, n_samples=4, seed=2, **opts)
    assert torch.equal(torch.get_rng_state(), state)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert not torch.allclose(a[2], c[2])
    assert a[0].shape == SHAPE and a[1].shape == SHAPE and a[2].shape == (4, *SHAPE)


def test_pnp_ula_keeps_evenly_spaced_states(prior):
    fit, den = prior
    physics = dinv.physics.Denoising(noise_model=dinv.physics.GaussianNoise(sigma=0.1))
    _, y = _observe(fit, physics, 0.1)
    seen = []
    _, _, s = sample_posterior(y, physics, den, n_samples=3, n_iter=40, burn_in=0.25,
                               callback=lambda k, x, sd: seen.append(x.clone()))
    assert s.shape == (3, *SHAPE)
    # kept after burn-in (10 iterations) at 30 / 3 = every 10th iteration: 19, 29, 39
    for j, k in enumerate((19, 29, 39)):
        assert torch.equal(s[j], seen[k][0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: dinv.physics.Inpainting(img_size=SHAPE, mask=_mask(0)),
        lambda: dinv.physics.BlurFFT(img_size=SHAPE, filter=torch.ones(1, 1, 3, 3) / 9),
        lambda: dinv.physics.Downsampling(img_size=SHAPE, factor=2, filter="gaussian", padding="circular"),
        lambda: dinv.physics.Blur(filter=torch.ones(1, 1, 3, 3) / 9, padding="circular"),
    ],
    ids=["inpainting", "blurfft", "downsampling", "blur"],
)
def test_data_projector(make):
    physics = make()
    g = torch.Generator().manual_seed(0)
    x, z = torch.randn(2, 1, *SHAPE, generator=g).double().float().unbind(0)
    y = physics.A(x)
    tau = 1e-3
    proj = DataProjector(physics, y, tau=tau)
    assert proj.kind in ("svd", "circulant")
    px = proj.project(x)
    assert torch.allclose(proj.project(px), px, atol=1e-4)  # idempotent
    assert math.isclose(float((px * z).sum()), float((x * proj.project(z)).sum()), rel_tol=1e-4, abs_tol=1e-4)
    # A A^+ y = y up to the measurement modes dropped below tau (their share of y = A x is O(sqrt(tau)))
    assert float((physics.A(proj.pinv(y)) - y).norm()) < 2 * math.sqrt(tau) * float(y.norm())


def test_errors(prior):
    fit, den = prior
    physics = dinv.physics.Inpainting(img_size=SHAPE, mask=_mask(0))
    y = physics.A(fit.sample(1, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="needs noisy measurements"):
        sample_posterior(y, physics, den, n_iter=2)
    with pytest.raises(TypeError, match="to_tensor"):
        sample_posterior(y.numpy(), physics, den)
    with pytest.raises(ValueError, match="one observation"):
        sample_posterior(y.expand(2, -1, -1, -1), physics, den)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['beta'\]"):
        sample_posterior(y, physics, den, beta=0.1)
    with pytest.raises(ValueError, match="method must be one of"):
        sample_posterior(y, physics, den, method="dps")
    with pytest.raises(ValueError, match="trained noise range"):
        sample_posterior(y, physics, den, sigma_noise=0.1, sigma_denoiser=0.5, n_iter=2)
