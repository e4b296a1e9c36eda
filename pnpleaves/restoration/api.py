r"""One call per problem: :func:`pnp_deblur`, :func:`pnp_super_resolve`, :func:`pnp_inpaint`, :func:`pnp_denoise`.

Each takes an image as NumPy ``(H, W)`` / ``(H, W, C)`` (uint8, uint16, or float in [0, 1]) or torch
``(C, H, W)`` / ``(B, C, H, W)``, and returns the same kind and layout as float in [0, 1]. Noisy float
values outside [0, 1] are used as they are, as far as the noise level explains them
(:func:`~pnpleaves.images.check_noisy_range`). The prior (keyword-only) is a registered name (see
:func:`pnpleaves.list_priors`), a path to a weights file, or any deepinv :class:`~deepinv.models.Denoiser`.
``sigma`` is the noise std on the [0, 1] scale; ``None`` estimates it
(:func:`~pnpleaves.restoration.noise_level.estimate_sigma`).

A named prior is loaded once per process and run by ``backend="auto"`` (OpenVINO when installed, else
ONNX Runtime, else PyTorch with ``channels_last`` and inference mode) at ``precision="auto"`` (bf16
only where the CPU has it natively and it measures within 55 dB of fp32): see
:mod:`pnpleaves.priors.engine`. ``backend="torch"`` runs PyTorch; a Denoiser module is used as it is
unless an engine is named.

Every call runs the same steps, per image of the batch:

1. check the arguments and turn the image into a ``(B, C, H, W)`` tensor (:func:`~pnpleaves.images.to_bchw`);
2. build the padded problem (:mod:`~pnpleaves.restoration.problems`);
3. build the DPIR-like schedule for its noise level (:mod:`~pnpleaves.restoration.schedules`);
4. solve it by Plug-and-Play HQS or ADMM (:mod:`~pnpleaves.restoration.pnp`);
5. crop, and give the result back in the caller's layout.

Reference: K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-Play Image
Restoration with Deep Denoiser Prior", IEEE TPAMI 44(10), 2022.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

import numpy as np
import torch

from pnpleaves._checks import check_choice, check_number, check_pixels
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.images import check_noisy_range, check_output, kernel_to_tensor, mask_to_tensor, to_bchw
from pnpleaves.models.wrappers import DihedralCycle, adapt_denoiser
from pnpleaves.priors import resolve_prior

from .kernels import sr_kernel
from .noise_level import estimate_sigma_tensor
from .pnp import solve
from .problems import Problem, blur_problem, denoise_problem, inpaint_problem, sr_problem
from .prior_weight import deblur_lambda
from .schedules import ScheduleParams, default_params, make_schedule

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_PRIOR", "ENSEMBLES", "SIGMA_MAX", "pnp_deblur", "pnp_denoise", "pnp_inpaint", "pnp_super_resolve"]

DEFAULT_PRIOR = "vl-drunet"
#: noise levels above this (on the [0, 1] scale) are refused as a likely 0-255 mix-up
SIGMA_MAX = 1.0
#: the ``ensemble`` options: no ensemble, one dihedral transform per iteration, all 8 at every call
ENSEMBLES = ("none", "cycle", "x8")


# --------------------------------------------------------------------------- step 1: checks


def _keyword_only(*names: str) -> Callable:
    """Keep the old positional use of ``names`` (given after the positional parameters of the decorated
    function) working, with a :class:`DeprecationWarning`: ``f(img, kernel, prior)`` becomes
    ``f(img, kernel, prior=prior)``."""

    def decorate(fn: Callable) -> Callable:
        n_pos = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in inspect.signature(fn).parameters.values())

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extra = args[n_pos:]
            if extra:
                if len(extra) > len(names):
                    raise InputTypeError(f"{fn.__name__}() takes {n_pos} positional arguments "
                                         f"(then keywords only); got {len(args)}.")
                moved = names[: len(extra)]
                for name, value in zip(moved, extra):
                    if name in kwargs:
                        raise InputTypeError(f"{fn.__name__}() got multiple values for argument {name!r}.")
                    kwargs[name] = value
                warnings.warn(
                    f"passing {', '.join(moved)} by position to {fn.__name__}() is deprecated; write "
                    + ", ".join(f"{n}=..." for n in moved) + ".",
                    DeprecationWarning,
                    stacklevel=2,
                )
            return fn(*args[:n_pos], **kwargs)

        return wrapper

    return decorate


def _check_sigma(sigma: Any, name: str = "sigma") -> float | None:
    if sigma is None:
        return None
    return check_number(
        sigma, name, low=0, high=SIGMA_MAX,
        hint="It is the noise std on the [0, 1] scale: pass 25/255 rather than 25, or None to estimate it.",
    )


def _check_method(method: str) -> str:
    return check_choice(method, "method", ("hqs", "admm"), hint="Use method='hqs' (DPIR-like) or 'admm'.")


def _check_ensemble(ensemble: str) -> str:
    return check_choice(ensemble, "ensemble", ENSEMBLES,
                        hint="'cycle' turns the image once per iteration (free); 'x8' averages 8 turns (8x slower).")


def _schedule_params(problem: str, method: str, schedule: ScheduleParams | dict | None) -> ScheduleParams:
    base = default_params(problem, method)
    if schedule is None:
        return base
    if isinstance(schedule, ScheduleParams):
        return schedule
    if isinstance(schedule, dict):
        unknown = sorted(set(schedule) - {f.name for f in fields(ScheduleParams)})
        if unknown:
            raise InputError(f"unknown schedule key(s) {unknown}; ScheduleParams has "
                             f"{[f.name for f in fields(ScheduleParams)]}.")
        return replace(base, **schedule)
    raise InputTypeError(
        f"schedule must be a ScheduleParams, a dict of its fields or None; got {type(schedule).__name__}.")


def _device_of(module: torch.nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
    return p.device if p is not None else torch.device("cpu")


def _sigmas(x: torch.Tensor, sigma: float | None, mask: torch.Tensor | None = None) -> list[float]:
    """The noise level of each image of ``x``: ``sigma``, or estimated (on the observed pixels)."""
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


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Run ``module`` in eval mode and give every submodule back the mode it had (a wrapper's own mode
    says nothing about the wrapped prior's)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, was_training in modes:
            m.training = was_training


# --------------------------------------------------------------------------- steps 3-5: schedule, solve, crop


@dataclass(frozen=True)
class _PnP:
    """How the problems of one call are solved: the denoiser and the iteration settings."""

    kind: str  # "deblur", "sr" or "inpaint"
    denoiser: torch.nn.Module  # adapted to the image's channels
    sigma_range: tuple[float, float] | None  # the prior's training range: schedule levels are clipped into it
    device: torch.device
    method: str
    params: ScheduleParams
    n_iter: int | None
    ensemble: str
    progress: bool

    @classmethod
    def prepare(cls, kind: str, prior: Any, channels: int, *, method: str, schedule: ScheduleParams | dict | None,
                n_iter: int | None, ensemble: str, device: str | torch.device | None, progress: bool,
                backend: str = "auto", precision: str = "auto") -> _PnP:
        params = _schedule_params(kind, method, schedule)
        den, srange = resolve_prior(prior, device, backend=backend, precision=precision, shared=True)
        return cls(kind, adapt_denoiser(den, channels), srange, _device_of(den, device), method, params, n_iter,
                   ensemble, progress)

    def restore(self, problem: Problem, sigma: float) -> torch.Tensor:
        """Schedule for noise ``sigma``, PnP solve, crop: the restored image, float32 on the CPU."""
        problem.physics = problem.physics.to(self.device)
        schedule = make_schedule(sigma, self.params, sigma_range=self.sigma_range, n_iter=self.n_iter)
        logger.debug("%s/%s schedule: sigmas %s, steps %s", self.kind, self.method, schedule.sigmas, schedule.stepsizes)
        den = self.denoiser
        if self.ensemble != "none":  # a fresh cycle per image: every image starts at the identity
            den = DihedralCycle(den, "cycle" if self.ensemble == "cycle" else "ensemble")
        out = solve(problem, den, schedule, self.method, progress=self.progress)
        return problem.crop_output(out).to("cpu", torch.float32)


# --------------------------------------------------------------------------- the four problems


@_keyword_only("prior")
def pnp_deblur(
    img: Any,
    kernel: Any,
    *,
    prior: Any = DEFAULT_PRIOR,
    sigma: float | None = None,
    method: str = "hqs",
    n_iter: int | None = None,
    boundary: str = "unknown",
    schedule: ScheduleParams | dict | None = None,
    ensemble: str = "cycle",
    device: str | torch.device | None = None,
    progress: bool = False,
    backend: str = "auto",
    precision: str = "auto",
) -> np.ndarray | torch.Tensor:
    r"""Non-blind deblurring of :math:`y = k * x + n` with a denoiser prior.

    :param img: blurred image (see module docstring for the accepted kinds).
    :param kernel: 2-D blur kernel, non-negative; normalised to sum 1 (a warning when it did not).
        Convolution as ``scipy.ndimage.convolve`` (centre at index ``k.shape // 2``).
    :param prior: registered name, weights path, or deepinv Denoiser (keyword-only; passing it by
        position still works, with a DeprecationWarning).
    :param sigma: noise std on the [0, 1] scale; None estimates it.
    :param method: ``"hqs"`` (DPIR-like) or ``"admm"``.
    :param n_iter: overrides the schedule's iteration count.
    :param boundary: ``"unknown"`` for real photographs (values beyond the border are unknown: restore
        on a padded domain observing only the image window, then crop; no border ringing) or
        ``"circular"`` when the blur was circular (``mode="wrap"``).
    :param schedule: :class:`~pnpleaves.restoration.schedules.ScheduleParams` or a dict of overrides.
        Without ``lam`` (``None``, or a dict without that key), HQS takes the prior weight from the
        kernel and the noise level (:func:`~pnpleaves.restoration.prior_weight.deblur_lambda`: about
        0.087-0.10 for the anchors' Gaussian blurs, 0.22-0.25 for camera shake, at most 0.25;
        ``docs/restoration.md``, "λ from the kernel"); ADMM keeps ``lam = 0.23``. A ``ScheduleParams``
        or a dict with ``lam`` is used as given.
    :param ensemble: ``"cycle"`` (default): the denoiser sees the ``k``-th of the 8 flips / quarter
        turns of the image at iteration ``k`` (DPIR's ``x8``, at no extra cost); ``"x8"``: every
        denoiser call averages all 8 (8 times slower); ``"none"``. See
        :class:`~pnpleaves.models.wrappers.DihedralCycle`.
    :param device: where to run (default: the prior's device).
    :param progress: show a progress bar over the iterations.
    :param backend: what runs a named prior: ``"auto"`` (OpenVINO, else ONNX Runtime, else PyTorch),
        ``"torch"``, ``"openvino"`` or ``"onnxruntime"`` (:mod:`pnpleaves.priors.engine`).
    :param precision: ``"auto"`` (f32, or bf16 where the CPU has it natively and the prior measures
        within 55 dB of fp32), ``"f32"`` or ``"bf16"``.
    :returns: the restored image, same kind and layout as ``img``, float in [0, 1].

    Example::

        >>> import numpy as np, pnpleaves as pl
        >>> x = pl.pnp_deblur(blurred, np.ones((5, 5)) / 25, prior="vl-drunet", sigma=2.55 / 255)  # doctest: +SKIP
    """
    x, layout = to_bchw(img, "img", tolerance=None)
    k = kernel_to_tensor(kernel, tuple(x.shape[-2:]))
    sigma = _check_sigma(sigma)
    _check_method(method)
    _check_ensemble(ensemble)
    check_choice(boundary, "boundary", ("unknown", "circular"),
                 hint="'unknown' suits photographs; 'circular' a blur computed with wrap-around.")
    pnp = _PnP.prepare("deblur", prior, x.shape[1], method=method, schedule=schedule, n_iter=n_iter,
                       ensemble=ensemble, device=device, progress=progress,
                       backend=backend, precision=precision)
    sigmas = _sigmas(x, sigma)
    check_noisy_range(x, sigmas)
    # no lam given: HQS takes the prior weight from the kernel and each image's noise level
    lam_from_kernel = method == "hqs" and not isinstance(schedule, ScheduleParams) and "lam" not in (schedule or {})
    k_host = k[0, 0].numpy()
    k = k.to(pnp.device)
    out = []
    with _eval_mode(pnp.denoiser):
        for b in range(x.shape[0]):
            problem = blur_problem(x[b : b + 1].to(pnp.device), k, boundary=boundary)
            solver = pnp
            if lam_from_kernel:
                lam = deblur_lambda(k_host, sigmas[b], pnp.params, n_iter=n_iter)
                logger.debug("prior weight from the kernel: lam = %.4f", lam)
                solver = replace(pnp, params=replace(pnp.params, lam=lam))
            out.append(solver.restore(problem, sigmas[b]))
    return layout.restore(check_output(torch.cat(out, 0), prior))


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
    boundary: str = "unknown",
    ensemble: str = "cycle",
    device: str | torch.device | None = None,
    progress: bool = False,
    backend: str = "auto",
    precision: str = "auto",
) -> np.ndarray | torch.Tensor:
    r"""Super-resolution of :math:`y = (k * x)\downarrow_s + n` by an integer factor ``scale`` >= 2.

    :param kernel: ``"bicubic"`` (MATLAB ``imresize`` anti-aliased bicubic, the default), ``"gaussian"``
        (std ``scale/2``; both put low-res pixel ``i`` at the centre of high-res pixels
        ``s*i .. s*i+s-1``), or a 2-D array applied as ``(k * x)[::s, ::s]`` (negative lobes allowed).
    :param boundary: ``"unknown"`` (photographs: the low-res image is extended periodically and the
        result cropped) or ``"circular"`` (the high-res image was blurred circularly, as in DPIR's
        protocol: solved on the image's own grid; 0.7 dB better there on the x2 anchor, butterfly).
    :param prior, sigma, method, n_iter, schedule, ensemble, device, progress, backend, precision: as in
        :func:`pnp_deblur`.
    :returns: the ``scale`` times larger image, same kind and layout as ``img``.
    """
    if isinstance(scale, bool):
        raise InputTypeError("scale must be an integer >= 2; got a bool.")
    s = int(check_number(scale, "scale", low=2, integer=True,
                         hint="Only integer factors are supported, e.g. scale=2 or 4."))
    x, layout = to_bchw(img, "img", tolerance=None)
    check_pixels(x.shape[-2] * s, x.shape[-1] * s, f"scale={s}")
    k = sr_kernel(kernel, s, (x.shape[-2] * s, x.shape[-1] * s))
    sigma = _check_sigma(sigma)
    _check_method(method)
    _check_ensemble(ensemble)
    check_choice(boundary, "boundary", ("unknown", "circular"),
                 hint="'unknown' suits photographs; 'circular' a blur computed with wrap-around.")
    pnp = _PnP.prepare("sr", prior, x.shape[1], method=method, schedule=schedule, n_iter=n_iter,
                       ensemble=ensemble, device=device, progress=progress,
                       backend=backend, precision=precision)
    sigmas = _sigmas(x, sigma)
    check_noisy_range(x, sigmas)
    k = k.to(pnp.device)
    out = []
    with _eval_mode(pnp.denoiser):
        for b in range(x.shape[0]):
            problem = sr_problem(x[b : b + 1].to(pnp.device), s, k, boundary=boundary)
            out.append(pnp.restore(problem, sigmas[b]))
    return layout.restore(check_output(torch.cat(out, 0), prior))


def pnp_inpaint(
    img: Any,
    mask: Any,
    *,
    prior: Any = DEFAULT_PRIOR,
    sigma: float | None = None,
    method: str = "admm",
    n_iter: int | None = None,
    schedule: ScheduleParams | dict | None = None,
    ensemble: str = "cycle",
    device: str | torch.device | None = None,
    progress: bool = False,
    backend: str = "auto",
    precision: str = "auto",
) -> np.ndarray | torch.Tensor:
    r"""Inpainting of :math:`y = m \odot x + n`; ``mask`` is 1 where a pixel is observed.

    :param mask: ``(H, W)`` (shared by all channels) or the image's own shape; bool, 0/1 or 0/255.
        Values of ``img`` under missing pixels are ignored.
    :param method: ``"admm"`` (the default here: it measures better than HQS for inpainting,
        ``docs/restoration.md``) or ``"hqs"``. The iteration starts from the linear (Delaunay)
        interpolation of the observed pixels.
    :param prior, sigma, n_iter, schedule, ensemble, device, progress, backend, precision: as in :func:`pnp_deblur`
        (``sigma=None`` estimates the noise on the observed pixels).
    """
    x, layout = to_bchw(img, "img", tolerance=None)
    m = mask_to_tensor(mask, x)
    sigma = _check_sigma(sigma)
    _check_method(method)
    _check_ensemble(ensemble)
    pnp = _PnP.prepare("inpaint", prior, x.shape[1], method=method, schedule=schedule, n_iter=n_iter,
                       ensemble=ensemble, device=device, progress=progress,
                       backend=backend, precision=precision)
    sigmas = _sigmas(x, sigma, m)
    check_noisy_range(x * m, sigmas)  # values under missing pixels are ignored
    out = []
    with _eval_mode(pnp.denoiser):
        for b in range(x.shape[0]):
            mb = m[b : b + 1] if m.shape[0] > 1 else m
            problem = inpaint_problem(x[b : b + 1].to(pnp.device), mb.to(pnp.device))
            out.append(pnp.restore(problem, sigmas[b]))
    return layout.restore(check_output(torch.cat(out, 0), prior))


@_keyword_only("sigma")
def pnp_denoise(
    img: Any,
    *,
    sigma: float | None = None,
    prior: Any = DEFAULT_PRIOR,
    device: str | torch.device | None = None,
    backend: str = "auto",
    precision: str = "auto",
) -> np.ndarray | torch.Tensor:
    r"""Denoise ``img`` (additive white Gaussian noise of std ``sigma`` on the [0, 1] scale; None estimates it).

    One pass of the denoiser on a mirror-padded copy (so any size works). ``sigma`` and ``prior`` are
    keyword-only (passing ``sigma`` by position still works, with a DeprecationWarning).

    A noisy float image is used as it is, unclipped, within :math:`[-6\sigma, 1 + 6\sigma]` (at least
    [-0.5, 1.5]; :func:`~pnpleaves.images.check_noisy_range`): a photograph with noise of std 75/255
    reaches about [-1.3, 2.3]. Values beyond 8 are on another scale (0-255, 0-65535) and are refused.
    ``backend`` and ``precision``: as in :func:`pnp_deblur`.
    """
    x, layout = to_bchw(img, "img", tolerance=None)
    sigma = _check_sigma(sigma)
    den, _ = resolve_prior(prior, device, backend=backend, precision=precision, shared=True)
    dev = _device_of(den, device)
    den = adapt_denoiser(den, x.shape[1])
    sigmas = _sigmas(x, sigma)
    check_noisy_range(x, sigmas)
    outs = []
    with torch.no_grad(), _eval_mode(den):
        for b in range(x.shape[0]):
            problem = denoise_problem(x[b : b + 1].to(dev))
            out = den(problem.y, float(sigmas[b]))
            outs.append(problem.crop_output(out).to("cpu", torch.float32))
    return layout.restore(check_output(torch.cat(outs, 0), prior))
