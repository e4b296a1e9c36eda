r"""Restoration problems: the degradation as deepinv physics with an exact data step, on a padded domain.

Every problem is :math:`y = A x + n` with a linear :math:`A` and the data step

.. math::  \operatorname{prox}_{\gamma f}(z) = \arg\min_u \tfrac{\gamma}{2}\|Au - y\|^2 + \tfrac12\|u - z\|^2
           = (\gamma A^\top A + I)^{-1}(\gamma A^\top y + z).

The operators are those with a closed-form prox (deepinv's conjugate-gradient fallback for ``Blur`` or
non-circular ``Downsampling`` is never used):

- blur: :class:`deepinv.physics.BlurFFT` (circular convolution, diagonal in Fourier);
- super-resolution: :class:`deepinv.physics.Downsampling` with ``padding="circular"``, whose prox is
  the FFT formula of Zhao et al. (IEEE TIP 2016, "Fast single image super-resolution using a new
  analytical solution for l2-l2 problems");
- inpainting: :class:`deepinv.physics.Inpainting` (diagonal);
- denoising: :class:`deepinv.physics.Denoising`.

Every problem runs on a padded domain (:mod:`.padding`) and the result is cropped back
(:meth:`Problem.crop_output`). *Deblurring* with ``boundary="unknown"`` (the default) observes only
the window of the input (:mod:`.windowed_l2`); with ``boundary="circular"`` (data blurred circularly)
the closed-form :class:`~deepinv.physics.BlurFFT` prox is used alone. *Super-resolution*,
*inpainting* and *denoising* use the periodic (SR) or mirror (the others) extension of the input as
data on the whole padded grid, so the closed-form prox is exact; for the small symmetric
anti-aliasing kernels of SR the windowed model gains little (``docs/results.md``).

Each builder also gives the first estimate: the padded input, a bicubic upsampling (SR) or a
push-pull fill of the holes (:func:`fill_missing`, inpainting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import deepinv as dinv
import numpy as np
import torch
import torch.nn.functional as F
from scipy.interpolate import LinearNDInterpolator
from scipy.ndimage import distance_transform_edt

from .padding import SIZE_MULTIPLE, periodic_pad, plan_padding, reflect_pad
from .windowed_l2 import WindowedBlurL2, observation_window

__all__ = [
    "SIZE_MULTIPLE",
    "Problem",
    "blur_problem",
    "denoise_problem",
    "INPAINT_STARTS",
    "blended_fill",
    "fill_missing",
    "inpaint_problem",
    "linear_fill",
    "sr_problem",
]


@dataclass
class Problem:
    """A restoration problem on the padded domain.

    :param physics: deepinv linear physics with an exact ``prox_l2``.
    :param y: padded measurement ``(B, C, h, w)``.
    :param x_init: first estimate on the padded signal domain.
    :param crop: ``(top, left, H, W)`` window of the signal domain that is returned.
    :param kind: ``"deblur"``, ``"sr"``, ``"inpaint"`` or ``"denoise"``.
    """

    physics: dinv.physics.LinearPhysics
    y: torch.Tensor
    x_init: torch.Tensor
    crop: tuple[int, int, int, int]
    kind: str
    fidelity: dinv.optim.DataFidelity = field(default_factory=lambda: dinv.optim.data_fidelity.L2())

    def crop_output(self, x: torch.Tensor) -> torch.Tensor:
        """The window of ``x`` (padded signal domain) that corresponds to the input image."""
        top, left, h, w = self.crop
        return x[..., top : top + h, left : left + w]


def fill_missing(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill unobserved pixels (mask 0) by push-pull interpolation (coarse-to-fine averages).

    ``y`` is ``(B, C, H, W)``, ``mask`` broadcasts to it (1 = observed). Observed pixels are kept; every
    hole gets the bilinear upsampling of the filled image at half the resolution, whose pixels are the
    means of the observed pixels of each 2x2 block (recursively, down to 2 pixels).
    """
    mask = mask.expand_as(y)
    if bool((mask > 0).all()):
        return y.clone()
    if min(y.shape[-2:]) <= 2:
        total = (y * mask).sum(dim=(-2, -1), keepdim=True)
        count = mask.sum(dim=(-2, -1), keepdim=True)
        mean = torch.where(count > 0, total / count.clamp_min(1e-12), torch.full_like(total, 0.5))
        return mask * y + (1 - mask) * mean
    num = F.avg_pool2d(y * mask, 2, ceil_mode=True)
    den = F.avg_pool2d(mask, 2, ceil_mode=True)
    coarse_mask = (den > 0).to(y.dtype)
    coarse = fill_missing(num / den.clamp_min(1e-12), coarse_mask)
    up = F.interpolate(coarse, size=y.shape[-2:], mode="bilinear", align_corners=False)
    return mask * y + (1 - mask) * up


