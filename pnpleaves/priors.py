"""Trained denoisers by name: the weights registry and :func:`load_prior`.

The registry ``pnpleaves/weights.toml`` maps a prior's name to its file, sha256, architecture (a key
of :data:`pnpleaves.training.architectures.ARCHITECTURES`) with its keyword arguments, and a
training card (data, noise range, steps, wall time, machine, dev-set PSNR, parameter count)::

    [vl-drunet]
    file = "vl-drunet.safetensors"
    sha256 = "<64 hex digits>"
    arch = "drunet"
    arch_kwargs = { in_channels = 3, out_channels = 3, nc = [32, 64, 128, 256], nb = 2 }
    [vl-drunet.card]
    data = { generator = "vl", ... }
    noise = { kind = "gaussian", sigma_range = [0.0, 0.294] }
    train = { steps = 90000, wall_time_s = 1.0, machine = "...", ... }
    metrics = { "Kodak24/sigma=25/psnr" = 31.2 }
    num_params = 4250000
    date = "2025-01-01"

Weight files are looked up in ``$PNPLEAVES_WEIGHTS_DIR``, then in the repository's ``weights/``
folder. Loading checks the sha256 and never touches the network. A path to a ``.safetensors``
file written by the trainer (architecture stored in its metadata) or to a training checkpoint
``.pt`` / run folder loads as well.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tomllib
from pathlib import Path
from typing import Any

import torch
from deepinv.models import Denoiser

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SIGMA_RANGE",
    "REGISTRY_PATH",
    "check_registry",
    "file_sha256",
    "list_priors",
    "load_prior",
    "prior_sigma_range",
    "priors_table",
    "read_registry",
    "read_weights",
    "resolve_denoiser",
    "weights_dirs",
    "write_weights",
]

#: the registry shipped in the package
REGISTRY_PATH = Path(__file__).with_name("weights.toml")
#: noise range assumed for a denoiser that carries no card
DEFAULT_SIGMA_RANGE = (0.0, 75.0 / 255.0)
#: metadata tag written into every safetensors file of ours
FORMAT_TAG = "pnpleaves-denoiser/1"

_ENTRY_KEYS = ("file", "sha256", "arch", "arch_kwargs", "card")
_CARD_KEYS = ("data", "noise", "train", "metrics", "num_params", "date")
_TRAIN_KEYS = ("steps", "wall_time_s", "machine")


# --------------------------------------------------------------------------- registry


def weights_dirs() -> list[Path]:
    """Folders searched for weight files: ``$PNPLEAVES_WEIGHTS_DIR`` (if set), then ``<repo>/weights``."""
    dirs = []
    env = os.environ.get("PNPLEAVES_WEIGHTS_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path(__file__).resolve().parent.parent / "weights")
    return dirs


def read_registry(registry: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Parse a registry TOML (default: the package's ``weights.toml``) into ``{name: entry}``."""
    path = Path(registry) if registry is not None else REGISTRY_PATH
    if not path.is_file():
        if registry is None:
            return {}
        raise FileNotFoundError(f"registry file {str(path)!r} does not exist.")
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"registry {str(path)!r} is not valid TOML ({exc}).") from None
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def check_registry(registry: str | os.PathLike | dict | None = None, *, build: bool = True) -> list[str]:
    """Return a list of schema problems of a registry (empty when it is valid).

    Every entry needs ``file``, a 64-hex ``sha256``, a known ``arch``, ``arch_kwargs`` and a ``card``
    with ``data``, ``noise.sigma_range``, ``train.{steps, wall_time_s, machine}``, ``metrics``,
    ``num_params`` and ``date``. With ``build=True`` the model is built and ``num_params`` is
    compared with its recomputed parameter count.
    """
    from pnpleaves.training.architectures import ARCHITECTURES, build_model, count_parameters

    entries = registry if isinstance(registry, dict) else read_registry(registry)
    problems: list[str] = []
    for name, entry in entries.items():
        missing = [k for k in _ENTRY_KEYS if k not in entry]
        if missing:
            problems.append(f"{name}: missing key(s) {missing}")
            continue
        sha = str(entry["sha256"])
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            problems.append(f"{name}: sha256 must be 64 lowercase hex digits; got {sha!r}")
        if entry["arch"] not in ARCHITECTURES:
            problems.append(f"{name}: unknown arch {entry['arch']!r}; known: {sorted(ARCHITECTURES)}")
        card = entry["card"]
        if not isinstance(card, dict):
            problems.append(f"{name}: card must be a table")
            continue
        missing = [k for k in _CARD_KEYS if k not in card]
        if missing:
            problems.append(f"{name}: card is missing {missing}")
        noise = card.get("noise", {})
        rng = noise.get("sigma_range") if isinstance(noise, dict) else None
        if not (isinstance(rng, list) and len(rng) == 2 and 0 <= rng[0] <= rng[1]):
            problems.append(f"{name}: card.noise.sigma_range must be [lo, hi] with 0 <= lo <= hi; got {rng!r}")
        train = card.get("train", {})
        missing = [k for k in _TRAIN_KEYS if not isinstance(train, dict) or k not in train]
        if missing:
            problems.append(f"{name}: card.train is missing {missing}")
        if build and entry["arch"] in ARCHITECTURES and "num_params" in card:
            try:
                n = count_parameters(build_model(entry["arch"], entry["arch_kwargs"]))
            except (TypeError, ValueError) as exc:
                problems.append(f"{name}: cannot build {entry['arch']}({entry['arch_kwargs']}): {exc}")
            else:
                if n != card["num_params"]:
                    problems.append(f"{name}: card.num_params = {card['num_params']} but the model has {n}")
    return problems


