"""Per-leaf textures of VibrantLeaves, evaluated procedurally at the pixels where a leaf is visible.

Every texture is a function of pixel coordinates, so only visible pixels are ever computed.

- **Pseudo-periodic** maps ``m(x) in [0, 1]`` between two colours (Achddou et al. 2025, "T1..T4"):
  a sinusoid ``0.5 + 0.5 sin(2 pi <x, d> / T)`` of random direction ``d`` and period ``T``, cut at a
  random plateau and sharpened by a sigmoid of slope ``lambda``; with some probability the period
  varies along the wave (oscillations of random periods stacked end to end); two directions may be
  multiplied (a stacked, grid-like pattern). The coordinates may be warped by a smooth random
  displacement field ("atmospheric distortion") and mapped by a homography (perspective).
- **Micro-textures**: random-phase textures (Galerne, Gousseau & Morel, "Random phase textures",
  IEEE TIP 2011). ``"patch"`` model (default, the reference generator's): amplitude spectrum
  ``1 / (|fx|^s + |fy|^s)``, three channels mixed to the CIELAB mean and covariance of a random
  local patch of the colour source; the field has the leaf's size (so the texture has the patch's
  contrast at the scale of the leaf) and is shared by the leaves of an image with the same size and
  slope level, each reading it at its own offset. ``"two-color"`` model (pnpleaves 0.1): one
  isotropic ``|f|^-s`` field of the image's size per slope level, between two colours.
- **Mixes**: a pseudo-periodic (or, with probability ``p_grid``, grid) map that interpolates between
  two micro-textures or flat colours.
- **Gradients**: a linear colour ramp at a random angle, sharpened by a logistic of random steepness.

All two-colour interpolation is done in CIELAB.
"""

from __future__ import annotations

import numpy as np

N_SLOPE_LEVELS = 6  # slopes of the micro-textures are drawn among these many levels ("two-color" model)
N_PATCH_LEVELS = 9  # slope levels of the "patch" model (0.25 apart over the default 0.5 .. 2.5)


