"""How far are the colours of an image set from those of a reference set of photographs?

The package's own statistics (``pnpleaves stats``, ``pnpleaves analyze naturalness``) are measured on
grey images: they see a colour law only through the lightness it gives. This script measures the
colours themselves, in CIELAB (D65, :func:`pnpleaves.generators.colors.rgb_to_lab`), on every pixel
of every image (8-bit PNGs as written by ``pnpleaves generate``):

- ``L mean``, ``L std``: lightness L* (0-100) of the pooled pixels;
- ``C med``, ``C p90``: median and 90th percentile of the chroma C* = |(a*, b*)|;
- ``warm %``: share of the chromatic pixels (C* > 10) whose hue angle is in [20, 100) degrees
  (red-orange to yellow: skin, wood, soil);
- ``M``: colourfulness of Hasler & Süsstrunk (SPIE 5007, 2003), per image, averaged over the set
  (R, G, B on the 0-255 scale);
- ``JS L``, ``JS ab``: Jensen-Shannon divergence (nats, :func:`pnpleaves.analysis.js_divergence`)
  between the set's and the reference's histograms of L* (50 bins on [0, 100]) and of (a*, b*)
  (64 x 64 bins on [-128, 128]²);
- ``SW1``: sliced Wasserstein-1 distance between the CIELAB pixel clouds (CIE76 ΔE units), 128 fixed
  random directions, 100,000 pixels of each set drawn with seed 0.

``--halves`` adds the natural-to-natural floor: the reference's odd-numbered images against its
even-numbered ones (12 against 12 for Kodak24).

Example (the table of docs/training.md, "What 'synthetic' means")::

    OMP_NUM_THREADS=1 python research/colour_law_distance.py --halves \\
        "$PNPLEAVES_DATA"/testsets/Kodak24 /tmp/colourlaws/natural /tmp/colourlaws/synthetic \\
        /tmp/colourlaws/handcrafted /tmp/colourlaws/uniform
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pnpleaves.analysis import js_divergence
from pnpleaves.generators.colors import rgb_to_lab
from pnpleaves.io import list_images, read_image

L_BINS = np.linspace(0.0, 100.0, 51)
AB_BINS = np.linspace(-128.0, 128.0, 65)
N_DIRECTIONS = 128
N_PIXELS = 100_000


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk's colourfulness M of one ``(H, W, 3)`` image in [0, 1]."""
    r, g, b = (255.0 * rgb[..., k].astype(np.float64) for k in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def set_statistics(files: list[str]) -> dict:
    """Pooled CIELAB pixels (as histograms and a fixed-size sample) and per-image colourfulness of a set."""
    labs, m = [], []
    for f in files:
        rgb = read_image(f, channels=3)
        m.append(colourfulness(rgb))
        labs.append(rgb_to_lab(rgb.reshape(-1, 3)))
    lab = np.concatenate(labs).astype(np.float64)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360.0
    chromatic = chroma > 10.0
    rng = np.random.default_rng(0)
    return {
        "n": len(files),
        "L mean": lab[:, 0].mean(),
        "L std": lab[:, 0].std(),
        "C med": np.median(chroma),
        "C p90": np.percentile(chroma, 90),
        "warm %": 100.0 * np.mean((hue[chromatic] >= 20.0) & (hue[chromatic] < 100.0)),
        "M": float(np.mean(m)),
        "hist L": np.histogram(lab[:, 0], L_BINS)[0].astype(np.float64),
        "hist ab": np.histogram2d(lab[:, 1], lab[:, 2], (AB_BINS, AB_BINS))[0].ravel(),
        "sample": lab[rng.choice(len(lab), N_PIXELS, replace=len(lab) < N_PIXELS)],
    }


def sliced_wasserstein(x: np.ndarray, y: np.ndarray) -> float:
    """Sliced Wasserstein-1 distance between two equal-size point clouds ``(n, 3)``."""
    d = np.random.default_rng(0).standard_normal((N_DIRECTIONS, x.shape[1]))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    px, py = np.sort(x @ d.T, axis=0), np.sort(y @ d.T, axis=0)
    return float(np.abs(px - py).mean())


def row(name: str, s: dict, ref: dict | None) -> str:
    dist = ("0", "0", "0") if ref is None else (
        f"{js_divergence(s['hist L'], ref['hist L']):.3f}", f"{js_divergence(s['hist ab'], ref['hist ab']):.3f}",
        f"{sliced_wasserstein(s['sample'], ref['sample']):.2f}")
    return (f"| {name} | {s['n']} | {s['L mean']:.1f} | {s['L std']:.1f} | {s['C med']:.1f} | {s['C p90']:.1f} | "
            f"{s['warm %']:.0f} | {s['M']:.1f} | " + " | ".join(dist) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="folders of images; the first is the reference")
    ap.add_argument("--halves", action="store_true", help="add the reference's odd images against its even ones")
    args = ap.parse_args(argv)
    print("| set | images | L mean | L std | C med | C p90 | warm % | M | JS L | JS ab | SW1 (ΔE) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ref_files = list_images(args.dirs[0])
    ref = set_statistics(ref_files)
    print(row(Path(args.dirs[0]).name + " (reference)", ref, None), flush=True)
    if args.halves:
        odd, even = set_statistics(ref_files[0::2]), set_statistics(ref_files[1::2])
        print(row(f"{Path(args.dirs[0]).name} odd images vs even", odd, even), flush=True)
    for d in args.dirs[1:]:
        print(row(Path(d).name, set_statistics(list_images(d)), ref), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
