r"""Blind estimation of additive white Gaussian noise (std on the [0, 1] scale).

Two estimators:

- ``"pca"`` (default): Chen, Zhu & Heng, "An Efficient Statistical Method for Image Noise Level
  Estimation", ICCV 2015. The covariance of all ``p x p x C`` patches has eigenvalues
  :math:`\lambda_1 \le \dots \le \lambda_d`; natural images occupy a low-dimensional subspace, so the
  smallest eigenvalues are pure noise. With :math:`\tau_i` the mean of :math:`\lambda_1..\lambda_i`,
  the estimate is :math:`\hat\sigma = \sqrt{\tau_i}` for the largest :math:`i` where :math:`\tau_i` is
  also the median of :math:`\lambda_1..\lambda_i` (as many eigenvalues above as below).
- ``"mad"``: Donoho & Johnstone (Biometrika 1994): :math:`\hat\sigma = \operatorname{median}|HH|/0.6745`
  over the finest diagonal Haar wavelet coefficients :math:`HH = (a - b - c + d)/2` of 2x2 blocks.

With a ``mask`` (inpainting) only fully observed patches/blocks are used. When an image is too small
(or too sparsely observed) for the patch covariance, ``"pca"`` samples every patch, then falls back
to ``"mad"``.

On blurred images (the deblurring use) the PCA estimate is close to the truth at the benchmark noise
levels; on sharp images texture inflates it at low noise. The measured errors of both estimators are
in ``docs/results.md`` ("Noise-level estimation"), made with ``research/noise_estimator_error.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_choice, check_number
from pnpleaves.errors import InputError
from pnpleaves.images import mask_to_tensor, to_bchw

logger = logging.getLogger(__name__)

__all__ = ["estimate_sigma", "estimate_sigma_tensor"]


def _pca_sigma(x: np.ndarray, valid: np.ndarray | None, patch: int, stride: int) -> float:
    """Chen et al. 2015 on one image ``(C, H, W)`` float64; ``valid`` is an (H, W) bool mask or None."""
    C, H, W = x.shape
    p = min(patch, H, W)
    win = np.lib.stride_tricks.sliding_window_view(x, (p, p), axis=(1, 2))  # C, H-p+1, W-p+1, p, p
    win = win[:, ::stride, ::stride]
    nr, nc = win.shape[1:3]
    patches = win.transpose(1, 2, 0, 3, 4).reshape(nr * nc, C * p * p)
    if valid is not None:
        vwin = np.lib.stride_tricks.sliding_window_view(valid, (p, p))[::stride, ::stride]
        keep = vwin.reshape(nr * nc, p * p).all(axis=1)
        patches = patches[keep]
    d = patches.shape[1]
    if patches.shape[0] < d + 1:
        raise InputError(
            f"too few (fully observed) {p}x{p} patches ({patches.shape[0]}) to estimate the noise level; "
            "pass sigma explicitly."
        )
    centred = patches - patches.mean(axis=0, keepdims=True)
    cov = centred.T @ centred / patches.shape[0]
    eig = np.sort(np.clip(np.linalg.eigvalsh(cov), 0.0, None))
    for i in range(d, 0, -1):
        sub = eig[:i]
        tau = sub.mean()
        if np.sum(sub > tau) == np.sum(sub < tau):
            return float(np.sqrt(tau))
    return float(np.sqrt(eig[0]))


def _mad_sigma(x: np.ndarray, valid: np.ndarray | None) -> float:
    C, H, W = x.shape
    h2, w2 = H // 2 * 2, W // 2 * 2
    a, b = x[:, 0:h2:2, 0:w2:2], x[:, 0:h2:2, 1:w2:2]
    c, d = x[:, 1:h2:2, 0:w2:2], x[:, 1:h2:2, 1:w2:2]
    hh = (a - b - c + d) / 2.0
    if valid is not None:
        v = valid[0:h2:2, 0:w2:2] & valid[0:h2:2, 1:w2:2] & valid[1:h2:2, 0:w2:2] & valid[1:h2:2, 1:w2:2]
        hh = hh[:, v]
    hh = hh.ravel()
    if hh.size < 16:
        raise InputError("too few observed 2x2 blocks to estimate the noise level; pass sigma explicitly.")
    return float(np.median(np.abs(hh)) / 0.6744897501960817)


def estimate_sigma_tensor(
    x: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    method: str = "pca",
    patch: int = 8,
    stride: int = 3,
) -> list[float]:
    """Noise std of each image of a ``(B, C, H, W)`` tensor in [0, 1] (``mask``: 1 = observed)."""
    check_choice(method, "method", ("pca", "mad"))
    out = []
    arr = x.detach().to("cpu", torch.float64).numpy()
    marr = None
    if mask is not None:
        m = mask.detach().to("cpu").expand(x.shape[0], -1, -1, -1)
        marr = (m.min(dim=1).values > 0.5).numpy()
    for b in range(arr.shape[0]):
        valid = None if marr is None else marr[b]
        if method == "pca":
            try:
                out.append(_pca_sigma(arr[b], valid, patch, stride))
                continue
            except ValueError:
                pass
            try:  # small image: use every patch
                out.append(_pca_sigma(arr[b], valid, patch, 1))
                continue
            except ValueError:
                logger.debug("too few patches for the PCA estimate; using the wavelet MAD estimate")
        out.append(_mad_sigma(arr[b], valid))
    return out


def estimate_sigma(
    img: Any,
    *,
    method: str = "pca",
    mask: Any = None,
    patch: int = 8,
    stride: int = 3,
) -> float | list[float]:
    """Estimate the std of additive white Gaussian noise in ``img`` (on the [0, 1] scale).

    :param img: NumPy ``(H, W)`` / ``(H, W, C)`` (uint8/uint16 or float in [0, 1]) or torch
        ``(C, H, W)`` / ``(B, C, H, W)``.
    :param method: ``"pca"`` (Chen et al. 2015, default) or ``"mad"`` (Donoho's wavelet MAD).
    :param mask: optional observed-pixel mask (1 = observed), as for :func:`pnp_inpaint`.
    :param patch: patch side for ``"pca"``; ``stride``: patch sampling step.
    :returns: a float, or a list of floats for a torch batch with B > 1.

    Integer images carry quantisation noise of std ``1/(255*sqrt(12))`` (about 0.0011) at least.
    """
    patch = int(check_number(patch, "patch", low=2, integer=True))
    stride = int(check_number(stride, "stride", low=1, integer=True))
    x, _ = to_bchw(img, "img", tolerance=None)  # heavy noise leaves [-0.5, 1.5]: only other scales are refused
    m = None if mask is None else mask_to_tensor(mask, x)
    values = estimate_sigma_tensor(x, m, method=method, patch=patch, stride=stride)
    return values[0] if len(values) == 1 else values
