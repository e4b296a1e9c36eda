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
# # Lab 3 — Denoising CNNs trained on synthetic images
#
# *pnpleaves teaching labs. Course: "Image denoising with deep learning" (F. Richard) and the
# VibrantLeaves talk (R. Achddou).*
#
# A denoiser estimates a clean image $x$ from $y = x + n$, $n \sim \mathcal N(0, \sigma^2\mathrm{Id})$.
# Deep denoisers learn this map from pairs $(x_i, y_i)$ without ever writing the prior $p(x)$ down:
# the prior is implicit in the **training images**. Here the training images are not photographs but
# synthetic **Dead Leaves** (random occluding disks) and **VibrantLeaves** (shapes, textures, depth
# of field) images, and we test on photographs.
#
# **Learning goals.** After this lab you can
#
# 1. state the difference between the MAP and the MMSE denoiser, and which one a network trained with
#    the squared loss approximates;
# 2. describe DnCNN (residual learning, receptive field, noise-level map) and count its parameters;
# 3. generate synthetic training sets and train a small DnCNN with pnpleaves' generators and trainer;
# 4. evaluate denoisers on natural images at several noise levels and compare them with the exact MMSE
#    denoiser of a Gaussian model and with the shipped DRUNet priors;
# 5. look at what the residual $y - D(y)$ contains, and what a denoiser removes from a clean image.
#
# Cells tagged `exercise` are for you; the teacher version also has the `solution` cells. With
# `PNPLEAVES_FAST=1` the networks train for a few dozen seconds only (the numbers then say little);
# without it, each network trains for a few minutes. Runs are written under `lab_out/lab3/`; running the
# lab again reuses them (delete the folder to retrain).

# %%
import csv
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage import data

import pnpleaves as pl
from pnpleaves.analysis import identity_psnr
from pnpleaves.generators import make_config, write_dataset
from pnpleaves.metrics import psnr
from pnpleaves.models import DnCNN, GaussianDenoiser, GaussianFit, count_parameters
from pnpleaves.training import TrainConfig, evaluate_denoiser, train

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
OUT = Path(os.environ.get("PNPLEAVES_LAB_OUT", "lab_out")) / "lab3"
OUT.mkdir(parents=True, exist_ok=True)
THREADS = torch.get_num_threads()  # set OMP_NUM_THREADS to use fewer cores

N_TRAIN = 32 if FAST else 300  # synthetic training images per generator
TRAIN_SIZE = 96 if FAST else 128  # their side
STEPS = 150 if FAST else 1000  # training steps per network
DEPTH, WIDTH = (8, 32) if FAST else (10, 48)  # DnCNN depth (convolutions) and width (channels)
TEST = 96 if FAST else 192  # side of the natural test crops
SIGMAS = (15 / 255, 25 / 255, 50 / 255)


def show(fig, name):
    """Show ``fig`` inline in a notebook; save it under OUT (and close it) when run as a script."""
    fig.savefig(OUT / f"{name}.png", dpi=80, bbox_inches="tight")
    if "inline" in plt.get_backend() or "widget" in plt.get_backend():
        plt.show()
    else:
        plt.close(fig)


def to_img(x):
    """(1, C, H, W) tensor -> (H, W, C) array for imshow."""
    return x[0].detach().clamp(0, 1).permute(1, 2, 0).numpy()


print(f"fast mode: {FAST}; torch threads: {THREADS}")

