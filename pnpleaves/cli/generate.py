"""``pnpleaves generate``: write a dataset of synthetic images (PNG + manifest.jsonl)."""

from __future__ import annotations

import argparse
import json
import logging

from pnpleaves.errors import InputError
from pnpleaves.generators.colors import COLOR_LAWS
from pnpleaves.generators.config import DL_PRESETS, PRESETS, make_config
from pnpleaves.generators.writer import write_dataset

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=("vl", "dl"), default="vl", help="vl = VibrantLeaves, dl = classic Dead Leaves")
    parser.add_argument("--n", type=int, required=True, help="number of images")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--out", required=True, help="output folder (created; resumed if it holds the same dataset)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first image; image k has seed SEED + k")
    parser.add_argument("--preset", default=None,
                        help=f"recipe preset: VibrantLeaves {', '.join(sorted(PRESETS))}; "
                             f"Dead Leaves {', '.join(sorted(DL_PRESETS))} (default: the model's default recipe)")
    parser.add_argument("--color", choices=COLOR_LAWS, default=None,
                        help="colour law (synthetic: fitted once on photographs; handcrafted: set by hand)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=JSON",
                        help='any config field, e.g. --option r_min=20 --option "blur=\\"lens\\""')


def _options(args: argparse.Namespace) -> dict:
    opts = {}
    for item in args.option:
        if "=" not in item:
            raise InputError(f"--option expects KEY=VALUE; got {item!r}.")
        key, value = item.split("=", 1)
        try:
            opts[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            opts[key.strip()] = value
    if args.color is not None:
        opts["color"] = args.color
    return opts


def run(args: argparse.Namespace) -> int:
    config = make_config(args.model, args.preset, **_options(args))
    counts = write_dataset(args.out, config, n=args.n, size=args.size, seed=args.seed, workers=args.workers,
                           progress=True)
    print(f"{args.out}: {counts['written']} written, {counts['skipped']} already there")
    return 0
