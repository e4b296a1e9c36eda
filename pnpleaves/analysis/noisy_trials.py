r"""The measurement every prior analysis repeats: clean image, seeded noise, denoiser, PSNR.

* :func:`named_priors` turns the ``priors`` argument of the analyses (a name, a path, a deepinv
  ``Denoiser``, a callable ``D(x, sigma)``, a list of these or a dict label -> prior) into labelled
  denoisers through :func:`pnpleaves.priors.resolve_prior`; the names of
  :data:`~pnpleaves.analysis.reference_priors.REFERENCE_PRIORS` (``"gaussian"``, ``"cbm3d"``) are
  understood too.
* :func:`seeded_noise` is the noise of image ``index``: standard Gaussian from a generator keyed by
  ``(seed, index)`` (:func:`pnpleaves._random.mix_seed`), so that every prior and every noise level
  sees the same noise pattern (common random numbers: the PSNR differences between priors or levels
  are not blurred by noise draws).
* :func:`mean_psnr` is the mean PSNR of :math:`D(x + s\,z, s)` against :math:`x` over a set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_number
from pnpleaves._random import mix_seed
from pnpleaves.analysis.image_sources import ImageSource
from pnpleaves.analysis.reference_priors import REFERENCE_PRIORS, reference_prior
from pnpleaves.errors import InputError
from pnpleaves.images import to_tensor
from pnpleaves.metrics import psnr
from pnpleaves.priors import list_priors, resolve_prior

__all__ = ["as_batches", "denoise", "mean_psnr", "named_priors", "prior_label", "seeded_noise"]


def prior_label(prior: Any) -> str:
    """A short label for a prior argument: the name, a file's stem, a module's ``name`` or class."""
    if isinstance(prior, os.PathLike):
        return Path(prior).stem
    if isinstance(prior, str):
        return Path(prior).stem if ("/" in prior or prior.endswith((".safetensors", ".pt", ".pth"))) else prior
    name = getattr(prior, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(prior, torch.nn.Module):
        return type(prior).__name__
    return getattr(prior, "__name__", type(prior).__name__)


def named_priors(priors: Any, *, images: ImageSource | None = None, device: Any = None) -> dict[str, Any]:
    """Label -> denoiser for the ``priors`` argument of the analyses.

    :param priors: one prior or a list of priors (labelled by :func:`prior_label`, made unique), or
        a dict label -> prior. A prior is a registered name, a weights path, a deepinv ``Denoiser``,
        a callable ``D(x, sigma)``, or a reference name (``"gaussian"``, ``"cbm3d"``).
    :param images: the analysed images (the ``"gaussian"`` reference is fitted to them).
    """
    if isinstance(priors, Mapping):
        items = [(str(k), v) for k, v in priors.items()]
    else:
        seq = list(priors) if isinstance(priors, Sequence) and not isinstance(priors, str) else [priors]
        items, seen = [], {}
        for p in seq:
            label = prior_label(p)
            seen[label] = seen.get(label, 0) + 1
            items.append((label if seen[label] == 1 else f"{label}-{seen[label]}", p))
    if not items:
        raise InputError("priors is empty; give at least one prior (a name, a path, a denoiser or a callable).")
    out: dict[str, Any] = {}
    for label, p in items:
        if isinstance(p, str) and p in REFERENCE_PRIORS and p not in list_priors():
            den = reference_prior(p, images)
            if device is not None:
                den = den.to(device)
        else:
            den, _ = resolve_prior(p, device)
        out[label] = den
    return out


def as_batches(images: Sequence[np.ndarray], device: Any = None) -> list[torch.Tensor]:
    """``(H, W, C)`` arrays -> ``(1, C, H, W)`` float32 tensors on ``device``."""
    return [to_tensor(im).to(device or "cpu") for im in images]


def seeded_noise(shape: Sequence[int], seed: int, index: int, device: Any = None) -> torch.Tensor:
    """Standard Gaussian noise of ``shape`` from a generator keyed by ``(seed, index)`` (float32)."""
    g = torch.Generator().manual_seed(mix_seed(int(seed), int(index)))
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32).to(device or "cpu")


def denoise(den: Any, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """``den(y, sigma)`` without gradients."""
    with torch.no_grad():
        return den(y, float(sigma))


def mean_psnr(den: Any, images: Sequence[torch.Tensor], sigma: float, *, seed: int = 0,
              noises: Sequence[torch.Tensor] | None = None) -> float:
    r"""Mean PSNR (dB) of :math:`D(x_k + \sigma z_k, \sigma)` against :math:`x_k` over ``images``.

    :param images: clean ``(1, C, H, W)`` tensors in [0, 1].
    :param sigma: the noise level added *and* handed to the denoiser ([0, 1] scale).
    :param noises: the standard noises :math:`z_k` (default: :func:`seeded_noise` of ``(seed, k)``).
    """
    sigma = check_number(sigma, "sigma", low=0.0)
    scores = []
    for k, x in enumerate(images):
        z = noises[k] if noises is not None else seeded_noise(x.shape, seed, k, x.device)
        scores.append(float(psnr(denoise(den, x + sigma * z, sigma), x)[0]))
    return float(np.mean(scores))
