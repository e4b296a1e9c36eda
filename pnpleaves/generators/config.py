"""Frozen configurations of the two generators, with documented defaults and the ablation presets.

An image depends only on ``(config, seed)``. Sizes are in pixels of the *output* image.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .._checks import check_choice, check_number, check_range_pair
from .colors import COLOR_LAWS

BLUR_KINDS = ("gaussian", "lens")
SHAPES = ("disk", "polygon", "freeform")
MICRO_MODELS = ("patch", "two-color")
MICRO_SPECTRA = ("anisotropic", "isotropic")
PERIODIC_PROFILES = ("reference", "centred")
RADIAL_LAWS = ("area", "radius")


def _check_radii(alpha: float, r_min: float, r_max: float) -> None:
    check_number(alpha, "alpha", low=0.0, low_inclusive=False, hint="alpha = 3 gives scale invariance.")
    check_number(r_min, "r_min", low=0.0, low_inclusive=False, hint="Give the smallest radius in pixels, e.g. 1.")
    check_number(r_max, "r_max", low=0.0, low_inclusive=False, hint="Give the largest radius in pixels.")
    if r_min >= r_max:
        raise ValueError(f"r_min must be < r_max; got r_min={r_min}, r_max={r_max}. Choose r_min < r_max.")


@dataclass(frozen=True)
class DeadLeavesConfig:
    """Classic Dead Leaves: disks with radii ``p(r) ∝ r^-alpha`` on ``[r_min, r_max]``, occluding each other.

    Leaves are drawn front to back until every pixel is covered (the exact model); ``max_leaves`` is
    only a safety net. Centres follow a stationary Poisson process: a leaf is kept if it meets the
    image, which is why the radius law of the *visible* leaves is weighted by the area they can hit.

    :param alpha: power-law exponent of the radius density (3: scale invariance).
    :param r_min: smallest radius (pixels). :param r_max: largest radius (pixels). The defaults
        (1, 2000) are the scale-invariant databases of Achddou, Gousseau & Ladjal (SSVM 2021), drawn at
        the output scale; pnpleaves 0.1 used (10, 500) (preset ``"pnpleaves-0.1"``).
    :param color: colour law, one of ``uniform``, ``natural``, ``synthetic``, ``handcrafted``
        (:mod:`pnpleaves.generators.colors`).
    :param color_source: folder of photographs for the ``natural`` law (``None``: scikit-image photos).
    :param grayscale: grey output (the three channels are equal).
    :param max_leaves: safety cap on the number of leaves drawn.
    :param r_min_choices: if not empty, each image draws its ``r_min`` uniformly among these values
        (the "mix" databases of Achddou et al., SSVM 2021, e.g. ``(1, 16)``); ``r_min`` is then unused.
    :param supersample: geometry rendered at ``supersample`` x the resolution and area-averaged
        (anti-aliasing; 1 = hard, aliased disks as in the classic model).
    :param photos_per_image: natural colour law only: each image mixes this many photographs,
        each leaf drawing its colour from one of them.
    """

    alpha: float = 3.0
    r_min: float = 1.0
    r_max: float = 2000.0
    color: str = "natural"
    color_source: str | None = None
    grayscale: bool = False
    max_leaves: int = 2_000_000
    r_min_choices: tuple[float, ...] = ()
    supersample: int = 1
    photos_per_image: int = 1

    def __post_init__(self):
        _check_radii(self.alpha, self.r_min, self.r_max)
        for r in self.r_min_choices:
            _check_radii(self.alpha, r, self.r_max)
        check_choice(self.color, "color", COLOR_LAWS)
        check_number(self.max_leaves, "max_leaves", low=1, integer=True)
        check_number(self.supersample, "supersample", low=1, high=8, integer=True)
        check_number(self.photos_per_image, "photos_per_image", low=1, integer=True)


@dataclass(frozen=True)
class VibrantLeavesConfig:
    """VibrantLeaves (Achddou, Gousseau, Ladjal, Süsstrunk, arXiv:2504.10201, 2025).

    Geometry: free-form leaves (alpha-shapes of random points in a disk, optionally smoothed and
    thresholded), regular-ish polygons and disks, with radii ``p(r) ∝ r^-alpha``; occlusion front to
    back until covered. Texture of each *visible* leaf: flat (small leaves), linear colour gradient,
    pseudo-periodic (sinusoid cut at a plateau and shaped by a sigmoid, one or two stacked directions,
    warped by a smooth random displacement, perspective-mapped), random-phase micro-texture with
    the colour statistics of a local patch of the colour source and an anisotropic power-law
    spectrum, or a mix of both (sinusoid or grid map). Depth of field: blurred background, sharp
    middle plane, blurred foreground. Anti-aliasing: geometry supersampled ``supersample``² times.
    The defaults are the data recipe ``vl-r2`` (docs/training.md); ``preset="pnpleaves-0.1"`` gives
    the images of pnpleaves 0.1.

    Switches used by the paper's ablations: ``depth`` (depth of field and perspective),
    ``micro_textures``, ``periodic_textures`` (both off: flat colours and gradients only).
    """

    # geometry
    alpha: float = 3.0
    r_min: float = 2.0
    r_max: float = 500.0
    shape_weights: tuple[float, float, float] = (0.2, 0.2, 0.6)  #: disk, polygon, free-form
    freeform_points: tuple[int, int] = (50, 100)  #: number of random points of a free-form leaf
    concavity: tuple[float, float] = (0.2, 0.7)  #: alpha-shape edge ratio (1 = convex hull)
    p_smooth: float = 0.5  #: probability of the smoothing-and-threshold step of a free-form leaf
    polygon_vertices: tuple[int, int] = (3, 8)
    aspect: tuple[float, float] = (0.5, 1.0)  #: axis ratio of polygons
    shape_bank: int = 16  #: distinct free-form and polygon outlines drawn per image (each used rotated/scaled)
    #: free-form and polygon leaves extend to ``shape_extent * r`` (the reference draws its polygons
    #: in a box of side ~3r: extent 1.5); disks keep radius r. Textures and the flat threshold use r.
    shape_extent: float = 1.0
    freeform_radial: str = "area"  #: points of a free-form leaf: "area"-uniform, or "radius"-uniform (clustered)
    smooth_sigma: tuple[float, float] = (0.01, 0.025)  #: smoothing blur of a free-form leaf, fraction of its box
    # colour
    color: str = "natural"
    color_source: str | None = None
    photos_per_image: int = 3  #: natural law: photographs mixed per image (each leaf draws from one)
    # textures
    periodic_textures: bool = True
    micro_textures: bool = True
    flat_below: float = 20.0  #: leaves with a radius below this are flat
    p_gradient: float = 0.05  #: probability of a colour gradient instead of a texture
    texture_weights: tuple[float, float, float] = (0.16, 0.67, 0.17)  #: periodic, micro, mix
    period: tuple[float, float] = (5.0, 100.0)  #: period of the sinusoids (pixels)
    p_two_directions: float = 0.5
    p_varying_period: float = 0.0  #: stacked random periods along the wave (the reference never uses it)
    sigmoid_slope: tuple[float, float] = (1.0, 10.0)
    plateau: tuple[float, float] = (0.05, 1.0)
    p_warp: float = 0.5
    warp_sigma: tuple[float, float] = (10.0, 20.0)  #: smoothness of the displacement field (pixels)
    p_perspective: float = 0.5
    micro_slope: tuple[float, float] = (0.5, 2.5)  #: amplitude spectrum |F(f)| ∝ |f|^-s
    micro_contrast: tuple[float, float] = (0.15, 0.5)  #: "two-color" model only
    #: "patch": random-phase colour noise with the colour mean and covariance of a random
    #: ``micro_patch``-square patch of the colour source, one field per leaf of the leaf's size (the
    #: reference's model); "two-color": one shared unit field per slope level between two colours.
    micro_model: str = "patch"
    micro_spectrum: str = "anisotropic"  #: "anisotropic" 1/(|fx|^s + |fy|^s) (reference) or "isotropic" |f|^-s
    micro_patch: int = 50
    #: "reference": values above the plateau jump to 1, then the uncentred sigmoid (1 + e^(-lambda w))^-1
    #: renormalised on [0, 1]; "centred": continuous plateau, sigmoid centred at 1/2
    periodic_profile: str = "reference"
    p_grid: float = 0.1  #: probability that a mix uses a grid map instead of a sinusoid
    # depth of field
    depth: bool = True
    blur: str = "gaussian"
    blur_scale: float = 5.0  #: blur = blur_scale * V, V with density 0.5 v^-1/2 on [0, 1]
    blur_shared: bool = True  #: one blur value for background and foreground (reference) or one each
    blur_truncate: float = 5.0  #: Gaussian kernels cut at this half-width in pixels (reference: 11x11); 0: 3 std
    mid_coverage: tuple[float, float] = (0.3, 0.6)  #: fraction covered by the sharp middle plane
    fg_coverage: tuple[float, float] = (0.1, 0.35)  #: fraction covered by the blurred foreground
    # rendering
    supersample: int = 2  #: geometry rendered at supersample x the resolution (anti-aliasing)
    grayscale: bool = False
    max_leaves: int = 200_000

    def __post_init__(self):
        _check_radii(self.alpha, self.r_min, self.r_max)
        check_choice(self.color, "color", COLOR_LAWS)
        check_choice(self.blur, "blur", BLUR_KINDS)
        check_choice(self.micro_model, "micro_model", MICRO_MODELS)
        check_choice(self.micro_spectrum, "micro_spectrum", MICRO_SPECTRA)
        check_choice(self.periodic_profile, "periodic_profile", PERIODIC_PROFILES)
        check_choice(self.freeform_radial, "freeform_radial", RADIAL_LAWS)
        check_number(self.shape_extent, "shape_extent", low=0.25, high=4.0)
        check_number(self.micro_patch, "micro_patch", low=2, integer=True)
        check_number(self.photos_per_image, "photos_per_image", low=1, integer=True)
        check_number(self.blur_truncate, "blur_truncate", low=0.0)
        for name in ("p_grid", "p_smooth", "p_gradient", "p_two_directions", "p_varying_period", "p_warp", "p_perspective"):
            check_number(getattr(self, name), name, low=0.0, high=1.0)
        for name in ("concavity", "aspect", "plateau", "mid_coverage", "fg_coverage", "smooth_sigma"):
            check_range_pair(getattr(self, name), name, low=0.0, high=1.0)
        for name in ("period", "warp_sigma", "sigmoid_slope", "micro_slope", "micro_contrast"):
            check_range_pair(getattr(self, name), name, low=0.0)
        check_range_pair(self.freeform_points, "freeform_points", low=3)
        check_range_pair(self.polygon_vertices, "polygon_vertices", low=3)
        for name, n in (("shape_weights", 3), ("texture_weights", 3)):
            w = getattr(self, name)
            if len(w) != n or any(check_number(v, name, low=0.0) < 0 for v in w) or sum(w) <= 0:
                raise ValueError(f"{name} must be {n} non-negative weights with a positive sum; got {w!r}.")
        check_number(self.blur_scale, "blur_scale", low=0.0)
        check_number(self.flat_below, "flat_below", low=0.0)
        check_number(self.supersample, "supersample", low=1, high=8, integer=True)
        check_number(self.shape_bank, "shape_bank", low=1, integer=True)
        check_number(self.max_leaves, "max_leaves", low=1, integer=True)


#: VibrantLeaves settings of pnpleaves 0.1 (before the data-recipe work of issue 18): the preset
#: ``"pnpleaves-0.1"`` reproduces those images bit for bit.
VL_0_1: dict[str, Any] = {
    "freeform_points": (20, 100), "smooth_sigma": (0.02, 0.08), "shape_extent": 1.0, "freeform_radial": "area",
    "color_source": "skimage-classic", "photos_per_image": 1, "p_varying_period": 0.5,
    "micro_model": "two-color", "micro_spectrum": "isotropic", "periodic_profile": "centred", "p_grid": 0.0,
    "blur_shared": False, "blur_truncate": 0.0, "r_min": 10.0, "r_max": 500.0,
}
#: Dead Leaves settings of pnpleaves 0.1.
DL_0_1: dict[str, Any] = {"r_min": 10.0, "r_max": 500.0, "color_source": "skimage-classic", "photos_per_image": 1,
                          "supersample": 1, "r_min_choices": ()}

#: The data recipes (issue 18; docs/training.md) and the paper's ablations (Achddou et al. 2025,
#: Fig. 16) as presets of :class:`VibrantLeavesConfig`. The ablations apply to the current defaults.
#: ``vl-r2`` is the default recipe; every recipe uses the reference-faithful textures and depth blur.
PRESETS: dict[str, dict[str, Any]] = {
    "vl": {},
    "vl-r2": {"r_min": 2.0, "flat_below": 20.0, "photos_per_image": 3},
    #: vl-r2 with twice the depth-of-field blur and kernels sized to it (closest to the dev photographs
    #: on most statistics of docs/training.md)
    "vl-r2-dof": {"r_min": 2.0, "flat_below": 20.0, "photos_per_image": 3, "blur_scale": 10.0, "blur_truncate": 0.0},
    "vl-r5": {"r_min": 5.0, "flat_below": 10.0, "photos_per_image": 3},
    "vl-r10": {"r_min": 10.0, "flat_below": 20.0, "photos_per_image": 3},
    #: colours from a law fitted once on 8 photographs (106 numbers), none read at generation time
    "vl-r2-synthetic": {"r_min": 2.0, "flat_below": 20.0, "color": "synthetic"},
    #: colours from a law of 8 numbers set by hand, fitted on no image
    "vl-r2-handcrafted": {"r_min": 2.0, "flat_below": 20.0, "color": "handcrafted"},
    #: closest to the reference generator's HEAD defaults (rachddou/DeadLeavesPlus): its scale, one
    #: photograph per image among the five classic ones, polygons in a 3r box, no anti-aliasing
    "vl-reference": {"r_min": 10.0, "flat_below": 20.0, "photos_per_image": 1, "color_source": "skimage-classic",
                     "shape_extent": 1.5, "freeform_radial": "radius", "supersample": 1},
    "pnpleaves-0.1": VL_0_1,
    "no-depth": {"depth": False},
    "no-micro": {"micro_textures": False},
    "no-periodic": {"periodic_textures": False},
    "no-textures": {"micro_textures": False, "periodic_textures": False},
}


#: Presets of :class:`DeadLeavesConfig`.
DL_PRESETS: dict[str, dict[str, Any]] = {
    "dl": {},
    "dl-r1": {"r_min": 1.0, "r_max": 2000.0},
    #: each image draws r_min in {1, 16}: the best Dead Leaves database of Achddou et al. (SSVM 2021)
    "dl-mix": {"r_min": 1.0, "r_max": 2000.0, "r_min_choices": (1.0, 16.0)},
    "dl-r1-aa": {"r_min": 1.0, "r_max": 2000.0, "supersample": 2},
    "pnpleaves-0.1": DL_0_1,
}


def make_config(model: str = "vl", preset: str | None = None, **options: Any):
    """Build a config: ``model`` is ``"vl"`` or ``"dl"``; ``preset`` one of :data:`PRESETS` (vl) or
    :data:`DL_PRESETS` (dl); options override the preset."""
    check_choice(model, "model", ("vl", "dl"), hint="vl = VibrantLeaves, dl = classic Dead Leaves.")
    if model == "dl":
        check_choice(preset or "dl", "preset", DL_PRESETS, hint="Dead Leaves presets: see pnpleaves.generators.DL_PRESETS.")
        cls, base = DeadLeavesConfig, dict(DL_PRESETS[preset or "dl"])
    else:
        check_choice(preset or "vl", "preset", PRESETS, hint="See pnpleaves.PRESETS.")
        cls, base = VibrantLeavesConfig, dict(PRESETS[preset or "vl"])
    if "r_min" in options and "r_min_choices" not in options:  # an explicit r_min is the r_min
        base.pop("r_min_choices", None)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for {cls.__name__}; valid options: {sorted(names)}.")
    base.update(options)
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in base.items()})


def config_to_dict(config) -> dict[str, Any]:
    """JSON/TOML-friendly dict of a config, with its class name under ``"model"``."""
    d = dataclasses.asdict(config)
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
    return {"model": "vl" if isinstance(config, VibrantLeavesConfig) else "dl", **d}


def config_from_dict(d: dict[str, Any]):
    """Inverse of :func:`config_to_dict`."""
    d = dict(d)
    return make_config(d.pop("model", "vl"), **d)


__all__ = [
    "DeadLeavesConfig",
    "VibrantLeavesConfig",
    "PRESETS",
    "DL_PRESETS",
    "make_config",
    "config_to_dict",
    "config_from_dict",
]
