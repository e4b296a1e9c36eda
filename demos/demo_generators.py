r"""
Dead Leaves and VibrantLeaves: the generators and the paper's ablations
=======================================================================

The same seeds drawn from classic Dead Leaves (disks with power-law radii falling on top of each
other) and from VibrantLeaves with all its properties, then without depth of field, without
micro-textures, without pseudo-periodic textures and without textures: the ablations of Achddou,
Gousseau, Ladjal and Süsstrunk (2025), each a named ``preset``.

Run as a script: ``python demos/demo_generators.py``; the figure goes to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` for a small, quick version.
"""

# %%
# Generate the images
# -------------------
# Every image is a pure function of its configuration and its seed: the same seed gives the same
# image in any process, batch or order. Images are ``(H, W, 3)`` float32 arrays in [0, 1].
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pnpleaves as pl  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZE = 128 if FAST else 384
SEEDS = (0, 1) if FAST else (0, 1, 2)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = HERE / "_out"

columns = [
    ("Dead Leaves", pl.dead_leaves, None),
    ("VibrantLeaves", pl.vibrant_leaves, None),
    ("w/o depth", pl.vibrant_leaves, "no-depth"),
    ("w/o micro-textures", pl.vibrant_leaves, "no-micro"),
    ("w/o periodic textures", pl.vibrant_leaves, "no-periodic"),
    ("w/o textures", pl.vibrant_leaves, "no-textures"),
]
images = {(title, seed): fn(SIZE, seed=seed, preset=preset) for title, fn, preset in columns for seed in SEEDS}
print(f"{len(images)} images of {SIZE}x{SIZE}; VibrantLeaves presets: {sorted(pl.PRESETS)}")

# %%
# The gallery
# -----------
# One column per generator, one row per seed.
fig, axes = plt.subplots(len(SEEDS), len(columns), figsize=(2.3 * len(columns), 2.4 * len(SEEDS)), squeeze=False)
for j, (title, _, _) in enumerate(columns):
    for i, seed in enumerate(SEEDS):
        axes[i, j].imshow(images[title, seed])
        axes[i, j].set_axis_off()
    axes[0, j].set_title(title, fontsize=9)
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "generators_gallery.png", dpi=100)
print(f"figure: {OUT / 'generators_gallery.png'}")

# %%
# Changing one parameter
# ----------------------
# Keyword options reach every component. For Dead Leaves the radius law :math:`p(r) \propto r^{-\alpha}`
# on :math:`[r_{min}, r_{max}]` sets the scale content: :math:`\alpha = 3` is scale invariant, a larger
# :math:`r_{min}` removes the finest structures.
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.7))
for ax, (label, options) in zip(axes, [("alpha = 3, r_min = 1", dict(alpha=3.0, r_min=1)),
                                       ("alpha = 3, r_min = 16", dict(alpha=3.0, r_min=16)),
                                       ("alpha = 2, r_min = 1", dict(alpha=2.0, r_min=1))]):
    ax.imshow(pl.dead_leaves(SIZE, seed=0, r_max=SIZE, **options))
    ax.set_title(label, fontsize=9)
    ax.set_axis_off()
fig.tight_layout()

# %%
# References
# ----------
# - R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk, "VibrantLeaves: a principled parametric image
#   generator for training deep restoration models", arXiv:2504.10201, 2025.
# - R. Achddou, Y. Gousseau, S. Ladjal, "Synthetic images as a regularity prior for image restoration
#   neural networks", SSVM 2021.
# - G. Matheron, "Modèle séquentiel de partition aléatoire", CMM, 1968; A. B. Lee, D. Mumford,
#   J. Huang, "Occlusion models for natural images", IJCV 41, 2001.