# %% [markdown]
# ## 1. MAP and MMSE: two denoisers from one posterior
#
# By Bayes' rule $p(x \mid y) \propto \exp\!\big(-\|y - x\|^2 / 2\sigma^2\big)\, p(x)$. Two estimators:
#
# $$\hat x_{\mathrm{MAP}}(y) = \arg\max_x p(x \mid y)
#   = \arg\min_x \frac{\|x - y\|^2}{2\sigma^2} - \log p(x), \qquad
#   \hat x_{\mathrm{MMSE}}(y) = \mathbb E[x \mid y] = \int x\, p(x \mid y)\, dx .$$
#
# The MMSE estimator minimises $\mathbb E\|\hat x(y) - x\|^2$ over *all* functions of $y$. A network
# $f_\theta$ trained with the squared loss $\mathbb E\|f_\theta(y) - x\|^2$ on pairs drawn from the
# training distribution therefore approximates $\mathbb E[x\mid y]$ **for that distribution**: its prior
# is the training set. (With the $\ell^1$ loss it approximates the posterior *median*.) For a Gaussian
# prior, MAP = MMSE = the Wiener filter; for non-Gaussian priors they differ.
#
# ### Exercise 1 — a binary pixel
#
# Take the simplest "dead leaves" pixel: $x \in \{a, b\}$ with probability $1/2$ each ($a = 0.2$,
# $b = 0.8$), and $y = x + \sigma n$.
#
# 1. Show that $\mathbb E[x \mid y] = a + (b - a)\,\mathrm{sigmoid}\!\Big(\frac{(y-a)^2 - (y-b)^2}{2\sigma^2}\Big)$
#    and that the MAP estimate is the nearest of $a$, $b$.
# 2. Plot both against $y$ for $\sigma = 0.15$.
# 3. By Monte Carlo (with `np.random.default_rng(0)`), estimate the mean squared error and the error
#    rate $P(\hat x \neq x)$ of both. Which is better for which criterion?

# %% tags=["exercise"]
a, b, sig = 0.2, 0.8, 0.15


def mmse_binary(y):
    raise NotImplementedError("Exercise 1")


def map_binary(y):
    raise NotImplementedError("Exercise 1")


# %% tags=["solution"]
a, b, sig = 0.2, 0.8, 0.15


def mmse_binary(y):
    logit = ((y - a) ** 2 - (y - b) ** 2) / (2 * sig**2)
    return a + (b - a) / (1 + np.exp(-logit))


def map_binary(y):
    return np.where(np.abs(y - a) < np.abs(y - b), a, b)


rng = np.random.default_rng(0)
x_mc = np.where(rng.random(200_000) < 0.5, a, b)
y_mc = x_mc + sig * rng.standard_normal(x_mc.shape)
for name, est in (("MMSE", mmse_binary), ("MAP", map_binary)):
    xh = est(y_mc)
    print(f"{name}: MSE = {np.mean((xh - x_mc) ** 2):.4f}, P(x^ != x) = {np.mean(np.abs(xh - x_mc) > 1e-9):.3f}")
# MMSE wins in MSE (it is optimal for it); MAP wins in error rate: the MMSE output is almost never
# exactly a or b, it hedges between them near the decision boundary.
ys = np.linspace(-0.2, 1.2, 300)
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.plot(ys, ys, ":", color="gray", label="identity")
ax.plot(ys, mmse_binary(ys), label="MMSE  E[x | y]")
ax.plot(ys, map_binary(ys), label="MAP")
ax.set_xlabel("y")
ax.legend(fontsize=8)
show(fig, "map_vs_mmse")

# %% [markdown]
# The MMSE denoiser is *smooth* in $y$ and *shrinks* towards the mean where it hesitates: at high
# noise levels a trained denoiser returns blurry averages, not images from the prior (Lab 5 samples the
# prior instead).
#
# ## 2. DnCNN
#
# DnCNN (Zhang et al., 2017) is a plain stack of $3\times3$ convolutions and ReLUs that predicts the
# **noise**, not the image: $D(y, \sigma) = y - R_\theta([y, \sigma])$ (residual learning). The
# original uses 17 layers and batch normalisation; pnpleaves' `DnCNN` has no batch normalisation (so a
# result does not depend on how images are batched) and optionally takes a constant noise-level map as
# an extra input channel (`noise_map=True`: *non-blind*).
#
# ### Exercise 2 — size and receptive field
#
# For `DnCNN(depth=D, nf=F, noise_map=True)` on colour images:
#
# 1. count the parameters by hand (weights and biases of the first, middle and last convolutions) and
#    check with `pnpleaves.models.count_parameters`;
# 2. what is the receptive field (the size of the input window one output pixel depends on)?

