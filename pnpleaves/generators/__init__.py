"""Synthetic image generators: classic Dead Leaves and VibrantLeaves.

>>> import pnpleaves as pl
>>> img = pl.vibrant_leaves(64, seed=0, r_min=4, r_max=80)       # (64, 64, 3) float32 in [0, 1]
>>> img = pl.dead_leaves(64, seed=0, r_min=1, r_max=100)
"""

from .config import DL_PRESETS, PRESETS, DeadLeavesConfig, VibrantLeavesConfig, config_from_dict, config_to_dict, make_config
from .dead_leaves import dead_leaves
from .vibrant_leaves import vibrant_leaves
from .writer import read_manifest, write_dataset

__all__ = [
    "dead_leaves",
    "vibrant_leaves",
    "DeadLeavesConfig",
    "VibrantLeavesConfig",
    "PRESETS",
    "DL_PRESETS",
    "make_config",
    "config_to_dict",
    "config_from_dict",
    "LeavesDataset",
    "write_dataset",
    "read_manifest",
]


def __getattr__(name: str):
    if name == "LeavesDataset":  # imports torch: only when asked for
        from .dataset import LeavesDataset

        return LeavesDataset
    raise AttributeError(f"module 'pnpleaves.generators' has no attribute {name!r}")
