r"""
Estimating the noise level of an image
======================================

Every pnpleaves restoration takes ``sigma=None`` to mean "estimate it". The default estimator
(Chen, Zhu and Heng, ICCV 2015) reads the noise variance from the smallest eigenvalues of the
covariance of the image's patches: on natural images, and even more on blurred ones, the last
principal directions hold only noise. Here we measure it against the truth on photographs, sharp and
blurred, at several noise levels and image sizes: it needs enough patches, so small crops bias it
low.

Run as a script: ``python demos/demo_noise_level.py``; the figure goes to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` for a small, quick version.
"""

# %%
# Noisy photographs
# -----------------
# ``degrade_blur`` blurs (here with Levin et al.'s camera-shake kernel 2, or not at all), adds seeded
# Gaussian noise and clips to [0, 1], as a camera does.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

from pnpleaves.restoration import degrade_blur, estimate_sigma, levin_kernel  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZES = (64, 128) if FAST else (64, 128, 256, 512)
SIGMAS = np.array([1, 2.55, 5, 10, 25, 50] if FAST else [1, 2.55, 5, 7.65, 10, 15, 25, 35, 50]) / 255
PHOTOS = ("astronaut", "coffee") if FAST else ("astronaut", "coffee", "chelsea", "rocket")
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = HERE / "_out"
delta = np.ones((1, 1))  # the identity "kernel": no blur


def centre(img, side):
    h, w = img.shape[:2]
    side = min(side, h, w)
    return img[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]


photos = {name: getattr(data, name)().astype(np.float32) / 255.0 for name in PHOTOS}

# %%
# Estimated against true noise level
# ----------------------------------
# Mean over the photographs of the estimate, for each true sigma, image side and blur.
estimates = {}
for blur_name, kernel in (("sharp", delta), ("blurred (Levin 2)", levin_kernel(2))):
    for side in SIZES:
        est = [[estimate_sigma(degrade_blur(centre(img, side), kernel, s, seed=k, clip=True))
                for k, img in enumerate(photos.values())] for s in SIGMAS]
        estimates[blur_name, side] = np.mean(est, axis=1)
        worst = np.max(np.abs(np.array(est) / SIGMAS[:, None] - 1))
        print(f"{blur_name:18s} {side:3d}px: worst relative error {worst:.0%}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, blur_name in zip(axes, ("sharp", "blurred (Levin 2)")):
    ax.loglog(SIGMAS * 255, SIGMAS * 255, "k:", label="truth")
    for side in SIZES:
        ax.loglog(SIGMAS * 255, estimates[blur_name, side] * 255, "o-", ms=4, label=f"{side}x{side}")
    ax.set_xlabel("true sigma (x 255)")
    ax.set_title(blur_name, fontsize=10)
    ax.legend(fontsize=8)
axes[0].set_ylabel("estimated sigma (x 255)")
fig.suptitle(f"estimate_sigma on {len(PHOTOS)} photographs", fontsize=10)
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "noise_level.png", dpi=100)
print(f"figure: {OUT / 'noise_level.png'}")

# %%
# References
# ----------
# - G. Chen, F. Zhu, P. A. Heng, "An efficient statistical method for image noise level estimation",
#   ICCV 2015.
# - A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and evaluating blind deconvolution
#   algorithms", CVPR 2009.
