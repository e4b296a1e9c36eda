r"""Reference denoisers the analyses compare the learned priors with: ``"gaussian"`` and ``"cbm3d"``.

* ``"gaussian"``: the exact MMSE denoiser (Wiener filter) of a stationary Gaussian image model
  fitted to the analysed images (:class:`PowerLawWiener`). It is linear, symmetric and equivariant
  to flips, quarter turns and circular shifts, so it is the yardstick with a known answer for every
  geometry tool (:mod:`~pnpleaves.analysis.jacobian`): its Jacobian trace is
  :math:`\sum_\omega P(\omega) / (P(\omega) + \sigma^2)`.
* ``"cbm3d"``: CBM3D (Dabov et al. 2007) through the optional ``bm3d`` package
  (:class:`pnpleaves.models.BM3DDenoiser`); not differentiable, so the Jacobian tools fall back to
  finite differences for it.

:func:`reference_prior` builds them by name; the analyses accept these names wherever they take a
prior, as long as no registered prior has the same name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from deepinv.models import Denoiser

from pnpleaves.analysis.image_sources import ImageSource, colour_images
from pnpleaves.analysis.spectrum import power_spectrum_slope
from pnpleaves.errors import InputError
from pnpleaves.models import BM3DDenoiser, GaussianDenoiser, GaussianFit, bm3d_available

__all__ = ["REFERENCE_PRIORS", "PowerLawWiener", "reference_prior"]

#: name -> one-line description of the reference denoisers
REFERENCE_PRIORS: dict[str, str] = {
    "gaussian": "exact MMSE (Wiener) denoiser of a power-law Gaussian model fitted to the images",
    "cbm3d": "CBM3D (optional bm3d package)",
}


class PowerLawWiener(Denoiser):
    r"""Exact MMSE denoiser of a stationary Gaussian model :math:`P(f) \propto (f^2 + f_0^2)^{-\beta/2}`, at any size.

    The model (:meth:`pnpleaves.models.GaussianFit.power_law`) has the channel mean, pixel standard
    deviation, colour correlation, spread of the image means and spectrum exponent
    :math:`\beta = 2\alpha` (:math:`\alpha`: the amplitude slope of
    :func:`~pnpleaves.analysis.spectrum.power_spectrum_slope`) of the images it is fitted to
    (:meth:`fit`). A :class:`~pnpleaves.models.GaussianDenoiser` is built for each image size met
    and kept.
    """

    def __init__(self, *, mean: float = 0.5, std: float = 0.25, colour_corr: float = 0.8, mean_std: float = 0.075,
                 exponent: float = 2.0, channels: int = 3):
        super().__init__()
        self.params = {"mean": float(mean), "std": float(std), "colour_corr": float(colour_corr),
                       "mean_std": float(min(mean_std, std)), "exponent": float(exponent)}
        self.channels = int(channels)
        self.in_channels = self.channels
        self.name = "gaussian"
        self.sigma_range = (0.0, 1.0)
        self._by_size: dict[tuple[int, int, int], GaussianDenoiser] = {}

    @classmethod
    def fit(cls, images: ImageSource) -> PowerLawWiener:
        """The model of ``images`` (anything :func:`~pnpleaves.analysis.image_sources.colour_images` reads)."""
        imgs = colour_images(images)
        c = imgs[0].shape[-1]
        flat = np.concatenate([im.reshape(-1, im.shape[-1]) for im in imgs if im.shape[-1] == c], axis=0)
        means = np.array([im.reshape(-1, c).mean(axis=0) for im in imgs])
        std = float(np.sqrt(flat.var(axis=0).mean()))
        if c > 1:
            corr = np.corrcoef(flat.T)
            colour_corr = float((corr.sum() - np.trace(corr)) / (c * (c - 1)))
        else:
            colour_corr = 0.0
        mean_std = float(means.std(axis=0).mean()) if len(imgs) > 1 else 0.3 * std
        slope, _ = power_spectrum_slope(imgs)
        exponent = 2.0 * slope if np.isfinite(slope) else 2.0
        return cls(mean=float(flat.mean()), std=max(std, 1e-3), colour_corr=float(np.clip(colour_corr, -0.45, 0.99)),
                   mean_std=max(mean_std, 1e-4), exponent=exponent, channels=c)

    def denoiser_for(self, shape: tuple[int, int, int]) -> GaussianDenoiser:
        """The exact denoiser of the model at image shape ``(C, H, W)``."""
        key = tuple(int(v) for v in shape)
        if key not in self._by_size:
            c, h, w = key
            fit = GaussianFit.power_law((h, w), c, **self.params)
            self._by_size[key] = GaussianDenoiser(fit)
        return self._by_size[key]

    def forward(self, x: torch.Tensor, sigma: Any, **kwargs) -> torch.Tensor:  # noqa: D102
        return self.denoiser_for(tuple(x.shape[1:])).to(x.device)(x, sigma)


def reference_prior(name: str, images: ImageSource | None = None) -> Denoiser:
    """The reference denoiser ``name`` (a key of :data:`REFERENCE_PRIORS`).

    :param images: the images the ``"gaussian"`` model is fitted to (required for it).
    """
    if name == "gaussian":
        if images is None:
            raise InputError("the 'gaussian' reference prior is fitted to the analysed images; pass images.")
        return PowerLawWiener.fit(images)
    if name == "cbm3d":
        if not bm3d_available():
            raise InputError("the 'cbm3d' reference prior needs the optional 'bm3d' package: pip install bm3d")
        den = BM3DDenoiser()
        den.name = "cbm3d"
        return den
    raise InputError(f"unknown reference prior {name!r}; choose one of {', '.join(REFERENCE_PRIORS)}.")
