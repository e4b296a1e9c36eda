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
# # Lab 4 — Plug-and-Play with priors learned from synthetic images
#
# *pnpleaves teaching labs. Course: "Generative models for images", part II "Plug-and-Play methods
# for imaging inverse problems" (A. Leclaire), and the VibrantLeaves talk (R. Achddou).*
#
# The MAP estimate of $x$ from $y = Ax + n$ minimises $f(x) + g(x)$ with the data term
# $f(x) = \frac{1}{2\sigma^2}\|Ax - y\|^2$ and the prior term $g(x) = -\log p(x)$. Proximal splitting
# algorithms alternate a step on $f$ and a step on $g$; the step on $g$ is a **proximal operator**
#
# $$\operatorname{prox}_{\tau g}(z) = \arg\min_x \tfrac{1}{2\tau}\|x - z\|^2 + g(x),$$
#
# which is exactly the MAP *denoiser* of $z$ at noise level $\sqrt\tau$. **Plug-and-Play**
# (Venkatakrishnan et al., 2013) replaces it by any good denoiser $D_s$, here a DRUNet trained on
# VibrantLeaves or Dead Leaves images only.
#
# **Learning goals.** After this lab you can
#
# 1. derive Half-Quadratic Splitting (HQS) and ADMM for deblurring, and write both in a few lines
#    around a denoiser, with an exact FFT data step;
# 2. explain the role of the denoiser-strength schedule $s_k$ (DPIR) and of the weight $\lambda$;
# 3. use pnpleaves' `pnp_deblur` and `pnp_inpaint` on photographs (unknown boundaries, estimated
#    noise);
# 4. compare the VibrantLeaves prior, the Dead Leaves prior and total variation.
#
# Cells tagged `exercise` are for you; the teacher version also has the `solution` cells.
# `PNPLEAVES_FAST=1` uses 64x64 crops. Figures are saved under `lab_out/lab4/` in script mode.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage import data

import pnpleaves as pl
from pnpleaves.metrics import psnr
from pnpleaves.restoration import (
    ScheduleParams,
    degrade_blur,
    estimate_sigma,
    levin_kernel,
    random_mask,
    tv_deblur,
    tv_inpaint,
    wiener_deblur,
)

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
S = 64 if FAST else 128  # side of the test crops
OUT = Path(os.environ.get("PNPLEAVES_LAB_OUT", "lab_out")) / "lab4"
OUT.mkdir(parents=True, exist_ok=True)


def show(fig, name):
    """Show ``fig`` inline in a notebook; save it under OUT (and close it) when run as a script."""
    fig.savefig(OUT / f"{name}.png", dpi=80, bbox_inches="tight")
    if "inline" in plt.get_backend() or "widget" in plt.get_backend():
        plt.show()
    else:
        plt.close(fig)


def as_img(x):
    """A (1, C, H, W) tensor or an (H, W, C) array -> (H, W, C) array in [0, 1]."""
    if isinstance(x, torch.Tensor):
        x = x[0].detach().permute(1, 2, 0).numpy()
    return np.clip(x, 0, 1)


