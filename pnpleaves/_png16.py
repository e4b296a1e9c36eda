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

__all__ = ["encode_png16", "read_png16_colour"]

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
    bpp, stride = 2 * c, 2 * c * w
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int64)
    for y in range(h):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum along the row, per byte position within a pixel
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            cur = (line + prev) & 0xFF
        elif kind in (3, 4):  # Average, Paeth: sequential along the row
            cur, up = line.tolist(), prev.tolist()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    pred = (a + b) >> 1
                else:
                    c0 = up[i - bpp] if i >= bpp else 0
                    p = a + b - c0
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c0)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c0)
                cur[i] = (cur[i] + pred) & 0xFF
            cur = np.asarray(cur, np.int64)
        else:
            raise InputError(f"{str(path)!r} is a corrupt PNG (unknown row filter {kind}).")
        out[y] = cur
        prev = cur
    return out.view(">u2").reshape(h, w, c).astype(np.uint16)
