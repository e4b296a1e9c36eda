r"""
Inpainting by Plug-and-Play: random pixels and a missing block
==============================================================

Inpainting observes :math:`y = m \odot x` (:math:`m = 1` on the known pixels). With 80 % of the pixels
missing at random, total variation and Plug-and-Play HQS with the VibrantLeaves and Dead Leaves priors
(Zhang et al. 2022) fill the holes; a missing square block shows the limit of a prior without
semantic content: it continues edges and textures, it does not invent objects.

Run as a script: ``python demos/demo_inpainting.py``; the figure goes to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` for a small, quick version.
"""

# %%
# The masks
# ---------
# ``random_mask`` and ``block_mask`` return boolean ``(H, W)`` masks, True where a pixel is observed;
# the random one is seeded.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

import pnpleaves as pl  # noqa: E402
from pnpleaves.metrics import psnr  # noqa: E402
from pnpleaves.restoration import block_mask, random_mask, tv_inpaint  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZE = 96 if FAST else 256
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = HERE / "_out"

photo = data.chelsea().astype(np.float32) / 255.0
top, left = (photo.shape[0] - SIZE) // 2, (photo.shape[1] - SIZE) // 2
x = photo[top:top + SIZE, left:left + SIZE]
masks = {"80 % of the pixels missing": random_mask((SIZE, SIZE), 0.8, seed=0),
         "a missing block": block_mask((SIZE, SIZE), SIZE // 4)}

# %%
# Restore
# -------
# The observations are noiseless: ``sigma=0``.
rows = {}
for label, mask in masks.items():
    y = x * mask[..., None]
    rows[label] = [("observed", y),
                   ("TV", tv_inpaint(y, mask, sigma=0.0, n_iter=100 if FAST else 300)),
                   ("PnP, dl-drunet", pl.pnp_inpaint(y, mask, prior="dl-drunet", sigma=0.0)),
                   ("PnP, vl-drunet", pl.pnp_inpaint(y, mask, prior="vl-drunet", sigma=0.0))]
    print(label + ": " + ", ".join(f"{name} {psnr(im, x):.2f} dB" for name, im in rows[label][1:]))

# %%
# The figure
# ----------
fig, axes = plt.subplots(len(rows), 5, figsize=(14, 3 * len(rows)), squeeze=False)
for ax_row, (label, items) in zip(axes, rows.items()):
    for ax, (name, im) in zip(ax_row, [("clean", x)] + items):
        ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
        ax.set_title(name if name in ("clean", "observed") else f"{name}\n{psnr(im, x):.2f} dB", fontsize=9)
        ax.set_axis_off()
    ax_row[0].set_title(f"{label}\nclean", fontsize=9)
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "inpainting.png", dpi=100)
print(f"figure: {OUT / 'inpainting.png'}")

# %%
# References
# ----------
# - K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-Play image restoration with
#   deep denoiser prior", IEEE TPAMI 44(10), 2022.
# - A. Chambolle, T. Pock, "A first-order primal-dual algorithm for convex problems with applications
#   to imaging", JMIV 40, 2011 (TV).
# - R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk, "VibrantLeaves: a principled parametric image
#   generator for training deep restoration models", arXiv:2504.10201, 2025.
