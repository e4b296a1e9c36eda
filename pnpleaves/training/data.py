"""Training batches: clean patches (random crop, flips, 90-degree rotations) plus Gaussian noise.

Batch ``t`` is a pure function of ``(seed, t)``: sample ``j`` of step ``t`` draws everything (which
image, where to crop, which of the 8 dihedral transforms, its noise level and its noise) from its
own generator seeded by ``(seed, t, j)``. Hence

- ``--resume`` continues with exactly the batches a straight run would have seen;
- the result does not depend on the number of DataLoader workers;
- under DistributedDataParallel, rank ``r`` of ``W`` takes samples ``j`` in its slice of the global
  batch, so ``W`` processes see the same samples as one process.

Sources of clean images: ``generate`` (on the fly from ``LeavesDataset``), ``cache`` (a folder of
PNGs with ``manifest.jsonl`` written by ``pnpleaves generate``) and ``random`` (uniform noise, only
to time the compute path).
"""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pnpleaves._random import mix_seed
from pnpleaves.errors import InputError
from pnpleaves.generators import LeavesDataset
from pnpleaves.images import dihedral
from pnpleaves.io import list_images, read_image
from pnpleaves.training.config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = ["CacheImages", "NoisyPatchBatches", "augment_dihedral", "make_loader"]


def augment_dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Apply the ``k``-th (0..7) element of the dihedral group of the square to ``(C, H, W)``."""
    return dihedral(x, k)


def _crop_origin(h: int, w: int, size: int, g: torch.Generator, what: str = "training image") -> tuple[int, int]:
    """Top-left corner of a uniformly random ``size x size`` crop of an ``h x w`` image."""
    if h < size or w < size:
        raise InputError(
            f"{what} ({h}x{w}) is smaller than the patch size {size}; lower data.patch_size or use larger images."
        )
    top = int(torch.randint(0, h - size + 1, (1,), generator=g))
    left = int(torch.randint(0, w - size + 1, (1,), generator=g))
    return top, left


def _crop(img: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    top, left = _crop_origin(img.shape[1], img.shape[2], size, g)
    return img[:, top : top + size, left : left + size]


class CacheImages:
    """Images of a folder written by ``pnpleaves generate`` (``manifest.jsonl`` + PNGs).

    Without a manifest, every image file of the folder is used. ``preload=True`` decodes all
    images once into uint8 arrays (shared by forked DataLoader workers).
    """

    def __init__(self, folder: str | Path, *, preload: bool = True):
        folder = Path(folder)
        manifest = folder / "manifest.jsonl"
        if manifest.is_file():
            by_file: dict[str, Any] = {}  # one entry per file: a line written twice is counted once
            with open(manifest, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        entry = json.loads(line)
                        by_file.setdefault(entry["file"], entry.get("seed"))
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise InputError(
                            f"{str(manifest)!r} line {n} is not a JSON object with a 'file' key."
                        ) from None
            # in seed order (then name), not in the order workers finished: the batches then depend only on
            # (seed, t), whatever --workers or interruptions the dataset was written with
            order = sorted(by_file, key=lambda name: (by_file[name] is None, by_file[name] or 0, name))
            files = [folder / name for name in order]
            missing = [str(p) for p in files if not p.is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} file(s) listed in {str(manifest)!r} are missing, e.g. {missing[0]!r}."
                )
        else:
            files = list_images(folder)
        if not files:
            raise FileNotFoundError(f"no images in the cache folder {str(folder)!r}.")
        self.files = files
        self._arrays: list[np.ndarray] | None = None
        if preload:
            self._arrays = [self._read(p) for p in files]
            mb = sum(a.nbytes for a in self._arrays) / 2**20
            logger.info("cache %s: %d images preloaded (%.0f MiB)", folder, len(files), mb)

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        img = read_image(path, channels=3)
        return np.round(img * 255.0).astype(np.uint8)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Image ``i`` as a float ``(3, H, W)`` tensor in [0, 1]."""
        return self.crop(i, None, None)

    def crop(self, i: int, size: int | None, g: torch.Generator | None) -> torch.Tensor:
        """A random ``size x size`` crop of image ``i`` (the whole image if ``size`` is None), as float
        ``(3, size, size)``; only the crop is converted from uint8."""
        arr = self._arrays[i] if self._arrays is not None else self._read(self.files[i])
        if size is not None:
            top, left = _crop_origin(arr.shape[0], arr.shape[1], size, g, f"training image {self.files[i].name}")
            arr = arr[top : top + size, left : left + size]
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(255.0)