def linear_fill(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill unobserved pixels (mask 0) by piecewise-linear interpolation on the Delaunay triangulation
    of the observed pixel centres (:class:`scipy.interpolate.LinearNDInterpolator`).

    Exact on affine images inside the convex hull of the observed pixels; holes outside it get the
    push-pull value (:func:`fill_missing`). Observed pixels are kept. A mask shared by the channels
    (the usual case) is triangulated once.
    """
    mask = mask.expand_as(y)
    out = fill_missing(y, mask)
    H, W = y.shape[-2:]
    for b in range(y.shape[0]):
        shared = bool((mask[b] == mask[b, :1]).all())
        groups = [list(range(y.shape[1]))] if shared else [[c] for c in range(y.shape[1])]
        for chans in groups:
            m = mask[b, chans[0]].detach().cpu().numpy() > 0.5
            if m.all() or m.sum() < 3:
                continue
            obs = np.argwhere(m).astype(np.float64)
            miss = np.argwhere(~m)
            vals = y[b, chans].detach().cpu().double().numpy()[:, m].T  # (n_obs, n_chans)
            try:
                f = LinearNDInterpolator(obs, vals)
            except Exception:  # noqa: BLE001 - degenerate (e.g. collinear) point sets: keep push-pull
                continue
            est = f(miss.astype(np.float64))  # (n_miss, n_chans), NaN outside the hull
            ok = np.isfinite(est).all(axis=1)
            if not ok.any():
                continue
            sel = torch.from_numpy(miss[ok])
            vals_t = torch.from_numpy(est[ok].T).to(y.dtype).to(y.device)
            for i, c in enumerate(chans):
                out[b, c, sel[:, 0].to(y.device), sel[:, 1].to(y.device)] = vals_t[i]
    return out


def blended_fill(y: torch.Tensor, mask: torch.Tensor, near: float = 2.0, far: float = 6.0) -> torch.Tensor:
    """Linear (Delaunay) interpolation near the observed pixels, push-pull deep inside large holes.

    Each missing pixel gets ``(1 - w) * linear + w * push_pull`` with ``w`` rising linearly from 0 to 1
    as its distance to the nearest observed pixel (of the first channel) goes from ``near`` to ``far``:
    scattered missing pixels (random masks) get the linear value, the inside of a block the smooth
    push-pull one (long Delaunay triangles across a block streak: kodim01, 128x128 block, linear
    26.63 dB vs push-pull 29.69).
    """
    lin = linear_fill(y, mask)
    pp = fill_missing(y, mask)
    m = mask.expand_as(y)
    w = torch.empty_like(y[:, :1])
    for b in range(y.shape[0]):
        d = distance_transform_edt(m[b, 0].detach().cpu().numpy() < 0.5)
        w[b, 0] = torch.from_numpy(np.clip((d - near) / (far - near), 0.0, 1.0)).to(y.dtype)
    return (1.0 - w) * lin + w * pp


#: first estimates of :func:`inpaint_problem`
INPAINT_STARTS = ("blended", "linear", "push-pull")


#: padded sides of deblurring: multiples of 8 (DRUNet runs without tiling) with these prime factors. 17 stays:
#: torch's CPU FFT (MKL) is slower on 544 (2^5 17) than on 560 (a data step 26 % longer at 1 thread, 16 % at 2),
#: but 560 gives the denoiser 6 % more pixels, which costs more than that wherever the denoiser runs in f32
#: (docs/restoration.md, "Inference engine")
BLUR_SIZE_MULTIPLE = 8
BLUR_FFT_PRIMES = (2, 3, 5, 7, 11, 13, 17)


def blur_problem(
    y: torch.Tensor,
    kernel: torch.Tensor,
    *,
    boundary: str = "unknown",
    margin: int | None = None,
    max_iter: int = 6,
    tol: float = 1e-2,
) -> Problem:
    """Deblurring ``y = k * x + n`` with :class:`~deepinv.physics.BlurFFT` on a padded domain.

    :param y: blurred image ``(B, C, H, W)``.
    :param kernel: ``(1, 1, kh, kw)`` kernel summing to 1 (convolution as ``scipy.ndimage.convolve``).
    :param boundary: ``"unknown"`` (real images: restore on a padded domain where only the input
        window is observed, then crop) or ``"circular"`` (the image was blurred circularly, e.g.
        ``ndimage.convolve(mode="wrap")``: no padding, plain L2).
    :param margin: pixels added on every side (default: half the kernel's larger side, the narrowest band
        with which the circular blur on the padded domain never links opposite borders of the window; the
        padded sides are multiples of 8 with prime factors up to 17 (:data:`BLUR_FFT_PRIMES`), so that
        the denoiser, which runs on the padded domain, sees as few extra pixels as possible: 544 for 512
        and a 27x27 kernel).
    :param max_iter, tol: conjugate-gradient budget of the windowed prox (:class:`WindowedBlurL2`).
    """
    B, C, H, W = y.shape
    kernel = kernel.to(y.dtype)
    if boundary == "circular":
        physics = dinv.physics.BlurFFT(img_size=(C, H, W), filter=kernel)
        return Problem(physics, y, y.clone(), (0, 0, H, W), "deblur")
    m = max(kernel.shape[-2:]) // 2 if margin is None else int(margin)
    before, after = plan_padding(H, W, m, BLUR_SIZE_MULTIPLE, BLUR_FFT_PRIMES)
    yp = periodic_pad(y, before, after)
    physics = dinv.physics.BlurFFT(img_size=tuple(yp.shape[1:]), filter=kernel)
    crop = (before[0], before[1], H, W)
    window = observation_window(yp.shape, crop, y.dtype).to(y.device)
    fidelity = WindowedBlurL2(kernel.to(y.device), window, max_iter=max_iter, tol=tol)
    return Problem(physics, yp, yp.clone(), crop, "deblur", fidelity)


def sr_problem(
    y: torch.Tensor,
    scale: int,
    kernel: torch.Tensor,
    *,
    margin: int | None = None,
    boundary: str = "unknown",
) -> Problem:
    """Super-resolution ``y = (k * x)[::s] + n`` with circular :class:`~deepinv.physics.Downsampling`.

    With ``boundary="circular"`` (the high-res image was blurred circularly, as in DPIR's protocol) the
    problem is solved on the image's own grid, without padding.

    The low-res image is extended periodically (:func:`~.padding.periodic_pad`, margin in low-res
    pixels, default ``ceil(ks / s) + 2``) and used as data on the whole padded grid, with the exact FFT
    prox of Zhao et al.; the high-res estimate is cropped at the end. For the small symmetric
    anti-aliasing kernels of super-resolution the mirrored band is nearly consistent with the model, so
    it is not treated as unknown (as for deblurring). The first estimate is a bicubic upsampling of the
    padded input.
    """
    B, C, h, w = y.shape
    s = int(scale)
    kernel = kernel.to(y.dtype)
    if boundary == "circular":
        physics = dinv.physics.Downsampling(img_size=(C, h * s, w * s), filter=kernel, factor=s, padding="circular")
        x0 = F.interpolate(y, scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1)
        return Problem(physics, y, x0, (0, 0, h * s, w * s), "sr")
    m = int(math.ceil(max(kernel.shape[-2:]) / s)) + 2 if margin is None else int(margin)
    lr_multiple = SIZE_MULTIPLE // math.gcd(SIZE_MULTIPLE, s)
    before, after = plan_padding(h, w, m, lr_multiple)
    yp = periodic_pad(y, before, after)
    hp, wp = yp.shape[-2:]
    physics = dinv.physics.Downsampling(
        img_size=(C, hp * s, wp * s), filter=kernel, factor=s, padding="circular"
    )
    x0 = F.interpolate(yp, scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1)
    return Problem(physics, yp, x0, (before[0] * s, before[1] * s, h * s, w * s), "sr")


def inpaint_problem(y: torch.Tensor, mask: torch.Tensor, *, margin: int = 8, start: str = "blended") -> Problem:
    """Inpainting ``y = m * x + n`` (``m`` = 1 where observed) with :class:`~deepinv.physics.Inpainting`.

    Image and mask are mirror-padded (the prox is element-wise, so no periodicity is needed); the
    first estimate fills the holes by linear (Delaunay) interpolation of the observed pixels near them
    and push-pull inside large holes (``start="blended"``, :func:`blended_fill`), by linear
    interpolation only (``"linear"``, :func:`linear_fill`) or by push-pull only (``"push-pull"``,
    :func:`fill_missing`).
    """
    B, C, H, W = y.shape
    mask = mask.to(y.dtype).expand(B, C, H, W)
    before, after = plan_padding(H, W, margin, SIZE_MULTIPLE)
    yp = reflect_pad(y * mask, before, after)
    mp = reflect_pad(mask, before, after).contiguous()
    physics = dinv.physics.Inpainting(img_size=tuple(yp.shape[1:]), mask=mp)
    fills = {"blended": blended_fill, "linear": linear_fill, "push-pull": fill_missing}
    x0 = fills[start](yp, mp)
    return Problem(physics, yp, x0, (before[0], before[1], H, W), "inpaint")


def denoise_problem(y: torch.Tensor, *, margin: int = 8) -> Problem:
    """Denoising ``y = x + n`` (:class:`~deepinv.physics.Denoising`), mirror-padded to a multiple of 16."""
    B, C, H, W = y.shape
    before, after = plan_padding(H, W, margin, SIZE_MULTIPLE)
    yp = reflect_pad(y, before, after)
    physics = dinv.physics.Denoising().to(y.dtype)  # its mask buffer is float32 otherwise
    return Problem(physics, yp, yp.clone(), (before[0], before[1], H, W), "denoise")
