"""The ``pnpleaves`` command line: a thin dispatcher.

Usage: ``pnpleaves [-v] [--debug] COMMAND [options]``. Each command is a module of this package
that defines ``add_arguments(parser)`` and ``run(args) -> int``; this file only lists them
(:data:`COMMANDS`) and imports the one that is asked for, so ``pnpleaves --help`` stays fast.
The cli package is the only one that imports argparse; ``python -m pnpleaves.cli`` runs it too (the
entry point for ``torchrun``). Benchmarks are not commands: they are the scripts of ``benchmarks/``
in a source checkout.

Errors (see :mod:`pnpleaves.errors`):

* an anticipated user error (:data:`USER_ERRORS`: a :class:`~pnpleaves.errors.UserError`, which
  includes the library's validation errors ``InputError`` and ``InputTypeError``, or a file error)
  is printed as one line, ``pnpleaves COMMAND: error: MESSAGE``, with exit status 2;
* any other exception, including a plain ``ValueError`` or ``TypeError`` from inside the library,
  is a defect: it propagates and shows its full traceback;
* ``--debug`` (or ``-v``) lets user errors propagate too, with their full traceback;
* Ctrl-C (``KeyboardInterrupt``) exits with status 130, the shell's convention for SIGINT
  (a training job stopped by SIGTERM exits with 143).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

from pnpleaves.errors import UserError

__all__ = ["COMMANDS", "USER_ERRORS", "build_parser", "main"]

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("pnpleaves.cli.demo", "the main job: deblur a photograph with the learned prior"),
    "generate": ("pnpleaves.cli.generate", "write a dataset of Dead Leaves / VibrantLeaves PNGs"),
    "stats": ("pnpleaves.cli.stats", "compare image statistics of folders (spectrum slope, gradient KL/JS)"),
    "analyze": ("pnpleaves.cli.analyze", "analyse priors and image sets: identity, jacobian, invariance, equivariance, naturalness, ablation, convergence"),
    "train": ("pnpleaves.cli.train", "train a denoiser from a TOML config"),
    "eval-denoiser": ("pnpleaves.cli.evaluate", "PSNR/SSIM table of a prior on a test set"),
    "deblur": ("pnpleaves.cli.restore", "PnP deblurring of an image file"),
    "super-resolve": ("pnpleaves.cli.restore", "PnP super-resolution of an image file"),
    "inpaint": ("pnpleaves.cli.restore", "PnP inpainting of an image file"),
    "denoise": ("pnpleaves.cli.restore", "denoise an image file"),
    "sample": ("pnpleaves.cli.sample", "draw samples from the prior a denoiser learned"),
    "export": ("pnpleaves.cli.export", "export a training run as a registered prior (weights + card)"),
    "finetune": ("pnpleaves.cli.finetune", "adapt a prior to your own degraded images (two-stage fine-tuning)"),
}

#: errors the user can fix: printed as one line with exit status 2 (unless --debug or -v)
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

#: exit status of a usage or user error (argparse uses it too)
EXIT_USER_ERROR = 2
#: exit status after Ctrl-C: 128 + SIGINT
EXIT_INTERRUPTED = 130


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``: its first argument that is not an option (the global options take no value)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The ``pnpleaves`` parser, with the options of the command named in ``argv`` (only that command's
    module is imported; with no command, the parser lists the commands)."""
    parser = argparse.ArgumentParser(prog="pnpleaves", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug messages (and show full tracebacks, as --debug)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error, including user errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _command_in(argv)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == chosen:  # only import the module that will run
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pnpleaves`` with the arguments ``argv`` (default: ``sys.argv[1:]``, never modified) and
    return the exit status; see the module docstring for how errors are reported."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    debug = args.debug or args.verbose
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except USER_ERRORS as exc:
        if debug:
            raise
        print(f"pnpleaves {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"pnpleaves {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
