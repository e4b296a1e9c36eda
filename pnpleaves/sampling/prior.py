"""Unconditional samples from the prior implicit in a denoiser.

Every sampler is a *relaxed denoising step* plus fresh noise, driven by the Tweedie score
:math:`(D(x, \\sigma) - x)/\\sigma^2` (:mod:`pnpleaves.sampling.tweedie`); they differ in how the step
:math:`h`, the injected noise and the level given to :math:`D` are chosen. The levels stay inside
the noise range of the prior's training card, from :math:`\\sigma_{max}` (its top) down to
:math:`\\sigma_{min} = \\max(0.01, \\text{its bottom})`, and each chain ends with :math:`D(x, \\sigma_{min})`.

- ``"ancestral"`` (default): variance-exploding ancestral sampler on a geometric ladder
  :math:`\\sigma_0 > \\dots > \\sigma_N`: :math:`x \\leftarrow x + \\lambda (D(x,\\sigma_i) - x)
  + \\sigma_i \\sqrt{\\lambda (1-\\lambda)}\\, z`, :math:`\\lambda = 1 - \\sigma_{i+1}^2/\\sigma_i^2`
  (the Gaussian posterior :math:`q(x_{\\sigma_{i+1}} \\mid x_{\\sigma_i}, x_0)` with :math:`x_0` replaced by
  its MMSE estimate; deepinv's ``AncestralSolver`` for a VE SDE). ``steps + 1`` denoiser calls.
- ``"annealed"``: annealed Langevin dynamics (Song & Ermon, NeurIPS 2019, Algorithm 1, with the step
  of their code): ``levels`` geometric levels, ``steps // levels`` updates each,
  :math:`x \\leftarrow x + h(D(x,\\sigma_i) - x) + \\sqrt{2h}\\,\\sigma_i z` (:math:`h = \\epsilon/\\sigma_L^2`,
  NCSN: 0.2).
- ``"kadkhodaie"``: coarse-to-fine stochastic ascent (Kadkhodaie & Simoncelli, NeurIPS 2021,
  Algorithm 1): :math:`h_t = h_0 t/(1 + h_0(t-1))`, :math:`y \\leftarrow y + h_t d_t + \\gamma_t z`,
  :math:`\\gamma_t^2 = [(1-\\beta h_t)^2 - (1-h_t)^2]\\sigma_t^2`, until :math:`\\sigma_t < \\sigma_{min}`;
  the noise level shrinks by :math:`(1 - \\beta h_t)` per step. ``beta`` is set from ``steps`` unless
  given. ``sigma_estimate="schedule"`` passes the scheduled level to the denoiser (recommended for a
  noise-conditioned net); ``"residual"`` uses the blind estimate :math:`\\|d_t\\|/\\sqrt N` of the paper.

The default is the VE ancestral sampler with 100 steps: from the fitted-Gaussian start
(:mod:`pnpleaves.sampling.start`) its per-mode variance is within 3 % of the exact law for a Gaussian
prior, whose MMSE denoiser is known in closed form (the sampling tests check this).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from pnpleaves._checks import check_choice, check_number, check_pixels, check_size
from pnpleaves.images import check_output
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.models.wrappers import adapt_denoiser
from pnpleaves.priors import resolve_prior
from pnpleaves.sampling.start import draw_start
from pnpleaves.sampling.tweedie import denoise

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_STEPS",
    "METHODS",
    "SIGMA_FLOOR",
    "ancestral",
    "annealed",
    "geometric_sigmas",
    "kadkhodaie",
    "kadkhodaie_beta",
    "module_device",
    "sample_prior",
    "sigma_bounds",
]

#: default number of denoiser calls (before the final denoise) of each method
DEFAULT_STEPS = {"ancestral": 100, "annealed": 200, "kadkhodaie": 100}
#: the lowest noise level the samplers go down to (if the card allows)
SIGMA_FLOOR = 0.01

Callback = Callable[[int, torch.Tensor, float], None]


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> list[float]:
    """``n`` levels from ``sigma_max`` down to ``sigma_min``, equally spaced in log."""
    if n == 1:
        return [float(sigma_max)]
    r = math.log(sigma_min / sigma_max) / (n - 1)
    return [float(sigma_max * math.exp(r * i)) for i in range(n)]


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    return tqdm(total=total, desc=desc, leave=False)


# --------------------------------------------------------------------------- methods


def ancestral(
    denoiser: torch.nn.Module,
    x: torch.Tensor,
    *,
    sigma_max: float,
    sigma_min: float,
    steps: int,
    generator: torch.Generator,
    progress: bool = False,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, int]:
    """VE ancestral chain from ``x`` (at level ``sigma_max``) down to ``sigma_min``; returns ``(x, nfe)``."""
    sigmas = geometric_sigmas(sigma_max, sigma_min, steps + 1)
    bar = _progress(steps, progress, "ancestral")
    for i in range(steps):
        s, s_next = sigmas[i], sigmas[i + 1]
        lam = 1.0 - (s_next / s) ** 2
        d = denoise(denoiser, x, s)
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = x + lam * (d - x) + s * math.sqrt(lam * (1.0 - lam)) * z
        if callback is not None:
            callback(i, x, s_next)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return x, steps


def annealed(
    denoiser: torch.nn.Module,
    x: torch.Tensor,
    *,
    sigma_max: float,
    sigma_min: float,
    steps: int,
    generator: torch.Generator,
    levels: int = 10,
    h: float = 0.2,
    progress: bool = False,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, int]:
    """Annealed Langevin dynamics (Song & Ermon 2019): ``levels`` levels, ``steps // levels`` moves each."""
    levels = int(check_number(levels, "levels", low=1, integer=True))
    h = check_number(h, "h", low=0.0, high=1.0, low_inclusive=False, hint="NCSN uses h = 0.2.")
    per_level = steps // levels
    if per_level < 1:
        raise InputError(f"steps must be >= levels ({levels}) for method 'annealed'; got steps={steps}.")
    bar = _progress(per_level * levels, progress, "annealed Langevin")
    k = 0
    for s in geometric_sigmas(sigma_max, sigma_min, levels):
        noise = math.sqrt(2.0 * h) * s
        for _ in range(per_level):
            d = denoise(denoiser, x, s)
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + h * (d - x) + noise * z
            if callback is not None:
                callback(k, x, s)
            k += 1
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    return x, k


