r"""Radially averaged amplitude spectrum of an image set and the slope of its power law.

Natural images have an isotropic amplitude spectrum close to a power law,

.. math:: |\hat I(\nu)| \simeq \frac{C}{|\nu|^{\alpha}},

and the VibrantLeaves study compares synthetic and natural image sets by the slope :math:`\alpha`
of the radially averaged spectrum in log-log coordinates, with the :math:`R^2` of the linear fit.

Protocol (images converted to grey by :mod:`pnpleaves.analysis.image_sources`):

* **Borders.** Remove the border discontinuities first, otherwise the jumps across the (implicitly
  periodic) borders add a bright cross to the DFT: by default (``window="periodic"``) the DFT of
  the periodic component of Moisan's periodic + smooth decomposition; ``window="hann"`` instead
  subtracts the weighted mean and multiplies by a separable Hann window (it smears the lowest
  frequencies: on small images and steep spectra it biases the slope by a few hundredths, see the
  tests); ``"none"`` uses the raw DFT (for periodic images). The decomposition is exact for
  power-law fields cropped anywhere (error < 0.01 in the tests) but it is meant for spectra that
  decay: on white noise it reads a slope of about +0.05, not 0.
* **Rings.** Take :math:`|\mathrm{DFT}| / \sqrt{\sum w^2}` (:math:`w \equiv 1` without window, so a
  white noise of variance :math:`s^2` has :math:`E|\hat I|^2 = s^2` at any image size) and average it
  over rings of *normalised* frequency :math:`\nu = \sqrt{f_x^2 + f_y^2}` in cycles/pixel. The rings
  are ``n_bins`` log-spaced bins of the band ``[nu_min, nu_max]`` (default :data:`DEFAULT_BAND` =
  0.01 to 0.5 cycles/pixel, i.e. periods from 100 pixels down to 2 pixels), a grid shared by every
  image, so sets mixing image sizes work (bins an image is too small to sample are skipped for that
  image).
* **Set and slope.** The set's spectrum is the mean over images of the per-image ring means of the
  **amplitude** :math:`|\hat I|` (not the power: the power spectrum decays with twice the slope).
  The slope is minus the least-squares slope of ``log(amplitude)`` against the log of the mean
  frequency of each bin, and :math:`R^2` is that fit's coefficient of determination. Only the
  amplitude convention is in the range of the published 1.43 for natural images (measured there
  on WaterlooDB patches); the values measured with these defaults, with their command, are in
  ``docs/results.md``.

References: R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk, "VibrantLeaves", arXiv:2504.10201;
L. Moisan, "Periodic plus smooth image decomposition", J. Math. Imaging Vis. 39(2), 2011;
D. J. Field, "Relations between the statistics of natural images and the response properties of
cortical cells", JOSA A 4(12), 1987.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft

from pnpleaves._checks import check_choice, check_number, check_range_pair
from pnpleaves.analysis.image_sources import ImageSource, iter_grey_images
from pnpleaves.errors import InputError

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_SPECTRUM_BINS",
    "WINDOWS",
    "SpectrumAccumulator",
    "check_spectrum_args",
    "fit_power_law",
    "power_spectrum_slope",
    "radial_amplitude_spectrum",
]

logger = logging.getLogger(__name__)

#: default frequency band of the spectrum fit, in cycles/pixel (periods of 100 px down to 2 px)
DEFAULT_BAND: tuple[float, float] = (0.01, 0.5)
#: default number of log-spaced frequency bins in the band
DEFAULT_SPECTRUM_BINS = 24

#: ways to handle the non-periodic image borders before the DFT
WINDOWS = ("periodic", "hann", "none")

# ring amplitudes below this are rounding noise of a constant image (images are in [0, 1])
_AMPLITUDE_FLOOR = 1e-10


def _check_band(band: Any) -> tuple[float, float]:
    lo, hi = check_range_pair(band, "band", low=0.0, high=0.5)
    if lo <= 0 or lo >= hi:
        raise InputError(
            f"band must satisfy 0 < nu_min < nu_max <= 0.5 (cycles/pixel); got {tuple(band)!r}. "
            f"The default is {DEFAULT_BAND}."
        )
    return lo, hi


def _check_window(window: str | None) -> str:
    return check_choice("none" if window is None else window, "window", WINDOWS)


def check_spectrum_args(band: Any, n_bins: Any, window: str | None) -> tuple[tuple[float, float], int, str]:
    """Validate ``(band, n_bins, window)`` as :func:`radial_amplitude_spectrum` takes them; ``None`` window is ``"none"``."""
    band = _check_band(band)
    n_bins = check_number(n_bins, "n_bins", low=3, integer=True, hint="Use e.g. n_bins=24.")
    return band, n_bins, _check_window(window)


@lru_cache(maxsize=16)
def _ring_geometry(h: int, w: int, band: tuple[float, float], n_bins: int, window: str):
    """Bin index, weight and frequency of every rfft2 coefficient, plus the window and its norm."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    nu = np.sqrt(fy**2 + fx**2).ravel()
    # each rfft column 0 < k < w/2 stands for the two columns +k and -k of the full spectrum
    col_weight = np.full(fx.shape[1], 2.0)
    col_weight[0] = 1.0
    if w % 2 == 0:
        col_weight[-1] = 1.0
    weight = np.broadcast_to(col_weight, (h, fx.shape[1])).ravel()
    lo, hi = band
    with np.errstate(divide="ignore"):
        pos = np.floor(np.log(nu / lo) / math.log(hi / lo) * n_bins)
    idx = np.where((nu >= lo) & (nu <= hi), np.minimum(pos, n_bins - 1), n_bins).astype(np.intp)
    wsum = np.bincount(idx, weight, minlength=n_bins + 1)[:n_bins]
    fsum = np.bincount(idx, weight * nu, minlength=n_bins + 1)[:n_bins]
    if window == "hann":
        win = np.outer(np.hanning(h), np.hanning(w)) if min(h, w) > 2 else np.ones((h, w))
    else:
        win = np.ones((h, w))
    # DFT of the periodic discrete Laplacian on the rfft grid (for the periodic + smooth decomposition)
    lap = 2 * np.cos(2 * np.pi * fy) + 2 * np.cos(2 * np.pi * fx) - 4
    lap[0, 0] = 1.0
    return idx, weight, wsum, fsum, win, math.sqrt(float(np.sum(win**2))), lap


