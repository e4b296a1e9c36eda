r"""How natural and how diverse is an image set? The talk's naturalness table, and more.

:func:`naturalness` measures every set with

* the **amplitude-spectrum slope** :math:`\alpha` and the :math:`R^2` of its fit
  (:mod:`~pnpleaves.analysis.spectrum`);
* the **gradient-histogram KL and JS divergences** from a reference set (the first, or
  ``reference``; :mod:`~pnpleaves.analysis.gradients`);
* the **excess kurtosis of the derivatives** (horizontal and vertical forward differences of the
  grey images, pooled): 0 for a Gaussian field, about 10 to 20 for natural photographs (heavy tails:
  mostly flat, a few strong edges; Huang & Mumford, CVPR 1999);
* the **patch-PCA effective dimension** (:mod:`~pnpleaves.analysis.patch_pca`): participation ratio,
  effective rank, components for 95 % of the variance, eigenvalue decay;
* optionally **KID** (and FID) against the reference with the Inception network of the optional
  extra ``kid`` (:mod:`~pnpleaves.analysis.kid`).

The talk's table (FID, gradient KL, slope, R²) was measured on WaterlooDB patches with unknown
conventions: compare orderings, not values (``docs/analysis.md``).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pnpleaves._checks import check_number
from pnpleaves.analysis.image_sets import collect_statistics, compare_image_sets
from pnpleaves.analysis.image_sources import ImageSource, iter_grey_images
from pnpleaves.analysis.kid import frechet_distance, inception_features, kernel_inception_distance
from pnpleaves.analysis.patch_pca import patch_pca
from pnpleaves.errors import InputError
from pnpleaves.generators import dead_leaves, make_config, vibrant_leaves

__all__ = [
    "NATURALNESS_SETS",
    "NaturalnessRow",
    "derivative_kurtosis",
    "format_naturalness",
    "generated_images",
    "naturalness",
    "write_naturalness_csv",
]

#: the generated sets of the talk's table: name -> (generator, preset). DL and VL are the recipes of
#: the shipped priors (dl-drunet, vl-drunet); the four ablations are those of the ablation study.
NATURALNESS_SETS: dict[str, tuple[str, str]] = {
    "DL": ("dl", "dl-mix"),
    "VL": ("vl", "vl"),
    "VL no-depth": ("vl", "no-depth"),
    "VL no-micro": ("vl", "no-micro"),
    "VL no-periodic": ("vl", "no-periodic"),
    "VL no-textures": ("vl", "no-textures"),
}

#: first seed of the generated sets (disjoint from the training images of the shipped priors and experiments)
GENERATED_SEED = 3_000_000


def generated_images(model: str, preset: str, n: int, size: int, *, seed: int = GENERATED_SEED) -> list[np.ndarray]:
    """``n`` images ``(size, size, 3)`` of a generator (``"vl"`` or ``"dl"``) and preset, seeds ``seed ..``, in memory."""
    n = check_number(n, "n", low=1, integer=True)
    config = make_config(model, preset)
    draw = vibrant_leaves if model == "vl" else dead_leaves
    return [draw(size, seed=seed + i, config=config) for i in range(n)]


def derivative_kurtosis(images: ImageSource, *, max_images: int | None = None) -> float:
    """Excess kurtosis of the pooled horizontal and vertical forward differences of the grey images."""
    n = s1 = s2 = s3 = s4 = 0.0
    for grey in iter_grey_images(images, max_images):
        d = np.concatenate([np.diff(grey, axis=1).ravel(), np.diff(grey, axis=0).ravel()])
        n += d.size
        s1 += d.sum()
        s2 += (d**2).sum()
        s3 += (d**3).sum()
        s4 += (d**4).sum()
    mean = s1 / n
    var = s2 / n - mean**2
    if var <= 1e-20:
        return math.nan
    m4 = s4 / n - 4 * mean * s3 / n + 6 * mean**2 * s2 / n - 3 * mean**4
    return float(m4 / var**2 - 3.0)


@dataclass(frozen=True)
class NaturalnessRow:
    """One set's row of the naturalness table (``kid``/``fid`` are NaN when not computed)."""

    name: str
    n_images: int
    slope: float
    r2: float
    kl: float  #: KL(set || reference) of the gradient histograms
    js: float
    kurtosis: float
    participation_ratio: float
    effective_rank: float
    n_components_95: int
    pca_decay: float
    kid: float = math.nan
    kid_std: float = math.nan
    fid: float = math.nan
    is_reference: bool = False
    pca_eigenvalues: np.ndarray | None = field(default=None, repr=False, compare=False)  #: not in the CSV


