"""Plug-and-Play restoration: deblurring, super-resolution, inpainting and denoising with a denoiser prior.

``pnp_deblur``, ``pnp_super_resolve``, ``pnp_inpaint`` and ``pnp_denoise`` take an image (NumPy or
torch) and, keyword-only, a prior (registered name, path, or deepinv Denoiser), and return the restored
image in the caller's layout. The modules, in the order a call uses them:

- :mod:`.api`: the four functions (check -> problem -> schedule -> solve -> restore);
- :mod:`.noise_level`: blind noise-level estimation (``estimate_sigma``);
- :mod:`.problems`: the degradation as deepinv physics with an exact data step on a padded domain,
  built on :mod:`.padding`, :mod:`.windowed_l2` (deblurring with unknown boundaries) and :mod:`.kernels`
  (Levin, bicubic and Gaussian kernels);
- :mod:`.schedules`: DPIR-like parameter schedules and the tuned defaults;
- :mod:`.pnp`: HQS / ADMM on deepinv's optimisers;
- :mod:`.baselines`: Wiener, Tikhonov, TV, bicubic upsampling, PnP-CBM3D;
- :mod:`.degradations`: synthetic observations (blur + seeded noise, decimation, masks) for tests,
  benchmarks and demos.
"""

from .api import pnp_deblur, pnp_denoise, pnp_inpaint, pnp_super_resolve
from .baselines import (
    bicubic_upsample,
    biharmonic_inpaint,
    linear_inpaint,
    pnp_cbm3d_deblur,
    push_pull_inpaint,
    tikhonov_deblur,
    tv_deblur,
    tv_inpaint,
    tv_super_resolve,
    wiener_deblur,
)
from .degradations import block_mask, degrade_blur, degrade_dpir, degrade_sr, random_mask
from .kernels import bicubic_kernel, fspecial_gaussian, gaussian_kernel, levin_kernel
from .noise_level import estimate_sigma
from .schedules import ScheduleParams

__all__ = [
    "ScheduleParams",
    "bicubic_kernel",
    "bicubic_upsample",
    "biharmonic_inpaint",
    "block_mask",
    "degrade_blur",
    "degrade_dpir",
    "degrade_sr",
    "estimate_sigma",
    "fspecial_gaussian",
    "gaussian_kernel",
    "levin_kernel",
    "linear_inpaint",
    "pnp_cbm3d_deblur",
    "pnp_deblur",
    "pnp_denoise",
    "pnp_inpaint",
    "pnp_super_resolve",
    "push_pull_inpaint",
    "random_mask",
    "tikhonov_deblur",
    "tv_deblur",
    "tv_inpaint",
    "tv_super_resolve",
    "wiener_deblur",
]
