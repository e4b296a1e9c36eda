"""Weight files of trained denoisers: self-describing safetensors files and training checkpoints.

A file written by :func:`write_weights` carries its architecture (a key of
:data:`pnpleaves.models.ARCHITECTURES`), the keyword arguments, the noise range it was trained on and
any extra items (e.g. the training card) as JSON strings in its safetensors metadata, so that it can be
loaded from its path alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from pnpleaves.errors import InputError

__all__ = [
    "DEFAULT_SIGMA_RANGE",
    "FORMAT_TAG",
    "TENSORS_SHA256_KEY",
    "check_state",
    "file_sha256",
    "read_checkpoint_file",
    "read_safetensors_metadata",
    "read_weights",
    "tensors_sha256",
    "write_weights",
]

#: noise range assumed for a denoiser that carries no card
DEFAULT_SIGMA_RANGE = (0.0, 75.0 / 255.0)
#: metadata tag written into every safetensors file of ours
FORMAT_TAG = "pnpleaves-denoiser/1"
#: metadata key of the sha256 of the tensor data (:func:`tensors_sha256`), written by :func:`write_weights`
TENSORS_SHA256_KEY = "tensors_sha256"


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """Hex sha256 of a state dict: every tensor's name, dtype, shape and bytes, in name order.

    A file cannot hold its own sha256, so :func:`write_weights` stores this digest of its tensors in
    its metadata, and :func:`read_checkpoint_file` checks it: flipped bytes in the tensor data are found.
    """
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_state(state: dict[str, torch.Tensor], source: str) -> None:
    """Raise an InputError when a floating tensor of ``state`` holds NaN or Inf (damaged weights)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise InputError(
            f"the weights in {source} hold NaN/Inf values (in {len(bad)} tensor(s), e.g. {bad[0]!r}): the file is "
            "damaged. Replace it with the released file or re-export it from its training run."
        )


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{str(path)!r} is not a readable safetensors file ({exc}).") from None
    expected = meta.get(TENSORS_SHA256_KEY)
    if expected is not None:
        digest = tensors_sha256(state)
        if digest != expected:
            raise InputError(
                f"{str(path)!r} is damaged: the sha256 of its tensor data is {digest}, but the file records "
                f"{expected}. Replace it with the released file or re-export it from its training run."
            )
    return state, meta


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{str(path)!r} is not a readable safetensors file ({exc}).") from None


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """State dict and decoded metadata (``arch``, ``arch_kwargs``, ``sigma_range``, ``step``, ...) of a
    safetensors file written by :func:`write_weights`."""
    state, meta = _read_safetensors(Path(path))
    decoded: dict[str, Any] = {}
    for key, value in meta.items():
        try:
            decoded[key] = json.loads(value)
        except json.JSONDecodeError:
            decoded[key] = value
    return state, decoded


def write_weights(
    path: str | os.PathLike,
    model: torch.nn.Module,
    arch: str,
    arch_kwargs: dict[str, Any],
    *,
    sigma_range: tuple[float, float] = DEFAULT_SIGMA_RANGE,
    dtype: torch.dtype = torch.float32,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights as a self-describing safetensors file (atomically).

    The metadata holds ``arch``, ``arch_kwargs`` and ``sigma_range`` (JSON strings), plus every
    item of ``extra`` (JSON-encoded), so :func:`load_prior` can load the bare path, and the sha256 of
    the tensor data (:data:`TENSORS_SHA256_KEY`), checked on every read. The file is mode 0644.
    """
    path = Path(path)
    module = getattr(model, "module", model)  # unwrap DistributedDataParallel
    state = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in module.state_dict().items()
    }
    meta = {
        "format": FORMAT_TAG,
        "arch": arch,
        "arch_kwargs": json.dumps(arch_kwargs, sort_keys=True),
        "sigma_range": json.dumps([float(sigma_range[0]), float(sigma_range[1])]),
    }
    for k, v in (extra or {}).items():
        meta[k] = json.dumps(v, sort_keys=True, default=str)
    meta[TENSORS_SHA256_KEY] = tensors_sha256(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file(state, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # weights are meant to be shared: readable by all, whatever the umask of the writer
    os.replace(tmp, path)
    return path


def read_checkpoint_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """State dict and description (arch, arch_kwargs, sigma_range, ...) of a weights/checkpoint file."""
    if path.suffix == ".safetensors":
        state, meta = _read_safetensors(path)
        info: dict[str, Any] = {}
        if "arch" in meta:
            info["arch"] = meta["arch"]
            info["arch_kwargs"] = json.loads(meta.get("arch_kwargs", "{}"))
        if "sigma_range" in meta:
            info["sigma_range"] = tuple(json.loads(meta["sigma_range"]))
        if "card" in meta:
            info["card"] = json.loads(meta["card"])
        return state, info
    if path.suffix in (".pt", ".pth"):
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for bad files
            raise InputError(f"{str(path)!r} is not a readable torch checkpoint ({exc}).") from None
        if isinstance(ckpt, dict) and "model" in ckpt and "arch" in ckpt:
            info = {"arch": ckpt["arch"], "arch_kwargs": dict(ckpt.get("arch_kwargs", {}))}
            if "sigma_range" in ckpt:
                info["sigma_range"] = tuple(float(v) for v in ckpt["sigma_range"])
            return ckpt["model"], info
        raise InputError(
            f"{str(path)!r} is a torch file without 'model' and 'arch' entries; only checkpoints written by "
            "`pnpleaves train` (or .safetensors files) can be loaded by path."
        )
    raise InputError(f"expected a .safetensors or .pt file; got {str(path)!r}.")