def field_side(extent: float, cap: int) -> int:
    """Side of the micro-texture field of a leaf of bounding radius ``extent``: at least
    ``2 extent + 60`` (the reference's texture width), on a ladder of FFT-friendly sizes
    (64 and 96 times powers of 2), at most ``cap``."""
    need = 2.0 * extent + 60.0
    k = max(0, int(np.ceil(2 * np.log2(need / 64.0) - 1e-9)))
    return min((64 if k % 2 == 0 else 96) << (k // 2), cap)  # 64, 96, 128, 192, 256, 384, 512, ...


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sharpen(w: np.ndarray, slope: float) -> np.ndarray:
    """Sigmoid of slope ``slope`` centred at 1/2, renormalised so that 0 -> 0 and 1 -> 1."""
    lo, hi = _sigmoid(-0.5 * slope), _sigmoid(0.5 * slope)
    return (_sigmoid(slope * (w - 0.5)) - lo) / (hi - lo)


class TextureContext:
    """Random fields shared by the leaves of one image, built lazily from their own generators
    (so a field does not depend on which leaf asks for it first)."""

    def __init__(self, seed: int, height: int, width: int, cfg):
        self.seed, self.height, self.width, self.cfg = seed, height, width, cfg
        self._spectrum = None
        self._log_radius = None
        self._fields: dict[int, np.ndarray] = {}
        self._patch_fields: dict[tuple[int, int], np.ndarray] = {}
        self._patch_noise: dict[int, np.ndarray] = {}
        self._warp = None
        lo, hi = cfg.micro_slope
        self.slopes = np.linspace(lo, hi, N_SLOPE_LEVELS)

    # -- micro-textures -------------------------------------------------------------------------
    def micro_field(self, level: int) -> np.ndarray:
        """Zero-mean, unit-variance Gaussian field with amplitude spectrum ∝ |f|^-slopes[level]."""
        if level not in self._fields:
            from scipy import fft

            h, w = self.height, self.width
            if self._spectrum is None:
                noise = np.random.default_rng([self.seed, 0x3F1E1D]).standard_normal((h, w), dtype=np.float32)
                self._spectrum = fft.rfft2(noise)
                fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
                fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
                log_f = 0.5 * np.log(np.maximum(fx * fx + fy * fy, 1e-12))
                self._log_radius = log_f
            amp = np.exp(-self.slopes[level] * self._log_radius, dtype=np.float32)
            amp[0, 0] = 0.0  # zero mean
            field = fft.irfft2(self._spectrum * amp, s=(h, w))
            field *= 1.0 / (field.std() + 1e-12)
            self._fields[level] = field.astype(np.float32, copy=False)
        return self._fields[level]

    def micro(self, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A micro-texture value (unit variance) at coordinates ``(x, y)``: random slope and offset."""
        field = self.micro_field(int(rng.integers(N_SLOPE_LEVELS)))
        ox, oy = rng.integers(self.width), rng.integers(self.height)
        ix = (x.astype(np.int32) + ox) % self.width  # truncation: a shift by one pixel is harmless
        iy = (y.astype(np.int32) + oy) % self.height
        return field[iy, ix]

    def patch_field(self, side: int, level: int) -> np.ndarray:
        """Three nearly independent unit random-phase fields ``(3, side * side)`` (flattened) of slope
        level ``level`` (of ``N_PATCH_LEVELS`` levels over ``micro_slope``), shared by the leaves of
        this image that ask for the same size and level (each reads them at its own offset); built
        from their own generator. One FFT: the field, its transpose shifted by half a period, and its
        point reflection."""
        key = (side, level)
        if key not in self._patch_fields:
            lo, hi = self.cfg.micro_slope
            slope = lo + (hi - lo) * level / max(N_PATCH_LEVELS - 1, 1)
            if side not in self._patch_noise:  # one white noise per size, shaped per slope level
                own = np.random.default_rng([self.seed, 0xF1E1D, side])
                self._patch_noise[side] = own.standard_normal((1, side, side // 2 + 1, 2), dtype=np.float32).view(
                    np.complex64)[..., 0]
            f = shaped_fields(self._patch_noise[side], side, slope, self.cfg.micro_spectrum)[0]
            half = side // 2
            k = np.arange(side)
            f3 = np.stack([f, np.roll(f.T, -half, axis=1), f[np.ix_((-k - 1) % side, (half - k - 1) % side)]])
            self._patch_fields[key] = f3.reshape(3, -1)
        return self._patch_fields[key]

    # -- warping --------------------------------------------------------------------------------
    def displacement(self, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A smooth random displacement (u, v) in pixels at ``(x, y)``: two Gaussian-filtered white
        noises of correlation length ``warp_sigma``, with a random amplitude (5 px .. sigma/2)."""
        if self._warp is None:
            step = 4  # the fields are smooth: build them on a coarse grid, read bilinearly
            gh, gw = self.height // step + 2, self.width // step + 2
            own = np.random.default_rng([self.seed, 0xD15E])
            sig = own.uniform(*self.cfg.warp_sigma) / step
            fy = np.fft.fftfreq(gh)[:, None]
            fx = np.fft.rfftfreq(gw)[None, :]
            gauss = np.exp(-2 * (np.pi * sig) ** 2 * (fx * fx + fy * fy))
            fields = []
            for _ in range(2):
                f = np.fft.irfft2(np.fft.rfft2(own.standard_normal((gh, gw))) * gauss, s=(gh, gw))
                fields.append((f - f.mean()) / (f.std() + 1e-12))
            self._warp = (np.stack(fields).astype(np.float32), step, sig * step)
        fields, step, sig = self._warp
        amp = rng.uniform(5.0, max(5.0, sig / 2))
        gx = np.clip(x / step, 0, fields.shape[2] - 1.001)
        gy = np.clip(y / step, 0, fields.shape[1] - 1.001)
        ix, iy = gx.astype(np.int64), gy.astype(np.int64)
        ax, ay = gx - ix, gy - iy
        out = []
        for f in fields:
            top = f[iy, ix] * (1 - ax) + f[iy, ix + 1] * ax
            bot = f[iy + 1, ix] * (1 - ax) + f[iy + 1, ix + 1] * ax
            out.append(amp * (top * (1 - ay) + bot * ay))
        return out[0], out[1]


def perspective(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, radius: float):
    """Map leaf-centred coordinates through a random homography: foreshortening along a random
    direction, as if the textured plane were tilted away from the camera (vanishing line at
    distance ``radius / k`` from the centre, ``k ~ U(0.3, 0.9)``)."""
    phi = rng.uniform(0, 2 * np.pi)
    k = rng.uniform(0.3, 0.9) / max(radius, 1.0)
    c, s = np.cos(phi), np.sin(phi)
    a = c * x + s * y
    b = -s * x + c * y
    den = np.maximum(1.0 + k * b, 0.1)
    a, b = a / den, b / den
    return c * a - s * b, s * a + c * b


def micro_fields(rng: np.random.Generator, side: int, slope: float, spectrum: str = "anisotropic", n: int = 3) -> np.ndarray:
    """``n`` independent zero-mean, unit-variance random-phase fields ``(n, side, side)`` (periodic)
    with amplitude spectrum ``1 / (|fx|^s + |fy|^s)`` ("anisotropic", the reference generator's law)
    or ``|f|^-s`` ("isotropic"), frequencies in cycles per pixel. Built directly in the Fourier
    domain (complex Gaussian coefficients: uniform phases), one inverse FFT per field."""
    noise = rng.standard_normal((n, side, side // 2 + 1, 2), dtype=np.float32).view(np.complex64)[..., 0]
    return shaped_fields(noise, side, slope, spectrum)


def shaped_fields(noise: np.ndarray, side: int, slope: float, spectrum: str = "anisotropic") -> np.ndarray:
    """:func:`micro_fields` from given complex white-noise coefficients ``(n, side, side // 2 + 1)``
    (left unchanged): the amplitude law imposed, one inverse real FFT per field, unit variance."""
    from scipy import fft

    fy = np.abs(np.fft.fftfreq(side)).astype(np.float32)[:, None]
    fx = np.abs(np.fft.rfftfreq(side)).astype(np.float32)[None, :]
    with np.errstate(divide="ignore"):
        if spectrum == "anisotropic":
            amp = fx**np.float32(slope) + fy**np.float32(slope)
            np.reciprocal(amp, out=amp)
        else:
            amp = (fx * fx + fy * fy) ** np.float32(-0.5 * slope)
    amp[0, 0] = 0.0  # zero mean
    f = fft.irfft2(noise * amp, s=(side, side), axes=(1, 2), overwrite_x=True)
    f *= (1.0 / (f.std(axis=(1, 2), keepdims=True) + 1e-12)).astype(np.float32)
    return f


def grid_map(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Grid interpolation map (reference "grid"): 1 with lines of 0, thickness 1-2 px, period
    20-99 px per direction, two directions with probability 0.7, rotated by U(-45, 45) degrees."""
    th = int(rng.integers(1, 3))
    theta = np.deg2rad(rng.uniform(-45, 45))
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    out = (np.mod(u + rng.uniform(0, 200), int(rng.integers(20, 100)) + th) < th)
    if rng.random() < 0.7:
        out |= np.mod(v + rng.uniform(0, 200), int(rng.integers(20, 100)) + th) < th
    return (~out).astype(np.float32)


def reference_profile(w: np.ndarray, plateau: float, lam: float) -> np.ndarray:
    """The reference's sinusoid profile: values above the plateau jump to 1 (a sharp edge), then
    ``(sigmoid(lam w) - sigmoid(0)) / (sigmoid(lam) - sigmoid(0))`` (a concave map pushing values to 1)."""
    w = np.where(w > plateau, 1.0, w)
    lo, hi = 0.5, _sigmoid(lam)
    return (_sigmoid(lam * w) - lo) / (hi - lo)


def periodic_map(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, cfg, extent: float) -> np.ndarray:
    """Pseudo-periodic interpolation map in [0, 1] at leaf-centred coordinates ``(x, y)``.

    ``extent`` bounds |x|, |y| (used to lay out varying periods)."""
    n_dir = 2 if rng.random() < cfg.p_two_directions else 1
    theta = rng.uniform(0, np.pi)
    out = None
    for i in range(n_dir):
        if i == 1:
            theta = theta + rng.choice([-1, 1]) * rng.uniform(np.pi / 12, np.pi / 4) + np.pi / 2
        t = np.cos(theta) * x + np.sin(theta) * y
        if rng.random() < cfg.p_varying_period:
            phase = _varying_phase(rng, t, cfg.period, extent)
        else:
            phase = 2 * np.pi * t / rng.uniform(*cfg.period) + rng.uniform(0, 2 * np.pi)
        w = 0.5 + 0.5 * np.sin(phase)
        plateau = rng.uniform(*cfg.plateau)
        if getattr(cfg, "periodic_profile", "centred") == "reference":
            w = reference_profile(w, plateau, rng.uniform(*cfg.sigmoid_slope))
        else:
            w = np.minimum(w, plateau) / plateau
            w = sharpen(w, rng.uniform(*cfg.sigmoid_slope))
        out = w if out is None else out * w
    return out


def _varying_phase(rng, t, period_range, extent):
    """Phase of an oscillation whose period changes at random along the wave: segments of 1-4
    periods, each with its own period, stacked end to end (piecewise-linear phase)."""
    lo = -extent - 1.0
    knots, phases = [lo], [rng.uniform(0, 2 * np.pi)]
    while knots[-1] < extent + 1.0:
        period = rng.uniform(*period_range)
        n_per = rng.uniform(1, 4)
        knots.append(knots[-1] + period * n_per)
        phases.append(phases[-1] + 2 * np.pi * n_per)
    return np.interp(t, knots, phases)


def gradient_map(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, extent: float) -> np.ndarray:
    """Linear ramp across the leaf at a random angle, through a logistic of random steepness."""
    theta = rng.uniform(0, 2 * np.pi)
    t = (np.cos(theta) * x + np.sin(theta) * y) / (2 * max(extent, 1.0)) + 0.5
    k = rng.uniform(0.1, 0.5)
    return sharpen(np.clip(t, 0, 1), 12.1 * k)
