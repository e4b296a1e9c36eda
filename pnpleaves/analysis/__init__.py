"""Analysis toolbox: how natural do images (and priors) look?

* :mod:`pnpleaves.analysis.statistics`: second-order image statistics (radially averaged
  amplitude spectrum and its power-law slope, gradient-magnitude histograms, KL/JS divergences),
  as in the VibrantLeaves comparison of synthetic and natural image sets.
* :mod:`pnpleaves.analysis.fidelity`: the identity test, how much clean natural detail a denoiser
  keeps at a low noise level.
"""

from __future__ import annotations

from pnpleaves.analysis.statistics import (
    DEFAULT_BAND,
    DEFAULT_EPS,
    ImageSetStatistics,
    StatsRow,
    compare_image_sets,
    gradient_histogram,
    image_set_statistics,
    js_divergence,
    kl_divergence,
    plot_statistics,
    power_spectrum_slope,
    radial_amplitude_spectrum,
)

__all__ = [
    "identity_psnr",
    "DEFAULT_BAND",
    "DEFAULT_EPS",
    "ImageSetStatistics",
    "StatsRow",
    "compare_image_sets",
    "gradient_histogram",
    "image_set_statistics",
    "js_divergence",
    "kl_divergence",
    "plot_statistics",
    "power_spectrum_slope",
    "radial_amplitude_spectrum",
]


def __getattr__(name: str):
    # imported lazily so that ``python -m pnpleaves.analysis.fidelity`` runs without a double import
    if name == "identity_psnr":
        from pnpleaves.analysis.fidelity import identity_psnr

        return identity_psnr
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
