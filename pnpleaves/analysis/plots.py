"""Figures of the analyses: the image-set statistics (gradient histograms, mean amplitude spectra),
line and bar charts of the prior analyses, the invariance and naturalness panels, and Jacobian
eigenvectors shown as images.

matplotlib is imported when a figure is drawn, so the analyses themselves do not need it. Every
figure has labelled axes and a legend; a function refuses to replace an existing file unless
``overwrite=True``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pnpleaves.analysis.image_sets import ImageSetStatistics, collect_statistics, reference_name
from pnpleaves.analysis.image_sources import ImageSource

__all__ = ["plot_bars", "plot_convergence", "plot_eigenvectors", "plot_invariance", "plot_lines", "plot_naturalness",
           "plot_statistics"]


def plot_statistics(
    sets: Mapping[str, ImageSource | ImageSetStatistics],
    path: str | os.PathLike,
    *,
    reference: str | None = None,
    overwrite: bool = False,
    **kwargs: Any,
) -> Path:
    """Save the two-panel figure of the talk: gradient histograms (left) and mean spectra (right).

    Left: the gradient-magnitude density in linear scale (solid) and, on a log axis, the same
    curves (thin, dashed) to show the tails. Right: mean amplitude spectrum in log-log scale with
    the fitted power law (dotted). The reference set (default: first key) is drawn in black.
    Refuses to replace an existing file unless ``overwrite=True``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    stats = collect_statistics(sets, **kwargs)
    ref_name = reference_name(stats, reference)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_g, ax_s = fig.subplots(1, 2)
    ax_log = ax_g.twinx()
    colours = iter(["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink",
                    "tab:olive", "tab:cyan", "tab:gray"] * 10)
    for name, s in stats.items():
        colour = "black" if name == ref_name else next(colours)
        width = np.diff(s.edges)
        centres = 0.5 * (s.edges[1:] + s.edges[:-1])
        density = s.hist / width
        ax_g.plot(centres, density, color=colour, lw=1.6, label=f"{name} (n={s.n_images})")
        shown = density > 0
        ax_log.plot(centres[shown], density[shown], color=colour, lw=0.8, ls="--", alpha=0.6)
        ax_s.loglog(s.freqs, s.amplitude, color=colour, lw=1.6,
                    label=rf"{name}: $\alpha$={s.slope:.2f} ($R^2$={s.r2:.3f})")
        ax_s.loglog(s.freqs, np.exp(s.intercept) * s.freqs ** (-s.slope), color=colour, lw=0.8, ls=":")
    ax_g.set_xlabel(r"gradient magnitude $\|\nabla I\|_2$")
    ax_g.set_ylabel("density (solid, linear)")
    ax_log.set_yscale("log")
    ax_log.set_ylabel("density (dashed, log)")
    ax_g.set_title("Distribution of the gradient")
    ax_g.legend(fontsize=8)
    ax_s.set_xlabel(r"frequency $\nu$ (cycles/pixel)")
    ax_s.set_ylabel(r"mean amplitude $|\hat I(\nu)|$")
    ax_s.set_title("Average 1-D amplitude spectrum")
    ax_s.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


