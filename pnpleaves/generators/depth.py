"""Depth of field for VibrantLeaves: three planes and their blur.

The scene is split into a blurred background, a sharp middle plane and a blurred foreground
(Achddou et al. 2025). Blurred layers are composited with premultiplied alpha, so a blurred
foreground has a soft edge:

.. math:: I = k * (F \\, a_F) + (1 - k * a_F)\\,\\big(M a_M + (1 - a_M)\\,(k' * B)\\big)

with ``a`` the (anti-aliased) coverage of each plane and ``k, k'`` the blur kernels. The blur
strength is ``scale * V`` with ``V`` of density ``v^{-1/2} / 2`` on [0, 1] (mostly small blurs).
Kernels are sized to the blur (no fixed 11x11 truncation); a zero blur is the identity.
"""

from __future__ import annotations

import numpy as np


def sample_blur(rng: np.random.Generator, scale: float) -> float:
    """``scale * V`` with ``V = U^2`` (density ``v^{-1/2}/2`` on [0, 1])."""
    return float(scale * rng.random() ** 2)


def lens_kernel(radius: float) -> np.ndarray:
    """Normalised anti-aliased disk (bokeh) of the given radius in pixels."""
    half = int(np.ceil(radius)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    k = np.clip(radius + 0.5 - np.sqrt(xx * xx + yy * yy), 0.0, 1.0)
    return (k / k.sum()).astype(np.float32)


def gaussian_half_width(amount: float, truncate: float = 0.0) -> int:
    """Half-width of the Gaussian kernel of std ``amount``: 3 std, or at most ``truncate`` pixels
    when ``truncate > 0`` (the reference's fixed 11x11 kernel is ``truncate = 5``)."""
    half = int(3.0 * amount + 0.5)  # the truncation of scipy.ndimage.gaussian_filter(truncate=3)
    return min(half, int(truncate)) if truncate > 0 else half


def blur(img: np.ndarray, amount: float, kind: str = "gaussian", truncate: float = 0.0) -> np.ndarray:
    """Blur an ``(H, W, C)`` image: Gaussian of std ``amount`` (kernel cut at ``truncate`` pixels if
    > 0) or lens (disk) of radius ``amount``."""
    if amount < 0.3:
        return img
    if kind == "gaussian":
        half = gaussian_half_width(amount, truncate)
        yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
        k = np.exp(-(xx * xx + yy * yy) / (2.0 * amount * amount)).astype(np.float32)
        k /= k.sum()
    else:
        k = lens_kernel(amount)
    return _convolve_reflect(img, k)


def _convolve_reflect(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` image convolved with a centred odd kernel, reflecting borders (FFT)."""
    from scipy import fft

    pad = kernel.shape[0] // 2
    h, w, c = img.shape
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")  # = scipy.ndimage "reflect"
    shape = (fft.next_fast_len(h + 2 * pad, real=True), fft.next_fast_len(w + 2 * pad, real=True))
    k_hat = fft.rfft2(kernel, s=shape)
    out = fft.irfft2(fft.rfft2(padded, s=shape, axes=(0, 1)) * k_hat[..., None], s=shape, axes=(0, 1))
    return out[2 * pad : 2 * pad + h, 2 * pad : 2 * pad + w].astype(np.float32)
