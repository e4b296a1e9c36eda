r"""Gradient-magnitude histograms of an image set and the divergences that compare them.

Natural images have heavy-tailed gradient distributions; the VibrantLeaves study compares image
sets by the KL divergence between histograms of :math:`\|\nabla I\|_2`.

* **Gradients.** Forward differences on the grey image (:mod:`pnpleaves.analysis.image_sources`),
  magnitude :math:`\sqrt{(\partial_x I)^2 + (\partial_y I)^2}`, a histogram with ``bins`` equal bins
  on ``[0, max_gradient]`` (larger values fall in the last bin), normalised per image to a
  probability vector, then averaged over images (each image weighs the same).
* **Divergences.** Natural logarithms (nats). :func:`kl_divergence` adds ``eps``
  (:data:`DEFAULT_EPS`) to every bin of both histograms and renormalises, so an empty bin cannot
  give an infinite value; :func:`js_divergence` needs no smoothing and lies in ``[0, log 2]``.

References: R. Achddou, Y. Gousseau, S. Ladjal, "Synthetic images as a regularity prior for image
restoration neural networks", SSVM 2021; R. Achddou, Y. Gousseau, S. Ladjal, S. Süsstrunk,
"VibrantLeaves", arXiv:2504.10201 (table "Comparison of image naturalness metrics").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import rel_entr

from pnpleaves._checks import check_number
from pnpleaves.analysis.image_sources import ImageSource, iter_grey_images
from pnpleaves.errors import InputError

__all__ = [
    "DEFAULT_EPS",
    "DEFAULT_GRADIENT_BINS",
    "DEFAULT_MAX_GRADIENT",
    "check_gradient_args",
    "gradient_counts",
    "gradient_histogram",
    "js_divergence",
    "kl_divergence",
]

#: default number of gradient-histogram bins on ``[0, max_gradient]``
DEFAULT_GRADIENT_BINS = 100
#: default upper end of the gradient histogram (images in [0, 1]; larger values go to the last bin)
DEFAULT_MAX_GRADIENT = 1.0
#: probability added to every histogram bin before the KL divergence
DEFAULT_EPS = 1e-6


# ------------------------------------------------------------------------------------ gradients
def gradient_counts(grey: np.ndarray, bins: int, max_gradient: float) -> np.ndarray:
    """Normalised gradient-magnitude histogram (sums to 1) of one grey float ``(H, W)`` image."""
    gx = grey[:-1, 1:] - grey[:-1, :-1]
    gy = grey[1:, :-1] - grey[:-1, :-1]
    mag = np.sqrt(gx * gx + gy * gy).ravel()
    idx = np.minimum((mag * (bins / max_gradient)).astype(np.intp), bins - 1)
    return np.bincount(idx, minlength=bins) / mag.size


def check_gradient_args(bins: Any, max_gradient: Any) -> tuple[int, float]:
    """Validate ``(bins, max_gradient)`` as :func:`gradient_histogram` takes them."""
    bins = check_number(bins, "bins", low=2, integer=True, hint=f"Use e.g. bins={DEFAULT_GRADIENT_BINS}.")
    max_gradient = check_number(max_gradient, "max_gradient", low=0, low_inclusive=False, hint="Use e.g. 1.0.")
    return bins, max_gradient


def gradient_histogram(
    images: ImageSource,
    bins: int = DEFAULT_GRADIENT_BINS,
    *,
    max_gradient: float = DEFAULT_MAX_GRADIENT,
    max_images: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Histogram of the gradient magnitude :math:`\|\nabla I\|_2` of a set (forward differences, grey).

    :return: ``(p, edges)``: ``p`` (length ``bins``) sums to 1 and is the mean of the per-image
        normalised histograms; ``edges`` (length ``bins + 1``) span ``[0, max_gradient]``; magnitudes
        above ``max_gradient`` are counted in the last bin.

    >>> p, edges = gradient_histogram(np.zeros((8, 8)), bins=4)
    >>> p.tolist(), edges.tolist()
    ([1.0, 0.0, 0.0, 0.0], [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    bins, max_gradient = check_gradient_args(bins, max_gradient)
    total, n = np.zeros(bins), 0
    for grey in iter_grey_images(images, max_images):
        total += gradient_counts(grey, bins, max_gradient)
        n += 1
    return total / n, np.linspace(0.0, max_gradient, bins + 1)


# ---------------------------------------------------------------------------------- divergences
def _as_distribution(p: Any, name: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D histogram; got shape {arr.shape}.")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise InputError(f"{name} must hold finite non-negative values; got min {arr.min()!r}.")
    total = arr.sum()
    if total <= 0:
        raise InputError(f"{name} must have a positive sum; got {total!r}.")
    return arr / total


def _pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    p, q = _as_distribution(p, "p"), _as_distribution(q, "q")
    if p.shape != q.shape:
        raise InputError(f"p and q must have the same number of bins; got {p.size} and {q.size}.")
    return p, q


def kl_divergence(p: Any, q: Any, *, eps: float = DEFAULT_EPS) -> float:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p\|q) = \sum_i p_i \log(p_i / q_i)` in nats.

    Both histograms are normalised, then smoothed as :math:`(p_i + \varepsilon) / \sum_j (p_j + \varepsilon)`
    (same for ``q``; ``eps`` defaults to :data:`DEFAULT_EPS` = 1e-6), which keeps the value finite when
    ``q`` has empty bins. ``kl_divergence(p, p) == 0`` exactly; the result is clamped at 0 against rounding.

    >>> kl_divergence([0.5, 0.5], [0.5, 0.5])
    0.0
    """
    p, q = _pair(p, q)
    eps = check_number(eps, "eps", low=0, hint=f"Use a small probability such as {DEFAULT_EPS}.")
    p = (p + eps) / (1.0 + eps * p.size)
    q = (q + eps) / (1.0 + eps * q.size)
    return max(0.0, float(np.sum(rel_entr(p, q))))


def js_divergence(p: Any, q: Any) -> float:
    r"""Jensen-Shannon divergence :math:`\tfrac12 \mathrm{KL}(p\|m) + \tfrac12 \mathrm{KL}(q\|m)`, :math:`m = (p+q)/2`.

    In nats, symmetric, in ``[0, log 2]``; no smoothing is needed since :math:`m > 0` wherever p or q is.

    >>> round(js_divergence([1, 0], [0, 1]), 6) == round(float(np.log(2)), 6)
    True
    """
    p, q = _pair(p, q)
    m = 0.5 * (p + q)
    value = 0.5 * float(np.sum(rel_entr(p, m))) + 0.5 * float(np.sum(rel_entr(q, m)))
    return min(max(value, 0.0), math.log(2.0))
