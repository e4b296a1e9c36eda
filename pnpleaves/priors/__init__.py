"""Trained denoisers by name or path: :func:`load_prior` and :func:`resolve_prior`.

A loaded prior is a deepinv :class:`~deepinv.models.Denoiser` in eval mode with the attributes described
by :class:`Prior`. Loading a registered name checks the file's sha256 against the registry and never
touches the network (:mod:`pnpleaves.priors.registry`); weight files are described in
:mod:`pnpleaves.priors.files`; inference engines (OpenVINO, ONNX Runtime) in :mod:`pnpleaves.priors.engine`.

A file is read, hashed and checked once per process: later loads of the same unchanged file (same
path, size, modification time) reuse its verified tensors, and the network is built without its
random initialisation (on the ``meta`` device, then the weights are assigned).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from deepinv.models import Denoiser

from pnpleaves._checks import check_choice
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.images import check_device
from pnpleaves.models import build_model
from pnpleaves.priors.engine import (
    BACKENDS,
    PRECISIONS,
    EngineDenoiser,
    TorchInference,
    cache_dir,
    engine_installed,
    make_engine_prior,
    select_backend,
)
from pnpleaves.priors.files import (
    DEFAULT_SIGMA_RANGE,
    check_state,
    file_sha256,
    read_checkpoint_file,
    read_safetensors_metadata,
    read_weights,
    tensors_sha256,
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
    "BACKENDS",
    "DEFAULT_SIGMA_RANGE",
    "PRECISIONS",
    "REGISTRY_PATH",
    "CallableDenoiser",
    "EngineDenoiser",
    "Prior",
    "TorchInference",
    "cache_dir",
    "check_registry",
    "clear_prior_cache",
    "engine_installed",
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


_lock = threading.Lock()
#: (path, size, mtime_ns, inode) -> sha256 of the file
_digests: dict[tuple, str] = {}
#: (path, sha256) -> (float32 state dict, description): the verified tensors of a file, never handed out
_states: OrderedDict[tuple[str, str], tuple[dict[str, torch.Tensor], dict[str, Any]]] = OrderedDict()
#: resolve_prior(..., shared=True) instances, keyed by what they were built from
_shared: OrderedDict[tuple, Denoiser] = OrderedDict()
_CACHE_MAX = 4


def _cache_put(cache: OrderedDict, key: Any, value: Any) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _CACHE_MAX:
            cache.popitem(last=False)


def clear_prior_cache() -> None:
    """Forget the verified weights and the shared inference priors this process keeps (exports on disk stay)."""
    with _lock:
        _digests.clear()
        _states.clear()
        _shared.clear()


def _sha256(path: Path) -> str:
    """:func:`file_sha256`, memoised by the file's path, size, modification time and inode."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _digests.get(key)
    if digest is None:
        digest = file_sha256(path)
        with _lock:
            _digests[key] = digest
    return digest


