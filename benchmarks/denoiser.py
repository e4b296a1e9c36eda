"""Denoising time of DRUNets and training throughput: ``python benchmarks/denoiser.py [options]``.

1. Seconds to denoise one colour image (default 512x512) with DRUNets of a few widths / depths, with
   1 and 2 CPU threads (median of ``--repeats`` runs after one warm-up; random weights: the cost does
   not depend on them).
2. Training steps/s of a config (default ``vl-drunet.toml``) with random tensors (compute only) and
   with real cached images, and batches/s of the data path alone: the data path is not the
   bottleneck when its batches/s is well above the training steps/s. ``--train-threads 1 2`` and
   ``--train-variants plain channels_last compile`` time the compute set-ups side by side (two
   1-thread runs side by side deliver twice the 1-thread rate when the cores are independent).

Prints tables (never a unit test); run from a source checkout after ``pip install -e .``. The latest
tables are in ``benchmarks/README.md`` and ``docs/results.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from pnpleaves.errors import UserError
from pnpleaves.generators import LeavesDataset
from pnpleaves.io import write_image
from pnpleaves.models import build_model, count_parameters
from pnpleaves.training.config import TrainConfig
from pnpleaves.training.data import make_loader
from pnpleaves.training.loop import train

#: the config timed by default (the shipped prior's)
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "pnpleaves" / "configs" / "vl-drunet.toml"

DEFAULT_NETS = ("8,16,32,64:1", "16,32,64,128:1", "32,64,128,256:2", "64,128,256,512:4")
VARIANTS = {  # each variant sets both switches, whatever the config says
    "plain": {"train.channels_last": False, "train.compile": False},
    "channels_last": {"train.channels_last": True, "train.compile": False},
    "compile": {"train.channels_last": False, "train.compile": True},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python benchmarks/denoiser.py", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side for the denoising time (default 512)")
    parser.add_argument("--nets", nargs="+", default=list(DEFAULT_NETS),
                        help="DRUNet widths:depth, e.g. 32,64,128,256:2 (default: four sizes)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="training config (default pnpleaves/configs/vl-drunet.toml)")
    parser.add_argument("--cache", default=None,
                        help="cache folder of training images (default: a temporary one generated with LeavesDataset)")
    parser.add_argument("--train-steps", type=int, default=10, help="timed training steps per data source (default 10)")
    parser.add_argument("--train-threads", type=int, nargs="+", default=[1],
                        help="thread counts for the training part (default 1)")
    parser.add_argument("--train-variants", nargs="+", default=["plain"], choices=list(VARIANTS),
                        help="compute variants timed with random tensors: plain, channels_last, compile "
                             "(default plain)")
    parser.add_argument("--skip-denoise", action="store_true", help="only the training part")
    parser.add_argument("--skip-train", action="store_true", help="only the denoising part")
    return parser


def parse_net(spec: str) -> tuple[list[int], int]:
    """``"32,64,128,256:2"`` -> ``([32, 64, 128, 256], 2)`` (DRUNet widths and depth)."""
    try:
        widths, depth = spec.split(":")
        nc = [int(v) for v in widths.split(",")]
        if len(nc) != 4:
            raise ValueError
        return nc, int(depth)
    except ValueError:
        raise ValueError(f"--nets entries look like 32,64,128,256:2 (4 widths, then the depth); got {spec!r}.") from None


def time_denoiser(nc: list[int], nb: int, size: int, threads: int, repeats: int) -> float:
    """Median seconds of one eval-mode DRUNet forward on a ``(1, 3, size, size)`` image."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_model("drunet", {"nc": nc, "nb": nb}).eval()
            x = torch.rand(1, 3, size, size)
        times = []
        with torch.no_grad():
            model(x, 0.1)  # warm-up
            for _ in range(repeats):
                t = time.perf_counter()
                model(x, 0.1)
                times.append(time.perf_counter() - t)
        return statistics.median(times)
    finally:
        torch.set_num_threads(old)


