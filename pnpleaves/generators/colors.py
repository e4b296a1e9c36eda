"""Colour laws for the leaves: ``uniform``, ``natural``, ``synthetic`` and ``handcrafted``, and fast
CIELAB conversions.

- ``uniform``: i.i.d. uniform in the RGB cube (saturated, rainbow-like).
- ``natural``: colours drawn from the colour histogram of natural photographs. The default source is
  the 8 colour photographs that ship inside scikit-image (no network). Each image draws
  ``photos_per_image`` of them (1: one coherent palette, as the reference generator does) and each
  colour comes from one of those.
- ``synthetic``: a parametric law that reads no photograph at generation time, but whose 106 numbers
  (90 free parameters) were fitted once on 8 scikit-image photographs: a Gaussian mixture on the
  chromaticity plane (a*, b*) of CIELAB and, given the mixture component, a Gamma law of the
  lightness L*/100 (:data:`SYNTHETIC_COLOR_MODEL`, 8 x 8 numbers, 63 free, fitted by
  :func:`fit_synthetic_color_model` on the 5 photographs of :data:`CLASSIC_PHOTOS`); micro-textures
  take the colour covariance of a local patch from a Gaussian law of patch features
  (:data:`SYNTHETIC_PATCH_MODEL`, 7 x 6 numbers, 27 free, fitted by :func:`fit_patch_law` on the 8
  photographs of :data:`SKIMAGE_PHOTOS`). The natural law's micro-textures take the colour mean
  and covariance of a patch of the photographs themselves.
- ``handcrafted``: a law of 8 numbers set by hand and fitted on no image
  (:class:`HandcraftedColorLaw`): L*/100 ~ Beta, chroma ~ exponential, hue a warm lobe plus a
  uniform part; micro-textures get an uncorrelated CIELAB covariance of hand-set size.

``python research/fit_color_law.py`` refits both synthetic tables (it reproduces them exactly).
All two-colour mixing in the generators is done in CIELAB (D65), as in Achddou et al.,
"VibrantLeaves: a principled parametric image generator for training deep restoration models",
arXiv:2504.10201 (2025).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .._checks import check_choice
from ..io import list_images

COLOR_LAWS = ("uniform", "natural", "synthetic", "handcrafted")

#: The five scikit-image photographs of pnpleaves 0.1 (``color_source="skimage-classic"``).
CLASSIC_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
#: Every colour photograph bundled with scikit-image 0.26 (no download; synthetic images such as
#: ``color.png``, ``phantom.png``, ``logo.png`` and the near-duplicate ``motorcycle_right.png`` left
#: out): the default natural colour source (``color_source=None`` or ``"skimage"``).
SKIMAGE_PHOTOS = CLASSIC_PHOTOS + ("ihc.png", "retina.jpg", "hubble_deep_field.jpg")
DEFAULT_PHOTOS = SKIMAGE_PHOTOS
#: Named colour sources: ``color_source`` may be one of these names or a folder of photographs.
NAMED_SOURCES = {"skimage": SKIMAGE_PHOTOS, "skimage-classic": CLASSIC_PHOTOS}

_HIST_BITS = 5  # 32 bins per channel
_NBINS = 1 << _HIST_BITS

# --------------------------------------------------------------------------------------------
# sRGB <-> CIELAB (D65), vectorised float32; inputs (..., 3)
# --------------------------------------------------------------------------------------------
_M_RGB2XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
_M_XYZ2RGB = np.linalg.inv(_M_RGB2XYZ.astype(np.float64)).astype(np.float32)
_EPS = (6.0 / 29.0) ** 3
_KAPPA = 3 * (6.0 / 29.0) ** 2


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> CIELAB (L* in [0, 100]), D65 white."""
    rgb = np.asarray(rgb, dtype=np.float32)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (lin @ _M_RGB2XYZ.T) / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), xyz / _KAPPA + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


_GAMMA_LUT_SIZE = 1 << 16
_GAMMA_LUT = None


