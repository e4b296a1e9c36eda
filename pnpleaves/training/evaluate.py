"""PSNR / SSIM of a denoiser on a folder of clean images at given noise levels.

The noisy input of image ``k`` is ``y = x + sigma * z_k`` with ``z_k`` standard Gaussian drawn from
a generator seeded by ``(seed, k)``: every denoiser (and every sigma) sees the same noise pattern, so
tables are reproducible and comparable. PSNR is measured on the output clipped to [0, 1],
:math:`\\mathrm{PSNR} = 10 \\log_{10}(1 / \\mathrm{MSE})`. The optional CBM3D baseline comes from the
``bm3d`` package (Dabov et al., *Color image denoising via sparse 3D collaborative filtering*, ICIP 2007).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pnpleaves import metrics
from pnpleaves._checks import check_number
from pnpleaves._random import mix_seed
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.images import load_testset
from pnpleaves.metrics import psnr
from pnpleaves.models.bm3d import bm3d_available, bm3d_denoise

logger = logging.getLogger(__name__)

__all__ = ["EvalResult", "evaluate_denoiser", "noisy_version"]


def noisy_version(x: torch.Tensor, sigma: float, seed: int, index: int) -> torch.Tensor:
    """``x + sigma * z`` with ``z`` drawn from a generator seeded by ``(seed, index)``."""

    g = torch.Generator().manual_seed(mix_seed(seed, index))
    z = torch.randn(x.shape, generator=g, dtype=torch.float32)
    return x + float(sigma) * z.to(x.device, x.dtype)


@dataclass
class EvalResult:
    """Per-image values ``rows`` and their means ``table[method][sigma] = {"psnr": .., "ssim": ..}``."""

    sigmas: list[float]
    methods: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    table: dict[str, dict[float, dict[str, float]]] = field(default_factory=dict)

    def format(self, *, with_ssim: bool = True) -> str:
        """A plain-text table: one row per sigma (0-255 scale), one PSNR (and SSIM) column per method."""
        head = ["sigma"]
        for m in self.methods:
            head.append(f"{m} PSNR")
            if with_ssim:
                head.append(f"{m} SSIM")
        lines = [head]
        for s in self.sigmas:
            row = [f"{s * 255:.4g}"]
            for m in self.methods:
                v = self.table[m][s]
                row.append(f"{v['psnr']:.2f}")
                if with_ssim:
                    row.append("-" if math.isnan(v["ssim"]) else f"{v['ssim']:.4f}")
            lines.append(row)
        widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in lines)


@torch.no_grad()
def evaluate_denoiser(
    denoiser: Any,
    images: str | os.PathLike | list[torch.Tensor],
    sigmas: list[float] | tuple[float, ...],
    *,
    seed: int = 0,
    max_images: int | None = None,
    crop: int = 0,
    device: str | torch.device | None = None,
    ssim: bool = True,
    bm3d: bool = False,
    names: list[str] | None = None,
    progress: bool = False,
) -> EvalResult:
    """Denoise every image at every ``sigma`` (on the [0, 1] scale) and average PSNR / SSIM.

    :param denoiser: a denoiser module ``den(x, sigma)`` (a deepinv Denoiser; its train/eval mode is
        restored afterwards) or a plain callable. For a registered prior or a weights file, pass
        ``pnpleaves.load_prior(name_or_path)`` (the ``eval-denoiser`` command does).
    :param images: a folder, or a list of ``(1, C, H, W)`` tensors in [0, 1].
    :param bm3d: also run CBM3D (needs the optional ``bm3d`` package) as a baseline column.
    :returns: an :class:`EvalResult`; ``result.format()`` prints the table.
    """

    sigmas = [check_number(s, "sigma", low=0.0, high=1.0, hint="Give sigma on the [0, 1] scale (25/255 = 0.098).")
              for s in sigmas]
    if not sigmas:
        raise InputError("give at least one sigma.")
    den = _as_denoiser(denoiser, device)
    dev = torch.device(device) if device is not None else next(
        (p.device for p in den.parameters()), torch.device("cpu")
    )
    if isinstance(images, (str, os.PathLike)):
        names, images = load_testset(images, max_images=max_images, crop=crop)
    else:
        images = list(images)[: max_images or None]
        names = names or [f"image{k:03d}" for k in range(len(images))]
    if bm3d and not bm3d_available():
        raise InputError("bm3d=True needs the optional `bm3d` package: pip install bm3d.")
    methods = ["denoiser"] + (["CBM3D"] if bm3d else [])
    result = EvalResult(sigmas=list(sigmas), methods=methods)
    was_training = den.training
    den.eval()
    iterator = list(enumerate(zip(names, images)))
    if progress:
        iterator = tqdm(iterator, desc="eval", unit="img")
    try:
        for k, (name, x) in iterator:
            x = x.to(dev)
            for s in sigmas:
                y = noisy_version(x, s, seed, k)
                out = den(y, float(s))
                row = {"image": name, "sigma": s, "method": "denoiser", "psnr": float(psnr(out, x)[0]),
                       "ssim": metrics.ssim(out, x) if ssim else float("nan")}
                result.rows.append(row)
                if bm3d:
                    out_b = _cbm3d(y, s)
                    result.rows.append({"image": name, "sigma": s, "method": "CBM3D",
                                        "psnr": float(psnr(out_b, x.cpu())[0]),
                                        "ssim": metrics.ssim(out_b, x.cpu()) if ssim else float("nan")})
    finally:
        den.train(was_training)
    for m in methods:
        result.table[m] = {}
        for s in sigmas:
            sel = [r for r in result.rows if r["method"] == m and r["sigma"] == s]
            result.table[m][s] = {
                "psnr": float(np.mean([r["psnr"] for r in sel])),
                "ssim": float(np.mean([r["ssim"] for r in sel])) if ssim else float("nan"),
            }
    return result


class _Callable(torch.nn.Module):
    """A plain function ``fn(x, sigma)`` as a module without parameters."""

    def __init__(self, fn: Any):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, sigma: Any) -> torch.Tensor:  # noqa: D102
        return self.fn(x, sigma)


def _as_denoiser(denoiser: Any, device: str | torch.device | None) -> torch.nn.Module:
    if isinstance(denoiser, torch.nn.Module):
        return denoiser.to(device) if device is not None else denoiser
    if isinstance(denoiser, (str, os.PathLike)):
        raise InputTypeError(
            f"evaluate_denoiser takes a denoiser module; got the name or path {str(denoiser)!r}. Load it first: "
            "evaluate_denoiser(pnpleaves.load_prior(name_or_path), ...)."
        )
    if callable(denoiser):
        return _Callable(denoiser)
    raise InputTypeError(f"denoiser must be a torch module or a callable D(x, sigma); got {type(denoiser).__name__}.")


def _cbm3d(y: torch.Tensor, sigma: float) -> torch.Tensor:
    out = bm3d_denoise(y[0].permute(1, 2, 0).double().cpu().numpy(), float(sigma))
    return torch.from_numpy(np.asarray(out, dtype=np.float32)).permute(2, 0, 1)[None]
