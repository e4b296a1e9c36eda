"""VibrantLeaves images (Achddou, Gousseau, Ladjal & Süsstrunk, "VibrantLeaves: a principled
parametric image generator for training deep restoration models", arXiv:2504.10201, 2025).

A dead-leaves occlusion process of free-form leaves, polygons and disks, in which each *visible*
leaf receives a texture (pseudo-periodic, micro-texture, mix, or a colour gradient) and the scene
gets a depth of field (blurred background, sharp middle, blurred foreground). Rendering:

1. geometry of each plane, front to back, at ``supersample`` x the resolution, until covered
   (background) or until a random coverage fraction is reached (middle and foreground planes);
   hidden leaves are never shaped or textured;
2. shading: flat colours for all visible leaves at once, then a texture for each visible leaf
   larger than ``flat_below``, computed only at the pixels where it shows; the supersampled
   coverage of each pixel weighs each leaf (anti-aliasing);
3. depth of field: blur and premultiplied-alpha compositing of the three planes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .._checks import check_number, check_size
from .colors import ColorLaw, lab_to_rgb, rgb_to_lab
from .config import VibrantLeavesConfig, make_config
from .depth import blur, gaussian_half_width, sample_blur
from .occlusion import Canvas, fill, sample_window_radii
from .shapes import ShapeBank, make_shape_bank
from .textures import N_PATCH_LEVELS, TextureContext, field_side, gradient_map, grid_map, periodic_map, perspective

TEXTURE_KINDS = ("flat", "gradient", "periodic", "micro", "mix")
N_COLORS = 4  # colours drawn per leaf ("two-color" micro model): its own, and up to three more for its texture
N_COLORS_PATCH = 2  # with the "patch" micro model: its own and one more (micro-textures bring their own)


def _resolve_flat(label: np.ndarray, palette: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Block means of ``palette[label + 1]`` and of the coverage ``label >= 0`` over ``s x s`` blocks;
    only blocks whose sub-samples disagree (edges) read every sub-sample."""
    first = label[::s, ::s]
    acc = palette[first + 1]
    cov = (first >= 0).astype(np.float32)
    if s == 1:
        return acc, cov
    edge = np.zeros(first.shape, dtype=bool)
    for i in range(s):
        for j in range(s):
            edge |= label[i::s, j::s] != first
    ey, ex = np.nonzero(edge)
    sub_sum = np.zeros((len(ey), 3), np.float32)
    sub_cov = np.zeros(len(ey), np.float32)
    for i in range(s):
        for j in range(s):
            lab = label[ey * s + i, ex * s + j]
            sub_sum += palette[lab + 1]
            sub_cov += lab >= 0
    acc[ey, ex] = sub_sum / (s * s)
    cov[ey, ex] = sub_cov / (s * s)
    return acc, cov


def _block_min(a: np.ndarray, s: int) -> np.ndarray:
    """Logical AND over ``s x s`` blocks of a boolean map (a pixel fully covered by a plane)."""
    out = a[::s, ::s].copy()
    for i in range(s):
        for j in range(s):
            out &= a[i::s, j::s]
    return out


def _reach(amount: float, kind: str, truncate: float = 0.0) -> int:
    """How far (pixels) a blur of this amount spreads: 3 std (Gaussian, or its truncation) or the
    disk radius (lens)."""
    if amount < 0.3:  # see depth.blur: no blur
        return 0
    return gaussian_half_width(amount, truncate) + 1 if kind == "gaussian" else int(np.ceil(amount)) + 1


def _dilate(a: np.ndarray, r: int) -> np.ndarray:
    return ndimage.maximum_filter(a, size=2 * r + 1, mode="nearest") if r > 0 else a


def _erode(a: np.ndarray, r: int) -> np.ndarray:
    return ndimage.minimum_filter(a, size=2 * r + 1, mode="nearest") if r > 0 else a


