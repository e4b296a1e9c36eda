r"""
Does a learned denoiser inherit the invariances of its training images?
=======================================================================

Dead Leaves images are, by construction, invariant to rotation, scale, contrast and shift. Does a
DRUNet trained on them (``dl-drunet``), or on VibrantLeaves (``vl-drunet``), inherit this? The
VibrantLeaves talk's protocol: first give each denoiser the noise level at which it scores the same
PSNR on the undistorted images (so that a better denoiser does not just look "more robust"), then
distort the clean images, add that noise, denoise, and compare the PSNR changes. The exact MMSE
denoiser of a Gaussian model fitted to the images (``gaussian``) is the yardstick.

A second question is asked of the denoiser as an operator: how far is it from *equivariant*,
:math:`\|D(gy) - gD(y)\| / \|gD(y)\|`, under flips, quarter turns and integer shifts, and does the
dihedral self-ensemble fix it?

Run as a script: ``python demos/demo_invariance.py``; figures go to ``demos/_out/``. Set
``PNPLEAVES_FAST=1`` for a quick version, and ``$PNPLEAVES_DATA`` to a folder holding
``testsets/Kodak24`` to use the Kodak photographs instead of scikit-image's.
"""

# %%
# Images and priors
# -----------------
# Natural test images: Kodak24 crops when ``$PNPLEAVES_DATA`` points to them, else crops of the
# photographs bundled with scikit-image.
import os

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402

from pnpleaves.analysis import equivariance_error, invariance  # noqa: E402
from pnpleaves.analysis.image_sources import colour_images  # noqa: E402
from pnpleaves.analysis.plots import plot_bars, plot_invariance  # noqa: E402
from pnpleaves.models import DihedralCycle  # noqa: E402
from pnpleaves.priors import list_priors, load_prior  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
CROP = 48 if FAST else 128
N_IMAGES = 2 if FAST else 6
OUT = os.path.join("demos", "_out")
torch.set_num_threads(min(2, torch.get_num_threads()))

kodak = os.path.join(os.environ.get("PNPLEAVES_DATA", ""), "testsets", "Kodak24")
if os.environ.get("PNPLEAVES_DATA") and os.path.isdir(kodak):
    images = colour_images(kodak, max_images=N_IMAGES, crop=CROP)
else:
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(),
              skimage.data.immunohistochemistry(), skimage.data.astronaut()[::-1]]
    images = colour_images([p / 255.0 for p in photos[:N_IMAGES]], crop=CROP)
priors = [p for p in ("vl-drunet", "dl-drunet") if p in list_priors()] + ["gaussian"]
print(f"{len(images)} images of {CROP}x{CROP}; priors {priors}")

# %%
# Rotation by non-right angles
# ----------------------------
# The rotated image is interpolated (bicubic) and cropped to the largest axis-aligned square inside
# it, so no border is made up; the interpolation smooths the image a little, which is why every
# prior may *gain* PSNR: read the gap between priors, not the sign.
levels = (22.5, 45.0) if FAST else (5.0, 22.5, 45.0, 67.5)
rot = invariance(priors, images, "rotation", levels, sigma=25 / 255)
print(rot.format())
os.makedirs(OUT, exist_ok=True)
plot_invariance(rot, os.path.join(OUT, "invariance_rotation.png"), overwrite=True)

# %%
# Scale: zooming out
# ------------------
# Downscaling packs more edges into each patch: a scale-invariant training set should help here.
scale = invariance(priors, images, "downscale", (1.5, 2.0) if FAST else (1.25, 1.5, 2.0, 3.0), sigma=25 / 255)
print(scale.format())
plot_invariance(scale, os.path.join(OUT, "invariance_downscale.png"), overwrite=True)

# %%
# Equivariance, and the dihedral ensemble as the fix
# --------------------------------------------------
# A U-Net with three 2x down-samplings is exactly shift-equivariant only for shifts by multiples of
# 8; flips and quarter turns hold only as well as the training augmentation taught them. Averaging
# :math:`g^{-1}D(gy)` over the 8 flips and quarter turns makes the denoiser exactly equivariant to
# them, at 8 times the cost.
series, elements = {}, []
for name in priors[:1]:
    den = load_prior(name) if name != "gaussian" else name
    variants = {name: den}
    if name != "gaussian":
        variants[f"{name} x8"] = DihedralCycle(den, "ensemble")
    for label, d in variants.items():
        errs = []
        for group in ("flips", "shifts"):
            res = equivariance_error(d, images, group, sigma=25 / 255, margin=8 if FAST else 16,
                                     shifts=((0, 1), (1, 1), (8, 8)))
            errs += list(res.errors)
            elements = elements if len(elements) >= len(errs) else elements + list(res.elements)
        series[label] = [max(e, 1e-9) for e in errs]
        print(label, " ".join(f"{e:.2e}" for e in errs))
plot_bars(os.path.join(OUT, "equivariance.png"), elements, series, ylabel="relative equivariance error",
          xlabel="transform", logy=True, title="Equivariance error at sigma 25/255", overwrite=True)
print(f"figures in {OUT}/")