class NoisyPatchBatches(Dataset):
    """Item ``t`` is this rank's part of global training batch ``t``: a dict with ``clean`` and
    ``noisy`` ``(b, 3, P, P)`` and ``sigma`` ``(b,)``, where ``b = batch_size / world_size``.

    :param cfg: the training config (``data``, ``noise`` and ``seed`` are used).
    :param length: number of steps (items).
    """

    def __init__(self, cfg: TrainConfig, length: int, *, rank: int = 0, world_size: int = 1):
        d = cfg.data
        if d.batch_size % world_size:
            raise InputError(
                f"data.batch_size ({d.batch_size}) must be divisible by the number of processes ({world_size})."
            )
        self.length = int(length)
        self.seed = int(cfg.seed)
        self.source = d.source
        self.patch = int(d.patch_size)
        self.augment = bool(d.augment)
        self.permute_channels = bool(d.permute_channels)
        self.channels = int(cfg.model.kwargs.get("in_channels", 3))
        local = d.batch_size // world_size
        self.global_batch = int(d.batch_size)
        self.samples = range(rank * local, (rank + 1) * local)
        self.sigma_lo, self.sigma_hi = (float(v) for v in cfg.noise.sigma_range)
        self.low_fraction = float(cfg.noise.low_fraction)
        self.low_lo, self.low_hi = (float(v) for v in cfg.noise.low_range)
        self.n_images = int(d.n_images)
        self.cache: CacheImages | None = None
        self.leaves: Any = None
        if d.source == "cache":
            self.cache = CacheImages(cfg.resolve_path(d.cache_dir), preload=d.preload)
        elif d.source == "generate":
            self.leaves = _leaves_dataset(cfg)

    def __len__(self) -> int:
        return self.length

    def _clean(self, step: int, j: int, g: torch.Generator) -> torch.Tensor:
        if self.source == "random":
            return torch.rand(self.channels, self.patch, self.patch, generator=g)
        if self.source == "cache":
            img = self.cache.crop(int(torch.randint(0, len(self.cache), (1,), generator=g)), self.patch, g)
        else:
            index = step * self.global_batch + j  # a fresh image for every sample
            if self.n_images:
                index = int(torch.randint(0, self.n_images, (1,), generator=g))
            img = self.leaves[index]
            if not isinstance(img, torch.Tensor):
                img = torch.as_tensor(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)
            img = _crop(img, self.patch, g)
        if self.channels == 1 and img.shape[0] == 3:
            img = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
        return img

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        if not 0 <= step < self.length:
            raise IndexError(f"step {step} out of range [0, {self.length}).")
        clean, sigma, noise = [], [], []
        for j in self.samples:
            g = torch.Generator().manual_seed(mix_seed(self.seed, step, j))
            x = self._clean(step, j, g)
            if self.augment:
                x = augment_dihedral(x, int(torch.randint(0, 8, (1,), generator=g)))
            if self.permute_channels and x.shape[0] > 1:
                x = x[torch.randperm(x.shape[0], generator=g)]
            u = float(torch.rand((), generator=g))
            s = self.sigma_lo + (self.sigma_hi - self.sigma_lo) * u
            # the extra draw happens only when the mixture is on, so older configs keep their batches
            if self.low_fraction > 0 and float(torch.rand((), generator=g)) < self.low_fraction:
                s = self.low_lo + (self.low_hi - self.low_lo) * u
            clean.append(x.contiguous())
            sigma.append(s)
            noise.append(torch.randn(x.shape, generator=g))
        clean_t = torch.stack(clean)
        sigma_t = torch.tensor(sigma, dtype=torch.float32)
        noisy = clean_t + sigma_t.view(-1, 1, 1, 1) * torch.stack(noise)
        return {"clean": clean_t, "noisy": noisy, "sigma": sigma_t}


def _leaves_dataset(cfg: TrainConfig) -> LeavesDataset:
    d = cfg.data
    n = d.n_images if d.n_images else 2**62
    kwargs = dict(d.options)
    if d.preset:
        kwargs["preset"] = d.preset
    return LeavesDataset(n, d.image_size, model=d.generator, seed=cfg.seed, **kwargs)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the main process (checkpoint)


def make_loader(
    cfg: TrainConfig, start: int, stop: int, *, rank: int = 0, world_size: int = 1, pin_memory: bool = False
) -> DataLoader:
    """DataLoader yielding batches ``start, start + 1, ..., stop - 1`` in order (``data.workers`` processes)."""
    dataset = NoisyPatchBatches(cfg, stop, rank=rank, world_size=world_size)
    workers = int(cfg.data.workers)
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=range(start, stop),
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
        pin_memory=pin_memory,
    )
