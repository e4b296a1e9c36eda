r"""How much clean detail a denoiser keeps: the *identity test*.

For a clean image :math:`x` and a small noise level :math:`\sigma`, an ideal MMSE denoiser returns
almost :math:`x` itself, :math:`D(x, \sigma) \approx x`: there is (nearly) nothing to remove. A
prior learned from images without texture (classic Dead Leaves) instead "cleans" natural texture
away, and Plug-and-Play inherits that loss at every iteration run at a low level (the last ones of
every schedule, and all of them in noise-free super-resolution). The score is

.. math:: \mathrm{PSNR}\big(D(x, \sigma), x\big), \qquad x \text{ clean (no noise added)},

higher is better (120 dB, the cap of :func:`pnpleaves.metrics.psnr`, for the identity). See Achddou,
Gousseau & Ladjal, "Synthetic images as a regularity prior for image restoration neural networks"
(SSVM 2021) and the VibrantLeaves talk for why texture in the training images matters.

From the command line (a table of priors by noise level)::

    pnpleaves analyze identity --testset DIR --sigma 1 --sigma 2
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pnpleaves.errors import InputError
from pnpleaves.metrics import psnr

__all__ = ["identity_psnr"]


def identity_psnr(denoiser: Any, images: list[np.ndarray], sigma: float, *, crop: int = 0,
                  device: Any = None) -> float:
    """Mean PSNR (dB) of ``denoiser(x, sigma)`` against the clean ``x`` over ``images``.

    :param denoiser: a deepinv-style callable ``D(x, sigma)`` on ``(1, C, H, W)`` tensors in [0, 1].
    :param images: clean ``(H, W, C)`` float images in [0, 1].
    :param sigma: noise level handed to the denoiser, on the [0, 1] scale (no noise is added).
    :param crop: centre-crop each image to ``crop x crop`` first (0: whole images).
    :param device: where ``x`` is put (default: CPU); the denoiser must already be there.
    """
    scores = []
    for img in images:
        img = np.asarray(img, dtype=np.float32)
        if img.ndim != 3:
            raise InputError(f"images must be (H, W, C) arrays; got shape {img.shape}.")
        if crop:
            top, left = max((img.shape[0] - crop) // 2, 0), max((img.shape[1] - crop) // 2, 0)
            img = img[top : top + crop, left : left + crop]
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device or "cpu")
        with torch.no_grad():
            scores.append(float(psnr(denoiser(x, float(sigma)), x)[0]))
    return float(np.mean(scores))