def _srgb_encode(lin: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB, through a 65,536-entry table (error < 2e-4, i.e. 0.05/255)."""
    global _GAMMA_LUT
    if _GAMMA_LUT is None:
        x = np.linspace(0.0, 1.0, _GAMMA_LUT_SIZE)
        _GAMMA_LUT = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)
    return _GAMMA_LUT[(lin * (_GAMMA_LUT_SIZE - 1) + 0.5).astype(np.int32)]


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) -> sRGB, clipped to [0, 1]."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16.0) * np.float32(1 / 116.0)
    f = np.stack([fy + lab[..., 1] * np.float32(1 / 500.0), fy, fy - lab[..., 2] * np.float32(1 / 200.0)], -1)
    xyz = np.where(f > 6.0 / 29.0, f * f * f, _KAPPA * (f - 4.0 / 29.0)) * _WHITE
    lin = np.clip(xyz @ _M_XYZ2RGB.T, 0.0, 1.0)
    return _srgb_encode(lin)


# --------------------------------------------------------------------------------------------
# natural-image colour histograms
# --------------------------------------------------------------------------------------------
def _load_photo(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def source_paths(source: str | None = None) -> list[Path]:
    """Photographs of a colour source: ``None``/``"skimage"`` (all bundled colour photographs),
    ``"skimage-classic"`` (the five of pnpleaves 0.1) or a folder."""
    if source is None or source in NAMED_SOURCES:
        import skimage.data

        folder = Path(skimage.data.__file__).parent
        names = NAMED_SOURCES[source or "skimage"]
        paths = [folder / name for name in names if (folder / name).exists()]
    else:
        paths = [Path(p) for p in list_images(source)]
    if not paths:
        raise FileNotFoundError(f"no colour photographs found for the natural colour law in {source!r}.")
    return paths


@functools.lru_cache(maxsize=4)
def natural_photos(source: str | None = None) -> tuple[np.ndarray, ...]:
    """The photographs of a colour source as ``(H, W, 3)`` uint8 arrays (for patch statistics)."""
    return tuple(_load_photo(p) for p in source_paths(source))


@functools.lru_cache(maxsize=8)
def natural_histograms(source: str | None = None) -> tuple[np.ndarray, ...]:
    """Per-photograph colour histograms as cumulative distributions over 32^3 RGB bins.

    ``source``: see :func:`source_paths`.
    Returned arrays are ``(bins, cdf)`` pairs flattened into a tuple ``(b0, c0, b1, c1, ...)``.
    """
    out: list[np.ndarray] = []
    for p in source_paths(source):
        arr = _load_photo(Path(p)).reshape(-1, 3) >> (8 - _HIST_BITS)
        idx = (arr[:, 0].astype(np.int64) << (2 * _HIST_BITS)) | (arr[:, 1].astype(np.int64) << _HIST_BITS) | arr[:, 2]
        counts = np.bincount(idx, minlength=_NBINS**3)
        bins = np.flatnonzero(counts)
        cdf = np.cumsum(counts[bins]).astype(np.float64)
        out += [bins, cdf / cdf[-1]]
    return tuple(out)


def _sample_natural(rng: np.random.Generator, n: int, source: str | None, photo: int) -> np.ndarray:
    hists = natural_histograms(source)
    bins, cdf = hists[2 * photo], hists[2 * photo + 1]
    b = bins[np.minimum(np.searchsorted(cdf, rng.random(n)), len(bins) - 1)]
    rgb = np.stack([(b >> (2 * _HIST_BITS)) & (_NBINS - 1), (b >> _HIST_BITS) & (_NBINS - 1), b & (_NBINS - 1)], -1)
    return ((rgb + rng.random((n, 3))) / _NBINS).astype(np.float32)


# --------------------------------------------------------------------------------------------
# parametric (synthetic) colour law: GMM on (a*, b*) + Gamma law of L*/100 per component
# --------------------------------------------------------------------------------------------
#: Fitted by ``python research/fit_color_law.py`` (=
#: ``fit_synthetic_color_model(source="skimage-classic")``, seed 0, 200,000 pixels) on the five classic
#: scikit-image photographs (astronaut, chelsea, coffee, rocket, motorcycle_left; 8 components).
#: Each row: weight, mean_a, mean_b, cov_aa, cov_ab, cov_bb, gamma_shape, gamma_scale (of L*/100):
#: 64 numbers, 63 free (the weights sum to 1).
SYNTHETIC_COLOR_MODEL = np.array(
    [
        [0.21293, 9.95895, 11.49802, 29.82989, 42.86033, 117.12055, 3.94745, 0.11307],
        [0.05574, 29.35896, 22.01738, 227.27649, 120.25600, 113.59428, 2.86625, 0.11142],
        [0.17273, 35.14337, 40.95237, 178.83111, 49.67519, 32.86663, 19.32049, 0.02489],
        [0.10916, 2.96632, 1.32280, 13.45560, -9.75907, 149.87580, 2.45738, 0.17379],
        [0.10956, 10.55546, 23.26376, 14.28544, 12.00864, 38.03110, 10.66197, 0.04865],
        [0.12857, 3.70224, -20.54535, 7.99979, -7.42633, 15.09100, 7.81326, 0.03172],
        [0.03829, 22.67309, 21.66190, 99.40123, 0.34418, 928.42344, 3.28368, 0.12798],
        [0.17302, 1.89581, 2.56708, 6.82006, 1.28407, 13.72324, 2.02708, 0.22688],
    ],
    dtype=np.float64,
).reshape(-1, 8)


def fit_synthetic_color_model(
    n_components: int = 8, *, source: str | None = None, n_pixels: int = 200_000, seed: int = 0, n_iter: int = 200
) -> np.ndarray:
    """Fit the parametric colour law: EM for a Gaussian mixture on (a*, b*), then, per component,
    a Gamma law of L*/100 by the method of moments on the pixels it is responsible for.

    Returns the parameter table in the layout of :data:`SYNTHETIC_COLOR_MODEL`.
    """
    rng = np.random.default_rng(seed)
    hists = natural_histograms(source)
    n_photos = len(hists) // 2
    per = n_pixels // n_photos
    rgb = np.concatenate([_sample_natural(rng, per, source, k) for k in range(n_photos)])
    lab = rgb_to_lab(rgb).astype(np.float64)
    ab, light = lab[:, 1:], np.clip(lab[:, 0] / 100.0, 1e-3, 1.0)
    # k-means++-like deterministic initialisation
    means = ab[rng.choice(len(ab), n_components, replace=False)]
    covs = np.repeat(np.cov(ab.T)[None], n_components, 0)
    weights = np.full(n_components, 1.0 / n_components)
    for _ in range(n_iter):
        resp = _gmm_log_resp(ab, weights, means, covs)
        r = np.exp(resp)
        nk = r.sum(0) + 1e-9
        weights = nk / nk.sum()
        means = (r.T @ ab) / nk[:, None]
        for k in range(n_components):
            d = ab - means[k]
            covs[k] = (r[:, k, None] * d).T @ d / nk[k] + 1e-3 * np.eye(2)
    r = np.exp(_gmm_log_resp(ab, weights, means, covs))
    rows = []
    for k in range(n_components):
        w = r[:, k] / r[:, k].sum()
        mu = float(w @ light)
        var = float(w @ (light - mu) ** 2) + 1e-6
        rows.append([weights[k], *means[k], covs[k][0, 0], covs[k][0, 1], covs[k][1, 1], mu * mu / var, var / mu])
    return np.array(rows)


def _gmm_log_resp(x, weights, means, covs):
    logp = np.empty((len(x), len(weights)))
    for k in range(len(weights)):
        d = x - means[k]
        inv = np.linalg.inv(covs[k])
        maha = np.einsum("ni,ij,nj->n", d, inv, d)
        logp[:, k] = np.log(weights[k]) - 0.5 * maha - 0.5 * np.log(np.linalg.det(covs[k])) - np.log(2 * np.pi)
    m = logp.max(1, keepdims=True)
    return logp - (m + np.log(np.exp(logp - m).sum(1, keepdims=True)))


def _sample_synthetic(rng: np.random.Generator, n: int) -> np.ndarray:
    table = SYNTHETIC_COLOR_MODEL
    comp = rng.choice(len(table), size=n, p=table[:, 0] / table[:, 0].sum())
    t = table[comp]
    z = rng.standard_normal((n, 2))
    # Cholesky of [[caa, cab], [cab, cbb]]
    l11 = np.sqrt(t[:, 3])
    l21 = t[:, 4] / l11
    l22 = np.sqrt(np.maximum(t[:, 5] - l21**2, 1e-9))
    a = t[:, 1] + l11 * z[:, 0]
    b = t[:, 2] + l21 * z[:, 0] + l22 * z[:, 1]
    light = 100.0 * np.clip(rng.gamma(t[:, 6], t[:, 7]), 0.0, 1.0)
    return lab_to_rgb(np.stack([light, a, b], -1).astype(np.float32))


class ColorLaw:
    """A per-image colour sampler: ``law.sample(n)`` returns ``(n, 3)`` sRGB float32 in [0, 1];
    ``law.patch(rng)`` the CIELAB mean and covariance Cholesky factor of a local patch (the colour
    statistics of a micro-texture).

    Built from the image's own generator, so colours depend only on (config, seed). The natural law
    draws ``photos_per_image`` photographs per image; each colour comes from one of them.
    """

    def __init__(self, name: str, rng: np.random.Generator, *, source: str | None = None, photos_per_image: int = 1,
                 patch_size: int = 50):
        self.name = check_choice(name, "color", COLOR_LAWS, hint="Choose one of the colour laws listed.")
        self.rng = rng
        self.source = source
        self.patch_size = int(patch_size)
        self.photo = 0
        self.photos = np.zeros(1, dtype=np.int64)
        if name == "natural":
            n_photos = len(natural_histograms(source)) // 2
            if photos_per_image == 1:  # the draw of pnpleaves 0.1
                self.photo = int(rng.integers(n_photos))
                self.photos = np.array([self.photo])
            else:
                self.photos = rng.choice(n_photos, size=photos_per_image, replace=photos_per_image > n_photos)
                self.photo = int(self.photos[0])

    def sample(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``n`` colours, from ``rng`` if given (else the law's own generator)."""
        rng = self.rng if rng is None else rng
        if self.name == "uniform":
            return rng.random((n, 3), dtype=np.float32)
        if self.name == "natural":
            if len(self.photos) == 1:
                return _sample_natural(rng, n, self.source, self.photo)
            which = rng.integers(len(self.photos), size=n)
            out = np.empty((n, 3), np.float32)
            for k, photo in enumerate(self.photos):
                sel = np.flatnonzero(which == k)
                if len(sel):
                    out[sel] = _sample_natural(rng, len(sel), self.source, int(photo))
            return out
        if self.name == "handcrafted":
            return HANDCRAFTED_LAW.sample(rng, n)
        return _sample_synthetic(rng, n)

    def patch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """CIELAB mean ``(3,)`` and lower Cholesky factor ``(3, 3)`` of the covariance of a local patch:
        a random ``patch_size``-square patch of one of the image's photographs (natural), of uniform
        noise (uniform, as the reference does without photographs), a draw of the parametric patch
        law (synthetic: :data:`SYNTHETIC_PATCH_MODEL`, fitted once on photographs, none read here) or
        of the hand-set one (handcrafted: :class:`HandcraftedColorLaw`)."""
        p = self.patch_size
        if self.name == "synthetic":
            return _sample_synthetic_patch(rng)
        if self.name == "handcrafted":
            return HANDCRAFTED_LAW.patch(rng)
        if self.name == "uniform":
            pix = rng.random((((p + 1) // 2) ** 2, 3), dtype=np.float32)
        else:
            photo = natural_photos(self.source)[int(self.photos[rng.integers(len(self.photos))])]
            h, w = photo.shape[:2]
            y, x = int(rng.integers(max(h - p, 0) + 1)), int(rng.integers(max(w - p, 0) + 1))
            # statistics of every other pixel of the patch: the same to within sampling, 4x cheaper
            pix = photo[y : y + p : 2, x : x + p : 2].reshape(-1, 3).astype(np.float32) * np.float32(1 / 255)
        lab = rgb_to_lab(pix).astype(np.float64)
        mean = lab.mean(0)
        d = lab - mean
        return mean, _chol(d.T @ d / max(len(d) - 1, 1))


def _chol(cov: np.ndarray) -> np.ndarray:
    """Cholesky factor of a covariance, made positive definite with a tiny ridge."""
    return np.linalg.cholesky(cov + 1e-6 * np.eye(3) * max(1.0, float(np.trace(cov))))


# --------------------------------------------------------------------------------------------
# parametric law of local colour patches (for micro-textures of the synthetic law)
# --------------------------------------------------------------------------------------------
#: Gaussian law of the features of a 50x50 CIELAB patch: log std of L*, a*, b*, then the Fisher z
#: of the correlations (L, a), (L, b), (a, b): mean vector (first row) and covariance (next six rows):
#: 42 numbers, 27 free (the covariance is symmetric).
#: Fitted by :func:`fit_patch_law` (seed 0, 4000 patches; ``python research/fit_color_law.py``) on the
#: 8 scikit-image colour photographs (:data:`SKIMAGE_PHOTOS`: the five above, ihc, retina,
#: hubble_deep_field). The patch mean is a colour of the synthetic law.
SYNTHETIC_PATCH_MODEL = np.array(
    [
        [1.94060, 1.04388, 1.48355, -0.31089, -0.12725, 0.46549],
        [1.38496, 0.95827, 1.10708, -0.01559, 0.01559, 0.41454],
        [0.95827, 1.15061, 0.99768, 0.01260, 0.13076, 0.56348],
        [1.10708, 0.99768, 1.21153, -0.03981, 0.06424, 0.45826],
        [-0.01559, 0.01260, -0.03981, 0.58123, 0.35791, 0.02222],
        [0.01559, 0.13076, 0.06424, 0.35791, 0.63532, 0.08642],
        [0.41454, 0.56348, 0.45826, 0.02222, 0.08642, 0.74486],
    ],
    dtype=np.float64,
)


def patch_features(lab_patch: np.ndarray) -> np.ndarray:
    """The six features of a patch ``(n, 3)`` of CIELAB pixels (see :data:`SYNTHETIC_PATCH_MODEL`)."""
    cov = np.cov(np.asarray(lab_patch, dtype=np.float64).T) + 1e-4 * np.eye(3)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    z = np.arctanh(np.clip([corr[0, 1], corr[0, 2], corr[1, 2]], -0.995, 0.995))
    return np.concatenate([np.log(sd), z])


def fit_patch_law(source: str | None = None, *, n_patches: int = 4000, patch_size: int = 50, seed: int = 0) -> np.ndarray:
    """Fit :data:`SYNTHETIC_PATCH_MODEL` on random patches of the photographs of ``source``."""
    rng = np.random.default_rng(seed)
    photos = natural_photos(source)
    feats = []
    for _ in range(n_patches):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        y, x = rng.integers(h - patch_size + 1), rng.integers(w - patch_size + 1)
        pix = photo[y : y + patch_size, x : x + patch_size].reshape(-1, 3).astype(np.float32) / 255
        feats.append(patch_features(rgb_to_lab(pix)))
    f = np.array(feats)
    return np.vstack([f.mean(0), np.cov(f.T)])


_PATCH_CHOL = np.linalg.cholesky(SYNTHETIC_PATCH_MODEL[1:])


def _sample_synthetic_patch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    f = SYNTHETIC_PATCH_MODEL[0] + _PATCH_CHOL @ rng.standard_normal(6)
    sd = np.exp(f[:3])
    r = np.tanh(f[3:])
    corr = np.array([[1.0, r[0], r[1]], [r[0], 1.0, r[2]], [r[1], r[2], 1.0]])
    w, v = np.linalg.eigh(corr)  # nearest valid correlation matrix
    corr = (v * np.maximum(w, 1e-3)) @ v.T
    d = np.sqrt(np.diag(corr))
    corr /= np.outer(d, d)
    mean = rgb_to_lab(_sample_synthetic(rng, 1))[0].astype(np.float64)
    return mean, _chol(corr * np.outer(sd, sd))


# --------------------------------------------------------------------------------------------
# hand-set colour law: 8 numbers chosen by hand, fitted on no image
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HandcraftedColorLaw:
    """The ``handcrafted`` colour law: 8 numbers set by hand (none fitted on any image).

    A colour is drawn in CIELAB (D65): lightness ``L* = 100 B`` with ``B ~ Beta(lightness_a,
    lightness_b)``; chroma ``C* ~ Exponential(mean chroma_mean)``; hue angle, with probability
    ``warm_weight``, normal around ``warm_hue`` with std ``warm_spread`` (degrees), else uniform;
    ``(a*, b*) = C* (cos h, sin h)``; out-of-gamut colours are clipped in linear RGB, as the other
    laws are. A micro-texture's patch has a colour of this law as its mean and the uncorrelated
    covariance ``diag(s², (r s)², (r s)²)``, ``s ~ Exponential(mean patch_lightness_std)``,
    ``r = patch_chroma_ratio``. The values were set before any measurement and not tuned on one
    (docs/training.md, "What 'synthetic' means").
    """

    #: Beta(2, 2.5): a single mode, L* mean 44 and std 21 (a little under the L* 50 of 18 % grey,
    #: the photographers' average scene; shadows are common) with black and white both rare.
    lightness_a: float = 2.0
    lightness_b: float = 2.5
    #: most surfaces are weakly coloured: half the colours under C* 14, one in 20 above C* 60.
    chroma_mean: float = 20.0
    #: warm hues (skin, wood, soil, dry leaves, brick) are over-represented in photographs of scenes
    #: lit by the sun or by incandescent light: half of the hues come from a warm lobe...
    warm_weight: float = 0.5
    #: ... centred on orange (CIELAB hue angle 60 degrees; sRGB red is at 40, yellow at 103) ...
    warm_hue: float = 60.0
    #: ... about as wide as the orange-brown family (std 35 degrees); the other half is uniform.
    warm_spread: float = 35.0
    #: a 50x50 patch of a textured surface varies by a few L* units, rarely by more than 20-30.
    patch_lightness_std: float = 8.0
    #: texture is mostly a lightness pattern (shading, relief): chroma varies half as much.
    patch_chroma_ratio: float = 0.5

    @property
    def n_parameters(self) -> int:
        """The number of parameters of the law (8)."""
        return len(dataclasses.fields(self))

    def sample_lab(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` CIELAB colours ``(n, 3)`` (before gamut clipping)."""
        light = 100.0 * rng.beta(self.lightness_a, self.lightness_b, n)
        chroma = rng.exponential(self.chroma_mean, n)
        warm = rng.random(n) < self.warm_weight
        hue = np.where(warm, self.warm_hue + self.warm_spread * rng.standard_normal(n), 360.0 * rng.random(n))
        h = np.deg2rad(hue)
        return np.stack([light, chroma * np.cos(h), chroma * np.sin(h)], -1)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` sRGB colours ``(n, 3)`` float32 in [0, 1]."""
        return lab_to_rgb(self.sample_lab(rng, n).astype(np.float32))

    def patch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """CIELAB mean ``(3,)`` and lower Cholesky factor ``(3, 3)`` of a micro-texture's patch."""
        mean = rgb_to_lab(self.sample(rng, 1))[0].astype(np.float64)  # in gamut, as the other laws' means
        s = rng.exponential(self.patch_lightness_std)
        sd = np.array([s, self.patch_chroma_ratio * s, self.patch_chroma_ratio * s])
        return mean, _chol(np.diag(sd * sd))


#: The hand-set law used by ``color="handcrafted"``.
HANDCRAFTED_LAW = HandcraftedColorLaw()
