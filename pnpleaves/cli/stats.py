"""``pnpleaves stats DIR_A DIR_B ...``: spectrum slope and gradient KL/JS of image folders.

The first folder is the reference unless ``--reference DIR`` is given (a reference that is not in
the list is measured too and printed first). Example::

    pnpleaves stats "$PNPLEAVES_DATA"/testsets/Kodak24 out/vl out/dl --max-images 200 --plot stats.png

The statistics and their protocol: :mod:`pnpleaves.analysis` (``image_sets``, ``spectrum``, ``gradients``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pnpleaves._checks import check_number
from pnpleaves.analysis import (
    DEFAULT_BAND,
    DEFAULT_GRADIENT_BINS,
    DEFAULT_SPECTRUM_BINS,
    WINDOWS,
    StatsRow,
    compare_image_sets,
    image_set_statistics,
    plot_statistics,
)
from pnpleaves.io import check_output_path, list_images


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="folders of images (PNG, JPEG, BMP, TIFF)")
    parser.add_argument("--reference", metavar="DIR", help="reference folder (default: the first DIR)")
    parser.add_argument("--max-images", type=int, metavar="N", help="use at most the first N images of each folder")
    parser.add_argument("--plot", metavar="PNG", help="also save the two-panel figure (gradient histograms, spectra)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --plot file")
    parser.add_argument("--band", type=float, nargs=2, default=DEFAULT_BAND, metavar=("NU_MIN", "NU_MAX"),
                        help="frequency band of the slope fit in cycles/pixel "
                             f"(default: {DEFAULT_BAND[0]} {DEFAULT_BAND[1]})")
    parser.add_argument("--spectrum-bins", type=int, default=DEFAULT_SPECTRUM_BINS,
                        help=f"log-spaced frequency rings in the band (default: {DEFAULT_SPECTRUM_BINS})")
    parser.add_argument("--window", choices=WINDOWS, default="periodic",
                        help="border handling before the DFT (default: periodic = periodic + smooth decomposition)")
    parser.add_argument("--bins", type=int, default=DEFAULT_GRADIENT_BINS,
                        help=f"gradient-histogram bins on [0, 1] (default: {DEFAULT_GRADIENT_BINS})")


def _label(path: str, taken: set[str]) -> str:
    name = Path(path).name or str(path)
    return name if name not in taken else str(path)


def format_table(rows: list[StatsRow]) -> str:
    """The table printed by ``pnpleaves stats`` (the reference row is marked with ``*``)."""
    names = [r.name + (" *" if r.is_reference else "") for r in rows]
    width = max(len("set"), *(len(n) for n in names))
    head = f"{'set':<{width}}  {'images':>6}  {'slope':>6}  {'R^2':>6}  {'KL(set||ref)':>12}  {'JS(set,ref)':>11}"
    lines = [head, "-" * len(head)]
    for name, r in zip(names, rows):
        lines.append(f"{name:<{width}}  {r.n_images:>6d}  {r.slope:>6.3f}  {r.r2:>6.4f}  {r.kl:>12.4f}  {r.js:>11.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.max_images is not None:
        check_number(args.max_images, "--max-images", low=1, integer=True)
    dirs = list(args.dirs)
    if args.reference is not None:
        ref = os.path.abspath(args.reference)
        dirs = [args.reference] + [d for d in dirs if os.path.abspath(d) != ref]
    for d in dirs:  # a missing or empty folder fails here, before any work is done
        list_images(d)
    if args.plot is not None:  # before any work
        check_output_path(args.plot, overwrite=args.overwrite, suffixes=(".png", ".pdf", ".svg", ".jpg"), what="--plot",
                          overwrite_hint="--overwrite")
    options = dict(band=tuple(args.band), n_bins=args.spectrum_bins, window=args.window, bins=args.bins)
    stats, taken = {}, set()
    for d in dirs:
        label = _label(d, taken)
        taken.add(label)
        stats[label] = image_set_statistics(d, max_images=args.max_images, progress=True, **options)
    ref_label = next(iter(stats))
    rows = compare_image_sets(stats, reference=ref_label)
    print(format_table(rows))
    print(f"slope: alpha in |F(nu)| ~ C / nu^alpha (amplitude), {args.window} borders, "
          f"nu in [{args.band[0]:g}, {args.band[1]:g}] cycles/pixel; KL/JS in nats on gradient-magnitude histograms; "
          f"* = reference")
    if args.plot is not None:
        out = plot_statistics(stats, args.plot, reference=ref_label, overwrite=args.overwrite)
        print(f"figure written to {out}")
    return 0