def _image_spectrum(grey: np.ndarray, band, n_bins: int, window: str):
    """Ring means of |DFT| (NaN where the image has no frequency in a bin) and ring mean frequencies."""
    idx, weight, wsum, fsum, win, norm, lap = _ring_geometry(*grey.shape, band, n_bins, window)
    if window == "periodic":
        spec = scipy.fft.rfft2(grey) - _smooth_component_dft(grey, lap)
    else:
        spec = scipy.fft.rfft2((grey - np.sum(grey * win) / np.sum(win)) * win)
    amp = np.abs(spec).ravel() / norm
    total = np.bincount(idx, weight * amp, minlength=n_bins + 1)[:n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / wsum, fsum / wsum


def _smooth_component_dft(u: np.ndarray, lap: np.ndarray) -> np.ndarray:
    """rfft2 of the smooth component ``s`` of Moisan's periodic + smooth decomposition ``u = p + s``.

    ``s`` solves ``Lap_per s = v`` where ``v`` holds the jumps across the image borders, so the
    periodic component ``p = u - s`` has no border discontinuity (L. Moisan, "Periodic plus smooth
    image decomposition", J. Math. Imaging Vis. 39(2), 2011).
    """
    v = np.zeros_like(u)
    v[0, :] += u[-1, :] - u[0, :]
    v[-1, :] += u[0, :] - u[-1, :]
    v[:, 0] += u[:, -1] - u[:, 0]
    v[:, -1] += u[:, 0] - u[:, -1]
    s_hat = scipy.fft.rfft2(v) / lap
    s_hat[0, 0] = 0.0
    return s_hat


class SpectrumAccumulator:
    """Running mean of the ring spectra of grey images: :meth:`add` one image at a time, then :meth:`result`.

    Arguments as validated by :func:`check_spectrum_args`. Each ring is averaged over the images
    that have a frequency in it.
    """

    def __init__(self, band: tuple[float, float], n_bins: int, window: str):
        self.band, self.n_bins, self.window = band, n_bins, window
        self.amp = np.zeros(n_bins)
        self.freq = np.zeros(n_bins)
        self.count = np.zeros(n_bins)

    def add(self, grey: np.ndarray) -> None:
        """Add one grey float ``(H, W)`` image (see :func:`~pnpleaves.analysis.image_sources.as_grey`)."""
        amp, freq = _image_spectrum(grey, self.band, self.n_bins, self.window)
        ok = np.isfinite(amp)
        self.amp[ok] += amp[ok]
        self.freq[ok] += freq[ok]
        self.count[ok] += 1

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(freqs, amplitude)`` of the non-empty rings, as :func:`radial_amplitude_spectrum` returns them."""
        ok = self.count > 0
        return self.freq[ok] / self.count[ok], self.amp[ok] / self.count[ok]


def fit_power_law(freqs: np.ndarray, amplitude: np.ndarray) -> tuple[float, float, float]:
    """Least squares ``log A = c - alpha log nu``; returns ``(alpha, c, R^2)``.

    Constant images have no spectrum: the result is then ``(nan, nan, nan)`` with a warning logged.
    """
    ok = np.isfinite(amplitude)
    if ok.sum() < 3:
        raise InputError(
            f"need at least 3 frequency bins with data to fit a slope; got {int(ok.sum())}. "
            "Use larger images, a wider band or more bins."
        )
    ok &= amplitude > _AMPLITUDE_FLOOR
    if ok.sum() < 3:
        logger.warning("the images are (nearly) constant: no spectrum slope; reporting nan.")
        return math.nan, math.nan, math.nan
    x, y = np.log(freqs[ok]), np.log(amplitude[ok])
    xm, ym = x.mean(), y.mean()
    sxx = np.sum((x - xm) ** 2)
    b = np.sum((x - xm) * (y - ym)) / sxx
    c = ym - b * xm
    ss_tot = np.sum((y - ym) ** 2)
    ss_res = np.sum((y - (c + b * x)) ** 2)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    return float(-b), float(c), float(r2)


def radial_amplitude_spectrum(
    images: ImageSource,
    *,
    band: tuple[float, float] = DEFAULT_BAND,
    n_bins: int = DEFAULT_SPECTRUM_BINS,
    window: str | None = "periodic",
    max_images: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Radially averaged amplitude spectrum :math:`|\hat I(\nu)|` of a set, averaged over images.

    :param images: a folder, one image, an ``(N, H, W, C)`` stack or a list of ``(H, W[, C])`` arrays in [0, 1].
    :param band: ``(nu_min, nu_max)`` in cycles/pixel, ``0 < nu_min < nu_max <= 0.5``.
    :param n_bins: number of log-spaced rings in the band.
    :param window: ``"periodic"`` (default: periodic + smooth decomposition), ``"hann"``, or
        ``None``/``"none"`` (raw DFT, for images that are periodic already).
    :return: ``(freqs, amplitude)``: mean frequency (cycles/pixel) and mean amplitude of each non-empty ring.
    """
    band, n_bins, window = check_spectrum_args(band, n_bins, window)
    acc = SpectrumAccumulator(band, n_bins, window)
    for grey in iter_grey_images(images, max_images):
        acc.add(grey)
    return acc.result()


def power_spectrum_slope(
    images: ImageSource,
    *,
    band: tuple[float, float] = DEFAULT_BAND,
    n_bins: int = DEFAULT_SPECTRUM_BINS,
    window: str | None = "periodic",
    max_images: int | None = None,
) -> tuple[float, float]:
    r"""Slope :math:`\alpha` of :math:`|\hat I(\nu)| \simeq C \nu^{-\alpha}` and the :math:`R^2` of the log-log fit.

    The slope is that of the *amplitude* spectrum (the power spectrum decays as :math:`\nu^{-2\alpha}`);
    see the module docstring for the exact protocol. Arguments as in :func:`radial_amplitude_spectrum`.

    >>> noise = np.random.default_rng(0).random((8, 64, 64, 1))  # 8 white-noise images: flat spectrum
    >>> abs(power_spectrum_slope(noise, window=None)[0]) < 0.02
    True
    """
    freqs, amp = radial_amplitude_spectrum(images, band=band, n_bins=n_bins, window=window, max_images=max_images)
    slope, _, r2 = fit_power_law(freqs, amp)
    return slope, r2
