"""The registry of shipped priors: ``pnpleaves/priors/weights.toml``.

It maps a prior's name to its file, sha256, architecture (a key of :data:`pnpleaves.models.ARCHITECTURES`)
with its keyword arguments, and a training card (data, noise range, steps, wall time, machine, dev-set
PSNR, parameter count)::

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

Weight files are looked up in ``$PNPLEAVES_WEIGHTS_DIR``, then in the package's own ``weights/`` folder
(installed with the package as package data).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pnpleaves.errors import InputError
from pnpleaves.models import ARCHITECTURES, build_model, count_parameters

__all__ = [
    "REGISTRY_PATH",
    "WEIGHTS_DIR",
    "check_registry",
    "find_weights_file",
    "list_priors",
    "priors_table",
    "read_registry",
    "weights_dirs",
]

#: the registry shipped in the package
REGISTRY_PATH = Path(__file__).with_name("weights.toml")
#: the folder of the shipped weight files (package data)
WEIGHTS_DIR = Path(__file__).with_name("weights")

_ENTRY_KEYS = ("file", "sha256", "arch", "arch_kwargs", "card")
_CARD_KEYS = ("data", "noise", "train", "metrics", "num_params", "date")
_TRAIN_KEYS = ("steps", "wall_time_s", "machine")


def weights_dirs() -> list[Path]:
    """Folders searched for weight files: ``$PNPLEAVES_WEIGHTS_DIR`` (if set), then the package's ``weights/``."""
    dirs = []
    env = os.environ.get("PNPLEAVES_WEIGHTS_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(WEIGHTS_DIR)
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
            raise InputError(f"registry {str(path)!r} is not valid TOML ({exc}).") from None
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def check_registry(registry: str | os.PathLike | dict | None = None, *, build: bool = True) -> list[str]:
    """Return a list of schema problems of a registry (empty when it is valid).

    Every entry needs ``file``, a 64-hex ``sha256``, a known ``arch``, ``arch_kwargs`` and a ``card``
    with ``data``, ``noise.sigma_range``, ``train.{steps, wall_time_s, machine}``, ``metrics``,
    ``num_params`` and ``date``. With ``build=True`` the model is built and ``num_params`` is
    compared with its recomputed parameter count.
    """
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


def find_weights_file(name: str, entry: dict) -> Path:
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
