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
# # Lab 1 — Inverse problems and ill-posedness
#
# *pnpleaves teaching labs. Course: "Generative models for images", part "Basics on image
# restoration" (B. Galerne, A. Leclaire).*
#
# We observe a blurred and noisy image
#
# $$v = A u_0 + w, \qquad A u = k * u, \qquad w \sim \mathcal N(0, \sigma^2 \mathrm{Id}),$$
#
# and we want $u_0$ back. This lab shows why the obvious answer, "invert $A$", fails.
#
# **Learning goals.** After this lab you can
#
# 1. write a blur as a (periodic) convolution and compute it with the FFT;
# 2. read the spectrum (transfer function) $\hat k$ of a blur kernel and say which frequencies it
#    destroys;
# 3. explain, and predict numerically, why the inverse filter $\hat v / \hat k$ explodes with noise,
#    and what the truncated pseudo-inverse trades against it (bias against variance);
# 4. relate the condition number of $A$ to the kernel's spectrum;
# 5. compute the SVD of a small 1-D blur and use a truncated SVD as a first regulariser.
#
# **How to use it.** Cells tagged `exercise` hold a skeleton for you to complete; the teacher version
# also holds the `solution` cells. Run from top to bottom. `PNPLEAVES_FAST=1` makes every size small
# (the whole lab then runs in well under a minute). Figures are shown inline in a notebook and saved
# under `lab_out/lab1/` when run as a script.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import toeplitz
from scipy.ndimage import convolve
from skimage import data

import pnpleaves as pl
from pnpleaves.metrics import psnr
from pnpleaves.restoration import levin_kernel

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
N = 128 if FAST else 256  # image side
OUT = Path(os.environ.get("PNPLEAVES_LAB_OUT", "lab_out")) / "lab1"
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)  # the lab's only source of randomness


def show(fig, name):
    """Show ``fig`` inline in a notebook; save it under OUT (and close it) when run as a script."""
    fig.savefig(OUT / f"{name}.png", dpi=80, bbox_inches="tight")
    if "inline" in plt.get_backend() or "widget" in plt.get_backend():
        plt.show()
    else:
        plt.close(fig)


