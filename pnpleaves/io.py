"""Image files: listing, reading and writing (8- and 16-bit PNG/TIFF, JPEG, BMP).

Images are float32 in [0, 1]: NumPy ``(H, W, C)`` or torch ``(B, C, H, W)``.
8-bit and 16-bit PNG/TIFF are read and written; grey files read as ``(H, W, 1)``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pnpleaves.errors import InputError
from pnpleaves._png16 import encode_png16, read_png16_colour
from pnpleaves.images import to_tensor

logger = logging.getLogger(__name__)

__all__ = ["IMAGE_SUFFIXES", "list_images", "load_testset", "read_image", "write_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted list of the image files directly inside ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"expected a folder of images; {str(folder)!r} is not a directory.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(
            f"expected image files ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}; found none."
        )
    return files


def read_image(path: str | os.PathLike, *, channels: int | None = None) -> np.ndarray:
    """Read an image file as float32 ``(H, W, C)`` in [0, 1] (8- or 16-bit input).

    ``channels=3`` expands grey to RGB and drops alpha; ``channels=1`` converts to luminance.
    """
    import imageio.v3 as iio

    if channels not in (None, 1, 3):
        raise InputError(f"channels must be None, 1 or 3; got {channels!r}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist.")
    try:
        # Pillow silently reduces 16-bit colour PNGs to 8 bits: decode those ourselves.
        arr = read_png16_colour(path)
        if arr is None:
            # from bytes: imageio leaves files open when no plugin can read them
            arr = np.asarray(iio.imread(path.read_bytes(), extension=path.suffix.lower() or None))
    except Exception as exc:  # imageio raises many types
        raise InputError(f"could not read {str(path)!r} as an image ({exc}).") from None
    if arr.dtype == np.uint8:
        img = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        img = arr.astype(np.float32) / 65535.0
    elif arr.dtype == bool:
        img = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        img = arr.astype(np.float32)
    else:
        raise InputError(f"unsupported pixel type {arr.dtype} in {str(path)!r}; expected 8/16-bit or float.")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3:
        raise InputError(f"expected a 2-D image in {str(path)!r}; got an array of shape {arr.shape}.")
    if img.shape[-1] in (2, 4):  # drop alpha
        img = img[..., :-1]
    if channels == 3 and img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    elif channels == 1 and img.shape[-1] == 3:
        img = (img @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    return np.ascontiguousarray(img)


def write_image(path: str | os.PathLike, img: np.ndarray, *, bit_depth: int = 8, overwrite: bool = False) -> Path:
    """Write a float image in [0, 1] (``(H, W)`` or ``(H, W, C)``) as an 8- or 16-bit file.

    Refuses to replace an existing file unless ``overwrite=True``.
    """
    import imageio.v3 as iio

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    if bit_depth not in (8, 16):
        raise InputError(f"bit_depth must be 8 or 16; got {bit_depth}.")
    suffix = path.suffix.lower()
    if bit_depth == 16 and suffix not in (".png", ".tif", ".tiff"):
        raise InputError(
            f"bit_depth=16 needs a .png or .tif file; got {str(path)!r}. Change the suffix or use bit_depth=8."
        )
    arr = np.asarray(img, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"img must contain finite values in [0, 1]; got NaN or inf in an array of shape {arr.shape}.")
    arr = np.clip(arr, 0.0, 1.0)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    scale, dtype = (255.0, np.uint8) if bit_depth == 8 else (65535.0, np.uint16)
    data = np.round(arr * scale).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        if bit_depth == 16 and suffix == ".png":  # Pillow cannot write 16-bit colour PNGs
            tmp.write_bytes(encode_png16(data))
        else:
            iio.imwrite(tmp, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_testset(
    folder: str | os.PathLike, *, max_images: int | None = None, crop: int = 0, channels: int = 3
) -> tuple[list[str], list[torch.Tensor]]:
    """Names and ``(1, C, H, W)`` tensors of the images of ``folder`` (sorted), centre-cropped to
    ``crop x crop`` when ``crop > 0`` (images smaller than ``crop`` are kept whole)."""
    files = list_images(folder)
    if max_images:
        files = files[: int(max_images)]
    names, images = [], []
    for path in files:
        x = to_tensor(read_image(path, channels=channels))
        if crop:
            h, w = x.shape[-2:]
            ch, cw = min(crop, h), min(crop, w)
            top, left = (h - ch) // 2, (w - cw) // 2
            x = x[..., top : top + ch, left : left + cw].contiguous()
        names.append(path.stem)
        images.append(x)
    return names, images
