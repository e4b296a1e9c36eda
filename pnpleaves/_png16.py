"""16-bit colour PNG encoding and decoding (Pillow reads 16-bit RGB PNGs as 8-bit and cannot write them).

PNG specification: W3C, "Portable Network Graphics (PNG) Specification (Third Edition)", 2025 (filters: §7.3).
"""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np

from pnpleaves.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["encode_png16", "png_bit_depth", "read_png16_colour", "unfilter"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def encode_png16(data: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA) from a uint16 ``(H, W)`` or ``(H, W, C)`` array."""
    if data.ndim == 2:
        data = data[..., None]
    h, w, c = data.shape
    colour_type = {v: k for k, v in _PNG_CHANNELS.items()}.get(c)
    if colour_type is None:
        raise InputError(f"a PNG holds 1, 2, 3 or 4 channels; got an image of shape {data.shape}.")
    rows = np.ascontiguousarray(data, dtype=">u2").view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + _png_chunk(b"IEND", b""))


def png_bit_depth(path: Path) -> int | None:
    """The bit depth (1, 2, 4, 8 or 16) in a PNG file's header; None for a file that is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != _PNG_SIGNATURE or len(head) < 25:
        return None
    return int(head[24])


def read_png16_colour(path: Path) -> np.ndarray | None:
    """Decode a non-interlaced 16-bit colour PNG to uint16 ``(H, W, C)``; None for any other file."""
    with open(path, "rb") as f:
        if f.read(8) != _PNG_SIGNATURE:
            return None
        blob = f.read()
    w, h, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", blob[8:21])
    if depth != 16 or colour_type not in (2, 4, 6):
        return None
    if interlace:
        logger.warning("%s is an interlaced 16-bit colour PNG; it is read with 8-bit precision.", path)
        return None
    idat, pos = [], 0
    while pos + 8 <= len(blob):
        (length,), kind = struct.unpack(">I", blob[pos:pos + 4]), blob[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat.append(blob[pos + 8:pos + 8 + length])
        pos += 12 + length
    c = _PNG_CHANNELS[colour_type]
    bpp = 2 * c
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 2 * c * w + 1)
    except (zlib.error, ValueError) as exc:
        raise InputError(f"{str(path)!r} is a corrupt or truncated PNG ({exc}).") from None
    kinds = raw[:, 0]
    if int(kinds.max(initial=0)) > 4:
        raise InputError(f"{str(path)!r} is a corrupt PNG (unknown row filter {int(kinds.max())}).")
    out = unfilter(raw[:, 1:].reshape(h, w, bpp), kinds)
    return out.reshape(h, w * bpp).view(">u2").reshape(h, w, c).astype(np.uint16)


def unfilter(data: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Undo the PNG row filters (spec §7.3) of ``data`` ``(H, W, bpp)`` uint8, ``kinds`` the filter of each row.

    Rows made only of None/Sub/Up filters are undone row by row with NumPy (Sub is a running sum).
    Average and Paeth make each pixel depend on its left, upper and upper-left neighbours; they are undone
    along anti-diagonals ``y + x = d`` (every pixel of one anti-diagonal depends only on earlier ones), so
    the loop has ``H + W - 1`` vectorised steps instead of one Python step per byte.
    """
    h, w, bpp = data.shape
    if not bool(np.isin(kinds, (3, 4)).any()):
        out = np.empty((h, w, bpp), np.uint8)
        prev = np.zeros((w, bpp), np.uint8)
        for y in range(h):
            line = data[y]
            if kinds[y] == 1:
                line = np.cumsum(line, axis=0, dtype=np.uint64).astype(np.uint8)  # wraps mod 256
            elif kinds[y] == 2:
                line = line + prev  # uint8 arithmetic wraps mod 256
            out[y] = line
            prev = out[y]
        return out
    # Sheared layout: t[x + y + 2, y + 1] is pixel (y, x), so anti-diagonal d is the contiguous row t[d + 2]
    # and the left (y, x-1), upper (y-1, x) and upper-left (y-1, x-1) neighbours are rows d + 1 and d of t.
    # Entries that are no pixel stay 0: the zero padding the PNG filters assume beyond the borders.
    t = np.zeros((h + w + 1, h + 1, bpp), np.int16)
    src = np.zeros_like(t)
    for y in range(h):
        src[y + 2 : y + 2 + w, y + 1] = data[y]
    kind = np.zeros(h + 1, np.int8)
    kind[1:] = kinds
    for d in range(h + w - 1):
        lo, hi = max(0, d - w + 1) + 1, min(h, d + 1) + 1  # rows y + 1 on this anti-diagonal
        a = t[d + 1, lo:hi]
        b = t[d + 1, lo - 1 : hi - 1]
        c = t[d, lo - 1 : hi - 1]
        k = kind[lo:hi, None]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        pred = np.where(k == 4, np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c)),
                        np.where(k == 3, (a + b) >> 1, np.where(k == 2, b, np.where(k == 1, a, 0))))
        t[d + 2, lo:hi] = (src[d + 2, lo:hi] + pred) & 0xFF
    out = np.empty((h, w, bpp), np.uint8)
    for y in range(h):
        out[y] = t[y + 2 : y + 2 + w, y + 1]
    return out
