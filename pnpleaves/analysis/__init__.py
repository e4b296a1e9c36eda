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

The prior analyses (``pnpleaves analyze ...``; ``docs/analysis.md``):

* :mod:`~pnpleaves.analysis.noisy_trials`: labelled priors, seeded noise and the mean PSNR every
  analysis repeats; :mod:`~pnpleaves.analysis.reference_priors`: the ``gaussian`` and ``cbm3d`` yardsticks.
* :mod:`~pnpleaves.analysis.jacobian`: denoiser geometry: Jacobian trace, top eigenvectors,
  symmetry, homogeneity (``analyze jacobian``).
* :mod:`~pnpleaves.analysis.distortions` and :mod:`~pnpleaves.analysis.invariance`: the
  noise-matched invariance test (``analyze invariance``); :mod:`~pnpleaves.analysis.equivariance`:
  equivariance errors (``analyze equivariance``).
* :mod:`~pnpleaves.analysis.patch_pca`, :mod:`~pnpleaves.analysis.kid` and
  :mod:`~pnpleaves.analysis.naturalness`: the naturalness table (``analyze naturalness``).
* :mod:`~pnpleaves.analysis.experiments`: the ablation and convergence experiments as data and
  tables (``analyze ablation|convergence`` train them).

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
from pnpleaves.analysis.distortions import DISTORTIONS, distort
from pnpleaves.analysis.equivariance import equivariance_error
from pnpleaves.analysis.identity import identity_psnr
from pnpleaves.analysis.image_sets import ImageSetStatistics, StatsRow, compare_image_sets, image_set_statistics
from pnpleaves.analysis.image_sources import ImageSource
from pnpleaves.analysis.invariance import invariance, match_noise
from pnpleaves.analysis.jacobian import jacobian_spectrum, jacobian_symmetry, jacobian_trace, local_homogeneity
from pnpleaves.analysis.kid import frechet_distance, inception_features, kernel_inception_distance, kid_available
from pnpleaves.analysis.naturalness import derivative_kurtosis, naturalness
from pnpleaves.analysis.patch_pca import participation_ratio, patch_pca
from pnpleaves.analysis.plots import plot_statistics
from pnpleaves.analysis.spectrum import (
    DEFAULT_BAND,
    DEFAULT_SPECTRUM_BINS,
    WINDOWS,
    power_spectrum_slope,
    radial_amplitude_spectrum,
)

__all__ = [
    "DISTORTIONS",
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
    "derivative_kurtosis",
    "distort",
    "equivariance_error",
    "frechet_distance",
    "gradient_histogram",
    "identity_psnr",
    "image_set_statistics",
    "inception_features",
    "invariance",
    "jacobian_spectrum",
    "jacobian_symmetry",
    "jacobian_trace",
    "js_divergence",
    "kernel_inception_distance",
    "kid_available",
    "kl_divergence",
    "local_homogeneity",
    "match_noise",
    "naturalness",
    "participation_ratio",
    "patch_pca",
    "plot_statistics",
    "power_spectrum_slope",
    "radial_amplitude_spectrum",
]
