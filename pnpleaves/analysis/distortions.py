r"""The image distortions of the invariance test (:mod:`pnpleaves.analysis.invariance`), by name.

Each :class:`Distortion` maps a clean ``(H, W, C)`` float image in [0, 1] and a level to a distorted
image (possibly of another size). What each can and cannot measure is in ``docs/analysis.md``.

======================  =====================================================  ==================
name                    level                                                  identity level
======================  =====================================================  ==================
``rotation``            angle in degrees; bicubic, then the largest centred    0
                        axis-aligned square inside the rotated image is kept
                        (no border); multiples of 90 are exact quarter turns
``downscale``           factor >= 1: the image shrinks to 1/factor (bicubic    1
                        with antialiasing): objects get smaller, the image
                        gets busier
``upscale``             factor >= 1: the image grows by factor (bicubic):      1
                        edges get softer and wider
``contrast``            S-curve steepness k > 0: a logistic tone curve         0 (-> identity)
                        normalised to keep 0 and 1 (the draft's "contrast
                        S-curve k")
``gain``                factor a in (0, 1]: ``0.5 + a (x - 0.5)``; the noise   1
                        keeps its level, so the signal-to-noise ratio falls
``gain-matched``        the same gain, with noise ``a sigma`` handed to the    1
                        denoiser and the PSNR measured after undoing the gain
                        (equal SNR: tests the offset, clipping and any
                        non-homogeneity of the denoiser)
``hue``                 rotation angle (degrees) of the colours about the      0
                        grey axis of the RGB cube, clipped to [0, 1]
``blur``                standard deviation (pixels) of a Gaussian blur         0
``subpixel-shift``      shift in pixels along both axes (cubic spline,         0
                        mirrored borders); 3 border pixels are cropped at
                        every level
``flip``                ``1`` left-right, ``2`` up-down, ``3`` transpose       0
======================  =====================================================  ==================

Exact pixel permutations (flips, quarter turns) carry the noise along (:attr:`Distortion.permutes`):
the distorted image gets the permuted noise pattern, so a denoiser that commutes with the
permutation scores exactly the same PSNR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from pnpleaves._checks import check_choice, check_number

__all__ = ["DISTORTIONS", "Distortion", "distort", "get_distortion"]


@dataclass(frozen=True)
class Distortion:
    """A named family of image distortions indexed by a level."""

    name: str
    apply: Callable[[np.ndarray, float], np.ndarray]  #: (clean image, level) -> distorted image
    levels: tuple[float, ...]  #: default levels
    identity: float  #: the level that leaves the image unchanged
    unit: str  #: axis label of the level
    permutes: Callable[[float], bool] = lambda level: False  #: True when the level is an exact pixel permutation
    noise_scale: Callable[[float], float] = lambda level: 1.0  #: factor on the noise level (and on the sigma handed over)
    undo: Callable[[np.ndarray, float], np.ndarray] | None = None  #: maps a denoised image back before the PSNR


def _rotate(img: np.ndarray, angle: float) -> np.ndarray:
    if float(angle) % 90 == 0:
        return np.ascontiguousarray(np.rot90(img, int(round(angle / 90)) % 4, axes=(0, 1)))
    h, w = img.shape[:2]
    out = ndimage.rotate(img, angle, axes=(1, 0), reshape=False, order=3, mode="nearest")
    t = math.radians(angle)
    c, s = abs(math.cos(t)), abs(math.sin(t))
    side = int(math.floor(min(h, w) / (c + s)))  # the largest axis-aligned square inside the rotated square
    top, left = (h - side) // 2, (w - side) // 2
    return np.clip(out[top : top + side, left : left + side], 0, 1)


def _resize(img: np.ndarray, factor: float) -> np.ndarray:
    h, w = img.shape[:2]
    size = (max(int(round(h * factor)), 8), max(int(round(w * factor)), 8))
    if size == (h, w):
        return img.copy()
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].double()
    out = F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=factor < 1)
    return np.clip(out[0].permute(1, 2, 0).numpy(), 0, 1).astype(np.float32)


def _s_curve(img: np.ndarray, k: float) -> np.ndarray:
    if k <= 1e-6:
        return img.copy()

    def sig(t):
        return 1.0 / (1.0 + np.exp(-t))

    lo, hi = sig(-k / 2), sig(k / 2)
    return ((sig(k * (img.astype(np.float64) - 0.5)) - lo) / (hi - lo)).astype(np.float32)


def _gain(img: np.ndarray, a: float) -> np.ndarray:
    return (0.5 + a * (img - 0.5)).astype(np.float32)


def _ungain(img: np.ndarray, a: float) -> np.ndarray:
    return ((img - 0.5) / a + 0.5).astype(np.float32)


def _hue(img: np.ndarray, angle: float) -> np.ndarray:
    if img.shape[-1] != 3:
        return img.copy()
    t = math.radians(angle)
    k = np.full(3, 1 / math.sqrt(3))
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + math.sin(t) * kx + (1 - math.cos(t)) * (kx @ kx)  # Rodrigues: about the grey axis
    return np.clip(img.astype(np.float64) @ rot.T, 0, 1).astype(np.float32)


def _blur(img: np.ndarray, std: float) -> np.ndarray:
    if std <= 0:
        return img.copy()
    return ndimage.gaussian_filter(img, sigma=(std, std, 0), mode="reflect").astype(np.float32)


_SHIFT_BORDER = 3


def _shift(img: np.ndarray, s: float) -> np.ndarray:
    out = ndimage.shift(img, (s, s, 0), order=3, mode="mirror") if s else img
    b = _SHIFT_BORDER
    return np.clip(out[b:-b, b:-b], 0, 1).astype(np.float32)


def _flip(img: np.ndarray, level: float) -> np.ndarray:
    k = int(level)
    if k == 0:
        return img.copy()
    out = {1: img[:, ::-1], 2: img[::-1], 3: img.transpose(1, 0, 2)}[k]
    return np.ascontiguousarray(out)


#: name -> :class:`Distortion`
DISTORTIONS: dict[str, Distortion] = {
    "rotation": Distortion("rotation", _rotate, (5.0, 22.5, 45.0, 67.5, 90.0), 0.0, "rotation angle (degrees)",
                           permutes=lambda a: float(a) % 90 == 0),
    "downscale": Distortion("downscale", lambda im, f: _resize(im, 1.0 / f), (1.25, 1.5, 2.0, 3.0), 1.0,
                            "downscaling factor"),
    "upscale": Distortion("upscale", _resize, (1.25, 1.5, 2.0, 3.0), 1.0, "upscaling factor"),
    "contrast": Distortion("contrast", _s_curve, (2.5, 5.0, 7.5, 10.0), 0.0, "S-curve steepness k"),
    "gain": Distortion("gain", _gain, (0.8, 0.5, 0.25, 0.1), 1.0, "contrast gain a (noise level kept)"),
    "gain-matched": Distortion("gain-matched", _gain, (0.8, 0.5, 0.25, 0.1), 1.0,
                               "contrast gain a (noise a*sigma, PSNR after undoing the gain)",
                               noise_scale=lambda a: float(a), undo=_ungain),
    "hue": Distortion("hue", _hue, (45.0, 90.0, 135.0, 180.0), 0.0, "hue rotation (degrees)"),
    "blur": Distortion("blur", _blur, (0.5, 1.0, 2.0, 3.0), 0.0, "Gaussian blur std (pixels)"),
    "subpixel-shift": Distortion("subpixel-shift", _shift, (0.25, 0.5, 0.75, 1.0), 0.0, "shift (pixels)"),
    "flip": Distortion("flip", _flip, (1.0, 2.0, 3.0), 0.0, "flip (1 left-right, 2 up-down, 3 transpose)",
                       permutes=lambda k: True),
}


def get_distortion(name: str | Distortion) -> Distortion:
    """The :class:`Distortion` named ``name`` (a key of :data:`DISTORTIONS`), or ``name`` itself."""
    if isinstance(name, Distortion):
        return name
    return DISTORTIONS[check_choice(name, "transform", list(DISTORTIONS))]


def distort(img: np.ndarray, transform: str | Distortion, level: float) -> np.ndarray:
    """Apply ``transform`` at ``level`` to a float ``(H, W, C)`` image in [0, 1]."""
    d = get_distortion(transform)
    level = check_number(level, "level")
    return np.ascontiguousarray(d.apply(np.asarray(img, dtype=np.float32), level), dtype=np.float32)