def list_priors(registry: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Registered prior names mapped to their training cards (empty until priors are trained)."""
    return {name: dict(entry.get("card", {})) for name, entry in read_registry(registry).items()}


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- loading


def _looks_like_path(value: str | os.PathLike) -> bool:
    if isinstance(value, os.PathLike):
        return True
    s = str(value)
    return os.sep in s or "/" in s or s.endswith((".safetensors", ".pt", ".pth")) or Path(s).exists()


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable safetensors file ({exc}).") from None
    return state, meta


def _read_safetensors_metadata(path: Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable safetensors file ({exc}).") from None


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
    item of ``extra`` (JSON-encoded), so :func:`load_prior` can load the bare path.
    """
    from safetensors.torch import save_file

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def _read_checkpoint_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
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
            raise ValueError(f"{str(path)!r} is not a readable torch checkpoint ({exc}).") from None
        if isinstance(ckpt, dict) and "model" in ckpt and "arch" in ckpt:
            info = {"arch": ckpt["arch"], "arch_kwargs": dict(ckpt.get("arch_kwargs", {}))}
            if "sigma_range" in ckpt:
                info["sigma_range"] = tuple(float(v) for v in ckpt["sigma_range"])
            return ckpt["model"], info
        raise ValueError(
            f"{str(path)!r} is a torch file without 'model' and 'arch' entries; only checkpoints written by "
            "`pnpleaves train` (or .safetensors files) can be loaded by path."
        )
    raise ValueError(f"expected a .safetensors or .pt file; got {str(path)!r}.")


def _build_and_load(arch: str, arch_kwargs: dict, state: dict[str, torch.Tensor], source: str) -> Denoiser:
    from pnpleaves.training.architectures import build_model

    model = build_model(arch, arch_kwargs)
    state = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"the weights in {source} do not fit {arch}({arch_kwargs}): {str(exc).splitlines()[0]}"
        ) from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _find_weights_file(name: str, entry: dict) -> Path:
    tried = []
    for folder in weights_dirs():
        candidate = folder / entry["file"]
        tried.append(str(candidate))
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"weights file {entry['file']!r} of prior {name!r} not found; looked in: {', '.join(tried)}. "
        "Put the file in one of these folders or set PNPLEAVES_WEIGHTS_DIR to the folder that holds it."
    )


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
    :returns: the denoiser, with attributes ``name``, ``in_channels``, ``sigma_range`` (lo, hi) and ``card``.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"name_or_path must be a registered prior name or a path; got {type(name_or_path).__name__}."
        )
    entries = read_registry(registry)
    key = str(name_or_path)
    if key in entries and not isinstance(name_or_path, os.PathLike):
        entry = entries[key]
        path = _find_weights_file(key, entry)
        digest = file_sha256(path)
        if digest != entry["sha256"]:
            raise ValueError(
                f"sha256 of {str(path)!r} is {digest}, but the registry expects {entry['sha256']} for prior "
                f"{key!r}: the file is corrupted or is another version. Replace it with the released file."
            )
        state, _ = _read_checkpoint_file(path)
        kwargs = dict(entry["arch_kwargs"])
        model = _build_and_load(entry["arch"], kwargs, state, repr(str(path)))
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
        state, info = _read_checkpoint_file(path)
        if "arch" not in info:
            raise ValueError(
                f"{str(path)!r} carries no architecture metadata (not written by pnpleaves); "
                "register it with an arch and arch_kwargs, or export it with pnpleaves.training.export."
            )
        kwargs = dict(info["arch_kwargs"])
        model = _build_and_load(info["arch"], kwargs, state, repr(str(path)))
        card = dict(info.get("card", {}))
        sigma_range = tuple(info.get("sigma_range", DEFAULT_SIGMA_RANGE))
        name = path.stem
    else:
        known = ", ".join(sorted(entries)) or "none registered yet"
        raise ValueError(
            f"unknown prior {key!r}; known priors: {known}. Pass a registered name or a path to a "
            ".safetensors file."
        )
    model.name = name
    model.in_channels = int(kwargs.get("in_channels", 3))  # image channels (without a noise map)
    model.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
    model.card = card
    logger.debug("loaded prior %s (%s) on %s", name, type(model).__name__, device)
    return model.to(device)


