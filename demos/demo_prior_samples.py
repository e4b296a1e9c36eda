r"""
Sampling the prior implicit in a denoiser: Dead Leaves versus VibrantLeaves
===========================================================================

A denoiser trained to remove Gaussian noise knows the score of the noisy image distribution
(Tweedie / Miyasawa: :math:`\nabla\log p_\sigma(x) = (D(x,\sigma) - x)/\sigma^2`), so it can be run
backwards, from noise to an image, to show *which images it believes in*. Here the same seeds are
drawn from a DRUNet trained on classic Dead Leaves (``dl-drunet``) and one trained on VibrantLeaves
(``vl-drunet``): the VibrantLeaves prior should show occlusions, textured shapes and depth of field.

Sampler: variance-exploding ancestral steps (relaxed denoising plus fresh noise on a geometric noise
ladder) from a Gaussian fitted to the training images, as in Kadkhodaie & Simoncelli (2021), who
introduced this view of a denoiser's implicit prior.

Run as a script: ``python demos/demo_prior_samples.py``; figures go to ``demos/_out/``.
Set ``PNPLEAVES_FAST=1`` for a small, quick version, and ``PNPLEAVES_PRIORS=a,b`` to compare other
priors (names or weights files).
"""

# %%
# Load the priors
# ---------------
# Priors are loaded by name from the registry. Until they are trained, the demo says so and stops.
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import pnpleaves as pl  # noqa: E402
from pnpleaves.sampling import sample_prior  # noqa: E402

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZE = 32 if FAST else 96
N = 3 if FAST else 6
STEPS = 20 if FAST else 100
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
OUT = os.path.join(HERE, "_out")
WANTED = [p for p in os.environ.get("PNPLEAVES_PRIORS", "vl-drunet,dl-drunet").split(",") if p]
torch.set_num_threads(min(2, torch.get_num_threads()))


def load_priors(wanted):
    registered = set(pl.list_priors())
    found = {}
    for name in wanted:
        if name in registered or os.path.exists(name):
            found[os.path.basename(name)] = pl.load_prior(name)
    if not found and registered:  # fall back to whatever is registered
        found = {name: pl.load_prior(name) for name in sorted(registered)[:2]}
    return found


priors = load_priors(WANTED)
if not priors:
    print(f"demo_prior_samples: none of the priors {WANTED} is registered yet (registered: "
          f"{sorted(pl.list_priors()) or 'none'}); train them first (see README). Nothing to show.")
    sys.exit(0)

# %%
# Samples with the same seeds
# ---------------------------
# One row per prior, all drawn with seed 0: every prior gets the same Gaussian noise draws.
samples = {name: sample_prior(den, n=N, size=SIZE, steps=STEPS, seed=0) for name, den in priors.items()}
os.makedirs(OUT, exist_ok=True)


def save_rows(rows: dict, title: str, filename: str) -> None:
    """One row of images per entry of ``rows`` (label -> (n, 3, H, W) tensor), saved under OUT."""
    fig, axes = plt.subplots(len(rows), N, figsize=(1.6 * N, 1.7 * len(rows)), squeeze=False)
    for row, (label, x) in zip(axes, rows.items()):
        for k, ax in enumerate(row):
            ax.imshow(x[k].permute(1, 2, 0).numpy())
            ax.set_xticks([]), ax.set_yticks([])
        row[0].set_ylabel(label)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, filename), dpi=120)


save_rows(samples, f"prior samples, {SIZE}x{SIZE}, ancestral sampler, {STEPS} steps", "prior_samples.png")

# %%
# Why the fitted-Gaussian start
# -----------------------------
# A denoiser trained up to :math:`\sigma_{max} \approx 0.2` cannot randomise the coarse modes (the mean
# colour, large shapes) whose variance exceeds :math:`\sigma_{max}^2`: started from grey plus white noise,
# samples come out low-contrast and greyish. Starting from a Gaussian fitted to the training images
# at :math:`\sigma_{max}` fixes this.
name, den = next(iter(priors.items()))
white = sample_prior(den, n=N, size=SIZE, steps=STEPS, seed=0, init="white")
save_rows({"fitted start": samples[name], "white start": white},
          f"{name}: start from a fitted Gaussian or from grey + white noise", "prior_samples_start.png")

# %%
# The evolution of one chain
# --------------------------
# Every few steps we keep the state of the chain; the strip and the GIF show coarse structure
# settling first, then finer detail as the noise level falls.
states = []
every = max(1, STEPS // 8)


def record(i, x, sigma):
    if i % every == every - 1:
        states.append((sigma, x[0].clamp(0, 1).permute(1, 2, 0).numpy().copy()))


sample_prior(den, n=1, size=SIZE, steps=STEPS, seed=0, callback=record)
fig, axes = plt.subplots(1, len(states), figsize=(1.5 * len(states), 1.9), squeeze=False)
for ax, (sigma, img) in zip(axes[0], states):
    ax.imshow(img)
    ax.set_title(f"σ={sigma * 255:.1f}/255", fontsize=7)
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
fig.savefig(os.path.join(OUT, "prior_chain_strip.png"), dpi=120)

import imageio.v3 as iio  # noqa: E402

frames = [np.round(np.kron(img, np.ones((2, 2, 1))) * 255).astype(np.uint8) for _, img in states]
iio.imwrite(os.path.join(OUT, "prior_chain.gif"), frames, duration=250, loop=0)
print(f"wrote {OUT}/prior_samples.png, prior_samples_start.png, prior_chain_strip.png, prior_chain.gif")

# %%
# References
# ----------
# - Z. Kadkhodaie, E. P. Simoncelli, "Stochastic solutions for linear inverse problems using the prior
#   implicit in a denoiser", NeurIPS 2021 (arXiv:2007.13640).
# - Y. Song, S. Ermon, "Generative modeling by estimating gradients of the data distribution",
#   NeurIPS 2019.
# - B. Efron, "Tweedie's formula and selection bias", JASA 106, 2011.
# - R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk, "VibrantLeaves: a principled parametric image
#   generator for training deep restoration models", arXiv:2504.10201, 2025.
