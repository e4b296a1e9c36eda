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
from pnpleaves._png16 import encode_png16, png_bit_depth, read_png16_colour

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "FORMATS_HELP",
    "IMAGE_SUFFIXES",
    "check_output_path",
    "image_bit_depth",
    "is_temporary",
    "list_images",
    "read_image",
    "write_image",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: JPEG quality used unless told otherwise (Pillow's own default, 75, loses about 6 dB on restored images)
DEFAULT_JPEG_QUALITY = 95
#: what each output format keeps, for the command-line help
FORMATS_HELP = ("PNG and TIFF are lossless, 8 or 16 bit; JPEG is lossy and always 8 bit (--quality, "
                f"default {DEFAULT_JPEG_QUALITY}; --bit-depth 16 does not apply); BMP is lossless, 8 bit")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` names a hidden or temporary file (``.name``, ``*.tmp*``, ``*~``, ``*.part``): the
    files an interrupted writer may leave behind, never listed as images."""
    name = path.name
    return name.startswith(".") or ".tmp" in name or name.endswith(("~", ".part"))


def check_output_path(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
    what: str = "output",
    overwrite_hint: str = "overwrite=True (CLI: --overwrite)",
) -> Path:
    """Check, before any work, that a file can be written at ``path``; return it as a Path.

    The suffix must be one of ``suffixes`` (an image format by default), ``path`` must not be a folder,
    an existing file is refused unless ``overwrite``, and the folder must exist (or be creatable) and
    be writable. Nothing is created.
    """
    path = Path(path).expanduser()
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(
            f"{what} {str(path)!r} must end with one of {', '.join(suffixes)}; got "
            f"{repr(path.suffix) if path.suffix else 'no extension'}. The format is chosen by the extension."
        )
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder; give a file name, e.g. {str(path / ('out' + suffixes[0]))!r}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{what} {str(path)!r} already exists; pass {overwrite_hint} to replace it.")
    parent = path.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"cannot write {what} {str(path)!r}: {str(existing)!r} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {what} {str(path)!r}: the folder {str(existing)!r} is not writable.")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot replace {what} {str(path)!r}: it is not writable.")
    return path


def image_bit_depth(path: str | os.PathLike) -> int:
    """8 or 16: the bits per sample of an image file (16-bit colour PNGs included, which Pillow reports as 8)."""
    import imageio.v3 as iio

    path = Path(path)
    try:
        depth = png_bit_depth(path)
        if depth is not None:
            return 16 if depth == 16 else 8
        dtype = np.dtype(iio.improps(path.read_bytes(), extension=path.suffix.lower() or None).dtype)
    except Exception:  # unreadable files are reported by read_image
        return 8
    return 16 if dtype.itemsize >= 2 and dtype.kind in "ui" else 8


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted list of the image files directly inside ``folder`` (hidden and temporary files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"expected a folder of images; {str(folder)!r} is not a directory.")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and not is_temporary(p) and p.is_file())
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
    if path.is_dir():
        raise IsADirectoryError(f"image file {str(path)!r} is a folder; give an image file.")
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


def write_image(path: str | os.PathLike, img: np.ndarray, *, bit_depth: int = 8, overwrite: bool = False,
                quality: int = DEFAULT_JPEG_QUALITY) -> Path:
    """Write a float image in [0, 1] (``(H, W)`` or ``(H, W, C)``) as an 8- or 16-bit file.

    The format follows the suffix (one of :data:`IMAGE_SUFFIXES`: anything else is refused). Refuses to
    replace an existing file unless ``overwrite=True``. ``quality`` (1-100) applies to JPEG only.
    """
    import imageio.v3 as iio

    path = check_output_path(path, overwrite=overwrite)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise InputError(f"quality must be an integer in 1..100 (JPEG); got {quality!r}.")
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
        elif suffix in (".jpg", ".jpeg"):
            iio.imwrite(tmp, data, quality=int(quality))
        else:
            iio.imwrite(tmp, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