def _ks_iterations(beta: float, h0: float, ratio: float, max_iter: int = 1_000_000) -> int:
    """Iterations until the scheduled level ``prod (1 - beta h_t)`` drops below ``ratio``."""
    log_target, acc, t = math.log(ratio), 0.0, 0
    while acc > log_target and t < max_iter:
        t += 1
        h = h0 * t / (1.0 + h0 * (t - 1))
        acc += math.log1p(-beta * h) if beta * h < 1 else -math.inf
    return t


def kadkhodaie_beta(steps: int, *, h0: float = 0.01, ratio: float = 0.05) -> float:
    """The ``beta`` for which Kadkhodaie–Simoncelli's schedule takes about ``steps`` iterations.

    ``ratio`` is ``sigma_min / sigma_max``. Raises if even ``beta = 1`` needs more iterations.
    """
    t_min = _ks_iterations(1.0, h0, ratio)
    if steps < t_min:
        raise InputError(
            f"method 'kadkhodaie' needs at least {t_min} steps to go from sigma_max to sigma_min with h0={h0}; "
            f"got steps={steps}. Raise steps (or h0)."
        )
    lo, hi = 1e-6, 1.0  # T(lo) >= steps >= T(hi); T decreases with beta
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if _ks_iterations(mid, h0, ratio, max_iter=steps + 1) > steps:
            lo = mid
        else:
            hi = mid
    return hi


