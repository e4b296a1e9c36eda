"""Speed and memory of the synthetic image generators (prints a table).

Figures: median wall and CPU seconds per colour image in this process (VibrantLeaves and classic
Dead Leaves, at their default recipes and at any presets given), then ``pnpleaves generate`` run as
a child process with 1 and 2 workers: images per second, speed-up, and peak resident memory.

    OMP_NUM_THREADS=1 python benchmarks/generators.py
    OMP_NUM_THREADS=1 python benchmarks/generators.py --skip-cli --vl-presets pnpleaves-0.1 vl-r5 --dl-presets dl-mix
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def _time_fn(fn, n: int, size: int, preset: str | None) -> tuple[float, float]:
    kwargs = {} if preset is None else {"preset": preset}
    fn(size, seed=10_000, **kwargs)  # warm-up: imports, colour histograms, photographs
    wall, cpu = [], []
    for seed in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(size, seed=seed, **kwargs)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def _time_cli(model: str, n: int, size: int, workers: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, largest process) of one `pnpleaves generate` run."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pnpleaves.cli", "generate", "--model", model, "--n", str(n), "--size", str(size),
               "--out", tmp, "--workers", str(workers)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--n", type=int, default=20, help="images timed per generator")
    ap.add_argument("--n-cli", type=int, default=24, help="images written per `pnpleaves generate` run")
    ap.add_argument("--skip-cli", action="store_true", help="only time the functions")
    ap.add_argument("--vl-presets", nargs="*", default=[], help="VibrantLeaves presets timed too")
    ap.add_argument("--dl-presets", nargs="*", default=[], help="Dead Leaves presets timed too")
    args = ap.parse_args(argv)
    import pnpleaves as pl

    rows = [("VibrantLeaves", pl.vibrant_leaves, None), ("Dead Leaves", pl.dead_leaves, None)]
    rows += [(f"VL {p}", pl.vibrant_leaves, p) for p in args.vl_presets]
    rows += [(f"DL {p}", pl.dead_leaves, p) for p in args.dl_presets]
    width = max(16, *(len(r[0]) for r in rows))
    print(f"# generators, {args.size}x{args.size} colour, one process, {args.n} images each")
    print(f"{'generator':<{width}} {'median wall s':>14} {'median CPU s':>13}")
    for name, fn, preset in rows:
        wall, cpu = _time_fn(fn, args.n, args.size, preset)
        print(f"{name:<{width}} {wall:>14.3f} {cpu:>13.3f}", flush=True)
    if args.skip_cli:
        return 0
    print(f"\n# pnpleaves generate --model vl --n {args.n_cli} --size {args.size}")
    print(f"{'workers':>7} {'wall s':>8} {'img/s':>7} {'speed-up':>9} {'peak RSS MB':>12}")
    base = None
    for workers in (1, 2):
        wall, peak = _time_cli("vl", args.n_cli, args.size, workers)
        base = base or wall
        print(f"{workers:>7} {wall:>8.2f} {args.n_cli / wall:>7.2f} {base / wall:>9.2f} {peak:>12.0f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
