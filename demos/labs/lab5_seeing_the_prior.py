# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 5 — Seeing the prior inside a denoiser
#
# *pnpleaves teaching labs. Course: "Generative models for images", part III "Diffusion or
# score-based generative models" (B. Galerne), and the VibrantLeaves talk (R. Achddou).*
#
# A denoiser trained with the squared loss is an MMSE estimator (Lab 3). Tweedie's formula turns it
# into the **score** of the noisy image distribution, and the score is all a Langevin sampler needs.
# So a denoiser trained on VibrantLeaves images can *draw* images: they show which structures it
# believes in. The same machinery samples the **posterior** of an inverse problem, and gives an
# uncertainty map along with the restored image.
#
# **Learning goals.** After this lab you can
#
# 1. state and check Tweedie's (Miyasawa's) formula
#    $D(y, \sigma) = y + \sigma^2\nabla\log p_\sigma(y)$, exactly on a 1-D mixture and on a Gaussian
#    image model;
# 2. write the unadjusted Langevin algorithm (ULA) and annealed Langevin dynamics with a denoiser;
# 3. sample the priors implicit in `vl-drunet` and `dl-drunet` with `sample_prior`, and compare what
#    they learned;
# 4. sample the posterior of a deblurring and an inpainting problem with PnP-ULA (`sample_posterior`),
#    and read the posterior mean and the standard-deviation (uncertainty) map.
#
# Cells tagged `exercise` are for you; the teacher version also has the `solution` cells.
# `PNPLEAVES_FAST=1` uses tiny images and short chains (the samples are then rough). Figures are saved
# under `lab_out/lab5/` in script mode.

# %%
import os
from pathlib import Path

import deepinv as dinv
import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage import data

import pnpleaves as pl
from pnpleaves.analysis import power_spectrum_slope
from pnpleaves.metrics import psnr
from pnpleaves.sampling import GaussianDenoiser, GaussianFit, sample_posterior, sample_prior, tweedie_score

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
SIZE = 32 if FAST else 64  # side of the sampled images
N_SAMPLES = 4 if FAST else 8
OUT = Path(os.environ.get("PNPLEAVES_LAB_OUT", "lab_out")) / "lab5"
OUT.mkdir(parents=True, exist_ok=True)


def show(fig, name):
    """Show ``fig`` inline in a notebook; save it under OUT (and close it) when run as a script."""
    fig.savefig(OUT / f"{name}.png", dpi=80, bbox_inches="tight")
    if "inline" in plt.get_backend() or "widget" in plt.get_backend():
        plt.show()
    else:
        plt.close(fig)


