r"""Equivariance error of a denoiser under flips, quarter turns and integer shifts.

For a transform :math:`g` of the image grid and a noisy image :math:`y`,

.. math:: e(g) = \frac{\|D(g \cdot y) - g \cdot D(y)\|}{\|g \cdot D(y)\|},

zero for a denoiser that commutes with :math:`g`. The MMSE denoiser of a distribution invariant to
:math:`g` is :math:`g`-equivariant; a CNN is translation-equivariant except at its borders and where
strided down-sampling aliases (a U-Net with three 2x down-samplings is only exactly equivariant to
shifts by multiples of 8), and equivariant to flips and quarter turns only approximately, through
training with those augmentations. The dihedral self-ensemble
(:class:`pnpleaves.models.DihedralCycle` with ``mode="ensemble"``: the average of
:math:`g^{-1} D(g y)` over the 8 elements) is exactly equivariant to the flips and quarter turns;
it is the fix, at 8 times the cost.

Groups (:data:`GROUPS`): ``flips`` (left-right, up-down, transpose), ``rot90`` (90, 180, 270
degrees), ``dihedral`` (the 7 non-trivial elements) and ``shifts`` (integer shifts
:math:`(d_y, d_x)`: the shifted image is the crop ``y[dy:, dx:]``, and the error is measured away
from the borders, ``margin`` pixels in, where the two outputs see the same surroundings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_choice, check_number
from pnpleaves.analysis.image_sources import ImageSource, colour_images
from pnpleaves.analysis.noisy_trials import as_batches, denoise, named_priors, seeded_noise
from pnpleaves.errors import InputError
from pnpleaves.images import dihedral

__all__ = ["DEFAULT_SHIFTS", "GROUPS", "EquivarianceResult", "equivariance_error"]

#: group -> description
GROUPS: dict[str, str] = {
    "flips": "left-right, up-down and transpose flips",
    "rot90": "rotations by 90, 180 and 270 degrees",
    "dihedral": "the 7 non-trivial flips and quarter turns",
    "shifts": "integer shifts (dy, dx), measured away from the borders",
}

#: default integer shifts (dy, dx): small ones, then multiples of a U-Net's down-sampling factor
DEFAULT_SHIFTS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (2, 3), (4, 4), (8, 8))

# element label -> dihedral index k of pnpleaves.images.dihedral (k = 4 f + r)
_DIHEDRAL = {"rot90": 1, "rot180": 2, "rot270": 3, "flip-lr": 4, "transpose": 5, "flip-ud": 6, "anti-transpose": 7}
_GROUP_ELEMENTS = {
    "flips": ("flip-lr", "flip-ud", "transpose"),
    "rot90": ("rot90", "rot180", "rot270"),
    "dihedral": tuple(_DIHEDRAL),
}


@dataclass(frozen=True)
class EquivarianceResult:
    """Mean relative equivariance error of each group element (over the images)."""

    group: str
    elements: tuple[str, ...]
    errors: tuple[float, ...]
    sigma: float
    n_images: int

    @property
    def mean(self) -> float:
        return float(np.mean(self.errors))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).double().norm() / max(float(b.double().norm()), 1e-30))


def equivariance_error(prior: Any, images: ImageSource, group: str = "flips", *, sigma: float = 25 / 255,
                       seed: int = 0, shifts: tuple[tuple[int, int], ...] = DEFAULT_SHIFTS, margin: int = 16,
                       crop: int = 0, max_images: int | None = None, device: Any = None) -> EquivarianceResult:
    r"""Relative equivariance error :math:`\|D(gy) - gD(y)\| / \|gD(y)\|` of ``prior`` for each element of ``group``.

    :param prior: a name, a path, a deepinv Denoiser or a callable ``D(x, sigma)`` (wrap it in
        ``DihedralCycle(den, "ensemble")`` for the fix).
    :param images: clean images; the denoiser input is :math:`y = x + \sigma z` (seeded noise).
    :param group: one of :data:`GROUPS`.
    :param sigma: the noise level, [0, 1] scale.
    :param shifts: the integer shifts of the ``shifts`` group.
    :param margin: pixels ignored along every border for the shifts.
    """
    group = check_choice(group, "group", list(GROUPS))
    sigma = check_number(sigma, "sigma", low=0.0)
    margin = check_number(margin, "margin", low=0, integer=True)
    imgs = colour_images(images, max_images=max_images, crop=crop)
    (label, den), = named_priors([prior], images=imgs, device=device).items()
    xs = as_batches(imgs, device)
    if group == "shifts":
        elements = tuple(f"shift({int(dy)},{int(dx)})" for dy, dx in shifts)
    else:
        elements = _GROUP_ELEMENTS[group]
    errors = np.zeros((len(elements), len(xs)))
    for k, x in enumerate(xs):
        y = x + sigma * seeded_noise(x.shape, seed, k, x.device)
        base = denoise(den, y, sigma)
        if group == "shifts":
            for i, (dy, dx) in enumerate(shifts):
                dy, dx = int(dy), int(dx)
                h, w = y.shape[-2:]
                if dy < 0 or dx < 0 or h - dy <= 2 * margin or w - dx <= 2 * margin:
                    raise InputError(f"shift ({dy}, {dx}) with margin {margin} does not fit a {h}x{w} image; use "
                                     "non-negative shifts, larger images or a smaller margin.")
                out = denoise(den, y[..., dy:, dx:].contiguous(), sigma)
                ref = base[..., dy:, dx:]
                sl = (..., slice(margin, out.shape[-2] - margin), slice(margin, out.shape[-1] - margin))
                errors[i, k] = _rel(out[sl], ref[sl])
        else:
            for i, name in enumerate(elements):
                g = _DIHEDRAL[name]
                errors[i, k] = _rel(denoise(den, dihedral(y, g), sigma), dihedral(base, g))
    return EquivarianceResult(group=group, elements=elements, errors=tuple(float(v) for v in errors.mean(axis=1)),
                              sigma=float(sigma), n_images=len(xs))
