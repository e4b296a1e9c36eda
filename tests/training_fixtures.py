"""Small training set-ups shared by the ``test_training_*`` modules: a tiny config and image folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from pnpleaves.io import write_image
from pnpleaves.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "pnpleaves" / "configs"
PROBES = REPO / "research" / "probes"
TINY_NET = {"nc": [8, 16, 32, 64], "nb": 1}


def make_cache(folder: Path, n: int = 4, size: int = 64, seed: int = 0) -> Path:
    """Piecewise-constant colour images (random rectangles) plus a manifest, like `pnpleaves generate`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            img = np.zeros((size, size, 3), np.float32) + rng.random(3, dtype=np.float32)
            for _ in range(30):
                y, x = rng.integers(0, size, 2)
                h, w = rng.integers(4, 24, 2)
                img[y : y + h, x : x + w] = rng.random(3, dtype=np.float32)
            write_image(folder / f"{i:03d}.png", img)
            f.write(json.dumps({"file": f"{i:03d}.png", "seed": i, "config": {"model": "test"}}) + "\n")
    return folder


def tiny_config(tmp_path: Path, **overrides) -> TrainConfig:
    """A 20-step CPU run of a tiny DRUNet on random patches, into ``tmp_path/run``, without a dev set."""
    data = {
        "name": "tiny-test",
        "output_dir": str(tmp_path / "run"),
        "model": {"arch": "drunet", "kwargs": dict(TINY_NET)},
        "data": {"source": "random", "patch_size": 32, "batch_size": 4},
        "noise": {"sigma_range": [0.05, 0.2]},
        "optim": {"lr": 1e-3, "warmup_steps": 3, "halve_every": 7},
        "train": {"steps": 20, "log_every": 5, "eval_every": 0, "checkpoint_every": 5, "threads": 1,
                  "device": "cpu"},
        "dev": {"folder": ""},
    }
    return TrainConfig.from_dict(data).override(**overrides)


def read_state(run: Path) -> dict:
    """The checkpoint dict of a run folder."""
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
