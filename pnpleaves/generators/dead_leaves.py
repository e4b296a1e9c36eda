"""Classic Dead Leaves images (Matheron 1968; Lee, Mumford & Huang 2001; Achddou et al., SSVM 2021).

Disks of radius ``r ~ p(r) ∝ r^-alpha`` on ``[r_min, r_max]`` and uniform centres fall one after the
other; each hides what lies beneath. Rendering front to back, the first disk drawn is on top, and
drawing stops when every pixel is covered: this is the exact (stationary) model, with no leaf-count
heuristic. alpha = 3 makes the model scale invariant.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_number, check_size
from .colors import ColorLaw
from .config import DeadLeavesConfig, make_config
from .occlusion import Canvas, fill, sample_window_radii


def dead_leaves(size: int | tuple[int, int], *, seed: int, preset: str | None = None,
                config: DeadLeavesConfig | None = None, return_info: bool = False, **options: Any):
    """A classic Dead Leaves image, ``(H, W, 3)`` float32 in [0, 1].

    :param size: ``S`` or ``(H, W)`` in pixels.
    :param seed: the image depends only on ``(config, seed)``.
    :param preset: one of :data:`pnpleaves.generators.DL_PRESETS`.
    :param config: a :class:`DeadLeavesConfig`; or give its fields as keyword options
        (``alpha=3.0, r_min=10, r_max=500, color="natural", grayscale=False``).
    :param return_info: also return a dict with the label map, radii and leaf counts.

    >>> img = dead_leaves(64, seed=0, alpha=3.0, r_min=2, r_max=100, color="uniform")
    >>> img.shape, img.dtype, bool(img.min() >= 0 and img.max() <= 1)
    ((64, 64, 3), dtype('float32'), True)
    """
    height, width = check_size(size)
    seed = check_number(seed, "seed", low=0, integer=True, hint="Use a non-negative integer seed.")
    if config is None:
        config = make_config("dl", preset, **options)
    elif options or preset is not None:
        raise TypeError(f"give either config, or preset and keyword options, not both; got options {sorted(options)}.")
    cfg = config
    rng = np.random.default_rng([int(seed), 0xD1])
    colors = ColorLaw(cfg.color, rng, source=cfg.color_source, photos_per_image=cfg.photos_per_image)
    r_min = cfg.r_min
    if cfg.r_min_choices:
        r_min = float(cfg.r_min_choices[int(rng.integers(len(cfg.r_min_choices)))])
    s = int(cfg.supersample)

    radii: list[np.ndarray] = []
    cols: list[np.ndarray] = []

    def draw_chunk(m: int):
        r = sample_window_radii(rng, m, cfg.alpha, r_min * s, cfg.r_max * s, height * s, width * s)
        cx = rng.uniform(-r, width * s + r)
        cy = rng.uniform(-r, height * s + r)
        radii.append(r / s)
        cols.append(colors.sample(m))
        return cx, cy, r, None  # None: exact disks

    canvas = Canvas(height * s, width * s)
    n = fill(canvas, draw_chunk, coverage=1.0, first_chunk=4096, max_leaves=cfg.max_leaves)
    palette = np.concatenate(cols)
    if cfg.grayscale:
        palette = np.repeat(palette @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(-1, 3)
    label = canvas.label_map()
    # pixels left uncovered (only if the safety cap was hit) are black
    img = np.where(label[..., None] >= 0, palette[np.maximum(label, 0)], 0.0).astype(np.float32)
    if s > 1:  # area average of the s x s sub-pixels (anti-aliasing)
        img = img.reshape(height, s, width, s, 3).mean(axis=(1, 3), dtype=np.float32)
    if return_info:
        visible = np.unique(label[label >= 0])
        info = {"label": label[::s, ::s], "radii": np.concatenate(radii)[:n], "n_leaves": n,
                "n_visible": int(len(visible)), "uncovered": int((label < 0).sum())}
        return img, info
    return img