# %% tags=["exercise"]
net = DnCNN(in_channels=3, out_channels=3, depth=DEPTH, nf=WIDTH, noise_map=True)
# by_hand = ...
# receptive_field = ...

# %% tags=["solution"]
net = DnCNN(in_channels=3, out_channels=3, depth=DEPTH, nf=WIDTH, noise_map=True)
first = (3 + 1) * WIDTH * 9 + WIDTH  # 3 colours + the sigma map in
middle = (DEPTH - 2) * (WIDTH * WIDTH * 9 + WIDTH)
last = WIDTH * 3 * 9 + 3
by_hand = first + middle + last
receptive_field = 2 * DEPTH + 1  # each 3x3 convolution adds one pixel on each side
print(f"DnCNN depth {DEPTH}, width {WIDTH}: {by_hand} parameters by hand, "
      f"{count_parameters(net)} counted; receptive field {receptive_field}x{receptive_field}")
assert by_hand == count_parameters(net)

# %% [markdown]
# ## 3. Synthetic training sets
#
# `pnpleaves.generators` draws images that depend only on `(config, seed)`. We write a small training
# set of each kind with `write_dataset` (PNG files plus a `manifest.jsonl`), and look at a few.
# The Dead Leaves model: disks with radii $p(r) \propto r^{-\alpha}$ ($\alpha = 3$: scale invariance)
# and colours drawn from natural photographs, falling on top of each other until the plane is covered.
# VibrantLeaves adds free-form and polygonal shapes, pseudo-periodic and micro-textures, and depth of
# field.

# %%
folders = {}
for model in ("dl", "vl"):
    folders[model] = OUT / f"data-{model}-{TRAIN_SIZE}"
    counts = write_dataset(folders[model], make_config(model), n=N_TRAIN, size=TRAIN_SIZE, seed=0)
    print(f"{model}: {counts} in {folders[model]}")

fig, axes = plt.subplots(2, 4, figsize=(9, 4.6))
for row, (model, fn) in zip(axes, (("Dead Leaves", pl.dead_leaves), ("VibrantLeaves", pl.vibrant_leaves))):
    for j, ax in enumerate(row):
        ax.imshow(fn(TRAIN_SIZE, seed=j))
        ax.axis("off")
    row[0].set_title(model, fontsize=9, loc="left")
show(fig, "training_images")

# %% [markdown]
# ## 4. Training a small DnCNN on each
#
# A training run is described by a `TrainConfig` (the same object a TOML file under
# `pnpleaves/configs/` describes). Each step draws a batch of random patches from the training
# images, adds Gaussian noise with $\sigma \sim \mathcal U(0, 50/255)$ per patch, and takes an Adam
# step on the squared error (the MMSE objective of Section 1). Batch $t$ is a function of
# `(seed, t)` only, so a run is reproducible.
#
# ### Exercise 3 — the second run
#
# The Dead Leaves configuration is given. Build the VibrantLeaves one from it with
# `cfg.override(**{"dotted.key": value})` (change the data folder, the name and the output folder),
# and train it.

