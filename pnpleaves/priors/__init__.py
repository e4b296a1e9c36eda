"""Trained denoisers by name or path: :func:`load_prior` and :func:`resolve_prior`.

A loaded prior is a deepinv :class:`~deepinv.models.Denoiser` in eval mode with the attributes described
by :class:`Prior`. Loading a registered name checks the file's sha256 against the registry and never
touches the network (:mod:`pnpleaves.priors.registry`); weight files are described in
:mod:`pnpleaves.priors.files`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from deepinv.models import Denoiser

from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.images import check_device
from pnpleaves.models import build_model
from pnpleaves.priors.files import (
    DEFAULT_SIGMA_RANGE,
    check_state,
    file_sha256,
    read_checkpoint_file,
    read_safetensors_metadata,
    read_weights,
    write_weights,
)
from pnpleaves.priors.registry import (
    REGISTRY_PATH,
    check_registry,
    find_weights_file,
    list_priors,
    priors_table,
    read_registry,
    weights_dirs,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SIGMA_RANGE",
    "REGISTRY_PATH",
    "CallableDenoiser",
    "Prior",
    "check_registry",
    "file_sha256",
    "list_priors",
    "load_prior",
    "prior_sigma_range",
    "priors_table",
    "read_registry",
    "read_weights",
    "resolve_prior",
    "weights_dirs",
    "write_weights",
]


@runtime_checkable
class Prior(Protocol):
    """What :func:`load_prior` returns: a deepinv Denoiser ``den(x, sigma)`` with these attributes.

    - ``name``: the registered name, or the file's stem for a path;
    - ``in_channels``: image channels (1 or 3), without the noise-level map;
    - ``sigma_range``: ``(lo, hi)`` on the [0, 1] scale, the noise levels it was trained on;
    - ``card``: the training card (a dict; empty when the file carries none);
    - ``arch``, ``arch_kwargs``: how to build the network again (:func:`pnpleaves.models.build_model`).
    """

    name: str
    arch: str
    arch_kwargs: dict[str, Any]
    in_channels: int
    sigma_range: tuple[float, float]
    card: dict[str, Any]

    def __call__(self, x: torch.Tensor, sigma: Any) -> torch.Tensor: ...


def _looks_like_path(value: str | os.PathLike) -> bool:
    if isinstance(value, os.PathLike):
        return True
    s = str(value)
    return os.sep in s or "/" in s or s.endswith((".safetensors", ".pt", ".pth")) or Path(s).exists()


def _build_and_load(arch: str, arch_kwargs: dict, state: dict[str, torch.Tensor], source: str) -> Denoiser:
    check_state(state, source)
    model = build_model(arch, arch_kwargs)
    state = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(
            f"the weights in {source} do not fit {arch}({arch_kwargs}): {str(exc).splitlines()[0]}"
        ) from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_prior(
    name_or_path: str | os.PathLike,
    device: str | torch.device | None = None,
    *,
    registry: str | os.PathLike | None = None,
) -> Denoiser:
    """Load a trained denoiser as a deepinv :class:`~deepinv.models.Denoiser` in eval mode.

    ``den(x, sigma)`` takes ``x`` of shape ``(B, C, H, W)`` in [0, 1] (any H, W) and ``sigma`` on the
    [0, 1] scale, a float or a per-image ``(B,)`` tensor. Parameters do not require gradients.

    :param name_or_path: a registered name (see :func:`list_priors`), a ``.safetensors`` file written
        by the trainer or the exporter, a training checkpoint ``.pt``, or a training run folder.
    :param device: where to put the model (default CPU).
    :param registry: a registry TOML other than the package's.
    :returns: a new module each call (callers may change it freely), with the attributes of :class:`Prior`.
    """
    device = check_device(device) if device is not None else torch.device("cpu")
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InputTypeError(
            f"name_or_path must be a registered prior name or a path; got {type(name_or_path).__name__}."
        )
    entries = read_registry(registry)
    key = str(name_or_path)
    if isinstance(name_or_path, str) and not key.strip():
        raise InputError("name_or_path must be a registered prior name or a path; got an empty string. "
                         f"Registered priors: {', '.join(sorted(entries)) or 'none'}.")
    if key in entries and not isinstance(name_or_path, os.PathLike):
        entry = entries[key]
        path = find_weights_file(key, entry)
        digest = file_sha256(path)
        if digest != entry["sha256"]:
            raise InputError(
                f"sha256 of {str(path)!r} is {digest}, but the registry expects {entry['sha256']} for prior "
                f"{key!r}: the file is corrupted or is another version. Replace it with the released file."
            )
        state, _ = read_checkpoint_file(path)
        kwargs = dict(entry["arch_kwargs"])
        arch = entry["arch"]
        model = _build_and_load(arch, kwargs, state, repr(str(path)))
        card = dict(entry.get("card", {}))
        sigma_range = tuple(float(v) for v in card.get("noise", {}).get("sigma_range", DEFAULT_SIGMA_RANGE))
        name = key
    elif _looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            candidates = [path / "model.safetensors", path / "checkpoint.pt"]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise FileNotFoundError(
                    f"folder {str(path)!r} holds neither model.safetensors nor checkpoint.pt; "
                    "pass a training run folder or a weights file."
                )
            path = found
        if not path.is_file():
            raise FileNotFoundError(f"weights file {str(path)!r} does not exist.")
        state, info = read_checkpoint_file(path)
        if "arch" not in info:
            raise InputError(
                f"{str(path)!r} carries no architecture metadata (not written by pnpleaves); "
                "register it with an arch and arch_kwargs, or export it with `pnpleaves export`."
            )
        kwargs = dict(info["arch_kwargs"])
        arch = info["arch"]
        model = _build_and_load(arch, kwargs, state, repr(str(path)))
        card = dict(info.get("card", {}))
        sigma_range = tuple(info.get("sigma_range", DEFAULT_SIGMA_RANGE))
        name = path.stem
    else:
        known = ", ".join(sorted(entries)) or "none registered yet"
        raise InputError(
            f"unknown prior {key!r}; known priors: {known}. Pass a registered name or a path to a "
            ".safetensors file."
        )
    model.name = name
    model.arch = arch
    model.arch_kwargs = dict(kwargs)
    model.in_channels = int(kwargs.get("in_channels", 3))  # image channels (without a noise map)
    model.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
    model.card = card
    logger.debug("loaded prior %s (%s) on %s", name, type(model).__name__, device)
    return model.to(device)


def prior_sigma_range(prior: Any, *, registry: str | os.PathLike | None = None) -> tuple[float, float]:
    """Noise range ``(lo, hi)`` (on the [0, 1] scale) a prior was trained on.

    From the registry card for a name, from the file metadata for a path, from the ``sigma_range``
    attribute of a loaded prior, else :data:`DEFAULT_SIGMA_RANGE`.
    """
    if isinstance(prior, torch.nn.Module):
        rng = getattr(prior, "sigma_range", DEFAULT_SIGMA_RANGE)
        return (float(rng[0]), float(rng[1]))
    if isinstance(prior, (str, os.PathLike)):
        entries = read_registry(registry)
        key = str(prior)
        if key in entries and not isinstance(prior, os.PathLike):
            rng = entries[key].get("card", {}).get("noise", {}).get("sigma_range", DEFAULT_SIGMA_RANGE)
            return (float(rng[0]), float(rng[1]))
        path = Path(prior)
        if path.is_dir():
            path = path / "model.safetensors"
        if path.suffix == ".safetensors" and path.is_file():
            meta = read_safetensors_metadata(path)
            if "sigma_range" in meta:
                rng = json.loads(meta["sigma_range"])
                return (float(rng[0]), float(rng[1]))
            return DEFAULT_SIGMA_RANGE
        if path.is_file():
            return tuple(load_prior(path).sigma_range)
        known = ", ".join(sorted(entries)) or "none registered yet"
        raise InputError(f"unknown prior {key!r}; known priors: {known}.")
    raise InputTypeError(
        f"prior must be a registered name, a path or a torch Module; got {type(prior).__name__}."
    )


class CallableDenoiser(Denoiser):
    """A plain function ``fn(x, sigma)`` on ``(B, C, H, W)`` tensors as a deepinv Denoiser."""

    def __init__(self, fn: Any, in_channels: int | None = None):
        super().__init__()
        self.fn = fn
        if in_channels is not None:
            self.in_channels = int(in_channels)

    def forward(self, x: torch.Tensor, sigma: Any, **kwargs) -> torch.Tensor:  # noqa: D102
        return self.fn(x, sigma)


def resolve_prior(
    prior: Any, device: str | torch.device | None = None, *, registry: str | os.PathLike | None = None
) -> tuple[Denoiser, tuple[float, float]]:
    """The one way the library turns a ``prior`` argument into ``(denoiser, (lo, hi))``.

    ``prior`` is a registered name or a path (loaded afresh: the caller owns the returned module and
    may change it without affecting anyone else), a deepinv Denoiser or any ``torch.nn.Module``
    (used as is, moved to ``device`` when one is given), or a plain callable ``D(x, sigma)`` (wrapped).
    ``(lo, hi)`` is the noise range it was trained on (:func:`prior_sigma_range`).
    """
    device = check_device(device)
    if isinstance(prior, (str, os.PathLike)):
        if isinstance(prior, str) and not prior.strip():
            raise InputError("prior must be a registered name or a path; got an empty string. "
                             f"Registered priors: {', '.join(sorted(read_registry(registry))) or 'none'}.")
        den = load_prior(prior, device=device, registry=registry)
    elif isinstance(prior, torch.nn.Module):
        den = prior
        if device is not None:
            den = den.to(device)
    elif callable(prior):
        den = CallableDenoiser(prior)
    else:
        raise InputTypeError(
            "prior must be a registered name, a path to a weights file, a deepinv.models.Denoiser or a "
            f"callable D(x, sigma); got {type(prior).__name__}."
        )
    return den, prior_sigma_range(den)