def imshow_row(images, titles, name, cmap="gray", vmin=0, vmax=1):
    fig, axes = plt.subplots(1, len(images), figsize=(3 * len(images), 3.2))
    for ax, im, t in zip(np.atleast_1d(axes), images, titles):
        ax.imshow(im, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(t, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    show(fig, name)


# A grey photograph (scikit-image's "camera", 512x512), reduced to N x N by block averages.
f = 512 // N
u0 = data.camera().astype(np.float64).reshape(N, f, N, f).mean(axis=(1, 3)) / 255.0
print(f"image {u0.shape}, values in [{u0.min():.2f}, {u0.max():.2f}], fast mode: {FAST}")

# %% [markdown]
# ## 1. A blur is a convolution
#
# On the discrete torus $\Omega = \mathbb Z_M \times \mathbb Z_N$ (periodic boundaries), a spatially
# invariant blur is
#
# $$(k * u)(x) = \sum_{y \in \Omega} k(y)\, u(x - y).$$
#
# The discrete Fourier transform diagonalises it (convolution theorem):
#
# $$\widehat{k * u}(\xi) = \hat k(\xi)\, \hat u(\xi),$$
#
# where $\hat k$ is the DFT of the kernel **zero-padded to the image size and centred at the
# origin** (index $(0, 0)$, not the middle of the array). $\hat k$ is the *transfer function* or
# optical transfer function (OTF) of the blur; $|\hat k|$ tells how much each frequency survives.
#
# We use three kernels: a Gaussian (out-of-focus-like), a $7 \times 7$ box and a camera-shake kernel
# from Levin et al. (2009), shipped with pnpleaves.

# %%
def gaussian(std, radius=None):
    """Normalised 2-D Gaussian kernel of standard deviation ``std`` pixels."""
    radius = int(np.ceil(4 * std)) if radius is None else radius
    x = np.arange(-radius, radius + 1)
    g = np.exp(-(x**2) / (2 * std**2))
    k = np.outer(g, g)
    return k / k.sum()


kernels = {"Gaussian, std 1.5": gaussian(1.5), "box 7x7": np.ones((7, 7)) / 49, "Levin 2 (motion)": levin_kernel(2)}
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
for ax, (name, k) in zip(axes, kernels.items()):
    ax.imshow(k, cmap="gray", interpolation="nearest")
    ax.set_title(f"{name}\n{k.shape[0]}x{k.shape[1]}, sum {k.sum():.2f}", fontsize=9)
    ax.axis("off")
show(fig, "kernels")

# %% [markdown]
# ### Exercise 1 — the transfer function
#
# Write `psf2otf(k, shape)`, which returns $\hat k$ on a grid of size `shape`: pad `k` with zeros to
# `shape`, move its centre `(kh // 2, kw // 2)` to index `(0, 0)` with `np.roll`, take `np.fft.fft2`.
# Then write `blur(u, k)`, the periodic convolution computed by FFT, and check it against
# `scipy.ndimage.convolve(u, k, mode="wrap")`.

# %% tags=["exercise"]
def psf2otf(k, shape):
    """DFT of the kernel ``k`` zero-padded to ``shape`` and centred at index (0, 0)."""
    raise NotImplementedError("Exercise 1")


def blur(u, k):
    """Periodic convolution ``k * u`` by FFT."""
    raise NotImplementedError("Exercise 1")


# %% tags=["solution"]
def psf2otf(k, shape):
    """DFT of the kernel ``k`` zero-padded to ``shape`` and centred at index (0, 0)."""
    pad = np.zeros(shape)
    kh, kw = k.shape
    pad[:kh, :kw] = k
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.fft.fft2(pad)


def blur(u, k):
    """Periodic convolution ``k * u`` by FFT."""
    return np.real(np.fft.ifft2(np.fft.fft2(u) * psf2otf(k, u.shape)))


# %%
for name, k in kernels.items():
    err = np.abs(blur(u0, k) - convolve(u0, k, mode="wrap")).max()
    print(f"{name:18s}: max |FFT blur - scipy convolve| = {err:.1e}")
    assert err < 1e-10, "psf2otf / blur do not match a periodic convolution"

imshow_row([u0] + [blur(u0, k) for k in kernels.values()], ["u0"] + list(kernels), "blurred")

# %% [markdown]
# ## 2. The spectrum of a blur
#
# A blur is a low-pass filter: $|\hat k(\xi)| \le \sum |k| = 1$ with equality at $\xi = 0$ for a
# non-negative kernel that sums to one, and it decays at high frequencies. A frequency with
# $\hat k(\xi) = 0$ is *lost*: nothing in $v$ tells us what $\hat u_0(\xi)$ was. Frequencies with tiny
# $|\hat k(\xi)|$ are not lost, but they are drowned by the noise.

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, (name, k) in zip(axes, kernels.items()):
    K = np.fft.fftshift(np.abs(psf2otf(k, (N, N))))
    im = ax.imshow(np.log10(K + 1e-16), cmap="viridis", vmin=-12, vmax=0,
                   extent=(-0.5, 0.5, 0.5, -0.5))
    ax.set_title(f"log10 |k^| : {name}", fontsize=9)
    ax.set_xlabel("frequency (cycles / pixel)")
fig.colorbar(im, ax=axes, shrink=0.8)
show(fig, "spectra")

# %% [markdown]
# ### Exercise 2 — what is lost?
#
# For each kernel print the smallest $|\hat k(\xi)|$ on the $N \times N$ grid and the fraction of
# frequencies where $|\hat k(\xi)| < 10^{-3}$. Which kernel is the hardest to invert? Why does the
# box kernel have near-zeros along lines, and the Gaussian only in the corners?

# %% tags=["exercise"]
# for name, k in kernels.items():
#     K = np.abs(psf2otf(k, (N, N)))
#     ...

# %% tags=["solution"]
for name, k in kernels.items():
    K = np.abs(psf2otf(k, (N, N)))
    print(f"{name:18s}: min |k^| = {K.min():.2e}, fraction below 1e-3 = {np.mean(K < 1e-3):.3f}")
# The box's 1-D DFT is sin(7 pi xi / N) / (7 sin(pi xi / N)): it vanishes near xi = N j / 7 on
# whole rows and columns. The Gaussian's DFT is again (close to) a Gaussian, exp(-2 pi^2 s^2 |xi|^2),
# smallest at the highest frequencies, i.e. the corners of the spectrum.

# %% [markdown]
# ## 3. Inverting the blur: the noise explodes
#
# Where $\hat k$ does not vanish, the blur is invertible:
#
# $$u = \mathcal F^{-1}\!\left(\frac{\hat v}{\hat k}\right)
#     = \mathcal F^{-1}\!\left(\hat u_0 + \frac{\hat w}{\hat k}\right).$$
#
# Without noise this returns $u_0$. With noise, every frequency of the noise is divided by
# $\hat k(\xi)$: white noise has the same energy at every frequency, so the error is dominated by the
# frequencies where $|\hat k|$ is tiny. Its expected mean square error (per pixel) is exactly
#
# $$\mathbb E\,\frac{1}{|\Omega|}\Big\|\mathcal F^{-1}\big(\hat w / \hat k\big)\Big\|^2
#   = \sigma^2 \, \frac{1}{|\Omega|}\sum_{\xi} \frac{1}{|\hat k(\xi)|^2}.$$

# %%
k = kernels["Gaussian, std 1.5"]
K = psf2otf(k, (N, N))
sigma = 1.0 / 255
v_clean = blur(u0, k)
v = v_clean + sigma * rng.standard_normal(u0.shape)

inv_clean = np.real(np.fft.ifft2(np.fft.fft2(v_clean) / K))
inv_noisy = np.real(np.fft.ifft2(np.fft.fft2(v) / K))
predicted_rmse = sigma * np.sqrt(np.mean(1.0 / np.abs(K) ** 2))
print(f"inverse filter, no noise : {psnr(inv_clean, u0):6.2f} dB")
print(f"inverse filter, noise 1/255: RMSE {np.sqrt(np.mean((inv_noisy - u0) ** 2)):.2e} "
      f"(predicted {predicted_rmse:.2e})")
imshow_row([v, np.clip(inv_clean, 0, 1), np.clip(inv_noisy, 0, 1)],
           [f"v: blur + noise 1/255\n{psnr(v, u0):.2f} dB", "inverse filter, no noise",
            "inverse filter, noise 1/255"], "inverse_filter")

# %% [markdown]
# Even a noise far below what the eye sees, such as the rounding of $v$ to 8 bits (an error of at
# most $1/510$ per pixel), is enough to make the inverse filter useless.
#
# ### Exercise 3 — the truncated pseudo-inverse
#
# The (Moore–Penrose) pseudo-inverse of a circulant operator keeps the frequencies it can trust and
# sets the others to zero. With a threshold $\varepsilon$:
#
# $$\hat u_\varepsilon(\xi) = \begin{cases} \hat v(\xi) / \hat k(\xi) & |\hat k(\xi)| > \varepsilon \\
#   0 & \text{otherwise.} \end{cases}$$
#
# 1. Write `pseudo_inverse(v, K, eps)`.
# 2. Plot the PSNR of $u_\varepsilon$ against $\varepsilon \in [10^{-4}, 1]$ for our noisy $v$ and find
#    the best $\varepsilon$.
# 3. *Predict* the curve: the error splits into a **bias** (the frequencies set to zero, which lose
#    $\hat u_0$) and a **variance** (the noise amplified on the kept frequencies),
#
# $$\mathrm{MSE}(\varepsilon) = \frac{1}{|\Omega|^2} \sum_{|\hat k| \le \varepsilon} |\hat u_0(\xi)|^2
#   \;+\; \frac{\sigma^2}{|\Omega|} \sum_{|\hat k| > \varepsilon} \frac{1}{|\hat k(\xi)|^2}$$
#
#    (with NumPy's unnormalised FFT). Plot both terms and their sum on the same axes.

# %% tags=["exercise"]
def pseudo_inverse(v, K, eps):
    raise NotImplementedError("Exercise 3")


epsilons = np.logspace(-4, 0, 12 if FAST else 30)
# measured = [psnr(pseudo_inverse(v, K, e), u0) for e in epsilons]
# ...

# %% tags=["solution"]
def pseudo_inverse(v, K, eps):
    keep = np.abs(K) > eps
    U = np.zeros_like(K)
    U[keep] = np.fft.fft2(v)[keep] / K[keep]
    return np.real(np.fft.ifft2(U))


U0 = np.fft.fft2(u0)
size = u0.size
measured, bias, variance = [], [], []
for e in epsilons:
    keep = np.abs(K) > e
    measured.append(np.mean((pseudo_inverse(v, K, e) - u0) ** 2))
    bias.append(np.sum(np.abs(U0[~keep]) ** 2) / size**2)
    variance.append(sigma**2 * np.sum(1.0 / np.abs(K[keep]) ** 2) / size)
measured, bias, variance = map(np.array, (measured, bias, variance))
best = epsilons[np.argmin(measured)]
print(f"best eps = {best:.2e}: {10 * np.log10(1 / measured.min()):.2f} dB")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(epsilons, measured, "ko", label="measured MSE")
ax.loglog(epsilons, bias, "--", label="bias (lost frequencies)")
ax.loglog(epsilons, variance, "--", label="variance (amplified noise)")
ax.loglog(epsilons, bias + variance, "-", label="predicted MSE")
ax.set_xlabel("threshold eps")
ax.set_ylabel("MSE per pixel")
ax.legend(fontsize=8)
show(fig, "pseudo_inverse_tradeoff")
imshow_row([v, np.clip(pseudo_inverse(v, K, best), 0, 1)],
           ["observed", f"pseudo-inverse, eps = {best:.1e}\n{psnr(pseudo_inverse(v, K, best), u0):.2f} dB"],
           "pseudo_inverse")

# %% [markdown]
# The truncated pseudo-inverse is the first *regularised* solution of this course: it trades a bias
# (ringing, missing detail) for a bounded variance. Lab 2 replaces the hard threshold by smooth
# penalties (Tikhonov, Wiener, total variation).
#
# ## 4. Condition number
#
# For an invertible matrix, the condition number bounds how a relative error on the data becomes a
# relative error on the solution:
#
# $$\frac{\|\delta u\|}{\|u\|} \le \kappa(A)\, \frac{\|\delta v\|}{\|v\|}, \qquad
#   \kappa(A) = \|A\|\,\|A^{-1}\| = \frac{s_{\max}}{s_{\min}}.$$
#
# A periodic convolution is a circulant matrix; its singular values are the $|\hat k(\xi)|$, so
# $\kappa(A) = \max_\xi |\hat k(\xi)| / \min_\xi |\hat k(\xi)|$.
#
# ### Exercise 4 — how fast does the conditioning degrade?
#
# Plot $\log_{10} \kappa$ of a Gaussian blur on the $N \times N$ grid against its standard deviation
# $s \in [0.3, 3]$. Compare with the prediction from $\hat k(\xi) \approx e^{-2\pi^2 s^2 |\xi|^2}$ at
# the corner frequency $\xi = (1/2, 1/2)$: $\log_{10} \kappa \approx 2\pi^2 s^2 \cdot \tfrac12 / \ln 10$.
# Where does double precision ($\approx 10^{16}$) stop you from even computing it?

# %% tags=["exercise"]
stds = np.linspace(0.3, 3.0, 10 if FAST else 28)
# conds = [...]

# %% tags=["solution"]
conds = []
for s in stds:
    Ks = np.abs(psf2otf(gaussian(s, radius=int(np.ceil(6 * s))), (N, N)))
    conds.append(Ks.max() / Ks.min())
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.semilogy(stds, conds, "o-", label="measured on the grid")
ax.semilogy(stds, np.exp(np.pi**2 * stds**2), "--", label=r"$\exp(\pi^2 s^2)$ (corner frequency)")
ax.axhline(1e16, color="gray", lw=0.8)
ax.set_xlabel("Gaussian std s (pixels)")
ax.set_ylabel("condition number")
ax.legend(fontsize=8)
show(fig, "condition_number")
# Beyond s ~ 2 the smallest |k^| reaches the round-off level (1e-16 relative): the computed
# "condition number" saturates, and the blur is numerically not invertible at all.

# %% [markdown]
# ## 5. The SVD of a small 1-D blur
#
# Real blurs are not periodic. On a 1-D signal of $n$ samples with zero boundary conditions, the blur
# is a Toeplitz matrix $A_{ij} = g(i - j)$. Its SVD $A = U\,\mathrm{diag}(s)\,V^\top$ generalises the
# Fourier picture: the right singular vectors $v_i$ play the role of the Fourier modes (they
# oscillate more and more as $s_i$ decreases) and the solution of least norm is
#
# $$A^+ y = \sum_{i} \frac{u_i^\top y}{s_i}\, v_i .$$
#
# The truncated SVD (TSVD) keeps only the first $r$ terms.
#
# Our signal is one row of a Dead Leaves image: piecewise constant, with jumps at the occlusion
# boundaries, the 1-D analogue of the images the rest of the course is about.

# %%
n = 64 if FAST else 128
row = pl.dead_leaves(n, seed=3, r_min=2, r_max=20)[n // 2, :, 0].astype(np.float64)
g = gaussian(2.0)[gaussian(2.0).shape[0] // 2]
g = g / g.sum()  # a 1-D Gaussian of std 2
col = np.zeros(n)
col[: len(g) // 2 + 1] = g[len(g) // 2:]
A = toeplitz(col)  # symmetric Toeplitz, zero boundary
U, s, Vt = np.linalg.svd(A)
print(f"1-D blur: n = {n}, singular values from {s[0]:.3f} to {s[-1]:.1e}, condition number {s[0] / s[-1]:.1e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
circ = np.sort(np.abs(np.fft.fft(np.roll(np.pad(g, (0, n - len(g))), -(len(g) // 2)))))[::-1]
axes[0].semilogy(s, "o", ms=3, label="singular values of the Toeplitz blur")
axes[0].semilogy(circ, "-", label="|DFT| of the periodic blur (sorted)")
axes[0].set_xlabel("index i")
axes[0].legend(fontsize=8)
for i in (0, 4, n // 4, n // 2):
    axes[1].plot(Vt[i], label=f"v_{i + 1}, s = {s[i]:.1e}")
axes[1].set_title("right singular vectors", fontsize=9)
axes[1].legend(fontsize=7)
show(fig, "svd_1d")

# %% [markdown]
# ### Exercise 5 — truncated SVD and semi-convergence
#
# With $y = A x + w$, $\sigma = 0.01$:
#
# 1. write `tsvd(y, r)`, the truncated SVD solution with $r$ terms;
# 2. plot the error $\|x_r - x\|$ against $r = 1 \dots n$. It first decreases (more detail), then
#    increases (more amplified noise): this is *semi-convergence*. Find the best $r$;
# 3. draw the *Picard plot*: $s_i$, $|u_i^\top y|$ and $|u_i^\top y| / s_i$ against $i$. The
#    coefficients $|u_i^\top y|$ stop decaying where the noise takes over: that is where to truncate.

# %% tags=["exercise"]
sigma1 = 0.01
y = A @ row + sigma1 * rng.standard_normal(n)


def tsvd(y, r):
    raise NotImplementedError("Exercise 5")


# %% tags=["solution"]
sigma1 = 0.01
y = A @ row + sigma1 * rng.standard_normal(n)


def tsvd(y, r):
    coef = (U[:, :r].T @ y) / s[:r]
    return Vt[:r].T @ coef


errors = np.array([np.linalg.norm(tsvd(y, r) - row) for r in range(1, n + 1)])
r_best = int(np.argmin(errors)) + 1
print(f"best truncation r = {r_best} of {n}: error {errors.min():.3f} (full inverse: {errors[-1]:.1f})")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
axes[0].semilogy(np.arange(1, n + 1), errors)
axes[0].axvline(r_best, color="gray", lw=0.8)
axes[0].set_xlabel("r (terms kept)")
axes[0].set_title("error of the TSVD solution", fontsize=9)
coef = np.abs(U.T @ y)
axes[1].semilogy(s, label="s_i")
axes[1].semilogy(coef, ".", label="|u_i^T y|")
axes[1].semilogy(coef / s, ".", label="|u_i^T y| / s_i")
axes[1].axhline(sigma1, color="gray", lw=0.8, ls="--")
axes[1].set_title("Picard plot (dashed: noise level)", fontsize=9)
axes[1].legend(fontsize=7)
axes[2].plot(row, "k", lw=2, label="x (Dead Leaves row)")
axes[2].plot(y, color="0.6", label="y = Ax + w")
axes[2].plot(tsvd(y, r_best), "r", label=f"TSVD, r = {r_best}")
axes[2].legend(fontsize=7)
show(fig, "tsvd")

# %% [markdown]
# ### Exercise 6 — questions
#
# 1. Why are the singular values of the Toeplitz blur close to the sorted $|\hat g|$ of the periodic
#    blur? (Hint: a Toeplitz matrix differs from a circulant one only near the corners.)
# 2. The TSVD solution shows Gibbs-like oscillations around the jumps of $x$. Which singular vectors
#    would be needed to represent a jump, and why were they discarded?
# 3. Super-resolution $A = S B$ (blur then keep one sample in $s$) has a non-trivial kernel. What is the
#    rank of $A$ for an $n$-sample signal and $s = 2$, and what does the pseudo-inverse put in the
#    kernel?

# %% [markdown] tags=["solution"]
# **Answers.**
#
# 1. A symmetric Toeplitz matrix equals the circulant one except for the $O(\text{kernel size})$
#    corner entries that wrap around; this is a low-rank perturbation, so by Weyl's / Cauchy's
#    interlacing most singular values stay close (asymptotically, Szegő's theorem: they are
#    distributed like $|\hat g|$).
# 2. A jump has Fourier coefficients decaying only like $1/|\xi|$: it needs the high-frequency
#    singular vectors, exactly those with the smallest $s_i$, which carry mostly amplified noise.
#    Truncating them leaves the Gibbs oscillations. A regulariser that *likes* jumps (total variation,
#    Lab 2) or a prior learned from occlusion images (Labs 3–4) does better.
# 3. $A$ maps $\mathbb R^n$ to $\mathbb R^{n/2}$, so its rank is at most $n/2$ and its kernel has
#    dimension at least $n/2$. The pseudo-inverse puts **zero** in the kernel: no high frequencies are
#    invented, hence the blurry look of "pseudo-inverse" super-resolution.

# %% [markdown]
# ## Going further
#
# - Repeat Section 3 with **non-periodic** (reflecting) boundaries: `scipy.ndimage.convolve(u, k,
#   mode="reflect")` followed by the periodic inverse filter shows ringing from the image borders.
#   pnpleaves restores real photographs with `boundary="unknown"` for that reason.
# - Replace the hard threshold of the pseudo-inverse by the smooth filter
#   $\overline{\hat k} / (|\hat k|^2 + \lambda)$: this is Tikhonov regularisation, the start of Lab 2.
# - Inpainting ($A$ = a mask) and super-resolution are ill-posed in a stronger sense: $A$ has a
#   non-trivial kernel, and no amount of noise reduction can recover it. Only a *prior* can.
# - Reading: M. Bertero, P. Boccacci, *Introduction to Inverse Problems in Imaging* (1998), ch. 4–5;
#   P. C. Hansen, *Discrete Inverse Problems: Insight and Algorithms* (SIAM 2010), on the Picard plot.

# %%
print("lab1_inverse_problems: done")
