"""``pnpleaves analyze ANALYSIS ...``: analyses of priors (see :mod:`pnpleaves.analysis`).

``identity``: how much clean detail each prior keeps (:func:`pnpleaves.analysis.identity_psnr`).
It prints a table of the mean PSNR of ``D(x, sigma)`` against the clean ``x`` (no noise added),
one row per prior and one column per noise level::

    pnpleaves analyze identity --testset DIR --sigma 1 --sigma 2 --sigma 5
    pnpleaves analyze identity --testset DIR --priors vl-drunet runs/mine/model.safetensors
"""

from __future__ import annotations

import argparse

from pnpleaves._checks import check_number
from pnpleaves.analysis import identity_psnr
from pnpleaves.io import load_testset
from pnpleaves.priors import list_priors, load_prior

#: analysis -> one-line help
ANALYSES: dict[str, str] = {
    "identity": "PSNR of D(x, sigma) against the clean x: how much clean detail each prior keeps",
}

#: default noise levels of ``analyze identity``, on the 0-255 scale
DEFAULT_IDENTITY_SIGMAS = (1.0, 2.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    p = sub.add_parser("identity", help=ANALYSES["identity"], description=ANALYSES["identity"])
    p.add_argument("--testset", required=True, help="folder of clean images")
    p.add_argument("--priors", nargs="+", default=None,
                   help="prior names or weight files (default: every registered prior)")
    p.add_argument("--sigma", type=float, action="append", default=None,
                   help="noise level handed to the denoiser, on the 0-255 scale (repeat; default 1 and 2)")
    p.add_argument("--crop", type=int, default=256, help="centre crop in pixels (default 256; 0: whole images)")


def run_identity(args: argparse.Namespace) -> int:
    """``pnpleaves analyze identity``: one row per prior, one column per noise level."""
    check_number(args.crop, "--crop", low=0, integer=True)
    sigmas = args.sigma or list(DEFAULT_IDENTITY_SIGMAS)
    for s in sigmas:
        check_number(s, "--sigma", low=0, high=255, hint="--sigma is on the 0-255 scale.")
    names, tensors = load_testset(args.testset, crop=args.crop)
    images = [t[0].permute(1, 2, 0).numpy() for t in tensors]
    priors = args.priors or sorted(list_priors())
    print(f"PSNR (dB) of D(x, sigma) against the clean x: {len(images)} images of {args.testset}"
          + (f", {args.crop}x{args.crop} centre crops" if args.crop else ""))
    print("prior".ljust(24) + "".join(f"sigma={s:g}/255".rjust(16) for s in sigmas))
    for name in priors:
        den = load_prior(name)
        row = [identity_psnr(den, images, s / 255.0, crop=args.crop) for s in sigmas]
        print(str(name).ljust(24) + "".join(f"{v:16.2f}" for v in row))
    return 0


def run(args: argparse.Namespace) -> int:
    return {"identity": run_identity}[args.analysis](args)