def kadkhodaie(
    denoiser: torch.nn.Module,
    x: torch.Tensor,
    *,
    sigma_max: float,
    sigma_min: float,
    steps: int | None,
    generator: torch.Generator,
    beta: float | None = None,
    h0: float = 0.01,
    sigma_estimate: str = "schedule",
    max_iter: int = 100_000,
    progress: bool = False,
    callback: Callback | None = None,
    project: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, int]:
    """Kadkhodaie & Simoncelli coarse-to-fine stochastic ascent (Algorithm 1; Algorithm 2 with ``project``).

    ``project(y, f)`` maps the denoiser residual ``f = D(y) - y`` to the step direction ``d``; for
    Algorithm 2 it is ``(I - P) f + A^+(y_obs - A y)`` (see :mod:`pnpleaves.sampling.posterior`).
    Returns ``(y, nfe)`` before the final denoise.
    """
    h0 = check_number(h0, "h0", low=0.0, high=1.0, low_inclusive=False, hint="The paper uses h0 = 0.01.")
    check_choice(sigma_estimate, "sigma_estimate", ("schedule", "residual"))
    ratio = sigma_min / sigma_max
    if beta is None:
        beta = kadkhodaie_beta(steps if steps is not None else DEFAULT_STEPS["kadkhodaie"], h0=h0, ratio=ratio)
    else:
        beta = check_number(beta, "beta", low=0.0, high=1.0, low_inclusive=False, hint="The paper uses 0.5 or 0.01.")
    expected = _ks_iterations(beta, h0, ratio)
    logger.debug("kadkhodaie: beta=%.4g, h0=%.3g, about %d iterations", beta, h0, expected)
    b = x.shape[0]
    n_pix = x[0].numel()
    level = torch.full((b,), float(sigma_max), device=x.device, dtype=x.dtype)  # level given to D
    active = torch.ones(b, dtype=torch.bool, device=x.device)
    bar = _progress(expected, progress, "Kadkhodaie-Simoncelli")
    t = 0
    while t < max_iter:
        if sigma_estimate == "schedule" and float(level.max()) < sigma_min:
            break
        t += 1
        h = h0 * t / (1.0 + h0 * (t - 1))
        f = denoise(denoiser, x, level.clamp(sigma_min, sigma_max)) - x
        d = project(x, f) if project is not None else f
        if sigma_estimate == "schedule":
            sig = level
        else:
            sig = d.flatten(1).norm(dim=1) / math.sqrt(n_pix)
            active = active & (sig >= sigma_min)
            if not bool(active.any()):
                break
        gamma = torch.sqrt(((1 - beta * h) ** 2 - (1 - h) ** 2) * sig**2).reshape(b, 1, 1, 1)
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        step = h * d + gamma * z
        x = x + step * active.reshape(b, 1, 1, 1).to(x.dtype)
        level = torch.where(active, (1 - beta * h) * sig, level)
        if callback is not None:
            callback(t - 1, x, float(level.max()))
        if bar is not None:
            bar.update()
    else:
        logger.warning("kadkhodaie: stopped after max_iter=%d iterations above sigma_min", max_iter)
    if bar is not None:
        bar.close()
    return x, t


METHODS = {"ancestral": ancestral, "annealed": annealed, "kadkhodaie": kadkhodaie}
_OPTIONS = {"ancestral": (), "annealed": ("levels", "h"), "kadkhodaie": ("beta", "h0", "sigma_estimate", "max_iter")}


# --------------------------------------------------------------------------- helpers shared with posterior


def module_device(module: torch.nn.Module) -> torch.device:
    """Device of a module's first parameter or buffer (CPU for a module with neither)."""
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


def sigma_bounds(
    card_range: tuple[float, float], sigma_max: float | None, sigma_min: float | None
) -> tuple[float, float]:
    """``(sigma_max, sigma_min)`` inside the card's range ``[lo, hi]`` (defaults: ``hi`` and ``max(lo, 0.01)``)."""
    lo, hi = card_range
    if hi <= 0:
        raise InputError(f"the prior's noise range {card_range} has no positive level to sample with.")
    tol = 1e-9
    for name, v in (("sigma_max", sigma_max), ("sigma_min", sigma_min)):
        if v is not None:
            check_number(v, name, low=0.0, low_inclusive=False)
            if not lo - tol <= v <= hi + tol:
                raise InputError(
                    f"{name} must lie in the prior's trained noise range [{lo:.4g}, {hi:.4g}]; got {v:.4g}. "
                    "A denoiser is only an MMSE estimator inside the range it was trained on."
                )
    s_max = float(sigma_max) if sigma_max is not None else hi
    s_min = float(sigma_min) if sigma_min is not None else min(max(lo, SIGMA_FLOOR), s_max)
    if s_min > s_max:
        raise InputError(f"sigma_min ({s_min:.4g}) must be <= sigma_max ({s_max:.4g}).")
    return s_max, s_min


# --------------------------------------------------------------------------- public entry point


