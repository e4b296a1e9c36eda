r"""Synthetic observations of a known image: blur with seeded noise, bicubic decimation, inpainting masks.

These build the degraded inputs of the tests, benchmarks, tuning scripts and demos, so that every one of
them degrades an image the same way (NumPy in, NumPy out; images ``(H, W)`` or ``(H, W, C)`` in [0, 1]):

- :func:`degrade_blur`: :math:`y = k * x + \sigma n`, the convolution of ``scipy.ndimage.convolve``
  (``mode="reflect"`` for photographs, ``"wrap"`` for DPIR's circular protocol), :math:`n` standard
  Gaussian from a seeded stream;
- :func:`degrade_sr`: :math:`y = (k * x)\downarrow_s` with the bicubic kernel of MATLAB ``imresize`` and
  reflecting borders (the forward model of :func:`~pnpleaves.restoration.pnp_super_resolve`);
- :func:`degrade_dpir`: DPIR's "classical degradation" (``utils_sisr.classical_degradation``):
  :math:`y = (k \circledast x)[0{::}s, 0{::}s] + \sigma n`, circular convolution (``mode="wrap"``),
  decimation starting at pixel 0, then noise (``s = 1``: deblurring);
- :func:`random_mask`, :func:`block_mask`: inpainting masks (True = observed).

A ``seed`` is an integer, a tuple of integers and strings (one reproducible stream per tuple, for
example ``(seed, "deblur", image_name, "4", "2.55")``), or a :class:`numpy.random.Generator` to draw
from.
"""

from __future__ import annotations

from typing import Any, Union

import deepinv as dinv
import numpy as np
import torch
from scipy import ndimage

from pnpleaves._checks import check_choice, check_number
from pnpleaves._random import stream
from pnpleaves.errors import InputError
from pnpleaves.images import to_numpy, to_tensor

from .kernels import bicubic_kernel, gaussian_kernel

__all__ = ["block_mask", "degrade_blur", "degrade_dpir", "degrade_sr", "random_mask"]

#: an integer, a tuple of integers and strings, or a generator to draw from
Seed = Union[int, tuple, np.random.Generator]


def _generator(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, tuple):
        return stream(*seed)
    return stream(seed)


def _image(img: Any) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim not in (2, 3):
        raise InputError(f"img must be an (H, W) or (H, W, C) array; got shape {arr.shape}.")
    return arr


def degrade_blur(
    img: Any,
    kernel: Any,
    sigma: float = 0.0,
    seed: Seed = 0,
    *,
    mode: str = "reflect",
    clip: bool = False,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Blur ``img`` with ``kernel`` (each channel) and add white Gaussian noise of std ``sigma``.

    :param img: ``(H, W)`` or ``(H, W, C)`` float image in [0, 1].
    :param kernel: 2-D kernel, applied as ``scipy.ndimage.convolve`` (for example
        :func:`~pnpleaves.restoration.kernels.levin_kernel`).
    :param sigma: noise std on the [0, 1] scale; 0 adds no noise (and draws nothing).
    :param seed: the noise stream (see the module docstring).
    :param mode: border handling of the convolution: ``"reflect"`` (photographs) or ``"wrap"`` (circular).
    :param clip: clip the result to [0, 1] (an observation stored as an image).
    :param dtype: dtype of the result (the computation is in float64).
    """
    x = _image(img)
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        raise InputError(f"kernel must be a 2-D array; got shape {k.shape}.")
    sigma = check_number(sigma, "sigma", low=0, hint="Give the noise std on the [0, 1] scale, e.g. 2.55/255.")
    check_choice(mode, "mode", ("reflect", "wrap"))
    if x.ndim == 2:
        y = ndimage.convolve(x, k, mode=mode)
    else:
        y = np.stack([ndimage.convolve(x[..., c], k, mode=mode) for c in range(x.shape[-1])], -1)
    if sigma > 0:
        y = y + sigma * _generator(seed).standard_normal(y.shape)
    if clip:
        y = np.clip(y, 0, 1)
    return y.astype(dtype)


def degrade_sr(img: Any, scale: int, *, kernel: str = "bicubic") -> np.ndarray:
    """The ``scale`` times smaller ``(k * img)[::scale, ::scale]`` with reflecting borders, as float32.

    :param img: ``(H, W)`` or ``(H, W, C)`` float image; H and W multiples of ``scale``.
    :param kernel: ``"bicubic"`` (MATLAB ``imresize``) or ``"gaussian"`` (std ``scale / 2``); low-res
        pixel ``i`` sits at the centre of high-res pixels ``scale*i .. scale*i + scale - 1``.
    """
    x = _image(img)
    s = int(check_number(scale, "scale", low=2, integer=True))
    check_choice(kernel, "kernel", ("bicubic", "gaussian"))
    if x.shape[0] % s or x.shape[1] % s:
        raise InputError(f"img of size {x.shape[0]}x{x.shape[1]} is not a multiple of scale={s}; crop it first.")
    k = bicubic_kernel(s) if kernel == "bicubic" else gaussian_kernel(s)
    t = to_tensor(x)
    down = dinv.physics.Downsampling(img_size=tuple(t.shape[1:]), filter=torch.from_numpy(k).float()[None, None],
                                     factor=s, padding="reflect")
    with torch.no_grad():
        y = to_numpy(down.A(t))
    return y[..., 0] if x.ndim == 2 else y


def degrade_dpir(img: Any, kernel: Any, scale: int = 1, sigma: float = 0.0, seed: Seed = 0) -> np.ndarray:
    """DPIR's protocol degradation: circular blur by ``kernel`` (as ``ndimage.convolve(mode="wrap")``),
    keep pixels ``[0::scale, 0::scale]``, add Gaussian noise of std ``sigma`` from the seeded stream.

    Returns float64, not clipped (as DPIR). H and W must be multiples of ``scale`` (crop first).
    """
    x = _image(img)
    s = int(check_number(scale, "scale", low=1, integer=True))
    if x.shape[0] % s or x.shape[1] % s:
        raise InputError(f"img of size {x.shape[0]}x{x.shape[1]} is not a multiple of scale={s}; crop it first.")
    y = degrade_blur(x, kernel, 0.0, mode="wrap", dtype=np.float64)[::s, ::s]
    sigma = check_number(sigma, "sigma", low=0, high=1.0)
    if sigma > 0:
        y = y + sigma * _generator(seed).standard_normal(y.shape)
    return y


def random_mask(shape: tuple[int, int], missing: float, seed: Seed = 0) -> np.ndarray:
    """``(H, W)`` bool mask with each pixel missing (False) with probability ``missing``, independently."""
    missing = check_number(missing, "missing", low=0, high=1)
    return _generator(seed).random(tuple(shape)) >= missing


def block_mask(shape: tuple[int, int], size: int) -> np.ndarray:
    """``(H, W)`` bool mask with a centred ``size x size`` block missing (False; clipped to the image),
    the rest observed."""
    h, w = shape
    half = int(size) // 2
    mask = np.ones((h, w), bool)
    mask[max(h // 2 - half, 0) : h // 2 + half, max(w // 2 - half, 0) : w // 2 + half] = False
    return mask
