"""The two-panel figure of the image-set statistics: gradient histograms and mean amplitude spectra.

matplotlib is imported when a figure is drawn, so the statistics themselves do not need it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pnpleaves.analysis.image_sets import ImageSetStatistics, collect_statistics, reference_name
from pnpleaves.analysis.image_sources import ImageSource

__all__ = ["plot_statistics"]


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
