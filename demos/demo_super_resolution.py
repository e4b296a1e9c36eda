r"""
Super-resolution by Plug-and-Play with a synthetic prior
========================================================

A photograph is reduced by an integer factor with MATLAB's anti-aliased bicubic kernel,
:math:`y = (k * x)\downarrow_s`, then enlarged back by bicubic interpolation, by total-variation
super-resolution and by Plug-and-Play HQS with the ``vl-drunet`` prior (a DRUNet trained on
VibrantLeaves images only; Zhang et al. 2022 for the PnP scheme).

Run as a script: ``python demos/demo_super_resolution.py``; the figure goes to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` for a small, quick version.
"""

# %%
# The low-resolution image
# ------------------------
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

import pnpleaves as pl  # noqa: E402
from pnpleaves.metrics import psnr  # noqa: E402
from pnpleaves.restoration import bicubic_upsample, degrade_sr, tv_super_resolve  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZE = 96 if FAST else 256  # side of the high-resolution crop
SCALE = 2
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = HERE / "_out"

photo = data.coffee().astype(np.float32) / 255.0
top, left = (photo.shape[0] - SIZE) // 2, (photo.shape[1] - SIZE) // 2 + 60
hr = photo[top:top + SIZE, left:left + SIZE]
lr = np.clip(degrade_sr(hr, SCALE), 0, 1)  # (SIZE / SCALE, SIZE / SCALE, 3), noiseless; bicubic overshoots
print(f"high resolution {hr.shape[:2]}, low resolution {lr.shape[:2]} (x{SCALE})")

# %%
# Three ways back up
# ------------------
# ``sigma=0`` states that the low-resolution image is noiseless (``None`` would estimate it).
results = {
    "bicubic": bicubic_upsample(lr, SCALE),
    "TV": tv_super_resolve(lr, SCALE, sigma=0.0, n_iter=100 if FAST else 300),
    "PnP-HQS, vl-drunet": pl.pnp_super_resolve(lr, SCALE, prior="vl-drunet", sigma=0.0),
}
for name, im in results.items():
    print(f"{name:20s}: {psnr(im, hr):.2f} dB")

# %%
# The figure
# ----------
fig, axes = plt.subplots(1, len(results) + 2, figsize=(3.1 * (len(results) + 2), 3.4))
panels = [("high resolution", hr), (f"low resolution (x{SCALE})", lr)]
panels += [(f"{name}\n{psnr(im, hr):.2f} dB", im) for name, im in results.items()]
for ax, (title, im) in zip(axes, panels):
    ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "super_resolution.png", dpi=100)
print(f"figure: {OUT / 'super_resolution.png'}")

# %%
# References
# ----------
# - K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-Play image restoration with
#   deep denoiser prior", IEEE TPAMI 44(10), 2022.
# - R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk, "VibrantLeaves: a principled parametric image
#   generator for training deep restoration models", arXiv:2504.10201, 2025.
