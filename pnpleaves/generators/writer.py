"""Dataset folders written by ``pnpleaves generate``: PNG files plus a JSON-lines manifest.

Image ``k`` of a folder made with ``--seed S0`` has seed ``S0 + k`` and depends only on
``(config, S0 + k)``, so shards can be generated anywhere, by any number of workers, and merged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .._checks import check_number, check_size
from ..errors import UserError
from ..io import read_image, write_image  # pnpleaves.io never imports torch
from .config import DeadLeavesConfig, VibrantLeavesConfig, config_from_dict, config_to_dict
from .dead_leaves import dead_leaves
from .vibrant_leaves import vibrant_leaves

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
#: lock file of a folder being written (hidden: never listed as an image)
LOCK = ".pnpleaves-generate.lock"


class FolderLockedError(UserError):
    """Another live process is writing the dataset folder."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[Path]:
    """Hold ``folder/.pnpleaves-generate.lock`` while writing: a second writer gets a
    :class:`FolderLockedError`; a lock left by a dead process of this machine is taken over."""
    path = folder / LOCK
    me = f"{os.getpid()} {socket.gethostname()}\n"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid_s, host = (path.read_text().split() + ["", ""])[:2]
                pid = int(pid_s)
            except (OSError, ValueError):
                pid, host = -1, ""
            if host == socket.gethostname() and pid > 0 and not _process_alive(pid):
                log.warning("taking over the stale lock %s of process %d, which is gone", path, pid)
                path.unlink(missing_ok=True)
                continue
            if pid < 0:  # unreadable: being written this instant, or damaged
                raise FolderLockedError(f"{str(folder)!r} is locked ({str(path)!r} is unreadable); if no other "
                                        "`pnpleaves generate` writes there, remove that file.")
            raise FolderLockedError(
                f"{str(folder)!r} is being written by another `pnpleaves generate` (process {pid} on {host}); "
                f"wait for it to finish, or write into another --out folder. If that process is gone, remove "
                f"{str(path)!r}."
            )
        with os.fdopen(fd, "w") as fh:
            fh.write(me)
        break
    else:  # pragma: no cover - lost the race three times
        raise FolderLockedError(f"could not lock {str(folder)!r}; another process keeps taking it.")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def remove_temporary_files(folder: Path) -> list[str]:
    """Delete the hidden temporary files an interrupted writer left in ``folder``; return their names."""
    removed = []
    for p in folder.iterdir():
        if p.is_file() and p.name != LOCK and p.name.startswith(".") and ".tmp" in p.name:
            p.unlink(missing_ok=True)
            removed.append(p.name)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run in %s", len(removed), folder)
    return removed


def generate(config: DeadLeavesConfig | VibrantLeavesConfig, size: int | tuple[int, int], seed: int) -> np.ndarray:
    """One image of either model from its config."""
    fn = dead_leaves if isinstance(config, DeadLeavesConfig) else vibrant_leaves
    return fn(size, seed=seed, config=config)


# ------------------------------------------------------------------------------------------------
# dataset folders
# ------------------------------------------------------------------------------------------------
def file_name(model: str, seed: int) -> str:
    return f"{model}_{seed:09d}.png"


def read_manifest(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Entries of ``folder/manifest.jsonl`` (an empty list if there is none)."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return []
    entries = []
    with open(path) as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ValueError(f"{path}:{line_no} is not valid JSON; the manifest is damaged.") from None
    return entries


def _same_image(path: Path, cfg_dict: dict, size: tuple[int, int], seed: int) -> bool:
    """Whether ``path`` holds image ``seed`` of this dataset (a file an interrupted run wrote before its
    manifest line), checked by making the image again and comparing at 8 bits."""
    try:
        img = read_image(path)
    except (OSError, ValueError):
        return False
    ref = generate(config_from_dict(cfg_dict), size, seed)
    return img.shape == ref.shape and bool(np.abs(img - ref).max() <= 0.5 / 255 + 1e-6)


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _make_one(job: tuple[dict, tuple[int, int], int, str]) -> tuple[str, int]:

    cfg_dict, size, seed, path = job
    img = generate(config_from_dict(cfg_dict), size, seed)
    write_image(path, img, overwrite=True)  # the caller checked it is ours to write
    return Path(path).name, seed


def write_dataset(out: str | os.PathLike, config, *, n: int, size: int | tuple[int, int], seed: int = 0,
                  workers: int = 1, progress: bool = False) -> dict[str, int]:
    """Write images ``seed .. seed + n - 1`` as PNG files in ``out`` with a manifest.

    Images already listed in the manifest (and present) are skipped, so an interrupted run resumes;
    the hidden temporary files an interrupted run left are removed first. The folder is locked while
    it is written: a second writer gets a :class:`FolderLockedError` (a lock of a dead process is taken
    over). A folder that holds another dataset (another model, config or size) is refused, never
    overwritten. Returns counts ``{"written": .., "skipped": ..}``.
    """
    n = check_number(n, "n", low=1, integer=True)
    size = check_size(size)
    seed = check_number(seed, "seed", low=0, integer=True)
    workers = check_number(workers, "workers", low=1, integer=True)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {str(out)!r} is a file; give a folder.")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):
        remove_temporary_files(out)
        return _write_locked(out, config, n=n, size=size, seed=seed, workers=workers, progress=progress)


def _write_locked(out: Path, config, *, n: int, size: tuple[int, int], seed: int, workers: int,
                  progress: bool) -> dict[str, int]:
    cfg_dict = config_to_dict(config)
    model = cfg_dict["model"]
    done: set[str] = set()
    for e in read_manifest(out):
        if e.get("config") != cfg_dict or tuple(e.get("size", ())) != size:
            raise FileExistsError(
                f"{str(out)!r} holds a different dataset (file {e.get('file')!r} was made with another model, "
                f"config or size). Choose another --out folder, or delete that one to replace it."
            )
        if (out / e["file"]).exists():
            done.add(e["file"])
    foreign = {p.name for p in out.glob("*.png")} - done
    # a manifest (even empty) means a run of ours wrote here: a file of ours that it does not list, holding
    # exactly the image of its seed, was written by a worker of an interrupted run before the manifest line;
    # it is made again. Any other file is the user's and is never overwritten.
    ours = (out / MANIFEST).exists()
    jobs = []
    for s in range(seed, seed + n):
        name = file_name(model, s)
        if name in done:
            continue
        if name in foreign and not (ours and _same_image(out / name, cfg_dict, size, s)):
            raise FileExistsError(f"{str(out / name)!r} exists but is not in the manifest; refusing to overwrite it. "
                                  "Move it away or choose another --out folder.")
        jobs.append((cfg_dict, size, s, str(out / name)))
    counts = {"written": 0, "skipped": n - len(jobs)}
    if not jobs:
        return counts
    bar = tqdm(total=len(jobs), disable=not progress, unit="img", desc=f"generate {model}")
    with open(out / MANIFEST, "a") as manifest:
        for name, s in _run_jobs(jobs, workers):
            entry = {"file": name, "seed": s, "size": list(size), "config": cfg_dict}
            manifest.write(json.dumps(entry) + "\n")
            manifest.flush()
            counts["written"] += 1
            bar.update()
    bar.close()
    return counts


def _run_jobs(jobs: list, workers: int) -> Iterator[tuple[str, int]]:
    if workers == 1:
        for job in jobs:
            yield _make_one(job)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_worker_init) as pool:
        yield from pool.imap_unordered(_make_one, jobs, chunksize=1)
