r"""Image quality: PSNR and SSIM of images in [0, 1], the one implementation the library uses.

.. math:: \mathrm{PSNR}(x, y) = 10 \log_{10} \frac{1}{\frac{1}{N}\sum_i (\mathrm{clip}_{[0,1]}(x_i) - y_i)^2}

The estimate is clipped to [0, 1] (a displayed image is); the reference is not. ``border`` crops that many
pixels on every side first (the super-resolution convention). SSIM is scikit-image's
(Wang et al., IEEE TIP 2004) with ``data_range=1`` over all channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from skimage.metrics import structural_similarity

__all__ = ["psnr", "ssim"]


def _crop(a: Any, border: int, channels_last: bool):
    if not border:
        return a
    return a[border:-border, border:-border] if channels_last else a[..., border:-border, border:-border]


def psnr(x: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor, *, border: int = 0) -> float | torch.Tensor:
    """PSNR in dB of ``x`` (clipped to [0, 1]) against ``ref``.

    NumPy ``(H, W[, C])`` arrays give a float (computed in float64); torch ``(B, C, H, W)`` tensors give
    a ``(B,)`` tensor, one value per image (computed in the tensors' dtype).
    """
    if isinstance(x, torch.Tensor):
        x, ref = _crop(x, border, False), _crop(ref, border, False)
        mse = (x.clamp(0, 1) - ref).pow(2).flatten(1).mean(1)
        return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))
    x, ref = _crop(np.asarray(x), border, True), _crop(np.asarray(ref), border, True)
    mse = float(np.mean((np.clip(np.asarray(x, np.float64), 0, 1) - np.asarray(ref, np.float64)) ** 2))
    return float(10 * np.log10(1.0 / max(mse, 1e-20)))


def ssim(x: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor, *, border: int = 0) -> float:
    """SSIM of ``x`` (clipped to [0, 1]) against ``ref``: NumPy ``(H, W[, C])`` or the first image of a
    torch ``(B, C, H, W)`` batch."""
    if isinstance(x, torch.Tensor):
        x = x.clamp(0, 1)[0].permute(1, 2, 0).double().cpu().numpy()
        ref = ref[0].permute(1, 2, 0).double().cpu().numpy()
    x = np.clip(np.asarray(_crop(np.asarray(x), border, True), np.float64), 0, 1)
    ref = np.asarray(_crop(np.asarray(ref), border, True), np.float64)
    channel_axis = -1 if x.ndim == 3 else None
    return float(structural_similarity(x, ref, channel_axis=channel_axis, data_range=1.0))
