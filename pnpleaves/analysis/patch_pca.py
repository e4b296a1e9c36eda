r"""Patch PCA of an image set: the eigenvalue spectrum of its patch covariance and its effective dimension.

The talk asks "can we measure the dimensionality of the training set?". A model-free answer at the
scale a denoiser sees: draw random :math:`p \times p` patches (colour by default:
:math:`d = 3p^2` values), remove each patch's own mean per channel (``centre="patch"``: the
overall brightness of a patch, which would otherwise hold most of the variance, is not structure),
and take the eigenvalues :math:`\lambda_1 \ge \dots \ge \lambda_d` of their covariance. Summaries:

* **participation ratio** :math:`\mathrm{PR} = (\sum_k \lambda_k)^2 / \sum_k \lambda_k^2`, between 1
  (one direction holds all the variance) and :math:`d` (isotropic): the number of directions that
  matter;
* **effective rank** :math:`\exp H(\lambda / \sum\lambda)` (Roy & Vetterli, EUSIPCO 2007);
* the number of components for 95 % and 99 % of the variance;
* the **decay exponent** :math:`\gamma` of :math:`\lambda_k \propto k^{-\gamma}`, fitted for
  :math:`k = 2 \dots d/2` (a steeper decay: fewer effective dimensions).

Patches are drawn uniformly over the images, the same number from each image, from a stream keyed
by ``seed``. The estimates are biased upwards in the tail for few patches (Marchenko-Pastur: use
``n_patches`` much larger than :math:`d`; the default 20,000 is 100 times :math:`d = 192`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pnpleaves._checks import check_choice, check_number
from pnpleaves._random import stream
from pnpleaves.analysis.image_sources import ImageSource, colour_images
from pnpleaves.errors import InputError

__all__ = ["PatchPCA", "participation_ratio", "patch_pca", "random_patches"]


def participation_ratio(eigenvalues: Any) -> float:
    r""":math:`(\sum\lambda)^2 / \sum\lambda^2` of non-negative eigenvalues (negative rounding errors are clipped)."""
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0, None)
    s2 = float(np.sum(lam**2))
    return float(np.sum(lam) ** 2 / s2) if s2 > 0 else 0.0


def random_patches(images: ImageSource, patch_size: int = 8, n_patches: int = 20000, *, seed: int = 0,
                   grey: bool = False, max_images: int | None = None) -> np.ndarray:
    """``(n, d)`` float64 matrix of random ``patch_size`` patches (``d = C p^2``; ``C = 1`` with ``grey``)."""
    p = check_number(patch_size, "patch_size", low=2, integer=True)
    n = check_number(n_patches, "n_patches", low=2, integer=True)
    imgs = colour_images(images, max_images=max_images)
    if grey:
        luma = np.array([0.299, 0.587, 0.114], np.float32)
        imgs = [im @ luma[: im.shape[-1]] / luma[: im.shape[-1]].sum() for im in imgs]
        imgs = [im[..., None] for im in imgs]
    channels = {im.shape[-1] for im in imgs}
    if len(channels) > 1:
        raise InputError(f"images mix channel counts {sorted(channels)}; pass grey=True or images of one kind.")
    small = [i for i, im in enumerate(imgs) if min(im.shape[:2]) < p]
    if small:
        raise InputError(f"image {small[0]} ({imgs[small[0]].shape[0]}x{imgs[small[0]].shape[1]}) is smaller than "
                         f"the patch size {p}.")
    rng = stream(seed, "patch_pca")
    counts = np.full(len(imgs), n // len(imgs))
    counts[: n % len(imgs)] += 1
    out = []
    for im, c in zip(imgs, counts):
        if c == 0:
            continue
        h, w = im.shape[:2]
        tops = rng.integers(0, h - p + 1, c)
        lefts = rng.integers(0, w - p + 1, c)
        idx_y = tops[:, None, None] + np.arange(p)[None, :, None]
        idx_x = lefts[:, None, None] + np.arange(p)[None, None, :]
        out.append(im[idx_y, idx_x].reshape(c, -1).astype(np.float64))  # (c, p, p, C) -> (c, d)
    return np.concatenate(out, axis=0)


@dataclass(frozen=True)
class PatchPCA:
    """Eigenvalues of the patch covariance (decreasing) and their summaries."""

    eigenvalues: np.ndarray = field(repr=False)
    dim: int  #: d, the patch dimension
    n_patches: int
    participation_ratio: float
    effective_rank: float
    n_components_95: int
    n_components_99: int
    decay_exponent: float  #: gamma in lambda_k ~ k^-gamma (k = 2 .. d/2)
    total_variance: float


def patch_pca(images: ImageSource, patch_size: int = 8, n_patches: int = 20000, *, seed: int = 0,
              centre: str = "patch", grey: bool = False, max_images: int | None = None) -> PatchPCA:
    """Patch-covariance eigenvalues of ``images`` and their effective dimension (see the module docstring).

    :param centre: ``"patch"`` removes each patch's mean per channel (default), ``"set"`` only the
        mean patch of the set (brightness variations then dominate).
    :param grey: use grey patches (``d = p^2``) instead of colour ones.
    """
    centre = check_choice(centre, "centre", ("patch", "set"))
    x = random_patches(images, patch_size, n_patches, seed=seed, grey=grey, max_images=max_images)
    n, d = x.shape
    if centre == "patch":
        c = d // (int(patch_size) ** 2)
        xr = x.reshape(n, int(patch_size) ** 2, c)
        x = (xr - xr.mean(axis=1, keepdims=True)).reshape(n, d)
    x = x - x.mean(axis=0, keepdims=True)
    cov = x.T @ x / max(n - 1, 1)
    lam = np.clip(np.linalg.eigvalsh(cov)[::-1], 0, None)
    total = float(lam.sum())
    if total <= 0:
        return PatchPCA(eigenvalues=lam, dim=d, n_patches=n, participation_ratio=0.0, effective_rank=0.0,
                        n_components_95=0, n_components_99=0, decay_exponent=math.nan, total_variance=0.0)
    prob = lam / total
    nz = prob[prob > 0]
    cum = np.cumsum(prob)
    k = np.arange(2, max(d // 2, 3) + 1)
    k = k[k <= d]
    good = lam[k - 1] > total * 1e-12
    if good.sum() >= 2:
        gamma = -float(np.polyfit(np.log(k[good]), np.log(lam[k[good] - 1]), 1)[0])
    else:
        gamma = math.nan
    return PatchPCA(
        eigenvalues=lam,
        dim=d,
        n_patches=n,
        participation_ratio=participation_ratio(lam),
        effective_rank=float(np.exp(-np.sum(nz * np.log(nz)))),
        n_components_95=int(np.searchsorted(cum, 0.95) + 1),
        n_components_99=int(np.searchsorted(cum, 0.99) + 1),
        decay_exponent=gamma,
        total_variance=total,
    )
