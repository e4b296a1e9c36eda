"""Sampling the prior implicit in a denoiser, and posteriors of inverse problems (Langevin/Tweedie).

- :func:`sample_prior`: unconditional samples (VE ancestral, annealed Langevin, Kadkhodaie–Simoncelli).
- :func:`sample_posterior`: posterior mean, std map and samples (PnP-ULA of Laumont et al. 2022;
  Kadkhodaie–Simoncelli Algorithm 2 for noiseless linear problems).
- :func:`tweedie_score`: the score :math:`(D(x,\\sigma) - x)/\\sigma^2` every sampler uses.
- :class:`GaussianFit`, :class:`GaussianDenoiser`: stationary Gaussian models (the fitted start, and an
  exact MMSE denoiser for tests and teaching).
"""

from pnpleaves.models.gaussian import GaussianDenoiser, GaussianFit
from .posterior import POSTERIOR_METHODS, sample_posterior
from .prior_samplers import DEFAULT_STEPS, METHODS, sample_prior
from .tweedie import tweedie_score

__all__ = [
    "DEFAULT_STEPS",
    "METHODS",
    "POSTERIOR_METHODS",
    "GaussianDenoiser",
    "GaussianFit",
    "sample_posterior",
    "sample_prior",
    "tweedie_score",
]
