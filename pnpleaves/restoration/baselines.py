r"""Classical baselines, with the same inputs/outputs as the ``pnp_*`` functions.

- :func:`wiener_deblur` / :func:`tikhonov_deblur`: closed form in Fourier,

  .. math:: \hat x = \mathcal F^{-1}\Big[\frac{\overline{\hat k}\,\hat y}{|\hat k|^2 + \mu |\hat L|^2}\Big],
            \qquad |\hat L|^2 = 4\sin^2(\pi\xi/H) + 4\sin^2(\pi\zeta/W)

  (Tikhonov regularisation of the gradient = Wiener filter for a Gaussian prior with power spectrum
  :math:`\propto 1/|\hat L|^2`). :func:`wiener_deblur` sets :math:`\mu = \alpha\sigma^2`. The closed
  form needs a circulant model, so it is applied to the smooth periodic extension of the input
  (:func:`~pnpleaves.restoration.padding.periodic_pad`, as Liu & Jia 2008) and cropped.
- :func:`tv_deblur`, :func:`tv_super_resolve`, :func:`tv_inpaint`: total-variation restoration
  :math:`\min_x \tfrac12\|Ax - y\|^2 + \lambda\,\mathrm{TV}(x)` (isotropic TV, Rudin, Osher & Fatemi
  1992) by the primal-dual algorithm of Chambolle & Pock (JMIV 2011) with the physics' exact
  ``prox_l2`` as the primal step, on the forward differences :func:`gradient` and their negative
  adjoint :func:`divergence` (circular).
- :func:`linear_inpaint`: piecewise-linear interpolation on the Delaunay triangulation of the observed
  pixels (:func:`~pnpleaves.restoration.problems.linear_fill`; exact on affine images);
  :func:`biharmonic_inpaint`: :func:`skimage.restoration.inpaint_biharmonic` (the holes solve
  :math:`\Delta^2 x = 0` with the observed pixels as boundary values; exact on biharmonic images);
  :func:`push_pull_inpaint`: coarse-to-fine averages (:func:`~pnpleaves.restoration.problems.fill_missing`).
- :func:`bicubic_upsample`: ``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``,
  the inverse convention of the ``"bicubic"`` kernel of :func:`pnpleaves.pnp_super_resolve`.
- :class:`BM3DDenoiser` and :func:`pnp_cbm3d_deblur`: PnP-HQS with CBM3D (Dabov et al., ICIP 2007)
  as the denoiser, when the optional ``bm3d`` package is installed (``pip install bm3d``).

The weights (Wiener :math:`\alpha = 100`, TV :math:`\lambda = \sigma^{3/2}`) were picked on dev images
that the benchmark does not use; the search is in ``docs/results.md`` ("Classical baselines' weights").
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pnpleaves._checks import check_choice, check_number
from pnpleaves.images import kernel_to_tensor, mask_to_tensor, to_bchw
from pnpleaves.models.bm3d import BM3DDenoiser

from .api import pnp_deblur
from .kernels import psf2otf, sr_kernel
from .noise_level import estimate_sigma_tensor
from .problems import Problem, blur_problem, fill_missing, inpaint_problem, linear_fill, sr_problem

logger = logging.getLogger(__name__)

__all__ = [
    "BM3DDenoiser",
    "DEFAULT_TV_WEIGHT",
    "DEFAULT_WIENER_ALPHA",
    "bicubic_upsample",
    "biharmonic_inpaint",
    "divergence",
    "gradient",
    "linear_inpaint",
    "pnp_cbm3d_deblur",
    "push_pull_inpaint",
    "tikhonov_deblur",
    "tv_deblur",
    "tv_inpaint",
    "tv_lambda",
    "tv_restore",
    "tv_super_resolve",
    "wiener_deblur",
]

#: Wiener weight: mu = alpha * sigma^2 (for the gradient regulariser)
DEFAULT_WIENER_ALPHA = 100.0
#: TV weight: lambda = tv_weight * sigma**1.5 (sigma floored at 1e-3)
DEFAULT_TV_WEIGHT = 1.0


def _sigma_or_estimate(x: torch.Tensor, sigma: float | None, mask: torch.Tensor | None = None) -> list[float]:
    if sigma is None:
        return estimate_sigma_tensor(x, mask)
    return [check_number(sigma, "sigma", low=0, high=1.0)] * x.shape[0]


def _laplacian_symbol(h: int, w: int, dtype=torch.float64) -> torch.Tensor:
    fy = torch.arange(h, dtype=dtype)
    fx = torch.arange(w, dtype=dtype)
    return 4 * torch.sin(math.pi * fy / h)[:, None] ** 2 + 4 * torch.sin(math.pi * fx / w)[None, :] ** 2


def tikhonov_deblur(
    img: Any, kernel: Any, mu: float, *, boundary: str = "unknown"
) -> np.ndarray | torch.Tensor:
    r"""Closed-form :math:`\arg\min_x \tfrac12\|k * x - y\|^2 + \tfrac{\mu}{2}\|\nabla x\|^2` (circular on the padded domain)."""
    mu = check_number(mu, "mu", low=0, low_inclusive=False)
    check_choice(boundary, "boundary", ("unknown", "circular"))
    x, layout = to_bchw(img, "img")
    k = kernel_to_tensor(kernel, tuple(x.shape[-2:]))
    problem = blur_problem(x.double(), k, boundary=boundary)
    yp = problem.y
    shape = tuple(yp.shape[-2:])
    otf = psf2otf(k, shape)
    lap = _laplacian_symbol(*shape)[..., : shape[1] // 2 + 1]
    est = torch.fft.irfft2(torch.conj(otf) * torch.fft.rfft2(yp) / (otf.abs() ** 2 + mu * lap), s=shape)
    return layout.restore(problem.crop_output(est).float())


def wiener_deblur(
    img: Any, kernel: Any, *, sigma: float | None = None, alpha: float = DEFAULT_WIENER_ALPHA,
    boundary: str = "unknown",
) -> np.ndarray | torch.Tensor:
    r"""Wiener deconvolution: :func:`tikhonov_deblur` with :math:`\mu = \alpha\sigma^2` (``sigma`` None: estimated)."""
    x, _ = to_bchw(img, "img")
    sig = _sigma_or_estimate(x, sigma)[0]
    mu = alpha * max(sig, 1e-3) ** 2
    return tikhonov_deblur(img, kernel, mu, boundary=boundary)


# --------------------------------------------------------------------------- TV


def gradient(x: torch.Tensor) -> torch.Tensor:
    """Circular forward differences of ``x`` (``(..., H, W)``) along rows and columns, stacked: ``(2, ..., H, W)``."""
    return torch.stack([torch.roll(x, -1, -2) - x, torch.roll(x, -1, -1) - x], dim=0)


def divergence(p: torch.Tensor) -> torch.Tensor:
    """Circular backward-difference divergence of ``p`` (``(2, ..., H, W)``): minus the adjoint of :func:`gradient`."""
    return (p[0] - torch.roll(p[0], 1, -2)) + (p[1] - torch.roll(p[1], 1, -1))


def tv_restore(problem: Problem, lam: float, *, n_iter: int = 300) -> torch.Tensor:
    r"""Chambolle-Pock for :math:`\min_x f(x) + \lambda\|\nabla x\|_{2,1}` with ``problem``'s data fidelity.

    Primal step: :math:`x \leftarrow \operatorname{prox}_{\tau f}(x + \tau\,\mathrm{div}\,p)` (exact);
    dual step: projection of :math:`p + s\nabla\bar x` on the ball of radius :math:`\lambda`
    (per pixel, over channels and both directions). :math:`\tau s \|\nabla\|^2 \le 1` with
    :math:`\|\nabla\|^2 \le 8`. Returns the estimate on the padded domain.
    """
    tau = s = 1.0 / math.sqrt(8.0) * 0.99
    x = problem.x_init.clone()
    xbar = x.clone()
    p = torch.zeros((2, *x.shape), dtype=x.dtype, device=x.device)
    fid = problem.fidelity
    with torch.no_grad():
        for _ in range(n_iter):
            p = p + s * gradient(xbar)
            norm = torch.sqrt((p**2).sum(dim=(0, 2), keepdim=True))
            p = p / torch.clamp(norm / lam, min=1.0)
            x_new = fid.prox(x + tau * divergence(p), problem.y, problem.physics, gamma=tau)
            xbar = 2 * x_new - x
            x = x_new
    return x


def tv_lambda(sigma: float, weight: float = DEFAULT_TV_WEIGHT) -> float:
    r"""The TV weight of the baselines for noise ``sigma``: :math:`\lambda = w \max(\sigma, 10^{-3})^{3/2}`."""
    return weight * max(sigma, 1e-3) ** 1.5


def tv_deblur(
    img: Any, kernel: Any, *, sigma: float | None = None, weight: float = DEFAULT_TV_WEIGHT,
    n_iter: int = 300, boundary: str = "unknown",
) -> np.ndarray | torch.Tensor:
    r"""TV deblurring with :math:`\lambda = w\,\sigma^{3/2}` (``weight`` w)."""
    x, layout = to_bchw(img, "img")
    k = kernel_to_tensor(kernel, tuple(x.shape[-2:]))
    sig = _sigma_or_estimate(x, sigma)
    outs = []
    for b in range(x.shape[0]):
        problem = blur_problem(x[b : b + 1], k, boundary=boundary)
        outs.append(problem.crop_output(tv_restore(problem, tv_lambda(sig[b], weight), n_iter=n_iter)))
    return layout.restore(torch.cat(outs).float())


def tv_super_resolve(
    img: Any, scale: int, *, kernel: Any = "bicubic", sigma: float | None = None,
    weight: float = DEFAULT_TV_WEIGHT, n_iter: int = 300,
) -> np.ndarray | torch.Tensor:
    """TV super-resolution (same forward model as :func:`pnpleaves.pnp_super_resolve`)."""
    s = int(check_number(scale, "scale", low=2, integer=True))
    x, layout = to_bchw(img, "img")
    k = sr_kernel(kernel, s, (x.shape[-2] * s, x.shape[-1] * s))
    sig = _sigma_or_estimate(x, sigma)
    outs = []
    for b in range(x.shape[0]):
        problem = sr_problem(x[b : b + 1], s, k)
        # noiseless SR: a small TV weight still regularises the null space of the decimation
        outs.append(problem.crop_output(tv_restore(problem, tv_lambda(sig[b], weight), n_iter=n_iter)))
    return layout.restore(torch.cat(outs).float())


def tv_inpaint(
    img: Any, mask: Any, *, sigma: float | None = None, weight: float = DEFAULT_TV_WEIGHT, n_iter: int = 300,
) -> np.ndarray | torch.Tensor:
    """TV inpainting (mask 1 = observed)."""
    x, layout = to_bchw(img, "img")
    m = mask_to_tensor(mask, x)
    sig = _sigma_or_estimate(x, sigma, m)
    outs = []
    for b in range(x.shape[0]):
        problem = inpaint_problem(x[b : b + 1], m[b : b + 1] if m.shape[0] > 1 else m)
        outs.append(problem.crop_output(tv_restore(problem, tv_lambda(sig[b], weight), n_iter=n_iter)))
    return layout.restore(torch.cat(outs).float())


def linear_inpaint(img: Any, mask: Any) -> np.ndarray | torch.Tensor:
    """Linear (Delaunay) interpolation of the unobserved pixels (mask 0); observed pixels are kept.

    Holes outside the convex hull of the observed pixels get the push-pull value.
    """
    x, layout = to_bchw(img, "img")
    m = mask_to_tensor(mask, x)
    return layout.restore(linear_fill(x.double() * m, m).float())


def push_pull_inpaint(img: Any, mask: Any) -> np.ndarray | torch.Tensor:
    """Push-pull interpolation of the unobserved pixels (coarse-to-fine means of the observed ones)."""
    x, layout = to_bchw(img, "img")
    m = mask_to_tensor(mask, x)
    return layout.restore(fill_missing(x.double() * m, m).float())


def biharmonic_inpaint(img: Any, mask: Any) -> np.ndarray | torch.Tensor:
    r"""Biharmonic inpainting (:func:`skimage.restoration.inpaint_biharmonic`): every hole solves
    :math:`\Delta^2 x = 0` with the observed pixels around it as boundary values (Damelin & Hoang 2018)."""
    from skimage.restoration import inpaint_biharmonic  # scikit-image is heavy: imported on first use

    x, layout = to_bchw(img, "img")
    m = mask_to_tensor(mask, x).expand_as(x)
    outs = []
    for b in range(x.shape[0]):
        xb = np.ascontiguousarray(x[b].double().numpy().transpose(1, 2, 0))
        mb = np.ascontiguousarray(m[b].numpy().transpose(1, 2, 0) < 0.5)  # skimage: True = unknown
        if (mb == mb[..., :1]).all():
            est = inpaint_biharmonic(xb, np.ascontiguousarray(mb[..., 0]), channel_axis=-1)
        else:
            est = np.stack([inpaint_biharmonic(np.ascontiguousarray(xb[..., c]), np.ascontiguousarray(mb[..., c])) for c in range(xb.shape[-1])], -1)
        outs.append(torch.from_numpy(np.ascontiguousarray(est.transpose(2, 0, 1)))[None])
    return layout.restore(torch.cat(outs).float())


def bicubic_upsample(img: Any, scale: int) -> np.ndarray | torch.Tensor:
    """Bicubic interpolation by an integer ``scale`` (pixel-centre convention, as MATLAB ``imresize``)."""
    s = int(check_number(scale, "scale", low=2, integer=True))
    x, layout = to_bchw(img, "img")
    out = F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)
    return layout.restore(out)


# --------------------------------------------------------------------------- CBM3D


def pnp_cbm3d_deblur(
    img: Any, kernel: Any, *, sigma: float | None = None, method: str = "hqs", n_iter: int | None = None,
    boundary: str = "unknown", stage: str = "all",
) -> np.ndarray | torch.Tensor:
    """PnP deblurring with CBM3D as the denoiser (slow on CPU: about 15 s per 256x256 colour call)."""
    return pnp_deblur(img, kernel, prior=BM3DDenoiser(stage), sigma=sigma, method=method, n_iter=n_iter,
                      boundary=boundary)
