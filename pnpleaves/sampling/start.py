"""Starting points of the samplers: the fitted-Gaussian start, or white noise around grey.

A denoiser trained up to :math:`\\sigma_{max} \\approx 0.2` cannot randomise the coarse Fourier modes
whose variance exceeds :math:`\\sigma_{max}^2` (84 % of the signal energy of dead leaves at 64²), so a
start at ``0.5 + sigma_max * z`` gives low-contrast, mean-grey samples whatever the step count. The
fix is to start from :math:`\\mathcal N(\\mu, \\Sigma + \\sigma_{max}^2 I)`, where
:math:`(\\mu, \\Sigma)` is a stationary Gaussian fitted to the training images: that is
:math:`p_{\\sigma_{max}}` to second order.

Where the fit comes from (``init="gaussian-fit"``):

1. a denoiser with a ``gaussian_fit`` attribute (e.g. :class:`~pnpleaves.sampling.GaussianDenoiser`,
   whose prior *is* Gaussian) uses it;
2. a registered or saved prior whose card describes its training data (``data.generator``,
   ``data.preset``, ``data.options``) gets a fit to a few images of that generator at the sampled size
   (cached for the session);
3. anything else falls back to :meth:`GaussianFit.power_law`, a generic natural-image model.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import numpy as np
import torch

from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.generators import dead_leaves, make_config, vibrant_leaves
from pnpleaves.models.gaussian import GaussianFit

logger = logging.getLogger(__name__)

__all__ = ["INITS", "fit_from_card", "resolve_fit", "draw_start"]

#: accepted string values of ``init``
INITS = ("gaussian-fit", "white")
#: images generated to fit the start of a prior from its training card
N_FIT_IMAGES = 8


def _card_generator(card: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    data = card.get("data") if isinstance(card, dict) else None
    if not isinstance(data, dict) or data.get("source") == "random":
        return None
    model = data.get("generator", data.get("model"))
    aliases = {"vl": "vl", "vibrant_leaves": "vl", "vibrantleaves": "vl",
               "dl": "dl", "dead_leaves": "dl", "deadleaves": "dl"}
    model = aliases.get(str(model).lower()) if model is not None else None
    if model is None:
        return None
    options = data.get("options", data.get("kwargs", {})) or {}
    preset = str(data.get("preset") or "")
    return model, ("" if preset == "default" else preset), dict(options)


@functools.lru_cache(maxsize=8)
def _fit_generator_cached(model: str, preset: str, options_json: str, h: int, w: int, n: int) -> GaussianFit:
    config = make_config(model, preset or None, **json.loads(options_json))
    draw = dead_leaves if model == "dl" else vibrant_leaves
    imgs = [np.asarray(draw((h, w), seed=i, config=config), dtype=np.float32) for i in range(n)]
    batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    if batch.shape[1] == 1:
        batch = batch.expand(-1, 3, -1, -1)
    return GaussianFit.from_images(batch)


def fit_from_card(card: dict[str, Any], size: tuple[int, int], n_images: int = N_FIT_IMAGES) -> GaussianFit | None:
    """Fit the start to ``n_images`` images of the generator a prior's card names, or ``None``.

    The images use seeds ``0 .. n_images - 1``; the fit is cached per (generator, options, size).
    """
    spec = _card_generator(card)
    if spec is None:
        return None
    model, preset, options = spec
    try:
        return _fit_generator_cached(model, preset, json.dumps(options, sort_keys=True), size[0], size[1], n_images)
    except (ImportError, AttributeError, TypeError, ValueError, KeyError, OSError) as exc:
        logger.warning(
            "could not fit the Gaussian start to %s images (%s); using the generic power-law start", model, exc
        )
        return None


def resolve_fit(denoiser: torch.nn.Module, size: tuple[int, int], channels: int) -> GaussianFit:
    """The fitted Gaussian used by ``init="gaussian-fit"`` for ``denoiser`` at ``size`` (see module doc)."""
    fit = getattr(denoiser, "gaussian_fit", None)
    if isinstance(fit, GaussianFit):
        if fit.shape != (channels, *size):
            raise InputError(
                f"the denoiser's Gaussian model has shape {fit.shape}, but samples of shape {(channels, *size)} "
                "were asked for; sample at the model's size."
            )
        return fit
    fit = fit_from_card(getattr(denoiser, "card", None) or {}, size)
    if fit is not None and fit.shape[0] == channels:
        logger.debug("Gaussian start fitted to the training generator of %s", getattr(denoiser, "name", "the prior"))
        return fit
    logger.info("no training-data description for this denoiser: starting from a generic power-law Gaussian")
    return GaussianFit.power_law(size, channels)


def draw_start(
    init: Any,
    denoiser: torch.nn.Module,
    n: int,
    size: tuple[int, int],
    channels: int,
    sigma: float,
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n`` starting images ``(n, C, H, W)`` at noise level ``sigma``.

    ``init``: ``"gaussian-fit"`` (see :func:`resolve_fit`), ``"white"`` (``0.5 + sigma * z``, the start of
    Kadkhodaie & Simoncelli), a :class:`GaussianFit`, or a ``(B, C, H, W)`` tensor of training-like
    images to fit one to.
    """
    if isinstance(init, str):
        if init not in INITS:
            raise InputError(
                f"init must be one of {', '.join(map(repr, INITS))}, a GaussianFit or a (B, C, H, W) tensor of images "
                f"to fit; got {init!r}."
            )
        if init == "white":
            z = torch.randn((n, channels, *size), generator=generator, device=device, dtype=dtype)
            return 0.5 + sigma * z
        fit = resolve_fit(denoiser, size, channels)
    elif isinstance(init, GaussianFit):
        fit = init
    elif isinstance(init, torch.Tensor):
        fit = GaussianFit.from_images(init)
    else:
        raise InputTypeError(
            f"init must be 'gaussian-fit', 'white', a GaussianFit or a tensor of images; got {type(init).__name__}."
        )
    if fit.shape != (channels, *size):
        raise InputError(
            f"the Gaussian start has shape {fit.shape}, but samples of shape {(channels, *size)} were asked for; "
            "fit it at the sampled size and channel count."
        )
    return fit.sample(n, sigma=sigma, generator=generator, device=device, dtype=dtype)
