"""Contention-robust CPU time per 512x512 VibrantLeaves image: for each preset, each of 8 seeds is
timed ``--passes`` times (presets interleaved) and the minimum CPU time is kept; prints the mean of
those minima. Compare presets in one run; scale by a preset whose idle time is known.

    OMP_NUM_THREADS=1 python research/recipe/speed.py pnpleaves-0.1 default vl-r2-dof
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("presets", nargs="+", help="VL preset names; 'default' for the defaults")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    import pnpleaves as pl

    def run(p, seed):
        return pl.vibrant_leaves(args.size, seed=seed, preset=None if p == "default" else p)

    for p in args.presets:
        run(p, 99)  # warm-up
    best = {p: np.full(8, np.inf) for p in args.presets}
    for _ in range(args.passes):
        for p in args.presets:
            for s in range(8):
                t = time.process_time()
                run(p, s)
                best[p][s] = min(best[p][s], time.process_time() - t)
    for p in args.presets:
        print(f"{p}: {best[p].mean():.3f} CPU s per image (mean over 8 seeds of the minimum of {args.passes} passes)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
