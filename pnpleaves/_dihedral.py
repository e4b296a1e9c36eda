"""The dihedral group of the square (flips and quarter turns) acting on the last two axes of a tensor.

Shared by the training augmentation (:mod:`pnpleaves.training.data`) and the PnP geometric ensemble
(:mod:`pnpleaves.restoration.solvers`).
"""

from __future__ import annotations

import torch

__all__ = ["dihedral"]


def dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """The ``k``-th (0..7) element of the dihedral group of the square on ``(..., H, W)``, or its inverse.

    ``k = 4 f + r``: a rotation by ``r`` quarter turns, preceded by a left-right flip when ``f = 1``.
    """
    k = int(k) % 8
    flip, r = divmod(k, 4)
    if not inverse:
        x = torch.flip(x, dims=(-1,)) if flip else x
        return torch.rot90(x, r, dims=(-2, -1))
    x = torch.rot90(x, -r, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x