def grid(rows, name, title=""):
    """rows: {label: (n, 3, H, W) tensor}; one row of images per label."""
    n = max(len(x) for x in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.7 * n, 1.8 * len(rows)), squeeze=False)
    for ax_row, (label, x) in zip(axes, rows.items()):
        for k, ax in enumerate(ax_row):
            if k < len(x):
                ax.imshow(x[k].detach().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    show(fig, name)


den_vl = pl.load_prior("vl-drunet")
den_dl = pl.load_prior("dl-drunet")
print(f"fast mode: {FAST}; the priors were trained on noise levels {den_vl.sigma_range[0] * 255:.0f}.."
      f"{den_vl.sigma_range[1] * 255:.0f}/255")

# %% [markdown]
# ## 1. Tweedie's formula
#
# Let $y = x + \sigma n$ with $x \sim p$ and $n \sim \mathcal N(0, \mathrm{Id})$. The density of $y$ is
# the smoothed prior $p_\sigma = p * \mathcal N(0, \sigma^2\mathrm{Id})$, and
#
# $$\mathbb E[x \mid y] = y + \sigma^2 \nabla_y \log p_\sigma(y).$$
#
# (Differentiate $p_\sigma(y) = \int p(x)\, \varphi_\sigma(y - x)\,dx$ under the integral:
# $\nabla p_\sigma(y) = \int p(x)\,\varphi_\sigma(y - x)\,\frac{x - y}{\sigma^2}\,dx$, and divide by
# $p_\sigma(y)$.) So the MMSE denoiser gives the score:
# $\nabla\log p_\sigma(y) = (D(y, \sigma) - y)/\sigma^2$, `pnpleaves.sampling.tweedie_score`.
#
# ### Exercise 1 — Tweedie in one dimension
#
# Take the two-level pixel of Lab 3 made a little richer: $x$ is a mixture of three narrow Gaussians
# (means $0.15, 0.5, 0.85$, std $0.03$, weights $0.3, 0.2, 0.5$). For $\sigma = 0.1$:
#
# 1. compute $p_\sigma(y)$ in closed form (a mixture of Gaussians with variances $0.03^2 + \sigma^2$) and
#    its score by finite differences of $\log p_\sigma$;
# 2. compute $\mathbb E[x \mid y]$ by numerical integration over a fine grid of $x$;
# 3. check that $\mathbb E[x\mid y] = y + \sigma^2 \partial_y \log p_\sigma(y)$ on $y \in [-0.2, 1.2]$.

# %% tags=["exercise"]
means, stds, weights = np.array([0.15, 0.5, 0.85]), np.array([0.03, 0.03, 0.03]), np.array([0.3, 0.2, 0.5])
sig1 = 0.1
ys = np.linspace(-0.2, 1.2, 401)
# p_sigma = ...
# score = ...
# posterior_mean = ...

# %% tags=["solution"]
means, stds, weights = np.array([0.15, 0.5, 0.85]), np.array([0.03, 0.03, 0.03]), np.array([0.3, 0.2, 0.5])
sig1 = 0.1
ys = np.linspace(-0.2, 1.2, 401)


def gauss(t, m, s):
    return np.exp(-((t - m) ** 2) / (2 * s**2)) / np.sqrt(2 * np.pi * s**2)


def p_sigma(y, sigma):
    return sum(w * gauss(y, m, np.sqrt(s**2 + sigma**2)) for m, s, w in zip(means, stds, weights))


h = 1e-5
score = (np.log(p_sigma(ys + h, sig1)) - np.log(p_sigma(ys - h, sig1))) / (2 * h)
xs = np.linspace(-0.5, 1.5, 4001)
prior = sum(w * gauss(xs, m, s) for m, s, w in zip(means, stds, weights))
lik = gauss(ys[:, None], xs[None, :], sig1)  # p(y | x)
posterior_mean = (lik * prior * xs).sum(1) / (lik * prior).sum(1)
err = np.abs(posterior_mean - (ys + sig1**2 * score)).max()
print(f"max |E[x|y] - (y + sigma^2 score)| = {err:.1e}")
assert err < 1e-4

fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
axes[0].plot(xs, prior / prior.max(), label="prior p (scaled)")
axes[0].plot(ys, p_sigma(ys, sig1) / p_sigma(ys, sig1).max(), label="p_sigma (scaled)")
axes[0].legend(fontsize=8)
axes[1].plot(ys, ys, ":", color="gray")
axes[1].plot(ys, posterior_mean, label="E[x|y] (integration)")
axes[1].plot(ys, ys + sig1**2 * score, "--", label="y + sigma^2 score")
axes[1].legend(fontsize=8)
show(fig, "tweedie_1d")

# %% [markdown]
# ### Tweedie on a Gaussian image model
#
# For $x \sim \mathcal N(\mu, \Sigma)$, $p_\sigma = \mathcal N(\mu, \Sigma + \sigma^2 I)$: the score is
# $-(\Sigma + \sigma^2 I)^{-1}(y - \mu)$ and the MMSE denoiser is the Wiener filter
# $\mu + \Sigma(\Sigma + \sigma^2 I)^{-1}(y - \mu)$. pnpleaves fits a *stationary* Gaussian (mean, colour
# covariance, power spectrum) to images (`GaussianFit.from_images`) and gives its exact MMSE denoiser
# (`GaussianDenoiser`) and exact score (`.score`). Check Tweedie on it:

# %%
gen = torch.Generator().manual_seed(0)
vl_images = torch.stack([torch.from_numpy(pl.vibrant_leaves(SIZE, seed=100 + i)).permute(2, 0, 1)
                         for i in range(16 if FAST else 64)])
fit = GaussianFit.from_images(vl_images)
gauss_den = GaussianDenoiser(fit)
yg = vl_images[:2] + 0.1 * torch.randn(vl_images[:2].shape, generator=gen)
gap = (tweedie_score(gauss_den, yg, 0.1) - gauss_den.score(yg, 0.1)).abs().max().item()
print(f"Gaussian model: max |Tweedie score - exact score| = {gap:.1e}")

# %% [markdown]
# ## 2. Langevin dynamics
#
# The unadjusted Langevin algorithm (ULA) samples (approximately) a density $\pi$ from its score:
#
# $$x_{k+1} = x_k + \delta\,\nabla\log\pi(x_k) + \sqrt{2\delta}\, z_k, \qquad z_k \sim \mathcal N(0, I).$$
#
# With a denoiser we only know the score of $p_\sigma$, for $\sigma$ in the training range. For
# multimodal targets a single $\sigma$ mixes badly (the chain is stuck in one mode);
# **annealed Langevin** (Song & Ermon, 2019) runs a few ULA steps at each level of a decreasing ladder
# $\sigma_1 > \dots > \sigma_L$ with steps $\delta_l = h\,\sigma_l^2$: at large $\sigma$ the modes are
# connected, and the small $\sigma$ refine.
#
# ### Exercise 2 — ULA in one dimension
#
# With the 1-D mixture above, run 5,000 independent chains of ULA targeting $p_\sigma$ for
# $\sigma = 0.1$ (score from the closed form), $\delta = 10^{-4}$, 500 steps, all started at $0.5$, and
# compare the histogram of the final states with $p_\sigma$. Then target $\sigma = 0.02$ with the same
# budget: what goes wrong, and how does annealing fix it?

# %% tags=["exercise"]
def score_1d(y, sigma, h=1e-5):
    return (np.log(p_sigma(y + h, sigma)) - np.log(p_sigma(y - h, sigma))) / (2 * h)


# x = np.full(5000, 0.5)
# ...

# %% tags=["solution"]
def score_1d(y, sigma, h=1e-5):
    return (np.log(p_sigma(y + h, sigma)) - np.log(p_sigma(y - h, sigma))) / (2 * h)


def ula_1d(sigmas, steps_per_level, delta_of, seed=0):
    rng = np.random.default_rng(seed)
    x = np.full(5000, 0.5)
    for s in sigmas:
        delta = delta_of(s)
        for _ in range(steps_per_level):
            x = x + delta * score_1d(x, s) + np.sqrt(2 * delta) * rng.standard_normal(x.shape)
    return x


chains = {
    "ULA, sigma = 0.1": (ula_1d([0.1], 500, lambda s: 1e-4), 0.1),
    "ULA, sigma = 0.02": (ula_1d([0.02], 500, lambda s: 1e-4), 0.02),
    "annealed 0.3 -> 0.02": (ula_1d(np.geomspace(0.3, 0.02, 10), 50, lambda s: 0.1 * s**2), 0.02),
}
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
for ax, (title, (x, s)) in zip(axes, chains.items()):
    ax.hist(x, bins=80, range=(-0.2, 1.2), density=True, alpha=0.6)
    ax.plot(ys, p_sigma(ys, s), "k")
    ax.set_title(title, fontsize=9)
show(fig, "ula_1d")
# With sigma = 0.02 the modes are separated by regions of almost zero density: 500 steps of size 1e-4
# (a displacement of about sqrt(2 * 500 * 1e-4) = 0.3 in total, but the drift pulls back into the
# nearest mode) leave most chains in the middle mode where they started, with the wrong weights.
# Annealing starts with overlapping modes (sigma = 0.3) and sharpens them gradually.

# %% [markdown]
# ### Exercise 3 — annealed Langevin with a trained denoiser
#
# Write `annealed_langevin(denoiser, n, levels, steps, h, seed)` for images: start from a sample of
# the Gaussian model `fit` at the first level (`fit.sample(n, sigma=levels[0], generator=...)`: the
# coarse contrast and colours then start right), run `steps` ULA steps per level with the Tweedie score
# and $\delta_l = h\sigma_l^2$, and finish with one denoising step $D(x, \sigma_L)$ (Tweedie's estimate of
# the clean image). Sample `vl-drunet` with 10 levels from $75/255$ to $3/255$.

# %% tags=["exercise"]
def annealed_langevin(denoiser, n, levels, steps, h=0.1, seed=0):
    raise NotImplementedError("Exercise 3")


# %% tags=["solution"]
def annealed_langevin(denoiser, n, levels, steps, h=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = fit.sample(n, sigma=float(levels[0]), generator=g)
    with torch.no_grad():
        for s in levels:
            delta = h * float(s) ** 2
            for _ in range(steps):
                x = x + delta * tweedie_score(denoiser, x, float(s)) + np.sqrt(2 * delta) * torch.randn(
                    x.shape, generator=g)
        return denoiser(x, float(levels[-1])).clamp(0, 1)


levels = np.geomspace(75 / 255, 3 / 255, 10)
ours = annealed_langevin(den_vl, N_SAMPLES, levels, steps=3 if FAST else 10)
grid({"our annealed Langevin": ours, "VibrantLeaves images": vl_images[:N_SAMPLES]}, "our_langevin",
     f"vl-drunet prior, {SIZE}x{SIZE}")

# %% [markdown]
# ## 3. What did each prior learn?
#
# `pnpleaves.sampling.sample_prior` implements three samplers (`"ancestral"`, the default, a
# variance-exploding ancestral sampler in the spirit of Kadkhodaie & Simoncelli; `"annealed"`, Song &
# Ermon; `"kadkhodaie"`, their Algorithm 1), each with its own seed and a start fitted to the
# training images. Below, the same seeds for both shipped priors.
#
# ### Exercise 4 — Dead Leaves against VibrantLeaves, by eye and by numbers
#
# 1. Draw samples of both priors with the same seed and describe what you see: occlusions? textures?
#    depth of field?
# 2. Compare the power-spectrum slope $\alpha$ of $|\hat I(\nu)| \simeq C\nu^{-\alpha}$
#    (`pnpleaves.analysis.power_spectrum_slope`) of the samples with that of Dead Leaves and
#    VibrantLeaves images of the same size (natural images: $\alpha \approx 1.4$ in the talk).

# %%
steps = 30 if FAST else 150
samples = {
    "dl-drunet": sample_prior(den_dl, n=N_SAMPLES, size=SIZE, steps=steps, seed=0),
    "vl-drunet": sample_prior(den_vl, n=N_SAMPLES, size=SIZE, steps=steps, seed=0),
}
grid(samples, "prior_samples", f"sample_prior, ancestral, {steps} steps, seed 0")

# %% tags=["exercise"]
# slope, r2 = power_spectrum_slope(images_as_numpy_stack)   # (N, H, W, C) in [0, 1]

# %% tags=["solution"]
def as_stack(x):
    return x.detach().clamp(0, 1).permute(0, 2, 3, 1).numpy().astype(np.float64)


dl_images = np.stack([pl.dead_leaves(SIZE, seed=100 + i) for i in range(16)])
sets = {"Dead Leaves images": dl_images, "VibrantLeaves images": as_stack(vl_images),
        "dl-drunet samples": as_stack(samples["dl-drunet"]), "vl-drunet samples": as_stack(samples["vl-drunet"])}
for name, stack in sets.items():
    slope, r2 = power_spectrum_slope(stack)
    print(f"{name:22s}: spectrum slope {slope:.2f} (R^2 {r2:.3f})")
# At 32-64 pixels the slopes are rough, but the trend of the talk shows: the samples of each prior
# follow the statistics of its training images more than those of the other.

# %% [markdown]
# ## 4. Posterior sampling and uncertainty
#
# For $y = Ax + n$ the posterior score is the sum of the likelihood's score and the prior's:
#
# $$\nabla\log p(x\mid y) = -\tfrac{1}{\sigma_y^2}A^\top(Ax - y) + \nabla\log p(x)
#   \approx -\tfrac{1}{\sigma_y^2}A^\top(Ax - y) + \tfrac{1}{\epsilon}\big(D(x, \sqrt\epsilon) - x\big).$$
#
# **PnP-ULA** (Laumont et al., 2022) runs ULA with this score (plus a weak pull back into a box,
# for stability). Averaging the chain gives the posterior mean (the MMSE restoration); its pixelwise
# standard deviation is an **uncertainty map**: large where the data leave the image undetermined.
# Problems are deepinv physics objects.

# %%
photo = data.astronaut()[150:150 + 4 * SIZE, 180:180 + 4 * SIZE].astype(np.float32) / 255.0
photo = photo.reshape(SIZE, 4, SIZE, 4, 3).mean(axis=(1, 3))
x_true = torch.from_numpy(photo).permute(2, 0, 1)[None].contiguous()
sigma_y = 2 / 255
blur = dinv.physics.BlurFFT(img_size=(3, SIZE, SIZE), filter=torch.ones(1, 1, 5, 5) / 25,
                            noise_model=dinv.physics.GaussianNoise(sigma=sigma_y))
gen = torch.Generator().manual_seed(1)
y_blur = blur.A(x_true) + sigma_y * torch.randn(x_true.shape, generator=gen)
n_iter = 300 if FAST else 3000
mean_b, std_b, samp_b = sample_posterior(y_blur, blur, den_vl, method="pnp-ula", n_samples=N_SAMPLES,
                                         n_iter=n_iter, seed=0)
print(f"deblurring: observation {psnr(y_blur, x_true).item():.2f} dB, posterior mean "
      f"{psnr(mean_b.clamp(0, 1), x_true).item():.2f} dB ({n_iter} PnP-ULA iterations)")

mask = (torch.rand(1, 1, SIZE, SIZE, generator=gen) > 0.6).float().expand(1, 3, SIZE, SIZE).contiguous()
inpaint = dinv.physics.Inpainting(img_size=(3, SIZE, SIZE), mask=mask,
                                  noise_model=dinv.physics.GaussianNoise(sigma=sigma_y))
y_inp = inpaint.A(x_true) + mask * sigma_y * torch.randn(x_true.shape, generator=gen)
# The Langevin step is limited by the data term (delta ~ sigma_y^2 / 3): from the zero-filled image the
# missing pixels would take many thousands of steps to fill in. Start the chain at the PnP (MAP-like)
# restoration instead, a common warm start that shortens the burn-in.
x_start = pl.pnp_inpaint(y_inp, mask[0, 0], prior=den_vl, sigma=sigma_y)
mean_i, std_i, samp_i = sample_posterior(y_inp, inpaint, den_vl, method="pnp-ula", n_samples=N_SAMPLES,
                                         n_iter=n_iter, seed=0, x_init=x_start)
print(f"inpainting (60 % missing): PnP-HQS start {psnr(x_start, x_true).item():.2f} dB, posterior mean "
      f"{psnr(mean_i.clamp(0, 1), x_true).item():.2f} dB")

fig, axes = plt.subplots(2, 5, figsize=(11, 4.6))
for row, (label, yy, mean, std, samp) in zip(axes, (("deblurring", y_blur, mean_b, std_b, samp_b),
                                                     ("inpainting", y_inp, mean_i, std_i, samp_i))):
    ims = [(yy, "observation"), (mean, "posterior mean"), (samp[:1], "a sample"), (samp[1:2], "another")]
    for ax, (im, t) in zip(row[:4], ims):
        ax.imshow(im[0].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(t, fontsize=8)
        ax.axis("off")
    row[4].imshow(std[0].mean(0).numpy(), cmap="magma")
    row[4].set_title("posterior std", fontsize=8)
    row[4].axis("off")
    row[0].set_ylabel(label)
show(fig, "posterior")

# %% [markdown]
# ### Exercise 5 — is the uncertainty calibrated?
#
# If the posterior were exact (and the chain long enough), the error of the posterior mean at each
# pixel would be of the size of the posterior std. Measure it on the inpainting problem:
#
# 1. the correlation between $|\bar x - x|$ and the std map, over pixels;
# 2. the fraction of pixels where $|\bar x - x| \le 2\,\mathrm{std}$ (about 95 % for a Gaussian
#    posterior), separately on observed and missing pixels.
#
# What do you conclude? Which sources of miscalibration can you name?

# %% tags=["exercise"]
# err_map = (mean_i - x_true).abs()
# ...

# %% tags=["solution"]
err_map = (mean_i - x_true).abs()
corr = torch.corrcoef(torch.stack([err_map.flatten(), std_i.flatten()]))[0, 1].item()
inside = err_map <= 2 * std_i
print(f"corr(|error|, std) = {corr:.2f}; |error| <= 2 std on {inside[mask > 0].float().mean():.0%} of observed "
      f"and {inside[mask == 0].float().mean():.0%} of missing pixels")
# The std is large where the error is large (missing pixels, edges), so it is a useful map of where
# not to trust the restoration. It is not perfectly calibrated: the prior is learned from synthetic
# images (model mismatch on a photograph), PnP-ULA samples a prior smoothed at epsilon = (5/255)^2 and
# a discretised Langevin diffusion (bias of order delta), and a short chain underestimates the spread.

# %% [markdown]
# ### Exercise 6 — questions
#
# 1. Why can the denoiser's score only be trusted for $\sigma$ inside its training range, and what does
#    that imply for the first level of the annealing ladder?
# 2. The posterior mean is the MMSE estimate. Compare it (in PSNR and by eye) with
#    `pl.pnp_deblur` on the same problem. Which looks sharper, and which has the better PSNR? Why?
# 3. Why do the prior samples look so different from the restored images of Lab 4, although the same
#    network is used?

# %% [markdown] tags=["solution"]
# **Answers.**
#
# 1. Outside its range, the network never saw inputs with that noise level: its output is an
#    extrapolation, not $\mathbb E[x\mid y]$. The ladder must start at most at the top of the range
#    ($75/255$ here), which is too small to erase the coarse structure of a random start: hence the
#    start from a Gaussian fitted to the training images, which gets the large scales right.
# 2. PnP-HQS is MAP-like: it converges towards a sharp image on the data's constraint set; the
#    posterior mean averages many plausible images and is smoother where they disagree. By definition
#    the exact posterior mean has the lowest expected squared error, but the PnP-ULA mean here comes
#    from a short chain and a smoothed prior, so HQS often wins in PSNR in practice; the mean still
#    wins on "not inventing" details.
# 3. A restoration is pinned by the data: the prior only fills in what the data leave free. A prior
#    sample has no data at all: every structure comes from the prior, so it shows the prior's biases
#    (flat disks for Dead Leaves; shapes, textures and blur for VibrantLeaves) in full.

# %% [markdown]
# ## Going further
#
# - Try the other samplers: `sample_prior(..., method="annealed")` and `method="kadkhodaie"`, and
#   `sample_posterior(..., method="kadkhodaie")` for noiseless inpainting (see the gallery example
#   "posterior sampling").
# - Sample the DnCNN you trained in Lab 3 (`prior="lab_out/lab3/run-dncnn-vl"`): how much training does
#   a denoiser need before its samples look like its training images?
# - Memorisation: compare samples with their nearest training images. A prior trained on 1,000 images
#   of $512^2$ pixels should generalise, not memorise (Kadkhodaie et al., ICLR 2024).
# - Reading: B. Efron, "Tweedie's formula and selection bias", JASA 106, 2011; K. Miyasawa, 1961;
#   Y. Song, S. Ermon, "Generative modeling by estimating gradients of the data distribution",
#   NeurIPS 2019; Z. Kadkhodaie, E. P. Simoncelli, "Stochastic solutions for linear inverse problems
#   using the prior implicit in a denoiser", NeurIPS 2021; R. Laumont et al., "Bayesian imaging using
#   Plug & Play priors: when Langevin meets Tweedie", SIAM J. Imaging Sci. 15(2), 2022.

# %%
print("lab5_seeing_the_prior: done")
