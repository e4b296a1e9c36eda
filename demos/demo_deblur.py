r"""
Deblurring a photograph with a prior learned from synthetic images
==================================================================

The main job of pnpleaves, step by step: a photograph is blurred by camera shake and made noisy; the
noise level is estimated from the blurred image alone; then the image is restored by Wiener
deconvolution (the classical baseline) and by Plug-and-Play HQS with the ``vl-drunet`` prior (a
DRUNet trained on VibrantLeaves images only). ``pnpleaves demo`` runs the same steps and draws the
same figure.

Run as a script: ``python demos/demo_deblur.py``; the figure goes to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` (or pass ``--fast``) for a small, quick version (a 64x64 crop), and
``PNPLEAVES_PRIORS=name`` for another prior.
"""

# %%
# The photograph and its degradation
# ----------------------------------
# scikit-image's ``astronaut`` (512x512 RGB), blurred with Levin et al.'s camera-shake kernel 2
# (17x17) with reflecting borders, plus Gaussian noise of std 2.55/255 (seeded), clipped to [0, 1].
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

import pnpleaves as pl  # noqa: E402
from pnpleaves.metrics import psnr  # noqa: E402
from pnpleaves.restoration import degrade_blur, estimate_sigma, levin_kernel, wiener_deblur  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1" or "--fast" in sys.argv[1:]
SIZE = 64 if FAST else None  # None: the whole 512x512 photograph
OUT = os.path.join("demos", "_out")
PRIOR = os.environ.get("PNPLEAVES_PRIORS", "vl-drunet").split(",")[0]
NOISE = 2.55 / 255

sharp = data.astronaut().astype(np.float64) / 255.0
if SIZE is not None:  # a centre crop
    top, left = (sharp.shape[0] - SIZE) // 2, (sharp.shape[1] - SIZE) // 2
    sharp = sharp[top : top + SIZE, left : left + SIZE]
kernel = levin_kernel(2)
observed = degrade_blur(sharp, kernel, NOISE, seed=0, clip=True)
print(f"blurred + noise: {psnr(observed, sharp):.2f} dB")

# %%
# The noise level, estimated
# --------------------------
# Chen et al.'s patch-PCA estimator works well on blurred images: blur leaves the smallest
# eigenvalues of the patch covariance to the noise.
sigma_hat = estimate_sigma(observed)
print(f"noise level: true {NOISE * 255:.2f}/255, estimated {sigma_hat * 255:.2f}/255")

# %%
# Wiener deconvolution
# --------------------
# The closed-form baseline, with the estimated noise level.
wiener = wiener_deblur(observed, kernel, sigma=sigma_hat)
print(f"Wiener: {psnr(wiener, sharp):.2f} dB")

# %%
# Plug-and-Play HQS with the learned prior
# ----------------------------------------
# One line; the noise level is estimated again inside (``sigma=None``), and the defaults handle the
# unknown image borders and the iteration schedule.
panels = [("sharp", sharp), (f"blurred + noise\n{psnr(observed, sharp):.2f} dB", observed),
          (f"Wiener\n{psnr(wiener, sharp):.2f} dB", wiener)]
if PRIOR in pl.list_priors() or os.path.exists(PRIOR):
    restored = pl.pnp_deblur(observed, kernel, prior=PRIOR)
    print(f"PnP-HQS ({PRIOR}): {psnr(restored, sharp):.2f} dB")
    panels.append((f"PnP-HQS, {os.path.basename(PRIOR)}\n{psnr(restored, sharp):.2f} dB", restored))
else:
    print(f"demo_deblur: the prior {PRIOR!r} is not registered; only the Wiener result is shown.")

# %%
# The figure
# ----------
# The kernel is shown in the corner of the blurred image.
fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
for ax, (title, im) in zip(axes, panels):
    ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
inset = axes[1].inset_axes([0.0, 0.0, 0.22, 0.22])
inset.imshow(kernel / kernel.max(), cmap="gray", interpolation="nearest")
inset.set_xticks([])
inset.set_yticks([])
fig.suptitle(f"Levin kernel 2, noise 2.55/255 (estimated {sigma_hat * 255:.2f}/255)", fontsize=10)
fig.tight_layout(rect=(0, 0, 1, 0.93))
os.makedirs(OUT, exist_ok=True)
fig.savefig(os.path.join(OUT, "demo_deblur.png"), dpi=110)
print(f"figure: {os.path.join(OUT, 'demo_deblur.png')}")

# %%
# References
# ----------
# - K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-Play Image Restoration with
#   Deep Denoiser Prior", IEEE TPAMI 44(10), 2022.
# - A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and Evaluating Blind Deconvolution
#   Algorithms", CVPR 2009.
# - G. Chen, F. Zhu, P. A. Heng, "An Efficient Statistical Method for Image Noise Level Estimation",
#   ICCV 2015.
# - R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk, "VibrantLeaves: a principled parametric image
#   generator for training deep restoration models", arXiv:2504.10201, 2025.