def resolve_denoiser(
    prior: Any, device: str | torch.device | None = None, *, registry: str | os.PathLike | None = None
) -> Denoiser:
    """A deepinv Denoiser from a registered name, a path, or a Denoiser (returned as is, not moved)."""
    if isinstance(prior, Denoiser):
        return prior
    if isinstance(prior, (str, os.PathLike)):
        return load_prior(prior, device=device, registry=registry)
    raise TypeError(
        "prior must be a registered name, a path to a weights file, or a deepinv.models.Denoiser; "
        f"got {type(prior).__name__}."
    )


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
            meta = _read_safetensors_metadata(path)
            if "sigma_range" in meta:
                rng = json.loads(meta["sigma_range"])
                return (float(rng[0]), float(rng[1]))
            return DEFAULT_SIGMA_RANGE
        if path.is_file():
            return tuple(load_prior(path).sigma_range)
        known = ", ".join(sorted(entries)) or "none registered yet"
        raise ValueError(f"unknown prior {key!r}; known priors: {known}.")
    raise TypeError(
        f"prior must be a registered name, a path or a torch Module; got {type(prior).__name__}."
    )


def _data_label(data: dict) -> str:
    """``vl``, ``vl (no-depth)``, ``dl``: the generator, and the preset when it is not the full model."""
    gen, preset = str(data.get("generator", "?")), str(data.get("preset") or "")
    return gen if preset in ("", "default", gen) else f"{gen} ({preset})"


def priors_table(registry: str | os.PathLike | None = None) -> str:
    """A Markdown table of the registered priors, read from their cards: name, training data,
    parameters, steps, training hours, seconds per 512x512 image, dev-set PSNR (Kodak24, sigma
    15/25/50 on the 0-255 scale)."""
    rows = ["| prior | data | params | steps | hours | s / 512² | Kodak24 σ=15 | σ=25 | σ=50 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, card in list_priors(registry).items():
        data, train, metrics = card.get("data", {}), card.get("train", {}), card.get("metrics", {})
        psnr = [metrics.get(f"Kodak24/sigma={s}/psnr") for s in (15, 25, 50)]
        cells = [name, _data_label(data),
                 f"{card.get('num_params', 0) / 1e6:.2f} M", str(train.get("steps", "?")),
                 f"{float(train.get('wall_time_s', 0)) / 3600:.2f}",
                 f"{card.get('speed', {}).get('denoise_512_s', float('nan')):.2f}",
                 *(f"{p:.2f}" if p is not None else "–" for p in psnr)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - `python -m pnpleaves.priors` prints the README table
    print(priors_table())