def make_cache(folder: Path, cfg: TrainConfig, n: int) -> None:
    """A small cache like ``pnpleaves generate`` writes (PNGs + manifest.jsonl)."""
    size = max(cfg.data.patch_size, 128)
    kwargs = dict(cfg.data.options)
    if cfg.data.preset:
        kwargs["preset"] = cfg.data.preset
    ds = LeavesDataset(n, size, model=cfg.data.generator, seed=1, **kwargs)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            name = f"{i:05d}.png"
            write_image(folder / name, ds[i].permute(1, 2, 0).numpy())
            f.write(json.dumps({"file": name, "seed": i, "config": {}}) + "\n")


def train_rate(cfg: TrainConfig, steps: int, out: Path) -> float:
    """Steady-state training steps/s (second half of a 2 x steps run, from its log)."""
    cfg = cfg.override(**{"output_dir": str(out), "train.steps": 2 * steps, "train.log_every": steps,
                          "train.checkpoint_every": 0, "train.eval_every": 0, "dev.folder": ""})
    train(cfg)
    with open(out / "log.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["steps_per_s"]]
    return float(rows[-1]["steps_per_s"])


def data_rate(cfg: TrainConfig, batches: int) -> float:
    """Batches/s of the data path alone (after the first batch)."""
    loader = make_loader(cfg, 0, batches + 1)
    it = iter(loader)
    next(it)
    t = time.perf_counter()
    for _ in it:
        pass
    return batches / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.skip_denoise:
        try:
            nets = [parse_net(s) for s in args.nets]
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"DRUNet, one {args.size}x{args.size} colour image, eval mode, median of {args.repeats} (seconds)")
        head = ["nc", "nb", "params"] + [f"{t} thread{'s' if t > 1 else ''}" for t in args.threads]
        rows = [head]
        for nc, nb in nets:
            n = count_parameters(build_model("drunet", {"nc": nc, "nb": nb}))
            row = [",".join(map(str, nc)), str(nb), f"{n / 1e6:.2f}M"]
            for t in args.threads:
                row.append(f"{time_denoiser(nc, nb, args.size, t, args.repeats):.3f}")
            rows.append(row)
            print("  " + "  ".join(row), flush=True)
        print_table(rows)

    if not args.skip_train:
        try:
            cfg = TrainConfig.from_toml(args.config).override(**{"train.device": "cpu", "data.workers": 0})
        except (UserError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="pnpleaves-bench-") as tmp:
            tmp = Path(tmp)
            cache = Path(args.cache) if args.cache else tmp / "cache"
            if not args.cache:
                make_cache(cache, cfg, n=max(4, cfg.data.batch_size))
            sources = [(f"random tensors, {v}", cfg.override(**{"data.source": "random", **VARIANTS[v]}))
                       for v in args.train_variants]
            sources.append((f"cached images ({cache}), config's set-up",
                            cfg.override(**{"data.source": "cache", "data.cache_dir": str(cache)})))
            print(f"\nTraining {cfg.name}: {cfg.model.arch} {cfg.model.kwargs}, batch {cfg.data.batch_size} of "
                  f"{cfg.data.patch_size}x{cfg.data.patch_size}, CPU")
            rows = [["data", "threads", "train steps/s", "data-only batches/s"]]
            old = torch.get_num_threads()
            try:
                for threads in args.train_threads:
                    torch.set_num_threads(threads)
                    for k, (label, c) in enumerate(sources):
                        c = c.override(**{"train.threads": threads})
                        rate = train_rate(c, args.train_steps, tmp / f"run{threads}-{k}")
                        data = data_rate(c, max(5, args.train_steps))
                        rows.append([label, str(threads), f"{rate:.3f}", f"{data:.1f}"])
                        print("  " + "  ".join(rows[-1]), flush=True)
            finally:
                torch.set_num_threads(old)
            print_table(rows)
    return 0


def print_table(rows: list[list[str]]) -> None:
    """Print rows of strings as right-aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    sys.exit(main())