def panels(items, name):
    fig, axes = plt.subplots(1, len(items), figsize=(2.8 * len(items), 3.1))
    for ax, (title, im) in zip(axes, items):
        ax.imshow(as_img(im), interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    show(fig, name)


def crop(name, side, top=None, left=None):
    """A side x side crop (float32 in [0, 1]) of a scikit-image photograph, reduced 2x by block means."""
    img = getattr(data, name)().astype(np.float32) / 255.0
    h, w = img.shape[:2]
    top = (h - 2 * side) // 2 if top is None else top
    left = (w - 2 * side) // 2 if left is None else left
    img = img[top:top + 2 * side, left:left + 2 * side]
    return img.reshape(side, 2, side, 2, 3).mean(axis=(1, 3))


den_vl = pl.load_prior("vl-drunet")  # sha256-checked, no download
den_dl = pl.load_prior("dl-drunet")
print(f"fast mode: {FAST}; priors: {den_vl.name} (trained on {den_vl.sigma_range[0]:.2f}.."
      f"{den_vl.sigma_range[1]:.2f} noise), {den_dl.name}")

# %% [markdown]
# ## 1. A deblurring problem with an exact data step
#
# To write the algorithms by hand, we start with a **periodic** blur $Ax = k * x$, so that everything
# involving $A$ is diagonal in Fourier. The kernel is Levin et al.'s camera-shake kernel 2; the noise
# $\sigma = 2.55/255$.

# %%
x0_np = crop("astronaut", S, top=60, left=200)
x0 = torch.from_numpy(x0_np).permute(2, 0, 1)[None].contiguous()  # (1, 3, S, S)
kernel = levin_kernel(2)
sigma = 2.55 / 255


def otf(k, shape):
    """DFT of the kernel zero-padded to ``shape`` and centred at the origin (Lab 1)."""
    pad = torch.zeros(shape, dtype=torch.float64)
    kh, kw = k.shape
    pad[:kh, :kw] = torch.as_tensor(k)
    return torch.fft.fft2(torch.roll(pad, (-(kh // 2), -(kw // 2)), dims=(0, 1))).to(torch.complex64)


K = otf(kernel, (S, S))
gen = torch.Generator().manual_seed(0)
y = torch.fft.ifft2(torch.fft.fft2(x0) * K).real + sigma * torch.randn(x0.shape, generator=gen)
Y = torch.fft.fft2(y)
print(f"observation: {psnr(y, x0).item():.2f} dB")

# %% [markdown]
# ## 2. Half-Quadratic Splitting
#
# HQS introduces an auxiliary variable and alternates, for a penalty $\mu_k$,
#
# $$z_{k+1} = \arg\min_z \tfrac{1}{2\sigma^2}\|k * z - y\|^2 + \tfrac{\mu_k}{2}\|z - x_k\|^2,
#   \qquad x_{k+1} = \operatorname{prox}_{g/\mu_k}(z_{k+1}) \approx D_{s_k}(z_{k+1}),
#   \quad s_k = 1/\sqrt{\mu_k}.$$
#
# The data step is a Fourier filter: with $\alpha_k = \mu_k\sigma^2$,
#
# $$\hat z_{k+1} = \frac{\overline{\hat k}\,\hat y + \alpha_k \hat x_k}{|\hat k|^2 + \alpha_k}.$$
#
# DPIR (Zhang et al., 2022) lets the denoiser strength decrease geometrically from $s_0 = 49/255$ to
# $\sigma$ over $K = 8$ iterations, with $\alpha_k = \lambda\sigma^2 / s_k^2$ and $\lambda = 0.23$:
# early iterations trust the prior (strong denoising, large structures), late ones the data.
#
# ### Exercise 1 — the data step and HQS
#
# Write `data_step(x, alpha)` and `hqs(denoiser, strengths, lam=0.23)` (start from $x_0 = y$). Run it
# with the DPIR schedule and the VibrantLeaves prior. Remember `torch.no_grad()` around the denoiser.

# %% tags=["exercise"]
def data_step(x, alpha):
    raise NotImplementedError("Exercise 1")


def hqs(denoiser, strengths, lam=0.23):
    raise NotImplementedError("Exercise 1")


# %% tags=["solution"]
def data_step(x, alpha):
    return torch.fft.ifft2((K.conj() * Y + alpha * torch.fft.fft2(x)) / (K.abs() ** 2 + alpha)).real


def hqs(denoiser, strengths, lam=0.23):
    x = y.clone()
    for s in strengths:
        z = data_step(x, lam * sigma**2 / s**2)
        with torch.no_grad():
            x = denoiser(z, float(s))
    return x


# %%
dpir = np.geomspace(49 / 255, sigma, 8)
x_hqs = hqs(den_vl, dpir)
print(f"HQS, DPIR schedule, vl-drunet: {psnr(x_hqs, x0).item():.2f} dB")

# %% [markdown]
# ## 3. ADMM
#
# ADMM adds a (scaled) dual variable $u$ that accumulates the disagreement between $z$ and $x$:
#
# $$z_{k+1} = \arg\min_z \tfrac{1}{2\sigma^2}\|k*z - y\|^2 + \tfrac{\mu_k}{2}\|z - (x_k - u_k)\|^2,\quad
#   x_{k+1} = D_{s_k}(z_{k+1} + u_k),\quad u_{k+1} = u_k + z_{k+1} - x_{k+1}.$$
#
# With a fixed penalty and a proximal operator of a convex $g$, ADMM converges to the MAP. When the
# penalty changes, the scaled dual must be rescaled: $u \leftarrow u\,\mu_{k-1}/\mu_k$.
#
# ### Exercise 2 — ADMM
#
# Write `admm(denoiser, strengths, lam=0.23)` and compare it with HQS on the DPIR schedule. What happens
# if you forget to rescale $u$?

# %% tags=["exercise"]
def admm(denoiser, strengths, lam=0.23, rescale=True):
    raise NotImplementedError("Exercise 2")


# %% tags=["solution"]
def admm(denoiser, strengths, lam=0.23, rescale=True):
    x, u, alpha_prev = y.clone(), torch.zeros_like(y), None
    for s in strengths:
        alpha = lam * sigma**2 / s**2
        if rescale and alpha_prev is not None:
            u = u * alpha_prev / alpha
        z = data_step(x - u, alpha)
        with torch.no_grad():
            x = denoiser(z + u, float(s))
        u = u + z - x
        alpha_prev = alpha
    return x


x_admm = admm(den_vl, dpir)
x_admm_bad = admm(den_vl, dpir, rescale=False)
print(f"ADMM: {psnr(x_admm, x0).item():.2f} dB; without rescaling the dual: {psnr(x_admm_bad, x0).item():.2f} dB")
# Without rescaling, u keeps the scale of the early, weak penalty: the late iterations are pushed
# by a stale, too-large correction.

# %%
panels([("sharp", x0), (f"blurred + noise\n{psnr(y, x0).item():.2f} dB", y),
        (f"our HQS\n{psnr(x_hqs, x0).item():.2f} dB", x_hqs),
        (f"our ADMM\n{psnr(x_admm, x0).item():.2f} dB", x_admm)], "hqs_admm")

# %% [markdown]
# ## 4. The schedule
#
# ### Exercise 3 — constant against decreasing strength
#
# Run HQS with a **constant** denoiser strength $s_k = s$ for $s \in \{5, 15, 30\}/255$ and
# $K \in \{8, 24\}$ iterations, and compare with the DPIR schedule. Explain what goes wrong for a small
# and for a large constant $s$.

# %% tags=["exercise"]
# for K_iter in (8, 24):
#     for s in (5 / 255, 15 / 255, 30 / 255):
#         ...

# %% tags=["solution"]
for K_iter in (8, 24):
    for s in (5 / 255, 15 / 255, 30 / 255):
        out = hqs(den_vl, [s] * K_iter)
        print(f"constant s = {s * 255:4.1f}/255, {K_iter:2d} iterations: {psnr(out, x0).item():.2f} dB")
print(f"DPIR schedule, 8 iterations:          {psnr(x_hqs, x0).item():.2f} dB")
# Small constant s: the denoiser removes little at each step while the data step (with a large
# alpha ~ sigma^2 / s^2) keeps re-injecting the ringing of the deconvolution: slow, and it converges
# to a noisy fixed point. Large constant s: the prior dominates, the result is over-smoothed.
# The decreasing schedule removes large artefacts first, then refines with weak denoising steps.

# %% [markdown]
# ## 5. The library: `pnp_deblur` and `pnp_inpaint`
#
# Real photographs are not periodic: beyond their border, the blur mixed in pixels we never see.
# `pnp_deblur(..., boundary="unknown")` (the default) restores on a larger domain and only asks the
# data to agree inside the image window; `sigma=None` estimates the noise level from the image
# (`estimate_sigma`); the schedule defaults were tuned for `vl-drunet`. Here the blur is applied with
# reflecting borders by `degrade_blur`, as a camera would.
#
# The schedule can be changed with `schedule=ScheduleParams(...)` or a dict of overrides:
# `n_iter` ($K$), `sigma_start` ($s_0$), `lam` ($\lambda$), `sigma_min`.

# %%
y_photo = degrade_blur(x0_np, kernel, sigma, seed=0, clip=True)  # (S, S, 3), reflecting borders
sigma_hat = estimate_sigma(y_photo)
print(f"noise level: true {sigma * 255:.2f}/255, estimated {sigma_hat * 255:.2f}/255")
x_lib = pl.pnp_deblur(y_photo, kernel, prior=den_vl)
x_circ = pl.pnp_deblur(y_photo, kernel, prior=den_vl, boundary="circular")
print(f"pnp_deblur, boundary='unknown': {psnr(x_lib, x0_np):.2f} dB; 'circular' on a non-periodic blur: "
      f"{psnr(x_circ, x0_np):.2f} dB")

# %% [markdown]
# ### Exercise 4 — $\lambda$ and the number of iterations
#
# With `pnp_deblur`, measure the PSNR on a grid of `n_iter` $\in \{4, 8, 16\}$ and `lam`
# $\in \{0.1, 0.23, 0.5\}$ and show it as a small table. Is the default (`schedule=None`) close to the
# best of the grid?

# %% tags=["exercise"]
# grid = {}
# for n_iter in (4, 8, 16):
#     for lam in (0.1, 0.23, 0.5):
#         grid[n_iter, lam] = ...

# %% tags=["solution"]
grid = {}
for n_iter in (4, 8, 16):
    for lam in (0.1, 0.23, 0.5):
        out = pl.pnp_deblur(y_photo, kernel, prior=den_vl, sigma=sigma_hat,
                            schedule=ScheduleParams(n_iter=n_iter, lam=lam))
        grid[n_iter, lam] = psnr(out, x0_np)
print("PSNR (dB)    lam=0.1  lam=0.23  lam=0.5")
for n_iter in (4, 8, 16):
    print(f"n_iter={n_iter:2d}  " + "  ".join(f"{grid[n_iter, lam]:7.2f}" for lam in (0.1, 0.23, 0.5)))
print(f"default schedule: {psnr(x_lib, x0_np):.2f} dB")

# %% [markdown]
# ## 6. VibrantLeaves prior, Dead Leaves prior, total variation
#
# ### Exercise 5 — the comparison
#
# On three photographs, blurred by Levin kernel 2 with noise $2.55/255$ and $7.65/255$, compare
# Wiener deconvolution, TV deblurring, and `pnp_deblur` with `dl-drunet` and with `vl-drunet`
# (all given the true noise level). Then do the same for noiseless inpainting (`sigma=0`) with 50 % and
# 80 % of the pixels missing (`random_mask`), comparing `tv_inpaint` with `pnp_inpaint` and both priors.
# Finally, rerun one deblurring case with `sigma=None` (estimated): how sensitive is PnP to an
# underestimated noise level on small crops?

# %% tags=["exercise"]
names = ("astronaut", "coffee", "chelsea")
# deblur_table = {}
# ...

# %% tags=["solution"]
names = ("astronaut", "coffee", "chelsea")
images = {n: crop(n, S) for n in names}
methods = {
    "Wiener": lambda obs, s: wiener_deblur(obs, kernel, sigma=s),
    "TV": lambda obs, s: tv_deblur(obs, kernel, sigma=s, n_iter=150 if FAST else 300),
    "PnP dl-drunet": lambda obs, s: pl.pnp_deblur(obs, kernel, prior=den_dl, sigma=s),
    "PnP vl-drunet": lambda obs, s: pl.pnp_deblur(obs, kernel, prior=den_vl, sigma=s),
}
print("deblurring, Levin kernel 2, mean PSNR (dB) over", ", ".join(names))
results = {}
for noise in (2.55 / 255, 7.65 / 255):
    obs = {n: degrade_blur(img, kernel, noise, seed=1, clip=True) for n, img in images.items()}
    row = {m: np.mean([psnr(fn(obs[n], noise), images[n]) for n in names]) for m, fn in methods.items()}
    results[noise] = (obs, row)
    print(f"  noise {noise * 255:.2f}/255: " + ", ".join(f"{m} {v:.2f}" for m, v in row.items()))

inpaint_methods = {
    "TV": lambda obs, m: tv_inpaint(obs, m, sigma=0.0, n_iter=150 if FAST else 300),
    "PnP dl-drunet": lambda obs, m: pl.pnp_inpaint(obs, m, prior=den_dl, sigma=0.0),
    "PnP vl-drunet": lambda obs, m: pl.pnp_inpaint(obs, m, prior=den_vl, sigma=0.0),
}
print("inpainting (noiseless), mean PSNR (dB)")
for missing in (0.5, 0.8):
    mask = random_mask((S, S), missing, seed=2)
    row = {m: np.mean([psnr(fn(img * mask[..., None], mask), img) for img in images.values()])
           for m, fn in inpaint_methods.items()}
    print(f"  {int(missing * 100)} % missing: " + ", ".join(f"{m} {v:.2f}" for m, v in row.items()))

obs_hi, _ = results[7.65 / 255]
o, img = obs_hi["coffee"], images["coffee"]
print(f"coffee, noise 7.65/255: estimated sigma {estimate_sigma(o) * 255:.2f}/255; PnP vl-drunet "
      f"{psnr(pl.pnp_deblur(o, kernel, prior=den_vl, sigma=7.65 / 255), img):.2f} dB with the true sigma, "
      f"{psnr(pl.pnp_deblur(o, kernel, prior=den_vl), img):.2f} dB with the estimate")
# On small crops the patch-based estimator has few flat patches to work with and underestimates
# sigma; PnP then stops its schedule too early (the last denoiser levels are too weak) and leaves
# amplified noise. Give sigma when it is known, or estimate it on a larger image.

# %%
obs, _ = results[2.55 / 255]
img, o = images["coffee"], obs["coffee"]
outs = {m: fn(o, 2.55 / 255) for m, fn in methods.items()}
panels([("sharp", img), (f"observed\n{psnr(o, img):.2f} dB", o)]
       + [(f"{m}\n{psnr(r, img):.2f} dB", r) for m, r in outs.items()], "comparison_deblur")
mask = random_mask((S, S), 0.8, seed=2)
inp = {m: fn(img * mask[..., None], mask) for m, fn in inpaint_methods.items()}
panels([("sharp", img), ("80 % missing", img * mask[..., None])]
       + [(f"{m}\n{psnr(r, img):.2f} dB", r) for m, r in inp.items()], "comparison_inpaint")

# %% [markdown]
# ### Exercise 6 — questions
#
# 1. Why is a denoiser trained on images with *no semantic content* (occluding shapes, textures) a good
#    prior for deblurring photographs? What would you expect it to fail on?
# 2. In HQS, the denoiser is called at decreasing strengths down to $\sigma$. Why does the identity
#    test of Lab 3 (what $D_s$ does to a clean image at small $s$) matter for the final PSNR?
# 3. PnP-HQS with a learned denoiser is not, in general, the minimisation of any energy. What
#    conditions on $D$ give convergence guarantees?

# %% [markdown] tags=["solution"]
# **Answers.**
#
# 1. Deblurring mostly needs *local* regularity: sharp occluding edges, flat or textured regions,
#    scale invariance, natural colours, which the Dead Leaves family models. It cannot invent semantic
#    content (text, faces) that the data lost; with large missing regions (inpainting of whole
#    objects) a semantic prior would be needed.
# 2. The last iterations run $D_s$ with $s \approx \sigma$, small: a denoiser that smooths clean natural
#    textures at small $s$ caps the final quality whatever the data say. That is why VibrantLeaves
#    (textured) beats Dead Leaves (flat disks) most at low noise.
# 3. For example: $D$ is the proximal operator of a (weakly) convex function, or a gradient step
#    $D = \mathrm{Id} - \nabla h$ with $\nabla h$ Lipschitz (gradient-step denoisers, Hurault et al.,
#    2022), or $D$ averaged / firmly non-expansive (Ryu et al., 2019). Fixed-point theory then gives
#    convergence of PnP-HQS / PnP-ADMM with a fixed strength.

# %% [markdown]
# ## Going further
#
# - Super-resolution: `pl.pnp_super_resolve(y, scale=2, prior=...)` against `bicubic_upsample` and
#   `tv_super_resolve` (the gallery example "super-resolution").
# - Equivariance: pnpleaves feeds the denoiser one of the 8 flips / quarter turns at each iteration
#   (`ensemble="cycle"`); compare with `ensemble="none"` and `"x8"`.
# - Replace the denoiser by BM3D (`pnpleaves.models.BM3DDenoiser`, optional `bm3d` package) or by the
#   DnCNN you trained in Lab 3: `prior="lab_out/lab3/run-dncnn-vl"`.
# - Reading: S. V. Venkatakrishnan, C. A. Bouman, B. Wohlberg, "Plug-and-Play priors for model based
#   reconstruction", GlobalSIP 2013; K. Zhang et al., "Plug-and-Play image restoration with deep
#   denoiser prior", IEEE TPAMI 44(10), 2022 (DPIR); S. Hurault, A. Leclaire, N. Papadakis, "Gradient
#   step denoiser for convergent Plug-and-Play", ICLR 2022; E. Ryu et al., "Plug-and-Play methods
#   provably converge with properly trained denoisers", ICML 2019.

# %%
print("lab4_plug_and_play: done")
