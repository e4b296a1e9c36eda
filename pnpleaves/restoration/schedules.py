r"""Parameter schedules for Plug-and-Play HQS / ADMM (pure functions, no torch).

DPIR (Zhang et al., "Plug-and-Play Image Restoration with Deep Denoiser Prior", IEEE TPAMI 2022)
decreases the denoiser level geometrically and ties the data-step size to it:

.. math::

    \sigma_k = \sigma_{\text{start}}\,(\sigma_{\text{end}}/\sigma_{\text{start}})^{k/(K-1)}, \qquad
    \gamma_k = \frac{\sigma_k^2}{\lambda\,\max(\sigma, \sigma_{\text{floor}})^2}, \qquad k = 0..K-1,

where :math:`\sigma` is the measurement noise, :math:`\sigma_{\text{end}} = \max(\sigma, \sigma_{\min})`
and :math:`\gamma_k` is the step of :math:`\operatorname{prox}_{\gamma f}` with
:math:`f = \tfrac12\|Ax - y\|^2` (deepinv's ``stepsize``). The ratio
:math:`\sigma_k^2/\gamma_k = \lambda\sigma^2` is constant: with a Gaussian (Wiener) denoiser, HQS then
tends to the Tikhonov/MAP solution with weight :math:`\lambda\sigma^2` as :math:`\sigma_k \to 0`.

DPIR's own values are K = 8, :math:`\sigma_{\text{start}} = 49/255`, :math:`\lambda = 0.23` and floor
0.01 (:func:`deepinv.optim.dpir.get_DPIR_params`), the defaults of :class:`ScheduleParams`.
:data:`DEFAULTS` holds the values tuned for vl-drunet on Kodak24 dev images that the benchmark does
not use (``research/tune_schedule.py``; the grids and their results are in ``docs/results.md``,
"Schedules: how the defaults were tuned").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from pnpleaves._checks import check_choice, check_number

__all__ = [
    "DEFAULTS",
    "METHODS",
    "PROBLEMS",
    "Schedule",
    "ScheduleParams",
    "default_params",
    "make_schedule",
]

PROBLEMS = ("deblur", "sr", "inpaint")
METHODS = ("hqs", "admm")


@dataclass(frozen=True)
class ScheduleParams:
    """Knobs of a DPIR-like schedule (all noise levels on the [0, 1] scale).

    :param n_iter: number of iterations K.
    :param sigma_start: first denoiser level.
    :param lam: DPIR's :math:`\\lambda` (larger = stronger prior).
    :param sigma_min: floor on the last denoiser level.
    :param sigma_floor: floor on the noise level used in the step size (keeps steps finite at sigma = 0).
    :param beta: ADMM relaxation (ignored by HQS).
    """

    n_iter: int = 8
    sigma_start: float = 49.0 / 255.0
    lam: float = 0.23
    sigma_min: float = 1.0 / 255.0
    sigma_floor: float = 0.01
    beta: float = 1.0

    def __post_init__(self) -> None:
        check_number(self.n_iter, "n_iter", low=1, integer=True, hint="Use e.g. n_iter=8.")
        check_number(self.sigma_start, "sigma_start", low=0, low_inclusive=False)
        check_number(self.lam, "lam", low=0, low_inclusive=False)
        check_number(self.sigma_min, "sigma_min", low=0, low_inclusive=False)
        check_number(self.sigma_floor, "sigma_floor", low=0, low_inclusive=False)
        check_number(self.beta, "beta", low=0, low_inclusive=False, high=2)


@dataclass(frozen=True)
class Schedule:
    """Per-iteration denoiser levels and data-step sizes."""

    sigmas: tuple[float, ...]
    stepsizes: tuple[float, ...]
    beta: float = 1.0
    params: ScheduleParams | None = field(default=None, compare=False)

    @property
    def n_iter(self) -> int:
        return len(self.sigmas)


#: noise-free SR was tuned with ``lam = 0.01, sigma_floor = 1/255``: only the product ``lam * sigma_floor**2``
#: matters there. The same product with DPIR's ``lam = 0.23`` keeps noise-free SR unchanged and gives noisy
#: SR DPIR's prior weight (``lam = 0.01`` under-regularised noisy SR: 19.8 dB on the anchors' x2 butterfly).
_SR_FLOOR = math.sqrt(0.01 / 0.23) / 255.0

#: defaults per (problem, method), tuned for vl-drunet with ``research/tune_schedule.py`` (HQS grids on
#: 6 Kodak24 dev images, 13-18, 256x256 centre crops; ADMM reuses the HQS levels). The iteration counts
#: are multiples of 8, so that the default ``ensemble="cycle"`` shows the denoiser each of the 8 flips /
#: quarter turns equally often; noise-free SR prefers a weak prior (small ``lam * sigma_floor**2``);
#: ADMM deblurring keeps 5 iterations (it loses with 8). Measured values: ``docs/results.md``. The deblurring
#: HQS ``lam`` is used only when a caller asks for these parameters: ``pnp_deblur`` without a ``lam`` takes
#: it from the kernel (:func:`~pnpleaves.restoration.prior_weight.deblur_lambda`).
DEFAULTS: dict[tuple[str, str], ScheduleParams] = {
    ("deblur", "hqs"): ScheduleParams(n_iter=8, sigma_start=65 / 255, lam=0.23),
    ("deblur", "admm"): ScheduleParams(n_iter=5, sigma_start=65 / 255, lam=0.23),
    ("sr", "hqs"): ScheduleParams(n_iter=8, sigma_start=75 / 255, lam=0.23, sigma_floor=_SR_FLOOR),
    ("sr", "admm"): ScheduleParams(n_iter=8, sigma_start=75 / 255, lam=0.23, sigma_floor=_SR_FLOOR),
    ("inpaint", "hqs"): ScheduleParams(n_iter=16, sigma_start=75 / 255, lam=0.23, sigma_min=2 / 255),
    ("inpaint", "admm"): ScheduleParams(n_iter=16, sigma_start=75 / 255, lam=0.23, sigma_min=2 / 255),
}


def default_params(problem: str, method: str) -> ScheduleParams:
    """The default :class:`ScheduleParams` of ``problem`` (deblur, sr, inpaint) and ``method`` (hqs, admm)."""
    check_choice(problem, "problem", PROBLEMS)
    check_choice(method, "method", METHODS, hint="Use method='hqs' (DPIR-like) or 'admm'.")
    return DEFAULTS[(problem, method)]


def make_schedule(
    sigma: float,
    params: ScheduleParams | dict[str, Any] | None = None,
    *,
    sigma_range: tuple[float, float] | None = None,
    n_iter: int | None = None,
) -> Schedule:
    """Build the DPIR-like schedule for measurement noise ``sigma``.

    :param sigma: noise std on the [0, 1] scale (>= 0).
    :param params: :class:`ScheduleParams`, a dict of overrides of the deblurring defaults, or None.
    :param sigma_range: (lo, hi) noise range the denoiser was trained on; every level is clipped into it.
    :param n_iter: overrides ``params.n_iter``.
    """
    sigma = check_number(sigma, "sigma", low=0, hint="Give the noise std on the [0, 1] scale, e.g. 2.55/255.")
    if params is None:
        params = ScheduleParams()
    elif isinstance(params, dict):
        params = replace(ScheduleParams(), **params)
    if n_iter is not None:
        params = replace(params, n_iter=int(check_number(n_iter, "n_iter", low=1, integer=True)))
    start = params.sigma_start
    end = max(sigma, params.sigma_min)
    if sigma_range is not None:
        lo, hi = float(sigma_range[0]), float(sigma_range[1])
        start = min(max(start, lo), hi) if hi > 0 else start
        end = min(max(end, lo), hi) if hi > 0 else end
    end = min(end, start)
    K = params.n_iter
    if K == 1:
        sigmas = [end]
    else:
        la, lb = math.log(start), math.log(end)
        sigmas = [math.exp(la + (lb - la) * k / (K - 1)) for k in range(K)]
    denom = params.lam * max(sigma, params.sigma_floor) ** 2
    steps = [s * s / denom for s in sigmas]
    return Schedule(tuple(sigmas), tuple(steps), params.beta, params)