def sample_prior(
    prior: Any,
    n: int = 4,
    size: int | tuple[int, int] = 64,
    *,
    method: str = "ancestral",
    steps: int | None = None,
    seed: int = 0,
    init: Any = "gaussian-fit",
    progress: bool = False,
    sigma_max: float | None = None,
    sigma_min: float | None = None,
    channels: int = 3,
    denoise_final: bool = True,
    clip: bool = True,
    device: str | torch.device | None = None,
    callback: Callback | None = None,
    **options: Any,
) -> torch.Tensor:
    """Draw ``n`` images from the prior implicit in a denoiser.

    :param prior: a registered prior name (e.g. ``"vl-drunet"``), a weights path, or any deepinv
        ``Denoiser`` (an MMSE Gaussian denoiser; its noise range is read from its card, else
        ``(0, 75/255)``).
    :param n: number of samples (one batch).
    :param size: side ``S`` or ``(H, W)``.
    :param method: ``"ancestral"`` (default), ``"annealed"`` or ``"kadkhodaie"`` (see module doc).
    :param steps: denoiser calls before the final denoise (default :data:`DEFAULT_STEPS`).
    :param seed: seed of a local ``torch.Generator`` (the global RNG is never touched).
    :param init: ``"gaussian-fit"`` (default; :mod:`pnpleaves.sampling.start`), ``"white"``, a
        :class:`~pnpleaves.sampling.GaussianFit`, or a tensor of training-like images to fit.
    :param progress: show a progress bar.
    :param sigma_max, sigma_min: the noise ladder's ends (defaults: the card's top, and
        ``max(0.01, card's bottom)``); must lie inside the card's range.
    :param channels: image channels the denoiser expects.
    :param denoise_final: end with ``D(x, sigma_min)`` (Tweedie's estimate of the clean image).
    :param clip: clip the output to [0, 1].
    :param device: where to run (default: the denoiser's device).
    :param callback: ``callback(i, x, sigma)`` after every step (e.g. to record a chain).
    :param options: method options: ``annealed``: ``levels`` (10), ``h`` (0.2); ``kadkhodaie``: ``beta``
        (from ``steps``), ``h0`` (0.01), ``sigma_estimate`` (``"schedule"``), ``max_iter``.
    :returns: ``(n, channels, H, W)`` float tensor (in [0, 1] when ``clip``).

    >>> import torch
    >>> from pnpleaves.sampling import GaussianDenoiser, GaussianFit, sample_prior
    >>> den = GaussianDenoiser(GaussianFit.power_law(16))
    >>> x = sample_prior(den, n=2, size=16, steps=20, seed=0)
    >>> x.shape, bool(torch.equal(x, sample_prior(den, n=2, size=16, steps=20, seed=0)))
    (torch.Size([2, 3, 16, 16]), True)
    """
    check_choice(method, "method", METHODS, hint="See pnpleaves.sampling.prior.")
    unknown = sorted(set(options) - set(_OPTIONS[method]))
    if unknown:
        raise InputTypeError(
            f"unknown option(s) {unknown} for method {method!r}; it accepts {list(_OPTIONS[method]) or 'none'}."
        )
    n = int(check_number(n, "n", low=1, integer=True))
    h, w = check_size(size)
    check_pixels(h * n, w, f"size={size!r} with n={n}")
    channels = int(check_number(channels, "channels", low=1, integer=True, high=3,
                                hint="Use 1 (grey) or 3 (RGB)."))
    if channels == 2:
        raise InputError("channels must be 1 (grey) or 3 (RGB); got 2.")
    seed = int(check_number(seed, "seed", low=0, integer=True))
    if steps is None:
        steps = None if (method == "kadkhodaie" and options.get("beta") is not None) else DEFAULT_STEPS[method]
    else:
        steps = int(check_number(steps, "steps", low=1, integer=True))
        if method == "kadkhodaie" and options.get("beta") is not None:
            raise InputError("give either steps or beta for method 'kadkhodaie', not both (steps sets beta).")

    den, card_range = resolve_prior(prior, device)
    den = adapt_denoiser(den, channels)  # e.g. grey samples from an RGB prior
    s_max, s_min = sigma_bounds(card_range, sigma_max, sigma_min)
    dev = module_device(den) if device is None else torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        x = draw_start(init, den, n, (h, w), channels, s_max, gen, dev)
        x, nfe = METHODS[method](
            den, x, sigma_max=s_max, sigma_min=s_min, steps=steps, generator=gen,
            progress=progress, callback=callback, **options,
        )
        if denoise_final:
            x = denoise(den, x, s_min)
            nfe += 1
    logger.debug("sample_prior: %s, %d denoiser calls, sigma %.4g -> %.4g", method, nfe, s_max, s_min)
    check_output(x, prior, "the sample")
    return x.clamp(0.0, 1.0) if clip else x