def _block_mean(a: np.ndarray, s: int) -> np.ndarray:
    """Mean over ``s x s`` blocks of the first two axes (strided sums: faster than a reshape-mean)."""
    if s == 1:
        return a.astype(np.float32)
    out = a[::s, ::s].astype(np.float32)
    for i in range(s):
        for j in range(s):
            if i or j:
                out += a[i::s, j::s]
    out *= 1.0 / (s * s)
    return out


@dataclass
class _Plane:
    canvas: Canvas
    s: int  # supersampling factor
    index: int  # 0 background, 1 middle, 2 foreground: part of each leaf's texture seed
    cx: list = field(default_factory=list)
    cy: list = field(default_factory=list)
    r: list = field(default_factory=list)  # bounding radius of each leaf (its extent)
    rn: list = field(default_factory=list)  # nominal radius (the power law's draw: sets flat vs textured)
    base: list = field(default_factory=list)  # CIELAB colours of each leaf: (m, N_COLORS, 3)

    def arrays(self):
        if not self.cx:  # nothing to draw: the plane is hidden everywhere
            z = np.zeros(0)
            return z, z, z, z, np.zeros((0, 2, 3), np.float32)
        return tuple(np.concatenate(a) for a in (self.cx, self.cy, self.r, self.rn, self.base))


