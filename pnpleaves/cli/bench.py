"""``pnpleaves bench TARGET``: benchmarks that print figures (never timed unit tests).

Each target lives next to the code it measures, in a module with ``add_arguments`` and ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

TARGETS = {
    "generators": "pnpleaves.generators.bench",
    "denoiser": "pnpleaves.training.bench",
    "restore": "pnpleaves.restoration.bench",
    "sample": "pnpleaves.sampling.bench",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    chosen = next((a for a in sys.argv[1:] if a in TARGETS), None)
    for name, module in TARGETS.items():
        p = sub.add_parser(name, help=f"benchmark {name}")
        if name == chosen:
            importlib.import_module(module).add_arguments(p)


def run(args: argparse.Namespace) -> int:
    return importlib.import_module(TARGETS[args.target]).run(args)
