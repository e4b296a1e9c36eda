"""Posterior sampling for linear inverse problems with a denoiser prior: mean, std map, samples.

``problem`` is a deepinv linear physics object (``BlurFFT``, ``Blur``, ``Inpainting``,
``Downsampling``, ``Denoising``, ...) with its ``A`` and ``A_adjoint``; the noise level is read from
``problem.noise_model.sigma`` unless ``sigma_noise`` is given.

- ``"pnp-ula"``: PnP-ULA (Laumont, De Bortoli, Almansa, Delon, Durmus, Pereyra, *Bayesian imaging
  using Plug & Play priors: when Langevin meets Tweedie*, SIAM J. Imaging Sci. 15(2), 2022,
  Algorithm 1):

  .. math::

      X_{k+1} = X_k - \\frac{\\delta}{\\sigma_y^2} A^\\top(AX_k - y)
      + \\frac{\\alpha\\delta}{\\epsilon}(D_\\epsilon(X_k) - X_k)
      + \\frac{\\delta}{\\lambda}(\\Pi_C(X_k) - X_k) + \\sqrt{2\\delta}\\, Z_{k+1},

  with :math:`\\epsilon = \\sigma_D^2` (:math:`\\sigma_D` = 5/255 by default), :math:`C = [-1, 2]^d`,
  :math:`L_y = \\|A\\|^2/\\sigma_y^2`, :math:`\\lambda = 0.5/(2L_y + \\alpha L/\\epsilon)` and the step rule
  :math:`\\delta = \\tfrac13(L_y + 1/\\lambda + \\alpha L/\\epsilon)^{-1}` (:math:`L = 1`, the Lipschitz
  constant of :math:`\\mathrm{Id} - D`). It targets
  :math:`\\pi(x) \\propto p(y|x)\\, p_\\epsilon(x)^\\alpha e^{-d(x, C)^2/(2\\lambda)}`. Burn-in 10 %; the mean
  and the std map use every later iterate (Welford, float64); ``n_samples`` states are kept.
- ``"kadkhodaie"``: Kadkhodaie & Simoncelli (NeurIPS 2021) Algorithm 2, for **noiseless** linear
  measurements: the prior step acts in the null space of :math:`A`, the data fix the rest,
  :math:`d_t = (I - A^+A)(D(y_t) - y_t) + A^+(y - A y_t)`, with the coarse-to-fine schedule of
  Algorithm 1 (:math:`\\beta = h_0 = 0.01` by default); every sample is an independent run, and the
  output :math:`(I - A^+A) D(y_T) + A^+ y` matches the data exactly. :math:`A^+A` comes from the SVD of
  a ``DecomposablePhysics`` (singular values below ``tau`` times the largest are dropped), from the
  Fourier multiplier of :math:`AA^\\top` when it is circulant (e.g. ``Downsampling`` with circular
  padding), else from ``problem.A_dagger`` (conjugate gradient).

Gaussian check (tests): with the exact denoiser of a Gaussian prior both reproduce the Wiener
posterior (PnP-ULA: of the prior smoothed by :math:`\\epsilon`, up to the known :math:`O(\\delta)`
variance inflation of ULA).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
from deepinv.physics import DecomposablePhysics
from tqdm.auto import tqdm

from pnpleaves._checks import check_choice, check_number, check_range_pair
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.images import check_output, to_bchw
from pnpleaves.models.wrappers import adapt_denoiser
from pnpleaves.priors import resolve_prior
from pnpleaves.sampling.prior import kadkhodaie, kadkhodaie_beta, module_device, sigma_bounds
from pnpleaves.sampling.start import draw_start
from pnpleaves.sampling.tweedie import denoise

logger = logging.getLogger(__name__)

__all__ = [
    "PNP_ULA_SIGMA",
    "POSTERIOR_METHODS",
    "DataProjector",
    "kadkhodaie_posterior",
    "operator_norm_sq",
    "pnp_ula",
    "pnp_ula_parameters",
    "sample_posterior",
]

POSTERIOR_METHODS = ("pnp-ula", "kadkhodaie")
_OPTIONS = {
    "pnp-ula": ("n_iter", "burn_in", "n_chains", "sigma_denoiser", "alpha", "lipschitz", "step_size",
                "moreau_lambda", "convex_set", "x_init"),
    "kadkhodaie": ("steps", "beta", "h0", "sigma_estimate", "max_iter", "tau", "init", "sigma_max", "sigma_min"),
}
#: Laumont et al.'s denoiser level (epsilon = sigma_D^2)
PNP_ULA_SIGMA = 5.0 / 255.0


# --------------------------------------------------------------------------- operators


def operator_norm_sq(problem: Any, x_like: torch.Tensor, *, n_iter: int = 100, seed: int = 0) -> float:
    """:math:`\\|A\\|^2` (largest eigenvalue of :math:`A^\\top A`) by power iteration, with a local generator."""
    gen = torch.Generator(device=x_like.device).manual_seed(seed)
    v = torch.randn(x_like.shape, generator=gen, device=x_like.device, dtype=x_like.dtype)
    v = v / v.norm()
    val = 0.0
    for _ in range(n_iter):
        w = problem.A_adjoint(problem.A(v))
        new = float((v * w).sum())
        nrm = w.norm()
        if float(nrm) == 0.0:
            return 0.0
        v = w / nrm
        if abs(new - val) <= 1e-7 * abs(new):
            val = new
            break
        val = new
    return val


def pnp_ula_parameters(
    problem: Any,
    x_like: torch.Tensor,
    *,
    sigma_noise: float,
    sigma_denoiser: float = PNP_ULA_SIGMA,
    alpha: float = 1.0,
    lipschitz: float = 1.0,
    moreau_lambda: float | None = None,
) -> dict[str, float]:
    """Laumont et al.'s constants: ``L_y = ||A||^2 / sigma_y^2``, ``lambda = 0.5 / (2 L_y + alpha L / eps)``
    and the step ``delta = (L_y + 1/lambda + alpha L / eps)^-1 / 3``, with ``eps = sigma_denoiser^2``."""
    eps = float(sigma_denoiser) ** 2
    ly = operator_norm_sq(problem, x_like) / float(sigma_noise) ** 2
    if moreau_lambda is None:
        lam = 0.5 / (2.0 * ly + alpha * lipschitz / eps)
    else:
        lam = check_number(moreau_lambda, "moreau_lambda", low=0.0, low_inclusive=False)
    delta = 1.0 / (3.0 * (ly + 1.0 / lam + alpha * lipschitz / eps))
    return {"L_y": ly, "lambda": lam, "delta": delta, "eps": eps}


class DataProjector:
    """``pinv(y) = A^+ y`` and ``project(x) = A^+ A x`` (orthogonal projector onto the row space of A).

    :attr:`kind` says how: ``"svd"`` for a deepinv ``DecomposablePhysics`` (singular values below
    ``tau`` times the largest dropped), ``"circulant"`` when :math:`AA^\\top` is a Fourier multiplier on
    the measurement grid (same threshold), else ``"cg"`` (``problem.A_dagger``, conjugate gradient).
    """

    def __init__(self, problem: Any, y: torch.Tensor, tau: float):
        self.problem = problem
        self.kind = "cg"
        if isinstance(problem, DecomposablePhysics):
            mask = problem.mask
            if not isinstance(mask, torch.Tensor):
                mask = torch.tensor(float(mask), device=y.device, dtype=y.dtype)
            mask = mask.to(y.device)
            keep = mask.abs() > tau * mask.abs().max()
            self.keep = keep.to(y.dtype)
            self.inv = torch.where(keep, 1.0 / torch.where(keep, mask, torch.ones_like(mask)), torch.zeros_like(mask))
            self.kind = "svd"
            return
        # circulant A A^T on the measurement grid (per channel)?
        delta = torch.zeros_like(y[:1])
        delta[..., 0, 0] = 1.0
        kernel = problem.A(problem.A_adjoint(delta))
        mult = torch.fft.fft2(kernel)
        gen = torch.Generator(device=y.device).manual_seed(1)
        r = torch.randn(delta.shape, generator=gen, device=y.device, dtype=y.dtype)
        direct = problem.A(problem.A_adjoint(r))
        via_fft = torch.fft.ifft2(torch.fft.fft2(r) * mult).real
        if float((direct - via_fft).norm()) <= 1e-4 * float(direct.norm()):
            keep = mult.abs() > tau * mult.abs().max()
            safe = torch.where(keep, mult, torch.ones_like(mult))
            self.fft_inv = torch.where(keep, 1.0 / safe, torch.zeros_like(mult))
            self.kind = "circulant"

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        p = self.problem
        if self.kind == "svd":
            return p.V(p.U_adjoint(y) * self.inv)
        if self.kind == "circulant":
            return p.A_adjoint(torch.fft.ifft2(torch.fft.fft2(y) * self.fft_inv).real)
        return p.A_dagger(y)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        p = self.problem
        if self.kind == "svd":
            return p.V(p.V_adjoint(x) * self.keep)
        return self.pinv(p.A(x))


def _noise_sigma(problem: Any, sigma_noise: float | None) -> float:
    if sigma_noise is not None:
        return float(check_number(sigma_noise, "sigma_noise", low=0.0))
    model = getattr(problem, "noise_model", None)
    sigma = getattr(model, "sigma", None)
    if sigma is None:
        if model is None or type(model).__name__ == "ZeroNoise":
            return 0.0
        raise InputError(
            f"cannot read a Gaussian noise level from the problem's noise model ({type(model).__name__}); "
            "pass sigma_noise= (std on the [0, 1] scale)."
        )
    sigma = torch.as_tensor(sigma).detach().reshape(-1)
    if sigma.numel() > 1 and not bool((sigma == sigma[0]).all()):
        raise InputError("the problem's noise model holds several noise levels; pass one sigma_noise=.")
    return float(sigma[0])


def _as_batch(y: Any) -> tuple[torch.Tensor, bool]:
    """The observation as a checked ``(1, C, H, W)`` tensor (the checks of the ``pnp_*`` functions:
    finite values, the [0, 1] scale, the layout) and whether it came without a batch axis."""
    if not isinstance(y, torch.Tensor):
        raise InputTypeError(
            f"y must be a torch tensor (C, H, W) or (1, C, H, W); got {type(y).__name__}. "
            "Convert a NumPy image with pnpleaves.images.to_tensor."
        )
    if y.ndim == 4 and y.shape[0] != 1 or y.ndim not in (3, 4):
        raise InputError(f"y must be (C, H, W) or (1, C, H, W): one observation; got shape {tuple(y.shape)}.")
    t, _ = to_bchw(y, "y")
    if y.dtype == torch.float64:
        t = y.detach().to("cpu", torch.float64).reshape(t.shape)
    return t, y.ndim == 3


class _Welford:
    """Running mean and variance (float64) of batches of states (Chan et al.'s pairwise update)."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, None, None

    def update(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64)
        nb = x.shape[0]
        mb = x.mean(0)
        m2b = ((x - mb) ** 2).sum(0)
        if self.mean is None:
            self.count, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.count + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta**2 * (self.count * nb / n)
        self.count = n

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        var = self.m2 / max(self.count - 1, 1)
        return self.mean, var.clamp(min=0).sqrt()


# --------------------------------------------------------------------------- PnP-ULA


def pnp_ula(
    y: torch.Tensor,
    problem: Any,
    denoiser: torch.nn.Module,
    *,
    sigma_noise: float,
    card_range: tuple[float, float],
    n_samples: int,
    generator: torch.Generator,
    n_iter: int = 10_000,
    burn_in: float = 0.1,
    n_chains: int = 1,
    sigma_denoiser: float | None = None,
    alpha: float = 1.0,
    lipschitz: float = 1.0,
    step_size: float | None = None,
    moreau_lambda: float | None = None,
    convex_set: tuple[float, float] = (-1.0, 2.0),
    x_init: torch.Tensor | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor, float], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PnP-ULA chains (see module doc); returns ``(mean, std, samples)`` with a leading batch axis."""
    if sigma_noise <= 0:
        raise InputError(
            "PnP-ULA needs noisy measurements (sigma_noise > 0): its likelihood is Gaussian. "
            "For noiseless problems use method='kadkhodaie', or pass a small sigma_noise=."
        )
    n_iter = int(check_number(n_iter, "n_iter", low=1, integer=True))
    burn_in = check_number(burn_in, "burn_in", low=0.0, high=1.0, high_inclusive=False)
    n_chains = int(check_number(n_chains, "n_chains", low=1, integer=True))
    alpha = check_number(alpha, "alpha", low=0.0, low_inclusive=False)
    lipschitz = check_number(lipschitz, "lipschitz", low=0.0, low_inclusive=False)
    lo_c, hi_c = check_range_pair(convex_set, "convex_set")
    lo, hi = card_range
    if sigma_denoiser is None:
        sigma_denoiser = min(max(PNP_ULA_SIGMA, lo), hi)
    sigma_denoiser = sigma_bounds(card_range, sigma_denoiser, sigma_denoiser)[0]
    eps = sigma_denoiser**2
    x_like = problem.A_adjoint(y)
    params = pnp_ula_parameters(
        problem, x_like, sigma_noise=sigma_noise, sigma_denoiser=sigma_denoiser, alpha=alpha, lipschitz=lipschitz,
        moreau_lambda=moreau_lambda,
    )
    ly, lam = params["L_y"], params["lambda"]
    delta = params["delta"] if step_size is None else check_number(step_size, "step_size", low=0.0, low_inclusive=False)
    if delta > params["delta"]:
        logger.warning(
            "PnP-ULA step_size %.3g exceeds Laumont et al.'s rule %.3g: the chain is biased or may diverge",
            delta, params["delta"],
        )
    logger.info(
        "PnP-ULA: sigma_D=%.4g, L_y=%.4g, lambda=%.4g, delta=%.4g, %d iterations x %d chain(s)",
        sigma_denoiser, ly, lam, delta, n_iter, n_chains,
    )
    if x_init is None:
        # Wiener-like start: argmin ||Ax - y||^2 / (2 sigma_y^2) + ||x - 0.5||^2 / (2 * 0.05)
        x = problem.prox_l2(torch.full_like(x_like, 0.5), y, gamma=0.05 / sigma_noise**2)
    else:
        if not isinstance(x_init, torch.Tensor) or x_init.shape[-3:] != x_like.shape[-3:]:
            raise InputError(f"x_init must be an image shaped like A^T y, {tuple(x_like.shape[-3:])}.")
        x = x_init.to(x_like).reshape(-1, *x_like.shape[-3:])[:1]
    x = x.expand(n_chains, -1, -1, -1).clone()
    yb = y.expand(n_chains, *y.shape[1:])
    n_burn = int(round(burn_in * n_iter))
    kept = n_iter - n_burn
    per_chain = max(1, math.ceil(n_samples / n_chains))
    keep_at = {n_burn + int(round((j + 1) * kept / per_chain)) - 1 for j in range(per_chain)} if kept > 0 else set()
    stats, stored = _Welford(), []
    noise = math.sqrt(2.0 * delta)
    a_prior = alpha * delta / eps
    bar = tqdm(total=n_iter, desc="PnP-ULA", leave=False) if progress else None
    for k in range(n_iter):
        grad_lik = problem.A_adjoint(problem.A(x) - yb) / sigma_noise**2
        d = denoise(denoiser, x, sigma_denoiser)
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = (x - delta * grad_lik + a_prior * (d - x) + (delta / lam) * (x.clamp(lo_c, hi_c) - x) + noise * z)
        if k >= n_burn:
            stats.update(x)
        if k in keep_at:
            stored.append(x.clone())
        if callback is not None:
            callback(k, x, sigma_denoiser)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    if stats.count == 0:
        stats.update(x)
    mean, std = stats.result()
    samples = torch.stack(stored, 1).reshape(-1, *x.shape[1:]) if stored else x.clone()
    return mean[None].to(x.dtype), std[None].to(x.dtype), samples[:n_samples]


# --------------------------------------------------------------------------- K&S Algorithm 2


def kadkhodaie_posterior(
    y: torch.Tensor,
    problem: Any,
    denoiser: torch.nn.Module,
    *,
    sigma_noise: float,
    card_range: tuple[float, float],
    n_samples: int,
    generator: torch.Generator,
    steps: int | None = None,
    beta: float | None = None,
    h0: float = 0.01,
    sigma_estimate: str = "schedule",
    max_iter: int = 100_000,
    tau: float = 1e-3,
    init: Any = "gaussian-fit",
    sigma_max: float | None = None,
    sigma_min: float | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor, float], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kadkhodaie & Simoncelli Algorithm 2 (see module doc): ``n_samples`` independent runs in one batch."""
    if sigma_noise > 0:
        logger.warning(
            "method 'kadkhodaie' assumes noiseless measurements; the data (noise sigma=%.3g) will be matched "
            "exactly. Use method='pnp-ula' for noisy data.", sigma_noise,
        )
    tau = check_number(tau, "tau", low=0.0, high=1.0)
    s_max, s_min = sigma_bounds(card_range, sigma_max, sigma_min)
    if steps is not None and beta is not None:
        raise InputError("give either steps or beta for method 'kadkhodaie', not both (steps sets beta).")
    if steps is not None:
        beta = kadkhodaie_beta(int(check_number(steps, "steps", low=1, integer=True)), h0=h0, ratio=s_min / s_max)
    elif beta is None:
        beta = 0.01
    proj = DataProjector(problem, y, tau)
    x_data = proj.pinv(y)  # A^+ y
    c, h, w = x_data.shape[-3:]
    start = draw_start(init, denoiser, n_samples, (h, w), c, s_max, generator, x_data.device, x_data.dtype)
    z = torch.randn(start.shape, generator=generator, device=start.device, dtype=start.dtype)
    x = start - proj.project(start) + x_data + s_max * proj.project(z)
    yb = y.expand(n_samples, *y.shape[1:])

    def direction(xt: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return f - proj.project(f) + proj.pinv(yb - problem.A(xt))

    x, nfe = kadkhodaie(
        denoiser, x, sigma_max=s_max, sigma_min=s_min, steps=None, generator=generator, beta=beta, h0=h0,
        sigma_estimate=sigma_estimate, max_iter=max_iter, progress=progress, callback=callback, project=direction,
    )
    d = denoise(denoiser, x, s_min)
    samples = d - proj.project(d) + x_data
    logger.debug("kadkhodaie posterior: beta=%.3g, %d denoiser calls per sample", beta, nfe + 1)
    mean = samples.mean(0, keepdim=True)
    std = samples.std(0, keepdim=True) if n_samples > 1 else torch.zeros_like(mean)
    return mean, std, samples


# --------------------------------------------------------------------------- public entry point


def sample_posterior(
    y: torch.Tensor,
    problem: Any,
    prior: Any,
    *,
    method: str = "pnp-ula",
    n_samples: int = 16,
    seed: int = 0,
    sigma_noise: float | None = None,
    clip: bool = False,
    progress: bool = False,
    device: str | torch.device | None = None,
    callback: Callable[[int, torch.Tensor, float], None] | None = None,
    **options: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample the posterior of ``x`` given ``y = A x + noise`` under a denoiser prior.

    :param y: the observation, ``(C, H, W)`` or ``(1, C, H, W)`` torch tensor.
    :param problem: the deepinv linear physics that produced ``y`` (same as the restoration functions).
    :param prior: a registered prior name, a weights path, or a deepinv ``Denoiser``.
    :param method: ``"pnp-ula"`` (default) or ``"kadkhodaie"`` (noiseless problems); see module doc.
    :param n_samples: samples returned (PnP-ULA: states kept evenly after burn-in; Kadkhodaie:
        independent runs, which also make the mean and std).
    :param seed: seed of a local ``torch.Generator`` (the global RNG is never touched).
    :param sigma_noise: measurement noise std (default: ``problem.noise_model.sigma``).
    :param clip: clip the returned samples and mean to [0, 1] (the std is always of the raw chain).
    :param progress: show a progress bar.
    :param device: where to run (default: the denoiser's device).
    :param callback: ``callback(i, x, sigma)`` after every iteration.
    :param options: ``pnp-ula``: ``n_iter`` (10000), ``burn_in`` (0.1), ``n_chains`` (1),
        ``sigma_denoiser`` (5/255), ``alpha`` (1), ``lipschitz`` (1), ``step_size`` (the rule above),
        ``moreau_lambda``, ``convex_set`` ((-1, 2)), ``x_init``; ``kadkhodaie``: ``steps`` or ``beta``
        (0.01), ``h0`` (0.01), ``sigma_estimate``, ``max_iter``, ``tau`` (1e-3), ``init``,
        ``sigma_max``, ``sigma_min``.
    :returns: ``(mean, std, samples)``: mean and std shaped like ``y``'s layout at the image size
        (``(C, H, W)`` or ``(1, C, H, W)``), samples ``(n_samples, C, H, W)``.
    """
    check_choice(method, "method", POSTERIOR_METHODS)
    unknown = sorted(set(options) - set(_OPTIONS[method]))
    if unknown:
        raise InputTypeError(f"unknown option(s) {unknown} for method {method!r}; it accepts {list(_OPTIONS[method])}.")
    n_samples = int(check_number(n_samples, "n_samples", low=1, integer=True))
    seed = int(check_number(seed, "seed", low=0, integer=True))
    if problem is None or not hasattr(problem, "A"):
        raise InputTypeError(
            "problem must be the deepinv linear physics that produced y (e.g. deepinv.physics.BlurFFT(...) or "
            f"Denoising(...)), with its A and A_adjoint; got {type(problem).__name__}."
        )
    yb, squeeze = _as_batch(y)
    den, card_range = resolve_prior(prior, device)
    den = adapt_denoiser(den, yb.shape[1]) if yb.shape[1] in (1, 3) else den
    dev = module_device(den) if device is None else torch.device(device)
    yb = yb.to(dev, torch.float32 if not yb.dtype.is_floating_point else yb.dtype)
    problem = problem.to(dev) if hasattr(problem, "to") else problem
    sigma_y = _noise_sigma(problem, sigma_noise)
    gen = torch.Generator(device=dev).manual_seed(seed)
    run = pnp_ula if method == "pnp-ula" else kadkhodaie_posterior
    with torch.no_grad():
        mean, std, samples = run(
            yb, problem, den, sigma_noise=sigma_y, card_range=card_range, n_samples=n_samples, generator=gen,
            progress=progress, callback=callback, **options,
        )
    check_output(mean, prior, "the posterior mean")
    check_output(samples, prior, "the posterior samples")
    if clip:
        mean, samples = mean.clamp(0, 1), samples.clamp(0, 1)
    if squeeze:
        mean, std = mean[0], std[0]
    return mean, std, samples

