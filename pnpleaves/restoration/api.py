r"""One call per problem: :func:`pnp_deblur`, :func:`pnp_super_resolve`, :func:`pnp_inpaint`, :func:`pnp_denoise`.

Each takes an image as NumPy ``(H, W)`` / ``(H, W, C)`` (uint8, uint16, or float in [0, 1]) or torch
``(C, H, W)`` / ``(B, C, H, W)``, and returns the same kind and layout as float in [0, 1]. The prior
is a registered name (see :func:`pnpleaves.list_priors`), a path to a weights file, or any deepinv
:class:`~deepinv.models.Denoiser`. ``sigma`` is the noise std on the [0, 1] scale; ``None`` estimates
it (:func:`pnpleaves.restoration.noise.estimate_sigma`). The restoration is Plug-and-Play HQS or ADMM
with exact proximal steps on a padded domain (:mod:`pnpleaves.restoration.problems`) and DPIR-like
schedules (:mod:`pnpleaves.restoration.schedules`).

Reference: K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-Play Image
Restoration with Deep Denoiser Prior", IEEE TPAMI 44(10), 2022.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_choice, check_number

from pnpleaves.images import kernel_to_tensor, mask_to_tensor, to_bchw
from .noise import estimate_sigma_tensor
from .problems import bicubic_kernel, blur_problem, denoise_problem, gaussian_kernel, inpaint_problem, sr_problem
from .schedules import ScheduleParams, default_params, make_schedule
from pnpleaves.models.wrappers import DihedralCycle, adapt_denoiser
from pnpleaves.priors import resolve_prior

from .solvers import solve

logger = logging.getLogger(__name__)

__all__ = ["pnp_deblur", "pnp_denoise", "pnp_inpaint", "pnp_super_resolve"]

DEFAULT_PRIOR = "vl-drunet"
#: noise levels above this (on the [0, 1] scale) are refused as a likely 0-255 mix-up
SIGMA_MAX = 1.0


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module):
    """Run ``module`` in eval mode and give it back in the mode it had."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _device_of(module: torch.nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
    return p.device if p is not None else torch.device("cpu")


def _check_sigma(sigma: Any, name: str = "sigma") -> float | None:
    if sigma is None:
        return None
    return check_number(
        sigma, name, low=0, high=SIGMA_MAX,
        hint="It is the noise std on the [0, 1] scale: pass 25/255 rather than 25, or None to estimate it.",
    )


def _schedule_params(problem: str, method: str, schedule: ScheduleParams | dict | None) -> ScheduleParams:
    base = default_params(problem, method)
    if schedule is None:
        return base
    if isinstance(schedule, ScheduleParams):
        return schedule
    if isinstance(schedule, dict):
        return replace(base, **schedule)
    raise TypeError(f"schedule must be a ScheduleParams, a dict of its fields or None; got {type(schedule).__name__}.")


def _sigmas(x: torch.Tensor, sigma: float | None, mask: torch.Tensor | None = None) -> list[float]:
    if sigma is not None:
        return [sigma] * x.shape[0]
    est = []
    for b in range(x.shape[0]):
        mb = None if mask is None else (mask[b : b + 1] if mask.shape[0] > 1 else mask)
        try:  # PCA on patches, falling back to wavelet MAD on sparse masks / tiny images
            est.append(estimate_sigma_tensor(x[b : b + 1], mb)[0])
        except ValueError:
            logger.warning("too few observed pixels to estimate the noise level; assuming sigma = 0")
            est.append(0.0)
    logger.info("estimated noise level: %s (x255)", ", ".join(f"{s * 255:.2f}" for s in est))
    return est


ENSEMBLES = ("none", "cycle", "x8")


def _check_ensemble(ensemble: str) -> str:
    return check_choice(ensemble, "ensemble", ENSEMBLES,
                        hint="'cycle' turns the image once per iteration (free); 'x8' averages 8 turns (8x slower).")


def _with_ensemble(den: torch.nn.Module, ensemble: str) -> torch.nn.Module:
    """The denoiser of one solve: a fresh :class:`DihedralCycle` per image, so every image starts the cycle."""
    if ensemble == "none":
        return den
    return DihedralCycle(den, "cycle" if ensemble == "cycle" else "ensemble")