# %%
def run_config(model):
    return TrainConfig.from_dict({
        "name": f"dncnn-{model}",
        "seed": 0,
        "output_dir": str(OUT / f"run-dncnn-{model}"),
        "model": {"arch": "dncnn", "kwargs": {"in_channels": 3, "out_channels": 3, "depth": DEPTH,
                                              "nf": WIDTH, "noise_map": True}},
        "data": {"source": "cache", "cache_dir": str(folders[model]), "generator": model,
                 "patch_size": 40, "batch_size": 16},
        "noise": {"sigma_range": [0.0, 50 / 255]},
        "optim": {"loss": "l2", "lr": 1e-3, "halve_every": max(STEPS // 3, 1)},
        "train": {"steps": STEPS, "log_every": 10, "checkpoint_every": 0, "eval_every": 0,
                  "device": "cpu", "threads": THREADS},
    })


cfg_dl = run_config("dl")
result_dl = train(cfg_dl, resume=True)  # resume: a second run of the lab reuses the finished run
print(f"Dead Leaves run: step {result_dl.step}, {result_dl.wall_time_s:.0f} s")

# %% tags=["exercise"]
# cfg_vl = cfg_dl.override(**{...})
# result_vl = train(cfg_vl, resume=True)

# %% tags=["solution"]
cfg_vl = cfg_dl.override(**{"name": "dncnn-vl", "output_dir": str(OUT / "run-dncnn-vl"),
                            "data.cache_dir": str(folders["vl"]), "data.generator": "vl"})
result_vl = train(cfg_vl, resume=True)
print(f"VibrantLeaves run: step {result_vl.step}, {result_vl.wall_time_s:.0f} s")

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for model in ("dl", "vl"):
    with open(OUT / f"run-dncnn-{model}" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ax.semilogy([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], label=f"DnCNN on {model.upper()}")
ax.set_xlabel("step")
ax.set_ylabel("training loss (MSE)")
ax.legend(fontsize=8)
show(fig, "loss_curves")

# A run folder is a prior like any other: load_prior reads its weights and architecture.
den_dl = pl.load_prior(OUT / "run-dncnn-dl")
den_vl = pl.load_prior(OUT / "run-dncnn-vl")

# %% [markdown]
# ## 5. Testing on photographs
#
# The test images are crops of scikit-image's photographs (shipped with the package). The references:
#
# - `noisy`: do nothing, PSNR $= -20\log_{10}\sigma$;
# - `Gaussian MMSE`: the exact MMSE denoiser of the stationary **Gaussian** model fitted to
#   VibrantLeaves images (mean, colour covariance and power spectrum), i.e. the best *linear* denoiser
#   for that model (a Wiener filter);
# - `vl-drunet`, `dl-drunet`: the priors shipped with pnpleaves, DRUNets (2.4 M parameters) trained
#   for hours on 1,000 images of each kind.
#
# `evaluate_denoiser` adds seeded noise to each image at each $\sigma$, denoises, and averages the PSNR.
#
# ### Exercise 4 — the table
#
# Fill in the dictionary `denoisers` (name → denoiser) with the five denoisers, evaluate them on the
# photographs at $\sigma \in \{15, 25, 50\}/255$, and print the table. Which training set wins? Where
# does the Gaussian model stand, and why does it lose most at high noise?

# %%
def photo_crop(img, side):
    h, w = img.shape[:2]
    top, left = (h - side) // 2, (w - side) // 2
    return img[top:top + side, left:left + side].astype(np.float32) / 255.0


photos = {name: photo_crop(getattr(data, name)(), TEST) for name in ("astronaut", "coffee", "chelsea", "rocket")}
test_images = [torch.from_numpy(p).permute(2, 0, 1)[None].contiguous() for p in photos.values()]
vl_stack = torch.stack([torch.from_numpy(pl.vibrant_leaves(TEST, seed=1000 + i)).permute(2, 0, 1)
                        for i in range(16 if FAST else 64)])
gaussian_mmse = GaussianDenoiser(GaussianFit.from_images(vl_stack))

# %% tags=["exercise"]
denoisers = {
    "noisy": lambda x, sigma: x,
    # "DnCNN-DL (ours)": ...,
}

# %% tags=["solution"]
denoisers = {
    "noisy": lambda x, sigma: x,
    "Gaussian MMSE": gaussian_mmse,
    "DnCNN-DL (ours)": den_dl,
    "DnCNN-VL (ours)": den_vl,
    "dl-drunet": pl.load_prior("dl-drunet"),
    "vl-drunet": pl.load_prior("vl-drunet"),
}

# %%
table = {}
for name, den in denoisers.items():
    res = evaluate_denoiser(den, test_images, list(SIGMAS), ssim=False, names=list(photos), seed=0)
    table[name] = [res.table["denoiser"][s]["psnr"] for s in SIGMAS]
print(f"{'PSNR (dB)':18s}" + "".join(f"  sigma={round(s * 255):>2d}" for s in SIGMAS))
for name, row in table.items():
    print(f"{name:18s}" + "".join(f"  {v:8.2f}" for v in row))

# %% tags=["solution"]
# Expected (full run): VibrantLeaves-trained networks beat Dead Leaves-trained ones of the same
# architecture (textures and depth of field help on photographs), and the long-trained DRUNets beat our
# small DnCNNs. The Gaussian MMSE is the best linear denoiser for its model, but a linear filter cannot
# keep edges while removing noise: it must trade blur against noise frequency by frequency, and that
# trade worsens as sigma grows. Occlusion models are non-Gaussian (sharp edges, heavy-tailed gradients),
# which is what the networks exploit.

# %%
sigma_show = 25 / 255
g = torch.Generator().manual_seed(0)
x = test_images[0]
y = x + sigma_show * torch.randn(x.shape, generator=g)
with torch.no_grad():
    outs = {name: den(y, sigma_show) for name, den in denoisers.items() if name != "noisy"}
fig, axes = plt.subplots(1, len(outs) + 2, figsize=(2.4 * (len(outs) + 2), 2.9))
for ax, (title, im) in zip(axes, [("clean", x), (f"noisy {psnr(y, x).item():.1f} dB", y)] +
                           [(f"{n}\n{psnr(o, x).item():.1f} dB", o) for n, o in outs.items()]):
    ax.imshow(to_img(im))
    ax.set_title(title, fontsize=8)
    ax.axis("off")
show(fig, "denoised_examples")

# %% [markdown]
# ## 6. What the residual learns
#
# DnCNN outputs $R(y) = y - D(y)$. If the denoiser were perfect, $R(y)$ would be exactly the noise
# $n = y - x$. The difference $R(y) - n = x - D(y)$ is the denoiser's error: what it took for noise
# but was image (edges, textures), and noise it left in.
#
# ### Exercise 5 — the residual
#
# For the VibrantLeaves DnCNN and the image above at $\sigma = 25/255$:
#
# 1. show $n$, $R(y)$ and $R(y) - n$ side by side (same grey scale);
# 2. compute the correlation between $R(y)$ and $n$, and the fraction of the noise energy removed,
#    $1 - \|R(y) - n\|^2 / \|n\|^2$;
# 3. compare the radially averaged power spectra of $n$ and $R(y)$: at which frequencies does the
#    residual contain image content?

# %% tags=["exercise"]
noise = y - x
# with torch.no_grad():
#     residual = ...

# %% tags=["solution"]
noise = y - x
with torch.no_grad():
    residual = y - den_vl(y, sigma_show)
err = residual - noise
corr = torch.corrcoef(torch.stack([residual.flatten(), noise.flatten()]))[0, 1].item()
removed = 1 - (err**2).sum().item() / (noise**2).sum().item()
print(f"corr(R(y), n) = {corr:.3f}; fraction of the noise energy removed = {removed:.3f}")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.1))
lim = 2.5 * sigma_show
for ax, (title, im) in zip(axes[:3], (("noise n", noise), ("residual R(y)", residual), ("R(y) - n = x - D(y)", err))):
    ax.imshow(im[0].mean(0).numpy(), cmap="gray", vmin=-lim, vmax=lim)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def radial_power(img):
    """Radially averaged power spectrum of a (H, W) array (integer frequency rings)."""
    p = np.abs(np.fft.fftshift(np.fft.fft2(img))) ** 2
    h, w = img.shape
    yy, xx = np.indices((h, w))
    r = np.hypot(yy - h // 2, xx - w // 2).astype(int)
    prof = np.bincount(r.ravel(), p.ravel()) / np.bincount(r.ravel())
    return prof[1: min(h, w) // 2]


axes[3].loglog(radial_power(noise[0].mean(0).numpy()), label="noise n")
axes[3].loglog(radial_power(residual[0].mean(0).numpy()), label="residual R(y)")
axes[3].loglog(radial_power(err[0].mean(0).numpy()), label="R(y) - n")
axes[3].set_xlabel("frequency (ring)")
axes[3].legend(fontsize=7)
show(fig, "residual")
# The residual is close to white noise at high frequencies; at low frequencies it holds less energy
# than the noise (low-frequency noise is hard to tell from image content) and its error R(y) - n is
# concentrated on edges and textures.

# %% [markdown]
# ### What does a denoiser remove from a clean image?
#
# Apply $D(\cdot, \sigma)$ to a **clean** photograph with a small $\sigma$: a good denoiser should
# return it almost unchanged. The *identity test* (`pnpleaves.analysis.identity_psnr`) measures the
# PSNR of $D(x, \sigma)$ against $x$. A denoiser trained only on flat-coloured disks tends to flatten
# fine natural textures, one trained on textured images less so. This matters for Plug-and-Play
# (Lab 4), whose last iterations call the denoiser at small $\sigma$.

# %%
clean = list(photos.values())
for name in ("DnCNN-DL (ours)", "DnCNN-VL (ours)", "dl-drunet", "vl-drunet"):
    print(f"identity test at sigma = 2/255, {name:16s}: {identity_psnr(denoisers[name], clean, 2 / 255):.2f} dB")

# %% [markdown]
# ### Exercise 6 — questions
#
# 1. Why does residual learning help optimisation? (Think of the network at initialisation.)
# 2. What changes if you train with `noise_map=False` (a *blind* denoiser)? When would you want that?
# 3. Our test photographs are also the source of the Dead Leaves and VibrantLeaves *colours*
#    (`color_source` of the generators). Is the comparison unfair, and how would you check?

# %% [markdown] tags=["solution"]
# **Answers.**
#
# 1. pnpleaves' DnCNN initialises its last layer near zero, so $D \approx \mathrm{Id}$ at the start: the
#    network starts from "return the input", a decent denoiser at low noise, and learns the
#    correction. The residual (the noise) is also simpler, closer to white, than the image itself;
#    the same skip connection is what made very deep ResNets trainable.
# 2. A blind denoiser must estimate $\sigma$ from the image itself; it is convenient when $\sigma$ is
#    unknown, but Plug-and-Play needs to *set* the denoiser's strength at each iteration, which requires
#    a non-blind denoiser (or an explicit noise-level map, as in DRUNet).
# 3. Only the colour histogram leaks (no geometry or texture does). To check, set the generators'
#    `color_source` to a folder of other photographs (or use a parametric colour law:
#    `vl-r2-synthetic`, whose 106 numbers were fitted on the same photographs, or
#    `vl-r2-handcrafted`, 8 numbers set by hand and fitted on no image), retrain, and compare; the
#    VibrantLeaves paper reports small differences.

# %% [markdown]
# ## Going further
#
# - Train longer and wider (no `PNPLEAVES_FAST`, or raise `STEPS`): how does the gap to the shipped
#   DRUNets shrink? The full recipes are `pnpleaves/configs/vl-drunet.toml` and `dl-drunet.toml`
#   (`pnpleaves train CONFIG`).
# - Ablations of the talk: train on VibrantLeaves without textures (`make_config("vl",
#   preset="no-textures")`) or without depth of field (`preset="no-depth"`) and measure the loss.
# - Loss: train with `"loss": "l1"` and compare the outputs at high noise (median against mean).
# - Invariances: is the learned denoiser equivariant to rotations and contrast changes, as the
#   Dead Leaves model is invariant to them? (pnpleaves' analysis tools.)
# - Reading: K. Zhang et al., "Beyond a Gaussian denoiser: residual learning of deep CNN for image
#   denoising", IEEE TIP 26(7), 2017 (DnCNN); R. Achddou, Y. Gousseau, S. Ladjal, "Synthetic images as a
#   regularity prior for image restoration neural networks", SSVM 2021; R. Achddou, Y. Gousseau,
#   S. Ladjal, S. Süsstrunk, "VibrantLeaves", arXiv:2504.10201, 2025; M. Elad, B. Kawar, G. Vaksman,
#   "Image denoising: the deep learning revolution and beyond", SIAM J. Imaging Sci. 16(3), 2023.

# %%
print("lab3_denoising_cnns: done")
