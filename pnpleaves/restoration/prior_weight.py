r"""The prior weight :math:`\lambda` of PnP-HQS deblurring, chosen from the kernel and the noise level.

Why the kernel matters
----------------------
With the DPIR schedule (:mod:`~pnpleaves.restoration.schedules`) iteration :math:`k` calls the
denoiser at level :math:`\sigma_k` on the data step

.. math:: u_k = \arg\min_x \tfrac12\|k * x - y\|^2 + \tfrac1{2\gamma_k}\|x - x_k\|^2, \qquad
          \hat u_k(\omega) = \frac{\gamma_k \overline{K(\omega)}\,\hat y(\omega) + \hat x_k(\omega)}
                                 {1 + \gamma_k |K(\omega)|^2},
          \qquad \gamma_k = \frac{\sigma_k^2}{\lambda \sigma_e^2},

with :math:`K` the kernel's transfer function and :math:`\sigma_e = \max(\sigma, \sigma_{\text{floor}})`.
The measurement noise (white, std :math:`\sigma`) reaches :math:`u_k` with variance
:math:`\sigma^2\gamma_k^2|K|^2/(1+\gamma_k|K|^2)^2` at frequency :math:`\omega`; relative to the level the
denoiser is told, :math:`\sigma_k^2`, that is (for :math:`\sigma \ge \sigma_{\text{floor}}`)

.. math:: \rho_k(\omega) = \frac{t}{\lambda (1 + t)^2}, \qquad t = \gamma_k |K(\omega)|^2 .

Since :math:`t/(1+t)^2 \le 1/4` (equality at :math:`t = 1`), :math:`\rho_k \le 1/(4\lambda)`: with
:math:`\lambda \ge 1/4` no frequency ever carries more noise than the denoiser expects (DPIR's 0.23 is
just below). With a smaller :math:`\lambda` the frequencies where :math:`t` lies between the roots
:math:`t_\pm = (1 - 2\lambda \pm \sqrt{1 - 4\lambda})/(2\lambda)` are handed up to :math:`1/(4\lambda)`
times too much noise, and an ill-posed kernel has many of them. A Gaussian blur goes from
:math:`|K| \approx 1` to :math:`|K| \approx 0` over a thin annulus, so at each iteration only the annulus
where :math:`t \approx 1` is in danger (a fraction :math:`\ln(t_+/t_-)/(4\pi s^2)` of the frequencies for
std :math:`s`: 0.13 at :math:`s = 1.6`); a camera-shake kernel has a thin, curved support whose transfer
function stays at intermediate values over much of the plane, in danger at every iteration. That is why
the best fixed :math:`\lambda` is about 0.1 for the Gaussian anchors and 0.23 for motion blur
(``docs/restoration.md``). A *lost* frequency (:math:`|K|` far below the noise) is harmless: :math:`t`
stays small there at every iteration; so the fraction of frequencies below a noise threshold, largest
for the smooth Gaussian kernels, does not measure the danger.

The measure
-----------
Excess noise only does harm where the denoiser keeps it, that is where the image is stronger than its
level. With the mean power spectrum of natural images :math:`S(\omega) = a|\omega|^{-b}` (per pixel, the
[0, 1] scale, :math:`|\omega|` in cycles per pixel; :math:`a = 2.4\cdot10^{-4}`, :math:`b = 2.4`: the
least-squares fit of the six Kodak24 development crops between 0.01 and 0.45 cycles per pixel) a
denoiser at level :math:`\sigma_k` passes the fraction :math:`w_k = S/(S + \sigma_k^2)` (Wiener gain) of
frequency :math:`\omega`. The *ill-posedness* of the kernel at noise :math:`\sigma` is the share of the
spectrum, so weighted, in danger at the reference weight :math:`\lambda_r = 0.1`, averaged over the
:math:`n` iterations of the schedule:

.. math:: m(k, \sigma) = \frac1n \sum_{k<n} \operatorname{mean}_\omega\; w_k(\omega)\,
          \mathbf 1\!\left[\rho_k(\omega) > 1\right] \quad (\lambda = \lambda_r,\ \sigma := \sigma_e).

It is 0 for the identity kernel (:math:`\rho_k \le \sigma^2/\sigma_k^2 \le 1`), 0.08 / 0.06 for the
Gaussian anchors (std 1.6 / 2.0), 0.27-0.34 for Levin's kernels, 0.16 for a defocus disk of radius 5 and
0.23 for a 15-pixel straight motion, at noise 2.55/255.

The rule
--------
.. math:: \lambda(k, \sigma) = \min\!\left(\tfrac14,\;
          \lambda_0 \sqrt{\sigma_e / \sigma_r} + c\, m(k, \sigma)\right), \qquad
          \lambda_0 = 0.05,\ c = 0.65,\ \sigma_r = 0.01 = 2.55/255 .

- :math:`1/4` is the weight above which no frequency is ever in danger (above);
- :math:`\lambda_0 \sqrt{\sigma_e/\sigma_r}` is the well-posed limit (the identity kernel's weight): on
  the development Gaussian blurs the best weight grows with the noise (0.07-0.1 at 2.55/255, 0.1-0.15 at
  7.65/255), about as :math:`\sqrt\sigma`;
- :math:`\lambda_0` and :math:`c` were fitted on development images only (Kodak24 13-18, 256x256 crops;
  Levin kernels 1-6, the anchors' Gaussian kernels, a disk and a straight motion; noise 2.55 and
  7.65/255) with the vl-drunet prior, to make the worst cell closest to its best fixed :math:`\lambda`
  (``research/lambda_rule.py``; the table is in ``docs/restoration.md``, "λ from the kernel").

Below the step floor (:math:`\sigma < \sigma_{\text{floor}}`) the rule keeps its value at the floor (the
steps use the floor there). The rule is not monotone in :math:`\sigma` for every kernel: the weights
:math:`w_k` fall with the noise, so a motion kernel's :math:`m` falls while :math:`\lambda_0\sqrt{\cdot}`
grows (Levin kernel 1: 0.25 at 2.55/255, 0.23 at 15/255, 0.25 again at 50/255); it is for the identity
and for Gaussian kernels. At large noise every kernel tends to 1/4, DPIR's choice.

The rule was measured for HQS only; :func:`~pnpleaves.restoration.pnp_deblur` uses it for
``method="hqs"`` when no ``lam`` is given.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from pnpleaves._checks import check_number
from pnpleaves.images import kernel_to_tensor

from .schedules import ScheduleParams, default_params, make_schedule

__all__ = [
    "LAM_REF",
    "LAM_SAFE",
    "LAM_WELL_POSED",
    "SLOPE",
    "deblur_lambda",
    "ill_posedness",
    "transfer_magnitude",
]

#: the weight above which the data step never hands the denoiser more noise than its level
LAM_SAFE = 0.25
#: the reference weight at which the frequencies in danger are counted
LAM_REF = 0.1
#: the identity kernel's weight at the reference noise :data:`SIGMA_REF` (fitted on development images)
LAM_WELL_POSED = 0.05
#: weight added per unit of ill-posedness (fitted on development images)
SLOPE = 0.65
#: the noise level (on the [0, 1] scale) at which the well-posed weight is :data:`LAM_WELL_POSED`
SIGMA_REF = 0.01
#: the natural-image power spectrum ``IMAGE_POWER * |f|**-IMAGE_SLOPE`` (per pixel, f in cycles per pixel)
IMAGE_POWER = 2.4e-4
IMAGE_SLOPE = 2.4
#: smallest side of the frequency grid on which the kernel's transfer function is sampled
GRID = 256


def _kernel(kernel: Any) -> np.ndarray:
    """The kernel as a float64 array summing to 1, with the checks (and messages) of ``pnp_deblur``."""
    arr = kernel.detach().cpu().numpy() if hasattr(kernel, "detach") else np.asarray(kernel)
    shape = tuple(int(s) for s in np.shape(arr)[-2:]) if np.ndim(arr) >= 2 else (1, 1)
    return kernel_to_tensor(kernel, shape)[0, 0].numpy()


def transfer_magnitude(kernel: Any, size: int | None = None) -> np.ndarray:
    """:math:`|K(\\omega)|` of a kernel on the ``size x size`` grid of DFT frequencies (``numpy.fft.fftfreq``
    order), for convolution as ``scipy.ndimage.convolve`` (the centre at ``shape // 2`` does not change the
    magnitude). ``size`` defaults to ``max(GRID, 2 * largest side)``."""
    k = _kernel(kernel)
    n = int(size) if size is not None else max(GRID, 2 * max(k.shape))
    if n < max(k.shape):
        raise ValueError(f"size {n} is smaller than the kernel ({k.shape[0]}x{k.shape[1]}).")
    return np.abs(np.fft.fft2(k, s=(n, n)))


def _params(params: ScheduleParams | None, n_iter: int | None) -> ScheduleParams:
    p = default_params("deblur", "hqs") if params is None else params
    return p if n_iter is None else replace(p, n_iter=int(n_iter))


def ill_posedness(kernel: Any, sigma: float, params: ScheduleParams | None = None, *,
                  n_iter: int | None = None) -> float:
    r"""The share :math:`m(k, \sigma)` of the image spectrum that the HQS data steps at the reference weight
    :data:`LAM_REF` hand the denoiser with more noise than its level (module docstring).

    :param kernel: 2-D blur kernel (checked as by ``pnp_deblur``; normalised to sum 1).
    :param sigma: noise std on the [0, 1] scale (values below the schedule's step floor count as the floor).
    :param params: the schedule whose levels are followed (default: the deblurring HQS defaults; its
        ``lam`` is ignored).
    :param n_iter: overrides ``params.n_iter``.
    :returns: a number in [0, 1): 0 for the identity kernel.
    """
    sigma = check_number(sigma, "sigma", low=0, hint="Give the noise std on the [0, 1] scale, e.g. 2.55/255.")
    p = replace(_params(params, n_iter), lam=LAM_REF)
    k2 = transfer_magnitude(kernel) ** 2
    n = k2.shape[0]
    f = np.fft.fftfreq(n)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0  # the mean (its gain is set to 1 below)
    power = IMAGE_POWER * radius ** (-IMAGE_SLOPE)
    sigma_e = max(sigma, p.sigma_floor)
    schedule = make_schedule(sigma_e, p)
    share = 0.0
    for level, gamma in zip(schedule.sigmas, schedule.stepsizes):
        t = gamma * k2
        danger = t > LAM_REF * (1.0 + t) ** 2  # rho_k > 1
        gain = power / (power + level * level)
        gain[0, 0] = 1.0
        share += float(np.mean(gain * danger))
    return share / schedule.n_iter


def deblur_lambda(kernel: Any, sigma: float, params: ScheduleParams | None = None, *,
                  n_iter: int | None = None) -> float:
    r"""The prior weight :math:`\lambda` of PnP-HQS deblurring for ``kernel`` at noise ``sigma``:

    .. math:: \lambda = \min\!\left(\tfrac14,\ 0.05\sqrt{\max(\sigma, \sigma_{\text{floor}})/0.01}
              + 0.65\, m(k, \sigma)\right)

    with :math:`m` the :func:`ill_posedness` (derivation and measurements: module docstring).

    :param kernel: 2-D blur kernel (checked as by ``pnp_deblur``; normalised to sum 1).
    :param sigma: noise std on the [0, 1] scale.
    :param params: the schedule that will run (default: the deblurring HQS defaults; its ``lam`` is ignored).
    :param n_iter: overrides ``params.n_iter``.
    :returns: :math:`\lambda` in ``[0.05, 0.25]`` (for the default step floor).

    Example::

        >>> from pnpleaves.restoration import fspecial_gaussian, levin_kernel
        >>> from pnpleaves.restoration.prior_weight import deblur_lambda
        >>> round(deblur_lambda(fspecial_gaussian(25, 2.0), 2.55 / 255), 3), deblur_lambda(levin_kernel(1), 2.55 / 255)
        (0.087, 0.25)
    """
    m = ill_posedness(kernel, sigma, params, n_iter=n_iter)
    p = _params(params, n_iter)
    sigma_e = max(float(sigma), p.sigma_floor)
    return min(LAM_SAFE, LAM_WELL_POSED * math.sqrt(sigma_e / SIGMA_REF) + SLOPE * m)
