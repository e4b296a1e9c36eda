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
# # Lab 2 — Classical regularisation
#
# *pnpleaves teaching labs. Course: "Generative models for images", part "Basics on image
# restoration" (B. Galerne, A. Leclaire).*
#
# Lab 1 showed that $v = k * u_0 + w$ cannot be inverted directly. Here we regularise: we look for
#
# $$u^\star \in \arg\min_u\; F(u) = \tfrac12 \|k * u - v\|_2^2 + \lambda R(u),$$
#
# where $R$ encodes what a "regular" image is and $\lambda \ge 0$ balances the two terms.
#
# **Learning goals.** After this lab you can
#
# 1. implement the discrete gradient and its adjoint (minus the divergence) and check adjointness;
# 2. solve Tikhonov / Wiener deconvolution in closed form with the FFT, and by gradient descent with a
#    step size chosen from the Lipschitz constant;
# 3. minimise a non-smooth total-variation (TV) energy with the Chambolle–Pock primal-dual algorithm;
# 4. inpaint by projected gradient descent under the constraint "keep the observed pixels";
# 5. choose $\lambda$ with an L-curve and with the discrepancy principle, and compare with the oracle.
#
# Cells tagged `exercise` are for you; the teacher version also has the `solution` cells.
# `PNPLEAVES_FAST=1` makes everything small. Figures are saved under `lab_out/lab2/` in script mode.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from skimage import data

from pnpleaves.metrics import psnr
from pnpleaves.restoration import tikhonov_deblur, tv_deblur, tv_inpaint

FAST = os.environ.get("PNPLEAVES_FAST") == "1"
N = 128 if FAST else 256
OUT = Path(os.environ.get("PNPLEAVES_LAB_OUT", "lab_out")) / "lab2"
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)


def show(fig, name):
    """Show ``fig`` inline in a notebook; save it under OUT (and close it) when run as a script."""
    fig.savefig(OUT / f"{name}.png", dpi=80, bbox_inches="tight")
    if "inline" in plt.get_backend() or "widget" in plt.get_backend():
        plt.show()
    else:
        plt.close(fig)


