"""Analysis toolbox: how natural do images (and priors) look?

* :mod:`~pnpleaves.analysis.image_sources`: the image sets measured (a folder, an array stack or a
  list of arrays), read one image at a time and converted to grey.
* :mod:`~pnpleaves.analysis.spectrum`: radially averaged amplitude spectrum and its power-law slope.
* :mod:`~pnpleaves.analysis.gradients`: gradient-magnitude histograms and the KL/JS divergences
  that compare them.
* :mod:`~pnpleaves.analysis.image_sets`: both statistics of whole sets in one pass, and the
  comparison table against a reference set (``pnpleaves stats``).
* :mod:`~pnpleaves.analysis.plots`: the two-panel figure (gradient histograms, spectra).
* :mod:`~pnpleaves.analysis.identity`: the identity test, how much clean natural detail a denoiser
  keeps at a low noise level (``pnpleaves analyze identity``).

These follow the VibrantLeaves comparison of synthetic and natural image sets (R. Achddou,
Y. Gousseau, S. Ladjal, S. Süsstrunk, arXiv:2504.10201).
"""

from __future__ import annotations

from pnpleaves.analysis.gradients import (
    DEFAULT_EPS,
    DEFAULT_GRADIENT_BINS,
    DEFAULT_MAX_GRADIENT,
    gradient_histogram,
    js_divergence,
    kl_divergence,
)
from pnpleaves.analysis.identity import identity_psnr
from pnpleaves.analysis.image_sets import ImageSetStatistics, StatsRow, compare_image_sets, image_set_statistics
from pnpleaves.analysis.image_sources import ImageSource
from pnpleaves.analysis.plots import plot_statistics
from pnpleaves.analysis.spectrum import (
    DEFAULT_BAND,
    DEFAULT_SPECTRUM_BINS,
    WINDOWS,
    power_spectrum_slope,
    radial_amplitude_spectrum,
)

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_EPS",
    "DEFAULT_GRADIENT_BINS",
    "DEFAULT_MAX_GRADIENT",
    "DEFAULT_SPECTRUM_BINS",
    "WINDOWS",
    "ImageSetStatistics",
    "ImageSource",
    "StatsRow",
    "compare_image_sets",
    "gradient_histogram",
    "identity_psnr",
    "image_set_statistics",
    "js_divergence",
    "kl_divergence",
    "plot_statistics",
    "power_spectrum_slope",
    "radial_amplitude_spectrum",
]
