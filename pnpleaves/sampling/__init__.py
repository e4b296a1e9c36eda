"""Sampling the prior implicit in a denoiser, and posteriors of inverse problems (Langevin/Tweedie).

- :func:`sample_prior` (:mod:`~pnpleaves.sampling.prior`): unconditional samples (VE ancestral,
  annealed Langevin, Kadkhodaie–Simoncelli), started from :mod:`~pnpleaves.sampling.start`.
- :func:`sample_posterior` (:mod:`~pnpleaves.sampling.posterior`): posterior mean, std map and samples
  (PnP-ULA of Laumont et al. 2022; Kadkhodaie–Simoncelli Algorithm 2 for noiseless linear problems).
- :func:`tweedie_score` (:mod:`~pnpleaves.sampling.tweedie`): the score :math:`(D(x,\\sigma) - x)/\\sigma^2`
  every sampler uses.
- :class:`GaussianFit`, :class:`GaussianDenoiser` (from :mod:`pnpleaves.models.gaussian`): stationary
  Gaussian models (the fitted start, and an exact MMSE denoiser for tests and teaching).
"""

from pnpleaves.models.gaussian import GaussianDenoiser, GaussianFit
from pnpleaves.sampling.posterior import POSTERIOR_METHODS, sample_posterior
from pnpleaves.sampling.prior import DEFAULT_STEPS, METHODS, sample_prior
from pnpleaves.sampling.start import INITS
from pnpleaves.sampling.tweedie import tweedie_score

__all__ = [
    "DEFAULT_STEPS",
    "INITS",
    "METHODS",
    "POSTERIOR_METHODS",
    "GaussianDenoiser",
    "GaussianFit",
    "sample_posterior",
    "sample_prior",
    "tweedie_score",
]
