"""``LeavesDataset``: a torch Dataset of synthetic images generated on the fly (index -> seed).

Image ``i`` of a dataset with base seed ``S0`` has seed ``S0 + i`` and depends only on
``(config, S0 + i)``: not on batch size, worker count or order. Any image can be regenerated with
``vibrant_leaves(size, seed=S0 + i, config=...)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._checks import check_number, check_size
from ..errors import InputTypeError
from .config import make_config
from .writer import generate


class LeavesDataset(torch.utils.data.Dataset):
    """A torch ``Dataset`` of synthetic images generated on the fly: item ``i`` is a float32 tensor
    ``(3, H, W)`` in [0, 1] with seed ``seed + i``.

    :param n: number of images. :param size: ``S`` or ``(H, W)``.
    :param model: ``"vl"`` (VibrantLeaves) or ``"dl"`` (classic Dead Leaves).
    :param preset: a VibrantLeaves preset (see :data:`pnpleaves.PRESETS`).
    :param config: a ready config (then no ``preset`` / options).
    :param options: fields of the config, e.g. ``color="synthetic"``.

    >>> ds = LeavesDataset(4, 32, model="dl", r_min=2, r_max=50)
    >>> ds[1].shape, len(ds)
    (torch.Size([3, 32, 32]), 4)
    """

    def __init__(self, n: int, size: int | tuple[int, int] = 128, *, model: str = "vl", seed: int = 0,
                 preset: str | None = None, config=None, **options: Any):
        self.n = check_number(n, "n", low=1, integer=True)
        self.size = check_size(size)
        self.seed = check_number(seed, "seed", low=0, integer=True)
        self.config = config if config is not None else make_config(model, preset, **options)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int | slice) -> torch.Tensor:
        """Image ``index`` (negative indices count from the end); a slice gives a ``(N, 3, H, W)`` batch."""
        if isinstance(index, slice):
            items = range(*index.indices(self.n))
            if not items:
                return torch.empty((0, 3, *self.size))
            return torch.stack([self[i] for i in items])
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            if isinstance(index, torch.Tensor) and index.ndim == 0 and not index.is_floating_point():
                index = int(index)
            else:
                raise InputTypeError(f"LeavesDataset indices must be integers or slices; got {index!r} "
                                f"({type(index).__name__}).")
        index = int(index)
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"index must be in [-{self.n}, {self.n}); got {index}.")
        img = generate(self.config, self.size, self.seed + index)
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