# ------------------------------------------------------------------------ figures of the prior analyses
def _new_figure(path: str | os.PathLike, overwrite: bool, figsize: tuple[float, float], ncols: int = 1):
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return path, fig, axes


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_lines(path: str | os.PathLike, x: Sequence[float], series: Mapping[str, Sequence[float]], *, xlabel: str,
               ylabel: str, title: str = "", errors: Mapping[str, Sequence[float]] | None = None,
               logx: bool = False, logy: bool = False, hline: float | None = None,
               overwrite: bool = False) -> Path:
    """One panel, one line (with optional error bars) per series against ``x``; labelled axes and legend."""
    path, fig, ax = _new_figure(path, overwrite, (6.2, 4.2))
    for name, ys in series.items():
        err = None if errors is None else errors.get(name)
        ax.errorbar(list(x), list(ys), yerr=None if err is None else list(err), marker="o", ms=4, lw=1.5,
                    capsize=3, label=name)
    if hline is not None:
        ax.axhline(hline, color="black", lw=0.8, ls=":")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_convergence(table: Sequence[Mapping[str, Any]], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Two panels for a convergence table (rows with ``generator, k, testset, sigma, psnr,
    gap_to_largest_k``): the PSNR reached against K (steps per learning-rate stage), and the gap of
    each K to the largest K of the same generator. Same colour per dev set, one line style per generator."""
    path, fig, (ax_p, ax_g) = _new_figure(path, overwrite, (11, 4.2), ncols=2)
    curves: dict[tuple[str, str, float], list[tuple[int, float, float]]] = {}
    for r in table:
        curves.setdefault((r["generator"], r["testset"], float(r["sigma"])), []).append(
            (int(r["k"]), float(r["psnr"]), float(r["gap_to_largest_k"])))
    sets = list(dict.fromkeys((t, s) for _, t, s in curves))
    styles = {g: ls for g, ls in zip(dict.fromkeys(g for g, _, _ in curves), ("--", "-", ":", "-."))}
    ks = sorted({k for pts in curves.values() for k, _, _ in pts})
    for (gen, testset, sigma), pts in curves.items():
        pts.sort()
        colour = f"C{sets.index((testset, sigma)) % 10}"
        label = f"{gen.upper()} {testset} s={sigma:g}"
        kw = {"color": colour, "ls": styles[gen], "marker": "o", "ms": 4, "lw": 1.5, "label": label}
        ax_p.plot([p[0] for p in pts], [p[1] for p in pts], **kw)
        ax_g.plot([p[0] for p in pts], [p[2] for p in pts], **kw)
    for ax in (ax_p, ax_g):
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("K, steps per learning-rate stage")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_p.set_ylabel("PSNR (dB)")
    ax_p.set_title("PSNR reached")
    ax_g.axhline(0.0, color="black", lw=0.8, ls=":")
    ax_g.set_ylabel("PSNR gap to the largest K (dB)")
    ax_g.set_title("Gap to each generator's largest K")
    return _save(fig, path)


def plot_invariance(result: Any, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Two panels for an :class:`~pnpleaves.analysis.invariance.InvarianceResult`: the PSNR change of each
    prior against the level, and each prior's gap to the reference."""
    path, fig, (ax_d, ax_g) = _new_figure(path, overwrite, (11, 4.2), ncols=2)
    levels = list(result.levels)
    for p, d in result.delta.items():
        ax_d.plot(levels, d, marker="o", lw=1.5, label=f"{p} (sigma_in {result.sigma_in[p] * 255:.1f}/255)")
    for p, g in result.gap.items():
        if p != result.reference:
            ax_g.plot(levels, g, marker="o", lw=1.5, label=f"{p} - {result.reference}")
    for ax in (ax_d, ax_g):
        ax.axhline(0.0, color="black", lw=0.8, ls=":")
        ax.set_xlabel(result.unit or "level")
        ax.grid(alpha=0.3)
    ax_d.set_ylabel("PSNR change vs undistorted (dB)")
    ax_d.set_title(f"{result.transform}: noise-matched at {result.base_psnr[result.reference]:.2f} dB")
    ax_d.legend(fontsize=8)
    ax_g.set_ylabel(f"gap to {result.reference} (dB)")
    ax_g.set_title("gap between priors (> 0: copes better)")
    if len(result.psnr) > 1:
        ax_g.legend(fontsize=8)
    return _save(fig, path)


def plot_bars(path: str | os.PathLike, groups: Sequence[str], series: Mapping[str, Sequence[float]], *,
              ylabel: str, title: str = "", xlabel: str = "", logy: bool = False, overwrite: bool = False) -> Path:
    """Grouped bars: one group per entry of ``groups``, one bar per series; labelled axes and legend."""
    width_in = min(14.0, max(6.0, 2.5 + 0.22 * len(groups) * max(len(series), 1)))
    path, fig, ax = _new_figure(path, overwrite, (width_in, 4.4))
    n = max(len(series), 1)
    width = 0.8 / n
    pos = np.arange(len(groups))
    for i, (name, ys) in enumerate(series.items()):
        ax.bar(pos + (i - (n - 1) / 2) * width, list(ys), width, label=name)
    ax.set_xticks(pos)
    ax.set_xticklabels(list(groups), rotation=20, ha="right", fontsize=8)
    if logy:
        ax.set_yscale("log")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_naturalness(rows: Sequence[Any], spectra: Mapping[str, np.ndarray], path: str | os.PathLike, *,
                     overwrite: bool = False) -> Path:
    """Three panels for the naturalness table: spectrum slope, gradient KL (log) and the patch-PCA
    eigenvalue spectra (normalised, log-log) with each set's participation ratio in the legend."""
    path, fig, (ax_s, ax_k, ax_p) = _new_figure(path, overwrite, (15, 4.4), ncols=3)
    names = [r.name for r in rows]
    pos = np.arange(len(rows))
    ax_s.bar(pos, [r.slope for r in rows], color="tab:blue", label="amplitude slope alpha")
    ax_s.set_xticks(pos)
    ax_s.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax_s.set_ylabel(r"spectrum slope $\alpha$ ($|\hat I| \sim \nu^{-\alpha}$)")
    ax_s.set_title("Spectrum slope")
    ax_s.legend(fontsize=8)
    kl = [np.nan if r.is_reference else max(r.kl, 1e-6) for r in rows]
    ax_k.bar(pos, kl, color="tab:red", label="KL(set || reference); none for the reference")
    ax_k.set_yscale("log")
    ax_k.set_xticks(pos)
    ax_k.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax_k.set_ylabel("gradient-histogram KL (nats)")
    ax_k.set_title("Gradient KL to the reference")
    ax_k.legend(fontsize=8)
    for r in rows:
        lam = np.asarray(spectra[r.name], dtype=np.float64)
        lam = lam[lam > 1e-10 * lam.sum()]  # (the directions removed by centring the patches are 0)
        ax_p.loglog(np.arange(1, lam.size + 1), lam / lam.sum(), lw=1.4,
                    color="black" if r.is_reference else None, label=f"{r.name} (PR {r.participation_ratio:.1f})")
    ax_p.set_xlabel("component k")
    ax_p.set_ylabel(r"$\lambda_k / \sum \lambda$")
    ax_p.set_title("Patch-PCA eigenvalue spectrum")
    ax_p.legend(fontsize=7)
    ax_p.grid(alpha=0.3)
    return _save(fig, path)


def plot_eigenvectors(eigenvalues: Sequence[float], eigenvectors: Any, path: str | os.PathLike, *,
                      title: str = "", image: np.ndarray | None = None, overwrite: bool = False) -> Path:
    """The Jacobian eigenvectors (``(k, C, H, W)``) as images, each titled with its eigenvalue; the
    analysed image first when given."""
    vecs = np.asarray(eigenvectors.detach().cpu() if hasattr(eigenvectors, "detach") else eigenvectors)
    k = vecs.shape[0]
    n = k + (image is not None)
    cols = min(n, 6)
    rows_ = int(np.ceil(n / cols))
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.1 * cols, 2.3 * rows_ + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows_, cols)).ravel()
    i = 0
    if image is not None:
        axes[0].imshow(np.clip(image, 0, 1).squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
        axes[0].set_title("input (noisy)", fontsize=8)
        i = 1
    for j in range(k):
        v = vecs[j].transpose(1, 2, 0)
        m = np.abs(v).max() or 1.0
        shown = 0.5 + 0.5 * v / m
        axes[i + j].imshow(shown.squeeze(), cmap="gray" if v.shape[-1] == 1 else None)
        axes[i + j].set_title(rf"$\lambda_{{{j + 1}}}$ = {eigenvalues[j]:.3f}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)