def _read_verified(path: Path, digest: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The float32 state and description of a file, read and checked once per (path, sha256)."""
    key = (str(path.resolve()), digest)
    with _lock:
        hit = _states.get(key)
    if hit is not None:
        return hit
    state, info = read_checkpoint_file(path)
    check_state(state, repr(str(path)))
    state = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    _cache_put(_states, key, (state, info))
    return state, info


def _build_and_load(arch: str, arch_kwargs: dict, state: dict[str, torch.Tensor], source: str) -> Denoiser:
    """Build ``arch`` and load ``state`` (copied): built on the ``meta`` device, so the random
    initialisation (DRUNet's orthogonal QR) is skipped, then the weights are assigned. An architecture
    that keeps something outside its state dict is built the ordinary way."""
    state = {k: v.detach().clone() for k, v in state.items()}
    with torch.device("meta"):
        model = build_model(arch, arch_kwargs)
    try:
        model.load_state_dict(state, strict=True, assign=True)
        if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
            model = build_model(arch, arch_kwargs)
            model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(
            f"the weights in {source} do not fit {arch}({arch_kwargs}): {str(exc).splitlines()[0]}"
        ) from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _locate(name_or_path: str | os.PathLike, entries: dict[str, dict]) -> tuple[Path, dict | None]:
    """The weights file of a registered name (with its registry entry) or of a path (entry None)."""
    key = str(name_or_path)
    if isinstance(name_or_path, str) and not key.strip():
        raise InputError("name_or_path must be a registered prior name or a path; got an empty string. "
                         f"Registered priors: {', '.join(sorted(entries)) or 'none'}.")
    if key in entries and not isinstance(name_or_path, os.PathLike):
        return find_weights_file(key, entries[key]), entries[key]
    if _looks_like_path(name_or_path):
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
        return path, None
    known = ", ".join(sorted(entries)) or "none registered yet"
    raise InputError(
        f"unknown prior {key!r}; known priors: {known}. Pass a registered name or a path to a "
        ".safetensors file."
    )


def _load_torch(name_or_path: str | os.PathLike, entries: dict[str, dict]) -> tuple[Denoiser, Path, str]:
    """A new fp32 module on the CPU in eval mode with the :class:`Prior` attributes, its file and sha256."""
    path, entry = _locate(name_or_path, entries)
    digest = _sha256(path)
    if entry is not None:
        key = str(name_or_path)
        if digest != entry["sha256"]:
            raise InputError(
                f"sha256 of {str(path)!r} is {digest}, but the registry expects {entry['sha256']} for prior "
                f"{key!r}: the file is corrupted or is another version. Replace it with the released file."
            )
        state, _ = _read_verified(path, digest)
        arch, kwargs = entry["arch"], dict(entry["arch_kwargs"])
        card = dict(entry.get("card", {}))
        sigma_range = tuple(float(v) for v in card.get("noise", {}).get("sigma_range", DEFAULT_SIGMA_RANGE))
        name = key
    else:
        state, info = _read_verified(path, digest)
        if "arch" not in info:
            raise InputError(
                f"{str(path)!r} carries no architecture metadata (not written by pnpleaves); "
                "register it with an arch and arch_kwargs, or export it with `pnpleaves export`."
            )
        arch, kwargs = info["arch"], dict(info["arch_kwargs"])
        card = dict(info.get("card", {}))
        sigma_range = tuple(info.get("sigma_range", DEFAULT_SIGMA_RANGE))
        name = path.stem
    model = _build_and_load(arch, kwargs, state, repr(str(path)))
    model.name = name
    model.arch = arch
    model.arch_kwargs = dict(kwargs)
    model.in_channels = int(kwargs.get("in_channels", 3))  # image channels (without a noise map)
    model.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
    model.card = card
    return model, path, digest


def _on_backend(model: Denoiser, digest: str, backend: str, precision: str, device: torch.device,
                *, inference: bool) -> Denoiser:
    """``model`` (fp32, CPU) run by ``backend`` on ``device``: the module itself (``inference=False``) or
    :class:`TorchInference` for torch, an :class:`EngineDenoiser` for an engine."""
    chosen = select_backend(backend, model, device)
    if chosen == "torch":
        check_choice(precision, "precision", PRECISIONS)
        model = model.to(device)
        if not inference and precision != "bf16":
            return model
        return TorchInference(model, "bf16" if precision == "bf16" else "f32")
    return make_engine_prior(model, digest, chosen, precision, requested=backend)


def load_prior(
    name_or_path: str | os.PathLike,
    device: str | torch.device | None = None,
    *,
    registry: str | os.PathLike | None = None,
    backend: str = "torch",
    precision: str = "auto",
) -> Denoiser:
    """Load a trained denoiser as a deepinv :class:`~deepinv.models.Denoiser` in eval mode.

    ``den(x, sigma)`` takes ``x`` of shape ``(B, C, H, W)`` in [0, 1] (any H, W) and ``sigma`` on the
    [0, 1] scale, a float or a per-image ``(B,)`` tensor. Parameters do not require gradients.

    :param name_or_path: a registered name (see :func:`list_priors`), a ``.safetensors`` file written
        by the trainer or the exporter, a training checkpoint ``.pt``, or a training run folder.
    :param device: where to put the model (default CPU).
    :param registry: a registry TOML other than the package's.
    :param backend: ``"torch"`` (the default: the plain module, for training, autograd and analysis),
        ``"openvino"``, ``"onnxruntime"`` or ``"auto"`` (OpenVINO, else ONNX Runtime, else torch):
        see :mod:`pnpleaves.priors.engine`. An engine prior runs gradient-needing calls on its torch
        module under ``"auto"`` and refuses them when the engine was named.
    :param precision: ``"auto"`` (f32, or bf16 where the CPU has it natively and it measures within
        the engine's threshold of fp32), ``"f32"`` or ``"bf16"``. With ``backend="torch"``,
        ``"bf16"`` returns a :class:`TorchInference` (autocast) wrapper.
    :returns: a new module each call (callers may change it freely), with the attributes of :class:`Prior`.
    """
    device = check_device(device) if device is not None else torch.device("cpu")
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InputTypeError(
            f"name_or_path must be a registered prior name or a path; got {type(name_or_path).__name__}."
        )
    model, _, digest = _load_torch(name_or_path, read_registry(registry))
    logger.debug("loaded prior %s (%s) on %s", model.name, type(model).__name__, device)
    return _on_backend(model, digest, backend, precision, device, inference=False)


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
    prior: Any,
    device: str | torch.device | None = None,
    *,
    registry: str | os.PathLike | None = None,
    backend: str = "torch",
    precision: str = "auto",
    shared: bool = False,
) -> tuple[Denoiser, tuple[float, float]]:
    """The one way the library turns a ``prior`` argument into ``(denoiser, (lo, hi))``.

    ``prior`` is a registered name or a path (loaded afresh: the caller owns the returned module and
    may change it without affecting anyone else), a deepinv Denoiser or any ``torch.nn.Module``
    (used as is, moved to ``device`` when one is given), or a plain callable ``D(x, sigma)`` (wrapped).
    ``(lo, hi)`` is the noise range it was trained on (:func:`prior_sigma_range`).

    ``backend`` and ``precision`` are those of :func:`load_prior`. A module is used as is under
    ``"torch"`` and ``"auto"``; a named engine exports it (keyed by the sha256 of its tensors).
    With ``shared=True`` a name or path gives an *inference* prior (:class:`TorchInference` or
    :class:`EngineDenoiser`) kept in a small process-wide cache keyed by (name, file, sha256, device,
    backend, precision), so repeated calls neither read nor build anything: it must not be changed
    (the ``pnp_*`` functions only call it).
    """
    device = check_device(device)
    if isinstance(prior, (str, os.PathLike)):
        if isinstance(prior, str) and not prior.strip():
            raise InputError("prior must be a registered name or a path; got an empty string. "
                             f"Registered priors: {', '.join(sorted(read_registry(registry))) or 'none'}.")
        if not shared:
            den = load_prior(prior, device=device, registry=registry, backend=backend, precision=precision)
        else:
            entries = read_registry(registry)
            path, _ = _locate(prior, entries)
            dev = device if device is not None else torch.device("cpu")
            key = (str(prior), str(registry), str(path.resolve()), _sha256(path), str(dev), backend, precision)
            with _lock:
                den = _shared.get(key)
            if den is None:
                model, _, digest = _load_torch(prior, entries)
                den = _on_backend(model, digest, backend, precision, dev, inference=True)
                _cache_put(_shared, key, den)
    elif isinstance(prior, torch.nn.Module):
        den = prior
        if device is not None:
            den = den.to(device)
        if backend not in ("torch", "auto") or precision == "bf16":
            chosen = select_backend(backend, den, device)
            if chosen == "torch":
                den = TorchInference(den, "bf16" if precision == "bf16" else "f32")
            else:
                digest = tensors_sha256(den.state_dict())
                den = make_engine_prior(den, digest, chosen, precision, requested=backend)
    elif callable(prior):
        den = CallableDenoiser(prior)
    else:
        raise InputTypeError(
            "prior must be a registered name, a path to a weights file, a deepinv.models.Denoiser or a "
            f"callable D(x, sigma); got {type(prior).__name__}."
        )
    return den, prior_sigma_range(den)
