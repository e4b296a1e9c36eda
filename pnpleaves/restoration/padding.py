r"""Padding of images to a larger, FFT- and U-Net-friendly domain: periodic (smooth across the seam) and mirror.

The restoration problems run on a padded domain whose sides are multiples of :data:`SIZE_MULTIPLE`
with prime factors 2, 3 and 5 only (a U-Net then runs without tiling, and FFTs are fast), and crop the
result back. :func:`periodic_pad` makes the extension smooth *circularly*, so that a circular model
does not ring at the borders (Liu & Jia, "Reducing boundary artifacts in image deconvolution",
ICIP 2008); :func:`reflect_pad` is the mirror extension, of any width.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SIZE_MULTIPLE", "padded_length", "periodic_pad", "plan_padding", "reflect_pad"]

#: padded sizes are multiples of this (DRUNet runs without tiling when H, W are multiples of 8, > 31)
SIZE_MULTIPLE = 16


def _mirror_index(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Indices reflected about the first and last samples (period ``2n - 2``), for any integer."""
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * n - 2
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def _split(total: int) -> tuple[int, int]:
    return total // 2, total - total // 2


def _is_smooth(n: int, primes: tuple[int, ...] = (2, 3, 5)) -> bool:
    for p in primes:
        while n % p == 0:
            n //= p
    return n == 1


def padded_length(n: int, margin: int, multiple: int, primes: tuple[int, ...] = (2, 3, 5)) -> int:
    """Smallest length >= n + 2 margin that is a multiple of ``multiple`` with prime factors in ``primes``
    only (fast FFTs; the default 2, 3, 5)."""
    length = int(math.ceil((n + 2 * margin) / multiple) * multiple)
    while not _is_smooth(length, primes):
        length += multiple
    return length


def plan_padding(
    h: int, w: int, margin: int, multiple: int, primes: tuple[int, ...] = (2, 3, 5)
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(before, after)`` padding, each a (rows, columns) pair, so that every side gets at least ``margin``
    and the padded size is :func:`padded_length` (split as evenly as possible, the extra pixel after)."""
    ph = padded_length(h, margin, multiple, primes) - h
    pw = padded_length(w, margin, multiple, primes) - w
    (bh, ah), (bw, aw) = _split(ph), _split(pw)
    return (bh, bw), (ah, aw)


def periodic_pad(x: torch.Tensor, before: tuple[int, int], after: tuple[int, int]) -> torch.Tensor:
    r"""Extend ``x`` (``(..., H, W)``) to a smooth *periodic* image of size ``(H + b_h + a_h, W + b_w + a_w)``.

    Along each axis the band between the last and (wrapping around) the first sample is
    :math:`w(t)\,x_{\text{mirror about last}}(t) + (1 - w(t))\,x_{\text{mirror about first}}(t)` with a
    raised-cosine weight :math:`w` that goes from 1 to 0, so the circularly extended signal has no
    jump anywhere. ``before``/``after`` are the (rows, columns) added before and after.
    """
    out = x
    for dim, b, a in ((-2, before[0], after[0]), (-1, before[1], after[1])):
        total = b + a
        if total == 0:
            continue
        n = out.shape[dim]
        t = torch.arange(total)
        from_last = out.index_select(dim, _mirror_index(n - 2 - t, n))
        from_first = out.index_select(dim, _mirror_index(total - t, n))
        w = 0.5 * (1.0 + torch.cos(math.pi * (t + 1) / (total + 1)))
        shape = [1] * out.ndim
        shape[dim] = total
        w = w.to(out.dtype).reshape(shape)
        band = w * from_last + (1.0 - w) * from_first
        out = torch.cat([band.narrow(dim, a, b), out, band.narrow(dim, 0, a)], dim=dim)
    return out


def reflect_pad(x: torch.Tensor, before: tuple[int, int], after: tuple[int, int]) -> torch.Tensor:
    """Mirror padding (edge not repeated) of any width, also wider than the image."""
    out = x
    for dim, b, a in ((-2, before[0], after[0]), (-1, before[1], after[1])):
        if b + a == 0:
            continue
        n = out.shape[dim]
        idx = _mirror_index(torch.arange(-b, n + a), n)
        out = out.index_select(dim, idx)
    return out
