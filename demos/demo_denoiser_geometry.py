r"""
What does a denoiser do as an operator? Jacobian trace, adaptive basis, symmetry
================================================================================

Near a noisy image :math:`y` a denoiser acts as the linear map :math:`J = \partial D/\partial y`.
For the ideal (MMSE) denoiser :math:`J` is symmetric with eigenvalues in :math:`[0, 1]`: it
*projects* the noisy image on the directions the prior believes in. Three matrix-free measurements
(Mohan et al., ICLR 2020; Kadkhodaie, Guth, Simoncelli & Mallat, ICLR 2024):

* :math:`\operatorname{tr} J / N`, the effective degrees of freedom per pixel (Hutchinson's
  estimator): how much of the input the denoiser keeps, against the noise level;
* the top eigenvectors of :math:`(J + J^\top)/2`, shown as images: the *adaptive basis*, which for
  a good natural-image prior follows the edges and textures of :math:`y`;
* :math:`\|J - J^\top\|_F / \|J\|_F`: how far the denoiser is from a gradient field (zero for an
  MMSE denoiser), which matters for the convergence of Plug-and-Play.

The exact MMSE denoiser of a Gaussian model (``gaussian``) is the yardstick: its Jacobian is a
fixed symmetric Fourier filter, the same for every image.

Run as a script: ``python demos/demo_denoiser_geometry.py``; figures go to ``demos/_out/``. Set
``PNPLEAVES_FAST=1`` for a quick version.
"""

# %%
# An image and the priors
# -----------------------
import os

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402

from pnpleaves.analysis import jacobian_spectrum, jacobian_symmetry, jacobian_trace  # noqa: E402
from pnpleaves.analysis.image_sources import colour_images  # noqa: E402
from pnpleaves.analysis.noisy_trials import named_priors, seeded_noise  # noqa: E402
from pnpleaves.analysis.plots import plot_eigenvectors, plot_lines  # noqa: E402
from pnpleaves.priors import list_priors  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
CROP = 24 if FAST else 48
SIGMAS = (10, 50) if FAST else (5, 10, 25, 50)
PROBES = 2 if FAST else 8
K = 4 if FAST else 8
OUT = os.path.join("demos", "_out")
torch.set_num_threads(min(2, torch.get_num_threads()))

img = colour_images([skimage.data.astronaut()[80:80 + 4 * CROP, 160:160 + 4 * CROP] / 255.0], crop=CROP)[0]
x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
names = [p for p in ("vl-drunet", "dl-drunet") if p in list_priors()] + ["gaussian"]
priors = named_priors(names, images=[img])

# %%
# Effective degrees of freedom against the noise level
# ----------------------------------------------------
# Each point is :math:`\operatorname{tr} J / N` at :math:`y = x + \sigma z`; it falls as
# :math:`\sigma` grows (more is averaged away).
series, errors = {}, {}
for label, den in priors.items():
    series[label], errors[label] = [], []
    for s in SIGMAS:
        y = x + s / 255 * seeded_noise(x.shape, 0, 0)
        t = jacobian_trace(den, y, s / 255, n_probes=PROBES)
        sym = jacobian_symmetry(den, y, s / 255, n_probes=PROBES)
        series[label].append(t.per_pixel)
        errors[label].append(2 * t.per_pixel_stderr)
        print(f"{label:10s} sigma {s:3d}: tr J / N = {t.per_pixel:.4f} +- {t.per_pixel_stderr:.4f}, "
              f"||J - J^T|| / ||J|| = {sym.ratio:.3f}")
os.makedirs(OUT, exist_ok=True)
plot_lines(os.path.join(OUT, "geometry_trace.png"), SIGMAS, series, errors=errors, logx=True, logy=True,
           xlabel="sigma (0-255 scale)", ylabel="tr J / N", title="Effective degrees of freedom",
           overwrite=True)

# %%
# The adaptive basis
# ------------------
# The top eigenvectors of the symmetrised Jacobian at :math:`\sigma = 25`: for the learned priors
# they are shaped by the image (its edges and textures); for the Gaussian model they are plain
# Fourier modes, whatever the image.
y = x + 25 / 255 * seeded_noise(x.shape, 0, 0)
for label, den in priors.items():
    sp = jacobian_spectrum(den, y, 25 / 255, K)
    print(f"{label}: eigenvalues {np.round(sp.eigenvalues, 3)}")
    plot_eigenvectors(sp.eigenvalues, sp.eigenvectors, os.path.join(OUT, f"geometry_eigenvectors_{label}.png"),
                      image=y[0].permute(1, 2, 0).numpy(), title=f"{label}: top Jacobian eigenvectors",
                      overwrite=True)
print(f"figures in {OUT}/")
