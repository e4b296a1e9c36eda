"""The one seed mixer: reproducible random streams keyed by integers and strings.

Every random draw of the library that is not a generator image (those are keyed by ``(config, seed)``
alone) comes from a stream named by a tuple of keys, so that it depends only on those keys, never on
call order, worker count or ``PYTHONHASHSEED``. Strings are hashed with CRC-32. The mixing itself is
NumPy's :class:`numpy.random.SeedSequence` (O'Neill's hash-based seed mixing).
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["mix_seed", "stream"]


def _entropy(keys: tuple) -> list[int]:
    out = []
    for k in keys:
        if isinstance(k, (str, bytes)):
            k = zlib.crc32(k.encode() if isinstance(k, str) else k)
        out.append(int(k))
    return out


def stream(*keys: int | str) -> np.random.Generator:
    """A NumPy generator that depends only on ``keys`` (``default_rng(SeedSequence(keys))``)."""
    return np.random.default_rng(_entropy(keys))


def mix_seed(*keys: int | str) -> int:
    """A 63-bit integer seed mixed from ``keys`` (e.g. for ``torch.Generator.manual_seed``)."""
    state = np.random.SeedSequence(_entropy(keys)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)
