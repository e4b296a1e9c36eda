"""``pnpleaves eval-denoiser --prior NAME_OR_PATH --testset DIR --sigma 25 [--sigma 50 ...]``."""

from __future__ import annotations

import argparse
import csv
import sys

from pnpleaves.errors import UserError
from pnpleaves.io import check_output_path
from pnpleaves.models.bm3d import bm3d_available
from pnpleaves.priors import resolve_prior
from pnpleaves.training.evaluate import evaluate_denoiser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prior", required=True, help="registered prior name, or a .safetensors / run folder path")
    parser.add_argument("--testset", required=True, help="folder of clean test images")
    parser.add_argument("--sigma", type=float, action="append", required=True,
                        help="noise std on the 0-255 scale (repeat for several), e.g. --sigma 25 --sigma 50")
    parser.add_argument("--max-images", type=int, default=None, help="use only the first N images (sorted)")
    parser.add_argument("--crop", type=int, default=0, help="centre-crop images to CROP x CROP (0: whole images)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default cpu)")
    bm3d = parser.add_mutually_exclusive_group()
    bm3d.add_argument("--bm3d", dest="bm3d", action="store_true", default=None,
                      help="add a CBM3D column (slow; needs `pip install bm3d`; default: off)")
    bm3d.add_argument("--no-bm3d", dest="bm3d", action="store_false", help="skip the CBM3D column")
    parser.add_argument("--no-ssim", action="store_true", help="skip SSIM (faster)")
    parser.add_argument("--csv", default=None,
                        help="also write the per-image values (image, sigma on 0-255, method, psnr, ssim) to "
                             "this new CSV file (an existing file is refused)")


def run(args: argparse.Namespace) -> int:
    for s in args.sigma:
        if not 0 <= s <= 255:
            raise UserError(f"--sigma is on the 0-255 scale and must be in [0, 255]; got {s}.")
    if args.max_images is not None and args.max_images < 1:
        raise UserError(f"--max-images must be >= 1; got {args.max_images}.")
    if args.csv is not None:  # before any work
        check_output_path(args.csv, overwrite=False, suffixes=(".csv",), what="--csv")
    use_bm3d = bool(args.bm3d)  # opt-in: CBM3D is slow
    if use_bm3d and not bm3d_available():
        raise UserError("--bm3d needs the bm3d package: pip install bm3d (or pnpleaves[bm3d]).")
    den, _ = resolve_prior(args.prior, args.device)
    result = evaluate_denoiser(
        den, args.testset, [s / 255.0 for s in args.sigma], seed=args.seed,
        max_images=args.max_images, crop=args.crop, device=args.device, ssim=not args.no_ssim,
        bm3d=use_bm3d, progress=sys.stderr.isatty(),
    )
    n = len({r["image"] for r in result.rows})
    print(f"prior {args.prior} on {args.testset} ({n} images, noise seed {args.seed}; sigma on the 0-255 scale)")
    print(result.format(with_ssim=not args.no_ssim))
    if args.csv is not None:
        with open(args.csv, "x", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["image", "sigma", "method", "psnr", "ssim"])
            for r in result.rows:
                w.writerow([r["image"], f"{r['sigma'] * 255:g}", r["method"], f"{r['psnr']:.4f}",
                            "" if r["ssim"] != r["ssim"] else f"{r['ssim']:.5f}"])
        print(f"per-image values: {args.csv}")
    return 0
