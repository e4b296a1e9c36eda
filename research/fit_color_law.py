"""Fit the parametric colour laws of ``pnpleaves.generators.colors`` and print their tables.

    OMP_NUM_THREADS=1 python research/fit_color_law.py              # both tables
    OMP_NUM_THREADS=1 python research/fit_color_law.py --source DIR  # on another set of photographs

- ``SYNTHETIC_COLOR_MODEL`` (GMM on CIELAB (a*, b*) + Gamma law of L*/100 per component): the shipped
  table was fitted on the five classic scikit-image photographs (``--gmm-source skimage-classic``,
  the default here), seed 0.
- ``SYNTHETIC_PATCH_MODEL`` (Gaussian law of the log-stds and Fisher-z correlations of 50x50 CIELAB
  patches): fitted on the 8 scikit-image colour photographs (``--patch-source skimage``), seed 0.
"""

from __future__ import annotations

import argparse

import numpy as np

from pnpleaves.generators.colors import fit_patch_law, fit_synthetic_color_model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gmm-source", default="skimage-classic", help="colour source of the GMM + Gamma law")
    ap.add_argument("--patch-source", default="skimage", help="colour source of the patch law")
    ap.add_argument("--components", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    np.set_printoptions(precision=5, suppress=True, linewidth=150)
    print("SYNTHETIC_COLOR_MODEL =")
    print(repr(fit_synthetic_color_model(args.components, source=args.gmm_source, seed=args.seed)))
    print("SYNTHETIC_PATCH_MODEL =")
    print(repr(fit_patch_law(args.patch_source, seed=args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
