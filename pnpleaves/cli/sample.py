"""``pnpleaves sample``: draw samples from the prior a denoiser learned and save them as one PNG grid.

Example::

    pnpleaves sample --prior vl-drunet --n 8 --size 96 --method ancestral --out samples.png
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from pnpleaves.errors import UserError
from pnpleaves.io import check_output_path, write_image
from pnpleaves.sampling import DEFAULT_STEPS, INITS, METHODS, sample_prior


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prior", required=True, help="registered prior name (e.g. vl-drunet) or weights file")
    parser.add_argument("--n", type=int, default=8, help="number of samples (default 8)")
    parser.add_argument("--size", type=int, default=96, help="image side in pixels (default 96)")
    parser.add_argument("--method", choices=sorted(METHODS), default="ancestral", help="sampler (default ancestral)")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoiser calls per sample (default: "
                        + ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + ")")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--init", choices=INITS, default="gaussian-fit",
                        help="start: Gaussian fitted to the training data (default) or grey + white noise")
    parser.add_argument("--sigma-max", type=float, default=None,
                        help="top noise level on the 0-255 scale like every --sigma, e.g. 75 "
                             "(default: the top of the prior's trained range)")
    parser.add_argument("--sigma-min", type=float, default=None,
                        help="lowest noise level on the 0-255 scale, e.g. 2.55 (default: max(2.55, bottom of the range))")
    parser.add_argument("--out", required=True, help="output image (a grid of the samples; .png, .tif, .jpg, .bmp)")
    parser.add_argument("--cols", type=int, default=None, help="grid columns (default: about sqrt(n))")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def make_grid(x: np.ndarray, cols: int, pad: int = 2, value: float = 1.0) -> np.ndarray:
    """Tile ``(N, H, W, C)`` images into one ``(rows*(H+pad)-pad, cols*(W+pad)-pad, C)`` image."""
    n, h, w, c = x.shape
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), value, dtype=np.float32)
    for k in range(n):
        r, q = divmod(k, cols)
        grid[r * (h + pad): r * (h + pad) + h, q * (w + pad): q * (w + pad) + w] = x[k]
    return grid


def run(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    if args.n < 1 or args.size < 1:
        raise UserError(f"--n and --size must be >= 1; got --n {args.n} --size {args.size}.")
    cols = args.cols or math.ceil(math.sqrt(args.n))
    if cols < 1:
        raise UserError(f"--cols must be >= 1; got {cols}.")
    check_output_path(args.out, overwrite=args.overwrite, what="--out", overwrite_hint="--overwrite")  # before sampling
    sigmas = {}
    for flag, value in (("--sigma-max", args.sigma_max), ("--sigma-min", args.sigma_min)):
        if value is not None and not 1 <= value <= 255:
            hint = f" (did you mean {value * 255:g}? the [0, 1] scale is the library's)" if 0 < value < 1 else ""
            raise UserError(f"{flag} is on the 0-255 scale, like every --sigma, and must be in [1, 255]; "
                            f"got {value:g}{hint}.")
        sigmas[flag] = None if value is None else value / 255.0
    t0 = time.perf_counter()
    x = sample_prior(
        args.prior, n=args.n, size=args.size, method=args.method, steps=args.steps, seed=args.seed,
        init=args.init, sigma_max=sigmas["--sigma-max"], sigma_min=sigmas["--sigma-min"], device=args.device, progress=True,
    )
    wall = time.perf_counter() - t0
    imgs = x.detach().cpu().permute(0, 2, 3, 1).numpy()
    path = write_image(args.out, make_grid(imgs, cols), overwrite=args.overwrite)
    print(f"{path}: {args.n} samples of {args.size}x{args.size} from {args.prior} "
          f"({args.method}, seed {args.seed}) in {wall:.1f} s")
    return 0
