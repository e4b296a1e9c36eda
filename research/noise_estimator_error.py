"""Error of the noise-level estimators of :func:`pnpleaves.restoration.estimate_sigma` on the dev sets.

For every image of Set3C, Set5, Set14 and Kodak24 (46 images), clean and blurred (Levin kernel 1..8 in
turn, reflecting borders), Gaussian noise of std 1, 2.55, 7.65, 15, 25 and 50 (/255) is added (one draw
per image and level, float images, not clipped) and both estimators (``pca``, ``mad``) are run. The
table is the mean absolute error in units of 1/255 (lower is better).

Usage::

    python research/noise_estimator_error.py --data DIR     # or $PNPLEAVES_DATA; about 3 minutes on 1 core

``DIR`` holds ``testsets/`` and ``kernels/levin09_k1.npy`` .. ``levin09_k8.npy``. The table is in
``docs/results.md`` ("Noise-level estimation").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from pnpleaves.io import list_images, read_image
from pnpleaves.restoration import degrade_blur
from pnpleaves.restoration.noise_level import estimate_sigma_tensor

SETS = ("Set3C", "Set5", "Set14", "Kodak24")
LEVELS = (1.0, 2.55, 7.65, 15.0, 25.0, 50.0)


def measure(root: str | Path, seed: int = 0) -> dict[str, dict[float, float]]:
    """``{"pca, clean": {level: mean abs error x255}, ...}`` for both estimators and both cases."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    kernels = [np.load(root / "kernels" / f"levin09_k{i}.npy") for i in range(1, 9)]
    errs: dict[str, dict[float, list[float]]] = {}
    n = 0
    for s in SETS:
        for path in list_images(root / "testsets" / s):
            img = read_image(path, channels=3).astype(np.float64)
            blurred = degrade_blur(img, kernels[n % 8], 0.0, mode="reflect", dtype=np.float64)
            n += 1
            for case, clean in (("clean", img), ("blurred", blurred)):
                for lv in LEVELS:
                    noisy = clean + rng.standard_normal(clean.shape) * lv / 255.0
                    t = torch.from_numpy(noisy.transpose(2, 0, 1).copy())[None]
                    for meth in ("pca", "mad"):
                        est = estimate_sigma_tensor(t, method=meth)[0]
                        errs.setdefault(f"{meth}, {case}", {}).setdefault(lv, []).append(abs(est * 255 - lv))
    return {k: {lv: float(np.mean(v)) for lv, v in d.items()} for k, d in errs.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python research/noise_estimator_error.py", description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder with testsets/ and kernels/ (default: $PNPLEAVES_DATA)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = args.data or os.environ.get("PNPLEAVES_DATA")
    if not data:
        ap.error("no data folder: pass --data DIR or set PNPLEAVES_DATA (the folder that holds testsets/ and kernels/).")
    table = measure(data, args.seed)
    print(f"{'estimator / case':18s}", "  ".join(f"{lv:6g}" for lv in LEVELS))
    for name, row in table.items():
        print(f"{name:18s}", "  ".join(f"{row[lv]:6.2f}" for lv in sorted(row)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
