"""Leaf shapes of VibrantLeaves: disks, convex polygons and free-form leaves (alpha-shapes).

A free-form leaf is the alpha-shape of random points drawn uniformly (by area) in the unit disk: the
union of the Delaunay triangles whose longest edge is at most ``l_min + c (l_max - l_min)``, with
``c`` the *concavity* ratio (``c = 1``: the convex hull; small ``c``: deep bays, holes and separate
pieces), as in Achddou et al. (arXiv:2504.10201). The optional *curved* model smooths the mask with a
Gaussian and thresholds it at 1/2, which rounds the outline.

Each image draws a bank of outlines (``VibrantLeavesConfig.shape_bank``) on a grid covering
``[-1, 1]^2``; every leaf uses one of them, rotated, flipped, stretched and scaled to its radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

LOOKUP_SIZE = 512  # side of the lookup grid of the outlines
DRAW_SIZE = 256  # grid on which outlines are drawn (smoothing works on a 128 grid)


def _draw_triangles(tris: np.ndarray, size: int):

    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    pix = (tris + 1.0) * 0.5 * (size - 1)
    for tri in pix:
        draw.polygon([tuple(p) for p in tri], fill=255)
    return canvas


def _upsample(img) -> np.ndarray:
    """Bilinear upsampling of a slightly blurred drawing to the lookup grid, thresholded at 1/2:
    outlines stay smooth at sub-pixel precision. The border of the grid is left empty, so points
    outside ``[-1, 1]^2`` read as outside."""

    img = img.filter(ImageFilter.GaussianBlur(0.7)).resize((LOOKUP_SIZE, LOOKUP_SIZE), Image.BILINEAR)
    out = np.asarray(img) >= 128
    out[[0, -1], :] = False
    out[:, [0, -1]] = False
    return out


def freeform_outline(rng: np.random.Generator, n_points: int, concavity: float, smooth: bool,
                     sigma_range: tuple[float, float] = (0.02, 0.08), radial: str = "area") -> np.ndarray:
    """Boolean mask of one free-form leaf (alpha-shape of ``n_points`` random points in the unit disk:
    uniform by ``area``, or with a uniform ``radius`` as the reference does, clustered at the centre);
    ``sigma_range``: std of the smoothing blur as a fraction of the box side."""
    from scipy.spatial import Delaunay

    for _ in range(8):  # redraw the rare outlines that keep less than 15 % of the disk
        rad = np.sqrt(rng.random(n_points)) if radial == "area" else rng.random(n_points)
        ang = 2 * np.pi * rng.random(n_points)
        pts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
        corners = pts[Delaunay(pts).simplices]  # (T, 3, 2)
        edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).max(1)
        keep = edges <= edges.min() + concavity * (edges.max() - edges.min())
        e1, e2 = corners[keep, 1] - corners[keep, 0], corners[keep, 2] - corners[keep, 0]
        if 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum() >= 0.15 * np.pi:
            break
    if smooth:  # curved model: blur, then threshold at 1/2 (on a coarse grid; upsampled after)
        coarse = _draw_triangles(corners[keep], DRAW_SIZE // 2)
        sigma = rng.uniform(*sigma_range) * (DRAW_SIZE // 2)
        return _upsample(coarse.filter(ImageFilter.GaussianBlur(sigma)).point(lambda v: 255 if v >= 128 else 0))
    return _upsample(_draw_triangles(corners[keep], DRAW_SIZE))


def polygon_outline(rng: np.random.Generator, n_vertices: int) -> np.ndarray:
    """Boolean mask of a convex polygon inscribed in the unit circle (random vertex angles;
    ``n_vertices = 4`` with a 1/2 chance gives a square, stretched into rectangles per leaf)."""
    if n_vertices == 4 and rng.random() < 0.5:
        ang = np.array([0.25, 0.75, 1.25, 1.75]) * np.pi
    else:
        ang = np.sort(2 * np.pi * rng.random(n_vertices))
    pts = np.stack([np.cos(ang), np.sin(ang)], 1)
    return _upsample(_draw_triangles(pts[None], DRAW_SIZE))


@dataclass
class ShapeBank:
    """Outlines of one image on a ``LOOKUP_SIZE`` grid over ``[-1, 1]^2``: ``masks[0]`` is full
    (disks: their row spans are already exact), then polygons, then free-form outlines."""

    masks: np.ndarray  # (1 + K, LOOKUP_SIZE, LOOKUP_SIZE) bool
    n_polygons: int

    @property
    def n_freeform(self) -> int:
        return len(self.masks) - 1 - self.n_polygons

    def lookup(self, ids: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Whether unit coordinates ``(u, v)`` fall inside outline ``ids`` (nearest grid point)."""
        size = self.masks.shape[-1]
        half = 0.5 * (size - 1)
        ix = np.clip(u * half + (half + 0.5), 0, size - 1).astype(np.int32)
        iy = np.clip(v * half + (half + 0.5), 0, size - 1).astype(np.int32)
        return self.masks.reshape(-1)[(ids * size + iy) * size + ix]


def make_shape_bank(rng: np.random.Generator, cfg) -> ShapeBank:
    """Draw the outlines of one image: ``shape_bank`` of them, split between polygons and
    free-form leaves in proportion to their weights."""
    _, w_poly, w_free = cfg.shape_weights
    k = int(cfg.shape_bank)
    n_poly = int(round(k * w_poly / max(w_poly + w_free, 1e-12)))
    if w_poly > 0:
        n_poly = max(n_poly, 1)
    if w_free > 0:
        n_poly = min(n_poly, k - 1)
    n_free = k - n_poly if w_free > 0 else 0
    masks = [np.ones((LOOKUP_SIZE, LOOKUP_SIZE), dtype=bool)]
    lo, hi = cfg.polygon_vertices
    for _ in range(n_poly):
        masks.append(polygon_outline(rng, int(rng.integers(lo, hi + 1))))
    plo, phi = cfg.freeform_points
    clo, chi = cfg.concavity
    for _ in range(n_free):
        masks.append(freeform_outline(rng, int(rng.integers(plo, phi + 1)), rng.uniform(clo, chi),
                                      bool(rng.random() < cfg.p_smooth), tuple(cfg.smooth_sigma), cfg.freeform_radial))
    return ShapeBank(np.stack(masks), n_poly)