def imshow_row(images, titles, name):
    fig, axes = plt.subplots(1, len(images), figsize=(3 * len(images), 3.2))
    for ax, im, t in zip(np.atleast_1d(axes), images, titles):
        ax.imshow(np.clip(im, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(t, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    show(fig, name)


def gaussian(std, radius=None):
    """Normalised 2-D Gaussian kernel of standard deviation ``std`` pixels."""
    radius = int(np.ceil(4 * std)) if radius is None else radius
    x = np.arange(-radius, radius + 1)
    g = np.exp(-(x**2) / (2 * std**2))
    k = np.outer(g, g)
    return k / k.sum()


def psf2otf(k, shape):
    """DFT of ``k`` zero-padded to ``shape`` and centred at index (0, 0) (Lab 1, Exercise 1)."""
    pad = np.zeros(shape)
    pad[: k.shape[0], : k.shape[1]] = k
    return np.fft.fft2(np.roll(pad, (-(k.shape[0] // 2), -(k.shape[1] // 2)), axis=(0, 1)))


f = 512 // N
u0 = data.camera().astype(np.float64).reshape(N, f, N, f).mean(axis=(1, 3)) / 255.0
k = gaussian(1.5)
K = psf2otf(k, u0.shape)
sigma = 0.02  # about 5/255
v = np.clip(np.real(np.fft.ifft2(np.fft.fft2(u0) * K)) + sigma * rng.standard_normal(u0.shape), 0, 1)
V = np.fft.fft2(v)
print(f"observation: Gaussian blur std 1.5, noise {sigma * 255:.1f}/255, PSNR {psnr(v, u0):.2f} dB")

# %% [markdown]
# ## 1. The discrete gradient and its adjoint
#
# With periodic forward differences,
#
# $$\nabla u(x, y) = \begin{pmatrix} u(x+1, y) - u(x, y) \\ u(x, y+1) - u(x, y) \end{pmatrix},
# \qquad
# \nabla^\top p(x, y) = p_1(x-1, y) - p_1(x, y) + p_2(x, y-1) - p_2(x, y).$$
#
# $-\nabla^\top = \operatorname{div}$ is a discrete divergence and $-\nabla^\top\nabla = \Delta$ a discrete
# Laplacian, whose symbol is
# $\hat L(\xi, \zeta) = |\hat d_1|^2 + |\hat d_2|^2 = 4\sin^2(\pi\xi/M) + 4\sin^2(\pi\zeta/N)$.
#
# ### Exercise 1 — gradient and adjoint
#
# Write `grad(u)` (returns an array of shape `(2, M, N)`) and `grad_adjoint(p)` with `np.roll`, and
# check numerically that $\langle \nabla u, p\rangle = \langle u, \nabla^\top p\rangle$ for random `u`,
# `p`. Check also that the FFT of $\nabla^\top\nabla u$ is $\hat L\,\hat u$.

# %% tags=["exercise"]
def grad(u):
    raise NotImplementedError("Exercise 1")


def grad_adjoint(p):
    raise NotImplementedError("Exercise 1")


# %% tags=["solution"]
def grad(u):
    return np.stack([np.roll(u, -1, axis=0) - u, np.roll(u, -1, axis=1) - u])


def grad_adjoint(p):
    return (np.roll(p[0], 1, axis=0) - p[0]) + (np.roll(p[1], 1, axis=1) - p[1])


# %%
fx = np.fft.fftfreq(N)
L_hat = 4 * np.sin(np.pi * fx)[:, None] ** 2 + 4 * np.sin(np.pi * fx)[None, :] ** 2
a, p = rng.standard_normal((N, N)), rng.standard_normal((2, N, N))
lhs, rhs = np.sum(grad(a) * p), np.sum(a * grad_adjoint(p))
print(f"<grad u, p> = {lhs:.6f}, <u, grad^T p> = {rhs:.6f}")
assert abs(lhs - rhs) < 1e-8 * abs(lhs)
assert np.allclose(np.fft.fft2(grad_adjoint(grad(a))), L_hat * np.fft.fft2(a))

# %% [markdown]
# ## 2. Tikhonov regularisation in closed form
#
# With $R(u) = \tfrac12\|\nabla u\|_2^2$, $F$ is a strictly convex quadratic and its minimiser solves
# $\nabla F(u) = K^\top(Ku - v) + \lambda\nabla^\top\nabla u = 0$. Both operators are diagonal in
# Fourier, hence
#
# $$\hat u_\lambda(\xi) = \frac{\overline{\hat k(\xi)}\,\hat v(\xi)}{|\hat k(\xi)|^2 + \lambda \hat L(\xi)}.$$
#
# Compared with the pseudo-inverse of Lab 1, the hard threshold has become a smooth filter: where
# $|\hat k|^2 \gg \lambda\hat L$ it inverts the blur, where $|\hat k|^2 \ll \lambda\hat L$ it smooths.
# This is also the **Wiener filter** of a Gaussian prior whose power spectrum is $\propto 1/\hat L$
# (pnpleaves' `wiener_deblur` uses $\lambda = \alpha\sigma^2$).
#
# ### Exercise 2 — closed form
#
# Write `tikhonov(v, K, lam)` and compute $u_\lambda$ for $\lambda \in \{10^{-4}, 10^{-3}, 10^{-2}\}$.
# Check that it agrees with `pnpleaves.restoration.tikhonov_deblur(v, k, lam, boundary="circular")`
# (which returns an image clipped to [0, 1], as every pnpleaves restoration function does).

# %% tags=["exercise"]
def tikhonov(v, K, lam):
    raise NotImplementedError("Exercise 2")


# %% tags=["solution"]
def tikhonov(v, K, lam):
    return np.real(np.fft.ifft2(np.conj(K) * np.fft.fft2(v) / (np.abs(K) ** 2 + lam * L_hat)))


# %%
lams = (1e-4, 1e-3, 1e-2)
sols = [tikhonov(v, K, lam) for lam in lams]
for lam, u in zip(lams, sols):
    lib = tikhonov_deblur(v, k, lam, boundary="circular")
    err = np.abs(np.clip(u, 0, 1) - lib).max()
    print(f"lambda = {lam:.0e}: {psnr(u, u0):.2f} dB, max |ours - pnpleaves| = {err:.1e}")
    assert err < 1e-4
imshow_row([v] + sols, ["observed"] + [f"Tikhonov, lambda = {lam:.0e}\n{psnr(u, u0):.2f} dB"
                                       for lam, u in zip(lams, sols)], "tikhonov")

# %% [markdown]
# ## 3. The same minimiser by gradient descent
#
# $\nabla F$ is $L$-Lipschitz with $L = \|K^\top K + \lambda\nabla^\top\nabla\| = \max_\xi\,
# (|\hat k(\xi)|^2 + \lambda\hat L(\xi)) \le 1 + 8\lambda$. For $\tau < 2/L$ gradient descent
#
# $$u_{n+1} = u_n - \tau\big(K^\top(Ku_n - v) + \lambda\nabla^\top\nabla u_n\big)$$
#
# converges, and since $F$ is $\alpha$-strongly convex with $\alpha = \min_\xi(|\hat k|^2 + \lambda\hat L)$,
# linearly: $\|u_n - u^\star\| \le (1 - \tau\alpha)^n\|u_0 - u^\star\|$ (for $\tau \le 1/L$). Without the
# data term this is the explicit scheme of the heat equation $\partial_t u = \Delta u$.
#
# ### Exercise 3 — gradient descent
#
# For $\lambda = 10^{-3}$, run gradient descent from $u_0 = v$ with $\tau = 1.9/L$ and plot
# $\|u_n - u_\lambda\|$ (log scale) against $n$. What happens with $\tau = 2.05/L$? Compare the observed
# rate with $(1 - \tau\alpha)$: why is the convergence so slow, and which frequencies converge last?

# %% tags=["exercise"]
lam = 1e-3
n_gd = 100 if FAST else 400
# Lip = ...
# u = v.copy()
# for n in range(n_gd):
#     ...

# %% tags=["solution"]
lam = 1e-3
n_gd = 100 if FAST else 400
u_star = tikhonov(v, K, lam)
symbol = np.abs(K) ** 2 + lam * L_hat
Lip, alpha = symbol.max(), symbol.min()


def blur_fft(u, K):
    return np.real(np.fft.ifft2(np.fft.fft2(u) * K))


def gradient_descent(tau, n_iter):
    u, dist = v.copy(), []
    for _ in range(n_iter):
        g = blur_fft(blur_fft(u, K) - v, np.conj(K)) + lam * grad_adjoint(grad(u))
        u = u - tau * g
        dist.append(np.linalg.norm(u - u_star))
    return u, np.array(dist)


u_gd, dist = gradient_descent(1.9 / Lip, n_gd)
_, dist_bad = gradient_descent(2.05 / Lip, n_gd)
print(f"L = {Lip:.3f}, alpha = {alpha:.2e}; after {n_gd} steps: {psnr(u_gd, u0):.2f} dB "
      f"(closed form {psnr(u_star, u0):.2f} dB)")
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.semilogy(dist, label="tau = 1.9 / L")
ax.semilogy(dist_bad, label="tau = 2.05 / L (diverges)")
ax.set_xlabel("iteration n")
ax.set_ylabel("||u_n - u*||")
ax.set_ylim(1e-3, 1e3)
ax.legend(fontsize=8)
show(fig, "gradient_descent")
# alpha = min(|k^|^2 + lam L_hat) is reached at frequencies the blur has killed (|k^| ~ 0) and
# where lam L_hat is still small: alpha is of the order of lam, so 1 - tau alpha is close to 1. Those
# frequencies converge last: gradient descent recovers them only through the weak regularisation term.
# Note that the early iterates are *better* than the limit here (higher PSNR): stopping early is
# itself a regularisation (Landweber iteration), since the noisy modes have not been fitted yet.
# With tau > 2 / L the mode where the symbol equals L is multiplied by |1 - tau L| > 1 at each step.

# %% [markdown]
# ## 4. Choosing $\lambda$: the L-curve and the discrepancy principle
#
# The **L-curve** plots, for a range of $\lambda$, the residual $\|k * u_\lambda - v\|$ against the
# regularity $\|\nabla u_\lambda\|$ on log-log axes. Small $\lambda$: small residual but huge gradient
# (noise); large $\lambda$: smooth but far from the data. The corner balances both.
# The **discrepancy principle** picks the $\lambda$ whose residual matches the noise:
# $\|k * u_\lambda - v\|^2 \approx |\Omega|\,\sigma^2$ (it needs $\sigma$, see `estimate_sigma` in
# Lab 4). The **oracle** picks the best PSNR (it needs $u_0$: only possible in a lab).
#
# ### Exercise 4 — the L-curve
#
# Compute residual and regularity for $\lambda \in [10^{-5}, 1]$ (log-spaced), draw the L-curve, and
# mark the discrepancy-principle $\lambda$ and the oracle $\lambda$ on it. How far is each from the
# oracle, in dB?

# %% tags=["exercise"]
lam_grid = np.logspace(-5, 0, 15 if FAST else 40)
# residual, regularity, quality = [], [], []
# ...

# %% tags=["solution"]
lam_grid = np.logspace(-5, 0, 15 if FAST else 40)
residual, regularity, quality = [], [], []
for lam_i in lam_grid:
    u = tikhonov(v, K, lam_i)
    residual.append(np.linalg.norm(blur_fft(u, K) - v))
    regularity.append(np.linalg.norm(grad(u)))
    quality.append(psnr(u, u0))
residual, regularity, quality = map(np.array, (residual, regularity, quality))
i_oracle = int(np.argmax(quality))
i_disc = int(np.argmin(np.abs(residual**2 - u0.size * sigma**2)))
print(f"oracle      lambda = {lam_grid[i_oracle]:.1e}: {quality[i_oracle]:.2f} dB")
print(f"discrepancy lambda = {lam_grid[i_disc]:.1e}: {quality[i_disc]:.2f} dB")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].loglog(residual, regularity, "o-", ms=3)
axes[0].loglog(residual[i_oracle], regularity[i_oracle], "r*", ms=12, label="oracle")
axes[0].loglog(residual[i_disc], regularity[i_disc], "gs", ms=8, label="discrepancy")
axes[0].set_xlabel("||k * u - v||")
axes[0].set_ylabel("||grad u||")
axes[0].set_title("L-curve", fontsize=9)
axes[0].legend(fontsize=8)
axes[1].semilogx(lam_grid, quality, "o-", ms=3)
axes[1].set_xlabel("lambda")
axes[1].set_ylabel("PSNR (dB)")
show(fig, "l_curve")
lam_tik = lam_grid[i_oracle]

# %% [markdown]
# ## 5. Total variation by a primal-dual algorithm
#
# Tikhonov penalises large gradients quadratically and so blurs edges. The **total variation**
#
# $$\mathrm{TV}(u) = \|\nabla u\|_{2,1} = \sum_x \sqrt{\partial_1 u(x)^2 + \partial_2 u(x)^2}$$
#
# penalises them only linearly and favours piecewise-constant images: exactly Dead Leaves. It is not
# differentiable; write the problem as $\min_u G(u) + F(\nabla u)$ with
# $G(u) = \tfrac12\|k*u - v\|^2$ and $F(p) = \lambda\|p\|_{2,1}$. The **Chambolle–Pock** iteration is
#
# $$\begin{aligned}
# p_{n+1} &= \operatorname{prox}_{s F^*}(p_n + s\nabla\bar u_n) = \Pi_{\{\|p(x)\|_2 \le \lambda\}}(p_n + s\nabla\bar u_n),\\
# u_{n+1} &= \operatorname{prox}_{t G}(u_n - t\nabla^\top p_{n+1}),\\
# \bar u_{n+1} &= 2u_{n+1} - u_n,
# \end{aligned}$$
#
# converging when $s\,t\,\|\nabla\|^2 < 1$, with $\|\nabla\|^2 \le 8$. The projection acts pixel by
# pixel: $p(x) \mapsto p(x) / \max(1, \|p(x)\|_2/\lambda)$. The prox of $G$ is a Tikhonov-like
# Fourier filter:
# $\operatorname{prox}_{tG}(w) = \mathcal F^{-1}\big[(\hat w + t\,\overline{\hat k}\hat v)/(1 + t|\hat k|^2)\big]$.
#
# ### Exercise 5 — Chambolle–Pock for TV deblurring
#
# Implement `tv_chambolle_pock(v, K, lam, n_iter)` and run it for a few $\lambda$ around $3\cdot10^{-3}$.
# Compare the best TV result with the best Tikhonov result, numerically and by zooming on an edge.
# Then compare with pnpleaves' `tv_deblur(v, k, sigma=sigma, boundary="circular")`.

# %% tags=["exercise"]
def tv_chambolle_pock(v, K, lam, n_iter):
    raise NotImplementedError("Exercise 5")


# %% tags=["solution"]
def tv_chambolle_pock(v, K, lam, n_iter):
    s = t = 0.99 / np.sqrt(8.0)
    V = np.fft.fft2(v)
    u, u_bar, p = v.copy(), v.copy(), np.zeros((2,) + v.shape)
    for _ in range(n_iter):
        p = p + s * grad(u_bar)
        p = p / np.maximum(1.0, np.sqrt((p**2).sum(axis=0)) / lam)
        w = u - t * grad_adjoint(p)
        u_new = np.real(np.fft.ifft2((np.fft.fft2(w) + t * np.conj(K) * V) / (1 + t * np.abs(K) ** 2)))
        u_bar = 2 * u_new - u
        u = u_new
    return u


n_cp = 100 if FAST else 300
tv_results = {lam_i: tv_chambolle_pock(v, K, lam_i, n_cp) for lam_i in (1e-3, 3e-3, 1e-2)}
for lam_i, u in tv_results.items():
    print(f"TV, lambda = {lam_i:.0e}: {psnr(u, u0):.2f} dB")
lam_tv = max(tv_results, key=lambda lam_i: psnr(tv_results[lam_i], u0))
u_tv = tv_results[lam_tv]
u_tik = tikhonov(v, K, lam_tik)
u_lib = tv_deblur(v, k, sigma=sigma, boundary="circular")
print(f"pnpleaves tv_deblur (lambda set from sigma): {psnr(u_lib, u0):.2f} dB")
zoom = (slice(N // 4, N // 2), slice(N // 4, N // 2))
imshow_row([u0[zoom], u_tik[zoom], u_tv[zoom]],
           ["u0 (zoom)", f"Tikhonov, best lambda\n{psnr(u_tik, u0):.2f} dB",
            f"TV, lambda = {lam_tv:.0e}\n{psnr(u_tv, u0):.2f} dB"], "tv_vs_tikhonov")

# %% [markdown]
# TV keeps sharp edges but turns smooth gradients into flat steps (*staircasing*), and removes
# fine textures together with the noise.
#
# ## 6. Inpainting by projected gradient
#
# With a mask $m$ (1 = observed) and no noise, $v = m \odot u_0$. The solutions of $m\odot u = v$ form
# an affine subspace $C$ (any value in the holes), and the projection onto it is trivial:
# $\Pi_C(u) = m\odot v + (1 - m)\odot u$. We minimise a regulariser on $C$ by **projected gradient**:
#
# $$u_{n+1} = \Pi_C\big(u_n - \tau\nabla R(u_n)\big), \qquad \tau < 2/L.$$
#
# - $R(u) = \tfrac12\|\nabla u\|^2$ (harmonic inpainting): $\nabla R = \nabla^\top\nabla u$, $L = 8$;
# - $R(u) = \mathrm{TV}_\varepsilon(u) = \sum_x \sqrt{\varepsilon^2 + \|\nabla u(x)\|^2}$ (smoothed TV):
#   $\nabla R = \nabla^\top\big(\nabla u / \sqrt{\varepsilon^2 + \|\nabla u\|^2}\big)$, $L = 8/\varepsilon$.
#
# ### Exercise 6 — projected gradient inpainting
#
# With 70 % of the pixels missing, inpaint with both regularisers ($\varepsilon = 0.05$), starting from
# the observed pixels and the mean grey elsewhere. Plot PSNR against iterations for both. Which one
# converges faster per iteration, and why? Compare with `pnpleaves.restoration.tv_inpaint`.

# %% tags=["exercise"]
mask = rng.random(u0.shape) < 0.3  # True = observed
v_inp = mask * u0


def projected_gradient(reg, n_iter, eps=0.05):
    raise NotImplementedError("Exercise 6")


# %% tags=["solution"]
mask = rng.random(u0.shape) < 0.3  # True = observed
v_inp = mask * u0


def projected_gradient(reg, n_iter, eps=0.05):
    u = np.where(mask, v_inp, v_inp[mask].mean())
    tau = 1.9 / 8 if reg == "harmonic" else 1.9 * eps / 8
    history = []
    for _ in range(n_iter):
        if reg == "harmonic":
            g = grad_adjoint(grad(u))
        else:
            gu = grad(u)
            g = grad_adjoint(gu / np.sqrt(eps**2 + (gu**2).sum(axis=0)))
        u = np.where(mask, v_inp, u - tau * g)
        history.append(psnr(u, u0))
    return u, history


n_pg = 150 if FAST else 600
u_harm, h_harm = projected_gradient("harmonic", n_pg)
u_tve, h_tve = projected_gradient("tv", n_pg)
u_lib_inp = tv_inpaint(v_inp, mask.astype(float), sigma=0.0)
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(h_harm, label="harmonic (Tikhonov)")
ax.plot(h_tve, label="smoothed TV, eps = 0.05")
ax.set_xlabel("iteration")
ax.set_ylabel("PSNR (dB)")
ax.legend(fontsize=8)
show(fig, "inpainting_convergence")
imshow_row([v_inp, u_harm, u_tve, u_lib_inp],
           ["observed (30 % of pixels)", f"harmonic\n{psnr(u_harm, u0):.2f} dB",
            f"smoothed TV\n{psnr(u_tve, u0):.2f} dB", f"pnpleaves tv_inpaint\n{psnr(u_lib_inp, u0):.2f} dB"],
           "inpainting")
# The harmonic step is 1.9 / 8, the TV step 1.9 eps / 8, twenty times smaller: TV needs many more
# iterations (its gradient is 8 / eps-Lipschitz). Smaller eps is closer to TV but slower still;
# primal-dual methods (Section 5) avoid the smoothing altogether.

# %% [markdown]
# ## Going further
#
# - **Accelerate** the gradient descent of Section 3 with Nesterov / FISTA momentum, and compare the
#   rates ($1 - \tau\alpha$ against $1 - \sqrt{\tau\alpha}$).
# - **Anisotropic TV** ($|\partial_1 u| + |\partial_2 u|$) only changes the projection; try it.
# - Replace the quadratic data term by the Poisson likelihood for photon-limited images.
# - TV is the MAP estimator of a Gibbs prior $p(u) \propto e^{-\lambda\mathrm{TV}(u)/\sigma^2}$. Is a
#   sample from that prior piecewise constant? (No: MAP and typical samples differ. Lab 5 samples
#   learned priors.)
# - Regularisation by a denoiser: in the Chambolle–Pock and projected-gradient loops, the only place
#   where $R$ enters is a proximal or gradient step. Lab 4 replaces it by a trained denoiser
#   (Plug-and-Play).
# - Reading: A. Chambolle, T. Pock, "A first-order primal-dual algorithm for convex problems with
#   applications to imaging", JMIV 40, 2011; L. Rudin, S. Osher, E. Fatemi, "Nonlinear total variation
#   based noise removal algorithms", Physica D 60, 1992; P. C. Hansen, "The L-curve and its use in the
#   numerical treatment of inverse problems", 2000.

# %%
print("lab2_regularisation: done")
