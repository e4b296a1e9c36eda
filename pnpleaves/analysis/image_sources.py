"""Image sources of the statistics: a folder, one image, a stack or a list, read one image at a time.

Every statistic of :mod:`pnpleaves.analysis` works on grey images: an image is converted with
``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601 luma) to a float64 ``(H, W)`` array in [0, 1]
(:func:`as_grey`). A folder is read lazily by :func:`iter_grey_images`, so a set of any size is
measured in constant memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from typing import Any, Union

import numpy as np

from pnpleaves._checks import check_number
from pnpleaves.images import to_bchw
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.io import list_images, read_image

__all__ = ["ImageSource", "as_grey", "colour_images", "count_images", "iter_grey_images", "tiles"]

_LUMA = np.array([0.299, 0.587, 0.114])

#: a folder of images, one image, a stack (N, H, W, C) or any iterable of (H, W[, C]) arrays
ImageSource = Union[str, os.PathLike, np.ndarray, Iterable[np.ndarray]]


def count_images(images: Any, max_images: int | None) -> int | None:
    """Number of images :func:`iter_grey_images` will yield, or ``None`` for an iterable without length."""
    if isinstance(images, (str, os.PathLike)):
        n = len(list_images(images))
    elif isinstance(images, np.ndarray):
        n = images.shape[0] if images.ndim == 4 else 1
    elif hasattr(images, "__len__"):
        n = len(images)
    else:
        return None
    return n if max_images is None else min(n, max_images)


def iter_grey_images(images: ImageSource, max_images: int | None = None) -> Iterator[np.ndarray]:
    """Yield the images of a source one at a time as grey float64 ``(H, W)`` arrays in [0, 1].

    A folder is read lazily (never all at once); at most ``max_images`` images are yielded.
    An empty source raises :class:`~pnpleaves.errors.InputError` once it is exhausted.
    """
    if max_images is not None:
        max_images = check_number(max_images, "max_images", low=1, integer=True)
    if isinstance(images, (str, os.PathLike)):
        files = list_images(images)
        source: Iterable[Any] = (read_image(f) for f in files[:max_images])
    elif isinstance(images, np.ndarray):
        if images.ndim in (2, 3):
            source = [images]
        elif images.ndim == 4:
            source = iter(images)
        else:
            raise InputError(
                f"images must be a folder, an (H, W[, C]) image, an (N, H, W, C) stack or a list of images; "
                f"got an array of shape {images.shape}."
            )
    elif isinstance(images, Iterable):
        source = images
    else:
        raise InputTypeError(
            f"images must be a folder path, a NumPy array or a list of arrays; got {type(images).__name__}."
        )
    n = 0
    for img in source:
        if max_images is not None and n >= max_images:
            break
        yield as_grey(img, n)
        n += 1
    if n == 0:
        raise InputError("images is empty; expected at least one image.")


def as_grey(img: Any, index: int = 0) -> np.ndarray:
    """One image (H, W), (H, W, 1) or (H, W, 3), uint8/uint16 or float in [0, 1] -> float64 (H, W).

    ``index`` is the image's position in its set, for the error messages.
    """
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        arr = arr / 255.0
    elif arr.dtype == np.uint16:
        arr = arr / 65535.0
    elif arr.dtype == bool or np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64)
    else:
        raise InputTypeError(f"image {index} must hold numbers; got dtype {arr.dtype}.")
    if arr.ndim == 3 and arr.shape[-1] in (1, 3):
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr @ _LUMA
    if arr.ndim != 2:
        raise InputError(
            f"image {index} must have shape (H, W), (H, W, 1) or (H, W, 3); got {np.shape(img)}. "
            "Pass several images as a list or as an (N, H, W, C) stack."
        )
    if min(arr.shape) < 2:
        raise InputError(f"image {index} must be at least 2x2 pixels; got shape {np.shape(img)}.")
    lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(
            f"image {index} must have finite values in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]. "
            "Rescale it or clip it with np.clip(img, 0, 1)."
        )
    return arr


def colour_images(images: ImageSource, *, max_images: int | None = None, crop: int = 0) -> list[np.ndarray]:
    """The images of a source as a list of float32 ``(H, W, C)`` arrays in [0, 1] (``C`` = 1 or 3).

    Accepts what :func:`iter_grey_images` accepts, plus torch ``(C, H, W)`` / ``(B, C, H, W)``
    tensors; grey ``(H, W)`` images become ``(H, W, 1)``. ``crop > 0`` keeps the centre
    ``crop x crop`` of each image (smaller images are kept whole). The denoiser analyses
    (:mod:`~pnpleaves.analysis.jacobian`, :mod:`~pnpleaves.analysis.invariance`) read their images here.
    """
    crop = check_number(crop, "crop", low=0, integer=True)
    if max_images is not None:
        max_images = check_number(max_images, "max_images", low=1, integer=True)
    if isinstance(images, (str, os.PathLike)):
        files = list_images(images)[:max_images]
        source: list[Any] = [read_image(f) for f in files]
    elif isinstance(images, np.ndarray):
        source = list(images) if images.ndim == 4 else [images]
    elif hasattr(images, "ndim") and hasattr(images, "detach"):  # a torch tensor
        t = images.detach().cpu().float()
        t = t[None] if t.ndim == 3 else t
        if t.ndim != 4:
            raise InputError(f"a tensor of images must be (C, H, W) or (B, C, H, W); got shape {tuple(images.shape)}.")
        source = [im.permute(1, 2, 0).numpy() for im in t]
    elif isinstance(images, Iterable):
        source = list(images)
    else:
        raise InputTypeError(
            f"images must be a folder path, a NumPy array, a tensor or a list of arrays; got {type(images).__name__}."
        )
    out = []
    for i, img in enumerate(source[:max_images]):
        if hasattr(img, "detach"):
            img = img.detach().cpu()
            img = img[0] if img.ndim == 4 else img
            img = img.permute(1, 2, 0).numpy()
        arr = np.asarray(img)
        if arr.ndim == 3 and arr.shape[-1] not in (1, 3):
            raise InputError(f"image {i} must have shape (H, W), (H, W, 1) or (H, W, 3); got {arr.shape}.")
        t, _ = to_bchw(arr, f"image {i}")
        arr = t[0].permute(1, 2, 0).numpy()
        if crop:
            h, w = arr.shape[:2]
            ch, cw = min(crop, h), min(crop, w)
            top, left = (h - ch) // 2, (w - cw) // 2
            arr = arr[top : top + ch, left : left + cw]
        out.append(np.ascontiguousarray(arr, dtype=np.float32))
    if not out:
        raise InputError("images is empty; expected at least one image.")
    return out


def tiles(images: list[np.ndarray], size: int, max_tiles: int | None = None) -> list[np.ndarray]:
    """Non-overlapping ``size x size`` tiles of ``(H, W[, C])`` images (row by row, image by image),
    at most ``max_tiles``, taken evenly from the whole list when there are more."""
    size = check_number(size, "size", low=2, integer=True)
    out = []
    for img in images:
        h, w = img.shape[:2]
        for top in range(0, h - size + 1, size):
            for left in range(0, w - size + 1, size):
                out.append(np.ascontiguousarray(img[top : top + size, left : left + size]))
    if not out:
        raise InputError(f"no image is at least {size}x{size}; use a smaller tile size.")
    if max_tiles is not None and len(out) > max_tiles:
        pick = np.linspace(0, len(out) - 1, int(max_tiles)).round().astype(int)
        out = [out[i] for i in pick]
    return out
