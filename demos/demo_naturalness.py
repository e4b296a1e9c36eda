r"""
How natural is a synthetic image set? Spectrum, gradients, kurtosis and patch dimension
=======================================================================================

The VibrantLeaves talk compares training sets by how close their statistics are to natural images:
the slope of the amplitude spectrum, the KL divergence of the gradient-magnitude histograms (and an
FID). This demo builds small Dead Leaves, VibrantLeaves and ablated VibrantLeaves sets in memory and
measures them against natural photographs with :func:`pnpleaves.analysis.naturalness`, which adds
the kurtosis of the derivatives (how sparse the edges are) and the *effective dimension* of the
8x8 colour patches (the participation ratio of the patch-PCA eigenvalues: the talk's question "can
we measure the dimensionality of the training set?").

Run as a script: ``python demos/demo_naturalness.py``; figures go to ``demos/_out/``. Set
``PNPLEAVES_FAST=1`` for a quick version.
"""

# %%
# The image sets
# --------------
import os

import matplotlib

matplotlib.use("Agg")
import skimage.data  # noqa: E402

from pnpleaves.analysis import naturalness  # noqa: E402
from pnpleaves.analysis.image_sources import colour_images, tiles  # noqa: E402
from pnpleaves.analysis.naturalness import NATURALNESS_SETS, format_naturalness, generated_images  # noqa: E402
from pnpleaves.analysis.plots import plot_naturalness  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZE = 64 if FAST else 128
N = 4 if FAST else 24
OUT = os.path.join("demos", "_out")

photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
sets = {"natural (skimage)": tiles(colour_images([p / 255.0 for p in photos]), SIZE, N)}
names = ["DL", "VL", "VL no-textures"] if FAST else list(NATURALNESS_SETS)
for name in names:
    model, preset = NATURALNESS_SETS[name]
    sets[name] = generated_images(model, preset, N, SIZE)
print({k: len(v) for k, v in sets.items()})

# %%
# The table
# ---------
# KL and JS compare each set's gradient histogram with the natural one (the first set). Expect VL
# closer to natural than DL on the gradients, and flat untextured leaves to show a large kurtosis
# (mostly zero gradients, a few strong edges) and few effective patch dimensions.
rows = naturalness(sets, n_patches=3000 if FAST else 20000)
print(format_naturalness(rows))

# %%
# The figure
# ----------
os.makedirs(OUT, exist_ok=True)
path = plot_naturalness(rows, {r.name: r.pca_eigenvalues for r in rows}, os.path.join(OUT, "naturalness.png"),
                        overwrite=True)
print(f"figure: {path}")