def naturalness(
    sets: Mapping[str, ImageSource],
    *,
    reference: str | None = None,
    patch_size: int = 8,
    n_patches: int = 20000,
    seed: int = 0,
    kid: bool = False,
    kid_subsets: int = 100,
    max_images: int | None = None,
    **stats_kwargs: Any,
) -> list[NaturalnessRow]:
    """The naturalness table of several image sets (rows in the order of ``sets``).

    :param sets: name -> images (a folder, an ``(N, H, W, C)`` stack or a list of arrays in [0, 1]).
    :param reference: the key of the reference set (default: the first); KL, JS and KID are
        measured against it.
    :param patch_size: patch side of the patch PCA (:func:`~pnpleaves.analysis.patch_pca.patch_pca`).
    :param n_patches: number of random patches of the patch PCA.
    :param seed: seed of the patch positions (and of the KID subsets).
    :param kid: also compute KID and FID (needs the optional extra ``kid``).
    :param stats_kwargs: passed to :func:`~pnpleaves.analysis.image_sets.image_set_statistics`
        (``band``, ``bins``, ``window``, ...).
    """
    if not isinstance(sets, Mapping) or not sets:
        raise InputError("sets must be a non-empty dict name -> images.")
    sets = {str(k): v for k, v in sets.items()}
    if kid and len(sets) < 2:
        raise InputError("KID compares sets with a reference: give at least two sets.")
    stats = collect_statistics(sets, max_images=max_images, **stats_kwargs)
    base = compare_image_sets(stats, reference=reference)
    ref_name = next(r.name for r in base if r.is_reference)
    feats: dict[str, np.ndarray] = {}
    if kid:
        feats = {name: inception_features(src, max_images=max_images) for name, src in sets.items()}
    rows = []
    for r in base:
        src = sets[r.name]
        pca = patch_pca(src, patch_size, n_patches, seed=seed, max_images=max_images)
        extra: dict[str, float] = {}
        if kid:
            extra["kid"], extra["kid_std"] = kernel_inception_distance(feats[r.name], feats[ref_name],
                                                                      n_subsets=kid_subsets, seed=seed)
            extra["fid"] = frechet_distance(feats[r.name], feats[ref_name])
        rows.append(NaturalnessRow(
            name=r.name, n_images=r.n_images, slope=r.slope, r2=r.r2, kl=r.kl, js=r.js,
            kurtosis=derivative_kurtosis(src, max_images=max_images),
            participation_ratio=pca.participation_ratio, effective_rank=pca.effective_rank,
            n_components_95=pca.n_components_95, pca_decay=pca.decay_exponent, is_reference=r.is_reference,
            pca_eigenvalues=pca.eigenvalues, **extra,
        ))
    return rows


def format_naturalness(rows: list[NaturalnessRow]) -> str:
    """A plain-text table of :func:`naturalness` rows."""
    with_kid = any(not math.isnan(r.kid) for r in rows)
    head = ["set", "n", "slope", "R2", "grad KL", "grad JS", "kurtosis", "PCA PR", "eff. rank", "n95", "decay"]
    if with_kid:
        head += ["KID x1e3", "FID"]
    lines = [head]
    for r in rows:
        ref = " (ref)" if r.is_reference else ""
        line = [r.name + ref, str(r.n_images), f"{r.slope:.3f}", f"{r.r2:.4f}", f"{r.kl:.4f}", f"{r.js:.4f}",
                f"{r.kurtosis:.1f}", f"{r.participation_ratio:.2f}", f"{r.effective_rank:.1f}",
                str(r.n_components_95), f"{r.pca_decay:.2f}"]
        if with_kid:
            line += [f"{r.kid * 1e3:.1f}±{r.kid_std * 1e3:.1f}", f"{r.fid:.0f}"]
        lines.append(line)
    widths = [max(len(row[j]) for row in lines) for j in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths)))
                     for row in lines)


def write_naturalness_csv(rows: list[NaturalnessRow], path: str | os.PathLike) -> Path:
    """Write the rows as CSV (one column per field)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        fields = [k for k in asdict(rows[0]) if k != "pca_eigenvalues"]
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            d = asdict(r)
            w.writerow({k: (round(d[k], 6) if isinstance(d[k], float) else d[k]) for k in fields})
    return path
