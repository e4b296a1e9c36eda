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
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.io import list_images, read_image

__all__ = ["ImageSource", "as_grey", "count_images", "iter_grey_images"]

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
