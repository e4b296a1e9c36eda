"""The ``pnpleaves`` command line: a thin dispatcher.

Each sub-command lives next to the code it drives, in a module that defines
``add_arguments(parser)`` and ``run(args) -> int``; this file only lists them and
imports the one that is asked for (so ``pnpleaves --help`` stays fast).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pnpleaves.errors import UserError

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("pnpleaves.cli.demo", "the main job: deblur a photograph with the learned prior"),
    "generate": ("pnpleaves.cli.generate", "write a dataset of Dead Leaves / VibrantLeaves PNGs"),
    "stats": ("pnpleaves.cli.stats", "compare image statistics of folders (spectrum slope, gradient KL/JS)"),
    "train": ("pnpleaves.cli.train", "train a denoiser from a TOML config"),
    "eval-denoiser": ("pnpleaves.cli.evaluate", "PSNR/SSIM table of a prior on a test set"),
    "deblur": ("pnpleaves.cli.restore", "PnP deblurring of an image file"),
    "super-resolve": ("pnpleaves.cli.restore", "PnP super-resolution of an image file"),
    "inpaint": ("pnpleaves.cli.restore", "PnP inpainting of an image file"),
    "denoise": ("pnpleaves.cli.restore", "denoise an image file"),
    "sample": ("pnpleaves.cli.sample", "draw samples from the prior a denoiser learned"),
    "export": ("pnpleaves.cli.export", "export a training run as a registered prior (weights + card)"),
    "bench": ("pnpleaves.cli.bench", "(moving to benchmarks/: python benchmarks/NAME.py)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pnpleaves", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in sys.argv[1:] if a in COMMANDS), None)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == chosen:  # only import the module that will run
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except (UserError, ValueError, TypeError, FileNotFoundError, FileExistsError) as exc:
        print(f"pnpleaves {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pnpleaves {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
