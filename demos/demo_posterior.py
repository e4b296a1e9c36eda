r"""
Posterior sampling with a denoiser prior: mean, uncertainty map and samples
===========================================================================

For an inverse problem :math:`y = Ax + n`, a denoiser prior gives more than one restored image: by
Langevin dynamics driven by the Tweedie score it samples the posterior :math:`p(x \mid y)`. Their
average is the MMSE estimate, their standard deviation an uncertainty map (large where the data say
little: inside the holes of an inpainting mask, along edges after a blur).

- Inpainting (noiseless, half of the pixels missing): Kadkhodaie & Simoncelli's Algorithm 2, which
  runs the coarse-to-fine sampler in the null space of :math:`A` and keeps the data exactly.
- Deblurring (9x9 box blur, noise 2/255): PnP-ULA (Laumont et al. 2022) with its Moreau–Yosida
  projection and step rule.

Run as a script: ``python demos/demo_posterior.py``; figures go to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` for a small, quick version, ``PNPLEAVES_PRIORS=name`` for another prior.
"""

# %%
# Load the prior and a photograph
# -------------------------------
import os
import sys

import matplotlib

matplotlib.use("Agg")
import deepinv as dinv  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage import data  # noqa: E402

import pnpleaves as pl  # noqa: E402
from pnpleaves.images import to_tensor  # noqa: E402
from pnpleaves.io import read_image  # noqa: E402
from pnpleaves.sampling import sample_posterior  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZE = 32 if FAST else 64
N_SAMPLES = 4 if FAST else 16
ULA_ITERS = 60 if FAST else 3000
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
OUT = os.path.join(HERE, "_out")
WANTED = os.environ.get("PNPLEAVES_PRIORS", "vl-drunet").split(",")[0]
torch.set_num_threads(min(2, torch.get_num_threads()))

registered = sorted(pl.list_priors())
if WANTED in registered or os.path.exists(WANTED):
    prior_name = WANTED
elif registered:
    prior_name = registered[0]
    print(f"demo_posterior: {WANTED!r} is not registered; using {prior_name!r}.")
else:
    print(f"demo_posterior: the prior {WANTED!r} is not registered yet (none is); train it first "
          "(see README). Nothing to show.")
    sys.exit(0)
den = pl.load_prior(prior_name)

# A photograph shipped with scikit-image (or any image file given by $PNPLEAVES_DEV_IMAGE): a central
# crop reduced by 4x4 block averages, so that the small image still holds edges and texture.
path = os.environ.get("PNPLEAVES_DEV_IMAGE", "")
if path and os.path.isfile(path):
    img, source = read_image(path, channels=3), os.path.basename(path)
else:
    img, source = data.astronaut().astype(np.float32) / 255.0, "astronaut (scikit-image)"
h, w = img.shape[:2]
crop = img[(h - 4 * SIZE) // 2:(h + 4 * SIZE) // 2, (w - 4 * SIZE) // 2:(w + 4 * SIZE) // 2]
img = crop.reshape(SIZE, 4, SIZE, 4, 3).mean(axis=(1, 3))  # centre, 4x4 block averages
x = to_tensor(img)  # (1, 3, SIZE, SIZE)
rng = torch.Generator().manual_seed(0)

# %%
# Inpainting: half of the pixels, noiseless
# -----------------------------------------
mask = (torch.rand(1, 1, SIZE, SIZE, generator=rng) > 0.5).float().expand(1, 3, SIZE, SIZE).clone()
inpaint = dinv.physics.Inpainting(img_size=(3, SIZE, SIZE), mask=mask)
y_inp = inpaint.A(x)
ks_steps = 100 if FAST else None  # None: the published beta = 0.01 (about 300-450 denoiser calls per sample)
mean_i, std_i, samp_i = sample_posterior(y_inp, inpaint, den, method="kadkhodaie", n_samples=N_SAMPLES, seed=0,
                                         steps=ks_steps, clip=True)

# %%
# Deblurring: 9x9 box blur, noise 2/255
# -------------------------------------
sigma_y = 2 / 255
blur = dinv.physics.BlurFFT(img_size=(3, SIZE, SIZE), filter=torch.ones(1, 1, 9, 9) / 81,
                            noise_model=dinv.physics.GaussianNoise(sigma=sigma_y))
y_blur = blur.A(x) + sigma_y * torch.randn(x.shape, generator=rng)
mean_b, std_b, samp_b = sample_posterior(y_blur, blur, den, method="pnp-ula", n_samples=N_SAMPLES, n_iter=ULA_ITERS,
                                         seed=0, clip=True)

# %%
# Observation, posterior mean, std map, three samples
# ---------------------------------------------------
def psnr(a, b):
    return float(10 * torch.log10(1 / ((a.clamp(0, 1) - b) ** 2).mean()))


os.makedirs(OUT, exist_ok=True)
rows = [("inpainting (K&S Alg. 2)", y_inp, mean_i, std_i, samp_i),
        ("deblurring (PnP-ULA)", y_blur, mean_b, std_b, samp_b)]
fig, axes = plt.subplots(2, 6, figsize=(12, 4.8))
for ax_row, (title, y, mean, std, samples) in zip(axes, rows):
    panels = [(y, "observation"), (mean, f"mean {psnr(mean, x):.1f} dB"), (None, "std (grey)")]
    panels += [(samples[k:k + 1], f"sample {k + 1}") for k in range(3)]
    for ax, (im, label) in zip(ax_row, panels):
        if im is None:
            s = std.mean(1)[0]
            ax.imshow(s.numpy(), cmap="magma", vmin=0)
        else:
            ax.imshow(im[0].clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(label, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    ax_row[0].set_ylabel(title, fontsize=8)
fig.suptitle(f"{os.path.basename(prior_name)} posterior on {source} ({SIZE}x{SIZE}); PnP-ULA {ULA_ITERS} iterations")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "posterior.png"), dpi=120)
print(f"wrote {OUT}/posterior.png (mean PSNR: inpainting {psnr(mean_i, x):.2f} dB, "
      f"deblurring {psnr(mean_b, x):.2f} dB)")

# %%
# References
# ----------
# - R. Laumont, V. De Bortoli, A. Almansa, J. Delon, A. Durmus, M. Pereyra, "Bayesian imaging using
#   Plug & Play priors: when Langevin meets Tweedie", SIAM J. Imaging Sci. 15(2), 2022.
# - Z. Kadkhodaie, E. P. Simoncelli, "Stochastic solutions for linear inverse problems using the prior
#   implicit in a denoiser", NeurIPS 2021.
