"""The score of the noisy prior, read off an MMSE denoiser (Tweedie / Miyasawa).

If :math:`D(x, \\sigma)` is the MMSE denoiser of :math:`y = x + \\sigma n`, :math:`n \\sim \\mathcal N(0, I)`,
then the score of the smoothed prior :math:`p_\\sigma = p * \\mathcal N(0, \\sigma^2 I)` is

.. math::

    \\nabla \\log p_\\sigma(x) = \\frac{D(x, \\sigma) - x}{\\sigma^2}

(Miyasawa 1961; Efron, *Tweedie's formula and selection bias*, JASA 2011). Every sampler of
:mod:`pnpleaves.sampling` moves along this score, so it runs with any deepinv ``Denoiser``.
"""

from __future__ import annotations

from typing import Any

import torch

from pnpleaves.models.sigma import sigma_per_image

__all__ = ["denoise", "tweedie_score"]


def denoise(denoiser: torch.nn.Module, x: torch.Tensor, sigma: Any) -> torch.Tensor:
    """Call ``denoiser(x, sigma)`` with the noise level in the most widely accepted form.

    A shared level goes in as a Python float (what every deepinv denoiser accepts), per-image levels
    as a ``(B,)`` tensor.
    """
    s = sigma_per_image(sigma, x).reshape(-1)
    if bool((s == s[0]).all()):
        return denoiser(x, float(s[0]))
    return denoiser(x, s)


def tweedie_score(denoiser: torch.nn.Module, x: torch.Tensor, sigma: Any) -> torch.Tensor:
    """Score :math:`\\nabla \\log p_\\sigma(x) = (D(x, \\sigma) - x) / \\sigma^2` of the smoothed prior.

    :param denoiser: a deepinv ``Denoiser`` (or any ``den(x, sigma)`` module), trained as an MMSE
        Gaussian denoiser.
    :param x: images ``(B, C, H, W)``.
    :param sigma: a float or one level per image (``(B,)`` or ``(B,1,1,1)``), on the [0, 1] scale.
    :returns: a tensor shaped like ``x``.

    Example: for the exact MMSE denoiser of a Gaussian prior the score is affine.

    >>> import torch
    >>> from pnpleaves.sampling import GaussianDenoiser, GaussianFit, tweedie_score
    >>> den = GaussianDenoiser(GaussianFit.white((1, 4, 4), mean=0.5, var=0.01))
    >>> x = torch.full((1, 1, 4, 4), 0.7)
    >>> round(float(tweedie_score(den, x, 0.1)[0, 0, 0, 0]), 4)   # -(x - m) / (c + s^2)
    -10.0
    """
    s = sigma_per_image(sigma, x)
    if bool((s <= 0).any()):
        raise ValueError("sigma must be > 0 for the Tweedie score (it divides by sigma^2); got a level <= 0.")
    return (denoise(denoiser, x, sigma) - x) / s**2
