"""Second-order statistics of whole image sets, and their comparison against a reference set.

:func:`image_set_statistics` measures a set in one pass (each image is read once, then dropped):
the spectrum slope of :mod:`pnpleaves.analysis.spectrum` and the gradient histogram of
:mod:`pnpleaves.analysis.gradients`. :func:`compare_image_sets` turns several sets into table rows:
slope, :math:`R^2`, and the KL/JS divergence of each set's gradient histogram from the reference's.
This is the VibrantLeaves comparison of synthetic and natural image sets (R. Achddou, Y. Gousseau,
S. Ladjal, S. Süsstrunk, "VibrantLeaves", arXiv:2504.10201, table "Comparison of image naturalness
metrics"); ``pnpleaves stats`` prints it for folders.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pnpleaves._checks import check_choice
from pnpleaves.analysis.gradients import (
    DEFAULT_GRADIENT_BINS,
    DEFAULT_MAX_GRADIENT,
    check_gradient_args,
    gradient_counts,
    js_divergence,
    kl_divergence,
)
from pnpleaves.analysis.image_sources import ImageSource, count_images, iter_grey_images
from pnpleaves.analysis.spectrum import (
    DEFAULT_BAND,
    DEFAULT_SPECTRUM_BINS,
    SpectrumAccumulator,
    check_spectrum_args,
    fit_power_law,
)
from pnpleaves.errors import InputError

__all__ = [
    "ImageSetStatistics",
    "StatsRow",
    "collect_statistics",
    "compare_image_sets",
    "image_set_statistics",
    "reference_name",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSetStatistics:
    """Everything measured on one image set (the inputs of a table row and of the two plot panels)."""

    n_images: int
    freqs: np.ndarray = field(repr=False)  #: mean frequency of each ring, cycles/pixel
    amplitude: np.ndarray = field(repr=False)  #: mean |DFT| in each ring
    slope: float  #: alpha in |F| ~ C / nu^alpha
    intercept: float  #: log C
    r2: float  #: R^2 of the log-log fit
    hist: np.ndarray = field(repr=False)  #: gradient-magnitude probabilities
    edges: np.ndarray = field(repr=False)  #: gradient histogram bin edges


def image_set_statistics(
    images: ImageSource,
    *,
    band: tuple[float, float] = DEFAULT_BAND,
    n_bins: int = DEFAULT_SPECTRUM_BINS,
    window: str | None = "periodic",
    bins: int = DEFAULT_GRADIENT_BINS,
    max_gradient: float = DEFAULT_MAX_GRADIENT,
    max_images: int | None = None,
    progress: bool = False,
) -> ImageSetStatistics:
    """Spectrum and gradient histogram of a set in one pass (each image is read once, then dropped).

    Arguments as in :func:`~pnpleaves.analysis.spectrum.radial_amplitude_spectrum` and
    :func:`~pnpleaves.analysis.gradients.gradient_histogram`; ``progress=True`` shows a tqdm bar.
    """
    band, n_bins, window = check_spectrum_args(band, n_bins, window)
    bins, max_gradient = check_gradient_args(bins, max_gradient)
    spectrum = SpectrumAccumulator(band, n_bins, window)
    counts, n = np.zeros(bins), 0
    it: Iterable[np.ndarray] = iter_grey_images(images, max_images)
    if progress:
        label = Path(images).name if isinstance(images, (str, os.PathLike)) else "images"
        it = tqdm(it, total=count_images(images, max_images), desc=label, unit="img", leave=False)
    for grey in it:
        spectrum.add(grey)
        counts += gradient_counts(grey, bins, max_gradient)
        n += 1
    freqs, amp = spectrum.result()
    slope, intercept, r2 = fit_power_law(freqs, amp)
    return ImageSetStatistics(
        n_images=n,
        freqs=freqs,
        amplitude=amp,
        slope=slope,
        intercept=intercept,
        r2=r2,
        hist=counts / n,
        edges=np.linspace(0.0, max_gradient, bins + 1),
    )


@dataclass(frozen=True)
class StatsRow:
    """One row of :func:`compare_image_sets`; ``kl`` is KL(set || reference), ``js`` is JS(set, reference)."""

    name: str
    n_images: int
    slope: float
    r2: float
    kl: float
    js: float
    is_reference: bool


def collect_statistics(
    sets: Mapping[str, ImageSource | ImageSetStatistics], **kwargs: Any
) -> dict[str, ImageSetStatistics]:
    """Name -> statistics, in the order of ``sets``: precomputed :class:`ImageSetStatistics` are kept,
    any other source is measured with :func:`image_set_statistics` (``kwargs`` are passed on)."""
    if not isinstance(sets, Mapping) or not sets:
        raise InputError(f"sets must be a non-empty dict name -> images; got {type(sets).__name__} of length "
                         f"{len(sets) if hasattr(sets, '__len__') else '?'}.")
    out = {}
    for name, source in sets.items():
        if isinstance(source, ImageSetStatistics):
            out[str(name)] = source
        else:
            logger.debug("computing statistics of %s", name)
            out[str(name)] = image_set_statistics(source, **kwargs)
    return out


def reference_name(stats: Mapping[str, Any], reference: str | None) -> str:
    """The key of the reference set: ``reference`` if it is a key of ``stats``, the first key if ``None``."""
    if reference is None:
        return next(iter(stats))
    return check_choice(str(reference), "reference", list(stats), hint="Name one of the keys of sets.")


def compare_image_sets(
    sets: Mapping[str, ImageSource | ImageSetStatistics],
    reference: str | None = None,
    **kwargs: Any,
) -> list[StatsRow]:
    """Slope, R^2 and gradient KL/JS against a reference for several image sets.

    :param sets: name -> images (anything :func:`image_set_statistics` takes) or precomputed
        :class:`ImageSetStatistics`; rows keep the dict order.
    :param reference: the key of the reference set (default: the first key).
    :param kwargs: passed to :func:`image_set_statistics` (``band``, ``bins``, ``max_images``, ...).
    :return: one :class:`StatsRow` per set; the reference row has ``kl == js == 0``.
    """
    stats = collect_statistics(sets, **kwargs)
    ref_name = reference_name(stats, reference)
    ref = stats[ref_name]
    rows = []
    for name, s in stats.items():
        if s.hist.shape != ref.hist.shape or not np.array_equal(s.edges, ref.edges):
            raise InputError(f"set {name!r} has gradient bins that differ from the reference {ref_name!r}; "
                             "compute every set with the same bins and max_gradient.")
        rows.append(StatsRow(
            name=name,
            n_images=s.n_images,
            slope=s.slope,
            r2=s.r2,
            kl=kl_divergence(s.hist, ref.hist),
            js=js_divergence(s.hist, ref.hist),
            is_reference=name == ref_name,
        ))
    return rows