def _run(kind, x, build, den, method, schedule_params, sigmas, sigma_range, n_iter, progress, device, ensemble):
    outs = []
    with _eval_mode(den):
        for b in range(x.shape[0]):
            problem = build(x[b : b + 1].to(device), b)
            problem.physics = problem.physics.to(device)
            sched = make_schedule(sigmas[b], schedule_params, sigma_range=sigma_range, n_iter=n_iter)
            logger.debug("%s/%s schedule: sigmas %s, steps %s", kind, method, sched.sigmas, sched.stepsizes)
            out = solve(problem, _with_ensemble(den, ensemble), sched, method, progress=progress)
            outs.append(problem.crop_output(out).to("cpu", torch.float32))
    return torch.cat(outs, 0)


def pnp_deblur(
    img: Any,
    kernel: Any,
    prior: Any = DEFAULT_PRIOR,
    *,
    sigma: float | None = None,
    method: str = "hqs",
    n_iter: int | None = None,
    boundary: str = "unknown",
    schedule: ScheduleParams | dict | None = None,
    ensemble: str = "cycle",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray | torch.Tensor:
    r"""Non-blind deblurring of :math:`y = k * x + n` with a denoiser prior.

    :param img: blurred image (see module docstring for the accepted kinds).
    :param kernel: 2-D blur kernel, non-negative; normalised to sum 1 (a warning when it did not).
        Convolution as ``scipy.ndimage.convolve`` (centre at index ``k.shape // 2``).
    :param prior: registered name, weights path, or deepinv Denoiser.
    :param sigma: noise std on the [0, 1] scale; None estimates it.
    :param method: ``"hqs"`` (DPIR-like) or ``"admm"``.
    :param n_iter: overrides the schedule's iteration count.
    :param boundary: ``"unknown"`` for real photographs (values beyond the border are unknown: restore
        on a padded domain observing only the image window, then crop; no border ringing) or
        ``"circular"`` when the blur was circular (``mode="wrap"``).
    :param schedule: :class:`~pnpleaves.restoration.schedules.ScheduleParams` or a dict of overrides.
    :param ensemble: ``"cycle"`` (default): the denoiser sees the ``k``-th of the 8 flips / quarter
        turns of the image at iteration ``k`` (DPIR's ``x8``; no extra cost; +0.07 dB deblurring, +0.10
        inpainting, +0.00 super-resolution on the tuning images); ``"x8"``: every denoiser call averages
        all 8 (8 times slower; +0.02 dB super-resolution); ``"none"``. See
        :class:`~pnpleaves.restoration.solvers.DihedralCycle`.
    :param device: where to run (default: the prior's device).
    :param progress: show a progress bar over the iterations.
    :returns: the restored image, same kind and layout as ``img``, float in [0, 1].

    Example::

        >>> import numpy as np, pnpleaves as pl
        >>> x = pl.pnp_deblur(blurred, np.ones((5, 5)) / 25, prior="vl-drunet", sigma=2.55 / 255)  # doctest: +SKIP
    """
    x, layout = to_bchw(img, "img")
    k = kernel_to_tensor(kernel, tuple(x.shape[-2:]))
    sigma = _check_sigma(sigma)
    check_choice(method, "method", ("hqs", "admm"), hint="Use method='hqs' (DPIR-like) or 'admm'.")
    _check_ensemble(ensemble)
    check_choice(boundary, "boundary", ("unknown", "circular"),
                 hint="'unknown' suits photographs; 'circular' a blur computed with wrap-around.")
    params = _schedule_params("deblur", method, schedule)
    den, srange = resolve_prior(prior, device)
    dev = _device_of(den, device)
    den = adapt_denoiser(den, x.shape[1])
    sigmas = _sigmas(x, sigma)
    out = _run("deblur", x, lambda xb, b: blur_problem(xb, k.to(dev), boundary=boundary), den, method, params,
               sigmas, srange, n_iter, progress, dev, ensemble)
    return layout.restore(out)


def _sr_kernel(kernel: Any, scale: int, hr_hw: tuple[int, int]) -> torch.Tensor:
    if isinstance(kernel, str):
        check_choice(kernel, "kernel", ("bicubic", "gaussian"), hint="Or pass a 2-D array.")
        arr = bicubic_kernel(scale) if kernel == "bicubic" else gaussian_kernel(scale)
        return torch.from_numpy(arr)[None, None]
    return kernel_to_tensor(kernel, hr_hw, allow_negative=True)


def pnp_super_resolve(
    img: Any,
    scale: int,
    *,
    kernel: Any = "bicubic",
    prior: Any = DEFAULT_PRIOR,
    sigma: float | None = None,
    method: str = "hqs",
    n_iter: int | None = None,
    schedule: ScheduleParams | dict | None = None,
    ensemble: str = "cycle",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray | torch.Tensor:
    r"""Super-resolution of :math:`y = (k * x)\downarrow_s + n` by an integer factor ``scale`` >= 2.

    :param kernel: ``"bicubic"`` (MATLAB ``imresize`` anti-aliased bicubic, the default), ``"gaussian"``
        (std ``scale/2``; both put low-res pixel ``i`` at the centre of high-res pixels
        ``s*i .. s*i+s-1``), or a 2-D array applied as ``(k * x)[::s, ::s]`` (negative lobes allowed).
    :param ensemble: ``"cycle"`` (default), ``"x8"`` or ``"none"``, as in :func:`pnp_deblur`.
    :returns: the ``scale`` times larger image, same kind and layout as ``img``.
    """
    if isinstance(scale, bool):
        raise TypeError("scale must be an integer >= 2; got a bool.")
    s = int(check_number(scale, "scale", low=2, integer=True,
                         hint="Only integer factors are supported, e.g. scale=2 or 4."))
    x, layout = to_bchw(img, "img")
    hr = (x.shape[-2] * s, x.shape[-1] * s)
    k = _sr_kernel(kernel, s, hr)
    sigma = _check_sigma(sigma)
    check_choice(method, "method", ("hqs", "admm"), hint="Use method='hqs' (DPIR-like) or 'admm'.")
    _check_ensemble(ensemble)
    params = _schedule_params("sr", method, schedule)
    den, srange = resolve_prior(prior, device)
    dev = _device_of(den, device)
    den = adapt_denoiser(den, x.shape[1])
    sigmas = _sigmas(x, sigma)
    out = _run("sr", x, lambda xb, b: sr_problem(xb, s, k.to(dev)), den, method, params, sigmas, srange,
               n_iter, progress, dev, ensemble)
    return layout.restore(out)


def pnp_inpaint(
    img: Any,
    mask: Any,
    *,
    prior: Any = DEFAULT_PRIOR,
    sigma: float | None = None,
    method: str = "hqs",
    n_iter: int | None = None,
    schedule: ScheduleParams | dict | None = None,
    ensemble: str = "cycle",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray | torch.Tensor:
    r"""Inpainting of :math:`y = m \odot x + n`; ``mask`` is 1 where a pixel is observed.

    :param mask: ``(H, W)`` (shared by all channels) or the image's own shape; bool, 0/1 or 0/255.
        Values of ``img`` under missing pixels are ignored.
    :param ensemble: ``"cycle"`` (default), ``"x8"`` or ``"none"``, as in :func:`pnp_deblur`.
    """
    x, layout = to_bchw(img, "img")
    m = mask_to_tensor(mask, x)
    sigma = _check_sigma(sigma)
    check_choice(method, "method", ("hqs", "admm"), hint="Use method='hqs' (DPIR-like) or 'admm'.")
    _check_ensemble(ensemble)
    params = _schedule_params("inpaint", method, schedule)
    den, srange = resolve_prior(prior, device)
    dev = _device_of(den, device)
    den = adapt_denoiser(den, x.shape[1])
    sigmas = _sigmas(x, sigma, m)

    def build(xb, b):
        mb = m[b : b + 1] if m.shape[0] > 1 else m
        return inpaint_problem(xb, mb.to(dev))

    out = _run("inpaint", x, build, den, method, params, sigmas, srange, n_iter, progress, dev, ensemble)
    return layout.restore(out)


def pnp_denoise(
    img: Any,
    sigma: float | None,
    *,
    prior: Any = DEFAULT_PRIOR,
    device: str | torch.device | None = None,
) -> np.ndarray | torch.Tensor:
    """Denoise ``img`` (additive white Gaussian noise of std ``sigma`` on the [0, 1] scale; None estimates it).

    One pass of the denoiser on a mirror-padded copy (so any size works).
    """
    x, layout = to_bchw(img, "img")
    sigma = _check_sigma(sigma)
    den, _ = resolve_prior(prior, device)
    dev = _device_of(den, device)
    den = adapt_denoiser(den, x.shape[1])
    sigmas = _sigmas(x, sigma)
    outs = []
    with torch.no_grad(), _eval_mode(den):
        for b in range(x.shape[0]):
            problem = denoise_problem(x[b : b + 1].to(dev))
            out = den(problem.y, float(sigmas[b]))
            outs.append(problem.crop_output(out).to("cpu", torch.float32))
    return layout.restore(torch.cat(outs, 0))