class Renderer:
    def __init__(self, height: int, width: int, cfg: VibrantLeavesConfig, seed: int, cull: bool = True):
        self.h, self.w, self.cfg, self.seed, self.cull = height, width, cfg, int(seed), cull
        self.rng = np.random.default_rng([self.seed, 0x5EAF])
        self.colors = ColorLaw(cfg.color, self.rng, source=cfg.color_source, photos_per_image=cfg.photos_per_image,
                               patch_size=cfg.micro_patch)
        self.bank: ShapeBank = make_shape_bank(self.rng, cfg)
        self.tex = TextureContext(self.seed, height, width, cfg)
        self.stats = {k: 0 for k in TEXTURE_KINDS} | {"perspective": 0, "warp": 0}
        self._texture_cdf = self._texture_probs()

    # -- geometry ---------------------------------------------------------------------------------
    def _kind_probs(self) -> np.ndarray:
        w = np.array(self.cfg.shape_weights, dtype=float)
        if self.bank.n_polygons == 0:
            w[1] = 0
        if self.bank.n_freeform == 0:
            w[2] = 0
        return w / w.sum()

    def plane(self, index: int, coverage: float, supersample: int, needed: np.ndarray | None = None) -> _Plane:
        """Geometry of one plane at ``supersample`` x the resolution; ``needed`` (output resolution)
        marks the pixels where the plane can be seen, the others are never drawn."""
        s, cfg, rng, bank = supersample, self.cfg, self.rng, self.bank
        if not self.cull:
            needed = None
        if needed is not None and s > 1:
            needed = np.repeat(np.repeat(needed, s, axis=0), s, axis=1)
        plane = _Plane(Canvas(self.h * s, self.w * s, needed), s, index)
        probs = self._kind_probs()

        def draw_chunk(m: int):
            rn = sample_window_radii(rng, m, cfg.alpha, cfg.r_min * s, cfg.r_max * s, self.h * s, self.w * s)
            cx = rng.uniform(-rn, self.w * s + rn)
            cy = rng.uniform(-rn, self.h * s + rn)
            kind = rng.choice(3, size=m, p=probs)
            r = rn if cfg.shape_extent == 1.0 else np.where(kind == 0, rn, cfg.shape_extent * rn)
            ids = np.where(kind == 1, 1 + rng.integers(0, max(bank.n_polygons, 1), m),
                           1 + bank.n_polygons + rng.integers(0, max(bank.n_freeform, 1), m))
            ids = np.where(kind == 0, 0, ids).astype(np.int32)  # outline 0: full (disks)
            theta = rng.uniform(0, 2 * np.pi, m)
            aspect = np.where(kind == 1, rng.uniform(*cfg.aspect, m), 1.0)
            flip = np.where(rng.random(m) < 0.5, -1.0, 1.0)
            cos, sin = (np.cos(theta) / r).astype(np.float32), (np.sin(theta) / r).astype(np.float32)
            vscale = (flip / aspect).astype(np.float32)
            plane.cx.append(cx)
            plane.cy.append(cy)
            plane.r.append(r)
            plane.rn.append(rn)
            k = N_COLORS if cfg.micro_model == "two-color" else N_COLORS_PATCH
            plane.base.append(rgb_to_lab(self.colors.sample(k * m)).reshape(m, k, 3))

            def inside(k, dx, dy):
                ck, sk = cos[k], sin[k]
                u = ck * dx + sk * dy
                v = (ck * dy - sk * dx) * vscale[k]
                return bank.lookup(ids[k], u, v)

            return cx, cy, r, inside

        fill(plane.canvas, draw_chunk, coverage=coverage, first_chunk=128, max_leaves=cfg.max_leaves)
        return plane

    # -- shading ----------------------------------------------------------------------------------
    def shade(self, plane: _Plane) -> tuple[np.ndarray, np.ndarray]:
        """Premultiplied sRGB ``(H, W, 3)`` and coverage ``(H, W)`` of a plane."""
        s, h, w = plane.s, self.h, self.w
        label = np.maximum(plane.canvas.label_map(), -1)  # hidden pixels (-2) count as empty
        n = plane.canvas.n_leaves
        vis = np.flatnonzero(np.bincount(label.reshape(-1) + 1, minlength=n + 1)[1:])
        cx, cy, r, rn, base = plane.arrays()
        palette = np.zeros((n + 1, 3), np.float32)
        palette[1:] = base[:n, 0]
        acc, cov = _resolve_flat(label, palette, s)
        textured = vis[rn[vis] / s >= self.cfg.flat_below]
        self.stats["flat"] += len(vis) - len(textured)
        if len(textured):
            boxes = ndimage.find_objects(label + 1, max_label=n + 1)
            for leaf in textured:
                ys_, xs_ = boxes[leaf]
                y0, y1 = ys_.start // s, -(-ys_.stop // s)
                x0, x1 = xs_.start // s, -(-xs_.stop // s)
                c_leaf = _block_mean(label[y0 * s : y1 * s, x0 * s : x1 * s] == leaf, s)
                # the texture is evaluated densely on the box of the visible part of the leaf, with the
                # leaf's own generator: it does not depend on which other leaves are visible
                xc, yc = cx[leaf] / s, cy[leaf] / s
                x, y = np.meshgrid(np.arange(x0, x1, dtype=np.float32) + np.float32(0.5 - xc),
                                   np.arange(y0, y1, dtype=np.float32) + np.float32(0.5 - yc))
                rng = np.random.default_rng([self.seed, plane.index, int(leaf)])
                color = self._texture(rng, x, y, xc, yc, r[leaf] / s, base[leaf])
                acc[y0:y1, x0:x1] += c_leaf[..., None] * (color - base[leaf, 0])
        rgb = lab_to_rgb(acc / np.maximum(cov, 1e-6)[..., None])
        rgb *= cov[..., None]
        return rgb, cov

    def _texture_probs(self) -> np.ndarray:
        """Cumulative probabilities of periodic, micro, mix after the ablation switches."""
        cfg = self.cfg
        w_per, w_mic, w_mix = cfg.texture_weights
        if not cfg.micro_textures:  # a mix of two flat colours is a periodic texture
            w_per, w_mic, w_mix = w_per + w_mix, 0.0, 0.0
        if not cfg.periodic_textures:  # a mix needs a periodic map
            w_per, w_mic, w_mix = 0.0, w_mic + w_mix, 0.0
        p = np.array([w_per, w_mic, w_mix], dtype=float)
        return np.cumsum(p / max(p.sum(), 1e-12))

    def _texture_kind(self, rng: np.random.Generator) -> str:
        cfg = self.cfg
        if not (cfg.periodic_textures or cfg.micro_textures) or rng.random() < cfg.p_gradient:
            return "gradient"
        return ("periodic", "micro", "mix")[min(int(np.searchsorted(self._texture_cdf, rng.random(), side="right")), 2)]

    def _texture(self, rng, x, y, cx, cy, radius, colors) -> np.ndarray:
        """CIELAB colours of one leaf at leaf-centred coordinates ``(x, y)``; ``colors`` holds the
        leaf's own colour and one (patch model) or three more of the colour law."""
        cfg, tex = self.cfg, self.tex
        kind = self._texture_kind(rng)
        self.stats[kind] += 1
        base, other = colors[0], colors[1]
        if kind == "gradient":
            t = gradient_map(rng, x, y, radius)
            return base + t[..., None] * (other - base)
        if cfg.depth and rng.random() < cfg.p_perspective:
            self.stats["perspective"] += 1
            x, y = perspective(rng, x, y, radius)
        patch = cfg.micro_model == "patch"
        if kind == "micro":
            return self._patch_micro(rng, x, y, radius) if patch else self._micro(rng, x + cx, y + cy, base, other)
        # periodic map (warped coordinates), alone or mixing two endpoints
        mx, my = x, y
        if rng.random() < cfg.p_warp:
            self.stats["warp"] += 1
            du, dv = tex.displacement(rng, x + cx, y + cy)
            mx, my = x + du, y + dv
        if kind == "mix" and cfg.p_grid > 0 and rng.random() < cfg.p_grid:
            self.stats["grid"] = self.stats.get("grid", 0) + 1
            m = grid_map(rng, mx, my)[..., None]
        else:
            m = periodic_map(rng, mx, my, cfg, extent=1.5 * radius + 30.0)[..., None]
        if kind == "periodic":
            return base + m * (other - base)
        ends = []
        for c, j in ((base, 2), (other, 3)):
            if cfg.micro_textures and rng.random() >= 0.1:
                ends.append(self._patch_micro(rng, x, y, radius) if patch else self._micro(rng, x + cx, y + cy, c, colors[j]))
            else:
                ends.append(c)
        return ends[0] + m * (ends[1] - ends[0])

    def _patch_micro(self, rng, x, y, radius) -> np.ndarray:
        """The reference's micro-texture: random-phase colour noise with the CIELAB mean and covariance
        of a local patch of the colour source, its field drawn at the leaf's size (so its contrast is
        the patch's at the scale of the leaf) and read at leaf-centred coordinates ``(x, y)``."""
        from scipy import fft

        side = field_side(radius, fft.next_fast_len(max(self.h, self.w)))
        f3 = self.tex.patch_field(side, int(rng.integers(N_PATCH_LEVELS)))
        mean, chol = self.colors.patch(rng)
        ox, oy = rng.integers(side, size=2)
        idx = ((np.floor(y).astype(np.int32) + np.int32(oy)) % side) * side
        idx += (np.floor(x).astype(np.int32) + np.int32(ox)) % side
        g = f3[:, idx]  # (3, ...)
        return (np.tensordot(g, chol.astype(np.float32), axes=([0], [1])) + mean.astype(np.float32)).astype(np.float32)

    def _micro(self, rng, x, y, c0, c1) -> np.ndarray:
        g = self.tex.micro(rng, x, y)
        t = np.clip(0.5 + rng.uniform(*self.cfg.micro_contrast) * g, 0.0, 1.0)
        mean = 0.5 * (c0 + c1)
        return mean + (t - 0.5)[..., None] * (c1 - c0)

    # -- composition ------------------------------------------------------------------------------
    def render(self) -> tuple[np.ndarray, dict[str, Any]]:
        cfg, rng = self.cfg, self.rng
        info: dict[str, Any] = {}
        s = int(cfg.supersample)
        if not cfg.depth:
            bg = self.plane(0, 1.0, s)
            img, _ = self.shade(bg)
            info.update(planes={"background": bg.canvas.n_leaves}, blur=(0.0, 0.0))
        else:
            scale = cfg.blur_scale * (2.0 if cfg.blur == "lens" else 1.0)  # disk radius ~ 2 x Gaussian std
            b_bg = sample_blur(rng, scale)
            b_fg = b_bg if cfg.blur_shared else sample_blur(rng, scale)
            trunc = cfg.blur_truncate
            # a blur of 1 px or more removes aliasing: such planes need no supersampling
            fg = self.plane(2, rng.uniform(*cfg.fg_coverage), 1 if b_fg >= 1.0 else s)
            # (the middle plane is drawn whole: its coverage fraction is part of the model)
            mid = self.plane(1, rng.uniform(*cfg.mid_coverage), s)
            # the background is seen where neither the middle plane nor the opaque part of the blurred
            # foreground hides it, and as far as its own blur reaches from there
            fg_opaque = _erode(_block_min(fg.canvas.label_map() >= 0, fg.s), _reach(b_fg, cfg.blur, trunc))
            seen = ~_block_min(mid.canvas.label_map() >= 0, s) & ~fg_opaque
            bg = self.plane(0, 1.0, 1 if b_bg >= 1.0 else s, _dilate(seen, _reach(b_bg, cfg.blur, trunc)))
            back, _ = self.shade(bg)
            middle, a_mid = self.shade(mid)
            front, a_fg = self.shade(fg)
            img = middle + (1.0 - a_mid[..., None]) * blur(back, b_bg, cfg.blur, trunc)
            front_alpha = np.concatenate([front, a_fg[..., None]], -1)
            blurred = blur(front_alpha, b_fg, cfg.blur, trunc)
            img = blurred[..., :3] + (1.0 - blurred[..., 3:]) * img
            info.update(planes={"background": bg.canvas.n_leaves, "middle": mid.canvas.n_leaves,
                                "foreground": fg.canvas.n_leaves}, blur=(b_bg, b_fg),
                        middle_label=mid.canvas.label_map()[::s, ::s], foreground_opaque=fg_opaque)
        info["label"] = bg.canvas.label_map()[:: bg.s, :: bg.s]
        info["textures"] = dict(self.stats)
        img = np.clip(img, 0.0, 1.0).astype(np.float32)
        if cfg.grayscale:
            img = np.repeat(img @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(img.shape)
        return img, info


def vibrant_leaves(size: int | tuple[int, int], *, seed: int, preset: str | None = None,
                   config: VibrantLeavesConfig | None = None, return_info: bool = False, **options: Any):
    """A VibrantLeaves image, ``(H, W, 3)`` float32 in [0, 1].

    :param size: ``S`` or ``(H, W)`` in pixels.
    :param seed: the image depends only on ``(config, seed)``.
    :param preset: one of :data:`pnpleaves.generators.PRESETS`: the data recipes (``"vl-r2"`` = the
        defaults, ``"vl-r2-dof"``, ``"vl-r5"``, ``"vl-r10"``, ``"vl-r2-synthetic"``,
        ``"vl-r2-handcrafted"``, ``"vl-reference"``, ``"pnpleaves-0.1"``) and the paper's ablations
        (``"no-depth"``, ``"no-micro"``, ``"no-periodic"``, ``"no-textures"``).
    :param config: a :class:`VibrantLeavesConfig`; or give its fields as keyword options.
    :param return_info: also return a dict: leaves per plane, blur amounts, texture counts,
        the background label map.

    >>> img = vibrant_leaves(48, seed=0, r_min=4, r_max=60)
    >>> img.shape, img.dtype
    ((48, 48, 3), dtype('float32'))
    """
    height, width = check_size(size)
    seed = check_number(seed, "seed", low=0, integer=True, hint="Use a non-negative integer seed.")
    if config is None:
        config = make_config("vl", preset, **options)
    elif options or preset is not None:
        raise TypeError("give either config, or preset and keyword options, not both.")
    img, info = Renderer(height, width, config, seed).render()
    return (img, info) if return_info else img
