"""The files of a run folder that hold a model, and where a run starts from.

- ``checkpoint.pt``: everything ``--resume`` needs (model, Adam state, step, wall time, the resolved
  config). Batches are a pure function of ``(seed, step)`` (:mod:`pnpleaves.training.data`), so no
  RNG state is stored and a resumed run is bit-identical to an uninterrupted one.
- ``model.safetensors``: the weights with their architecture (:func:`pnpleaves.priors.files.write_weights`),
  loadable by :func:`pnpleaves.load_prior`.

Both are written atomically (a temporary file, then a rename), so an interrupted write never leaves a
truncated file. A run starts from scratch, from its own checkpoint (:func:`restore_checkpoint`), or
from exported weights with a fresh optimizer (:func:`continue_from_weights`, optionally into a wider
network: :func:`pnpleaves.training.widen.widen_into`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pnpleaves.errors import InputError
from pnpleaves.models import build_model, count_parameters
from pnpleaves.priors.files import read_weights, write_weights
from pnpleaves.training.config import TrainConfig
from pnpleaves.training.widen import widen_into

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "StartState",
    "atomic_torch_save",
    "atomic_write_text",
    "continue_from_weights",
    "model_from_weights",
    "read_checkpoint",
    "restore_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "pnpleaves-train/1"
WIDTH_KEYS = ("nc", "nf")  # the arguments that set channel counts (DRUNet, DnCNN)


@dataclass(frozen=True)
class StartState:
    """Where a run starts: its step, the training wall time before it, and the step its learning-rate
    warm-up starts from (0, or the step of the weights it continues from)."""

    step: int = 0
    wall_time_s: float = 0.0
    warm_start: int = 0


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text to a temporary file beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(
    out_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    *,
    step: int,
    wall_time_s: float,
    machine: str,
    world_size: int,
    warm_start: int,
) -> Path:
    """Write ``out_dir/checkpoint.pt`` and ``out_dir/model.safetensors`` (fp32) at ``step``; returns the
    checkpoint's path."""
    meta = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "arch": cfg.model.arch,
        "arch_kwargs": dict(cfg.model.kwargs),
        "sigma_range": [float(v) for v in cfg.noise.sigma_range],
        "wall_time_s": wall_time_s,
        "machine": machine,
        "world_size": world_size,
        "num_params": count_parameters(model),
        "config": cfg.to_dict(),
        # batches are a pure function of (seed, step): the data stream needs no other RNG state
        "data_stream": {"seed": cfg.seed, "next_batch": step},
        "warm_start": warm_start,
    }
    path = out_dir / "checkpoint.pt"
    state = dict(meta, model={k: v.detach().cpu() for k, v in model.state_dict().items()},
                 optimizer=optimizer.state_dict())
    atomic_torch_save(state, path)
    write_weights(out_dir / "model.safetensors", model, cfg.model.arch, dict(cfg.model.kwargs),
                  sigma_range=tuple(cfg.noise.sigma_range),
                  extra={"step": step, "wall_time_s": meta["wall_time_s"], "machine": meta["machine"],
                         "config": meta["config"]})
    return path


def read_checkpoint(run: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """The checkpoint dict of a run folder (or of its ``checkpoint.pt``) and the file's path."""
    path = Path(run)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {str(path)!r}; pass a run folder or its checkpoint.pt.")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise InputError(f"{str(path)!r} is not a checkpoint written by `pnpleaves train`.")
    return ckpt, path


def restore_checkpoint(
    path: Path, cfg: TrainConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> StartState:
    """Load the model and optimizer state of ``path`` (a run's ``checkpoint.pt``) in place, after
    checking that it was trained as ``cfg``'s architecture; warns when the data, noise or optim
    settings differ from the checkpoint's (the run goes on, but is no longer exact)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{str(path)!r} is not a pnpleaves training checkpoint.")
    if ckpt["arch"] != cfg.model.arch or dict(ckpt["arch_kwargs"]) != dict(cfg.model.kwargs):
        raise InputError(
            f"the checkpoint was trained as {ckpt['arch']}({ckpt['arch_kwargs']}) but the config asks for "
            f"{cfg.model.arch}({cfg.model.kwargs}); resume with the run's own config.toml."
        )
    model.load_state_dict(ckpt["model"], strict=True)
    optimizer.load_state_dict(ckpt["optimizer"])
    saved = ckpt.get("config", {})
    for section in ("data", "noise", "optim"):
        if saved.get(section) != cfg.to_dict()[section]:
            logger.warning("[%s] differs from the checkpoint's config; the run will not be exact", section)
    return StartState(step=int(ckpt["step"]), wall_time_s=float(ckpt.get("wall_time_s", 0.0)),
                      warm_start=int(ckpt.get("warm_start", 0)))


def continue_from_weights(
    path: str | os.PathLike, cfg: TrainConfig, model: torch.nn.Module, *, widen: bool = False
) -> tuple[StartState, bool]:
    """Load exported weights (a ``.safetensors`` file of ours) into ``model`` in place; the run continues
    at their step, with a fresh optimizer whose warm-up starts there.

    With ``widen``, ``cfg``'s network may be wider than the weights (same architecture and depth, larger
    channel counts): they are embedded so that it computes the same function. Returns the start state
    and whether the weights were widened.
    """
    state, info = read_weights(path)
    theirs, ours = dict(info.get("arch_kwargs", {})), dict(cfg.model.kwargs)
    same_but_width = info.get("arch") == cfg.model.arch and (
        {k: v for k, v in theirs.items() if k not in WIDTH_KEYS}
        == {k: v for k, v in ours.items() if k not in WIDTH_KEYS})
    if not (theirs == ours and info.get("arch") == cfg.model.arch or widen and same_but_width):
        hint = (" To continue with wider layers, pass widen=True (CLI: --widen)." if same_but_width
                else " Continue with the config the weights were trained with.")
        raise InputError(
            f"{str(path)!r} holds {info.get('arch')}({theirs}) but the config asks for "
            f"{cfg.model.arch}({ours}).{hint}"
        )
    widened = theirs != ours
    if widened:
        widen_into(model, state)
    else:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    step = int(info.get("step", 0))
    return StartState(step=step, wall_time_s=float(info.get("wall_time_s", 0.0)), warm_start=step), widened


def model_from_weights(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network stored in a ``.safetensors`` file of ours, in float32 and eval mode with frozen
    parameters (as :func:`pnpleaves.load_prior` builds it), and the file's metadata."""
    state, info = read_weights(path)
    if "arch" not in info:
        raise InputError(f"{str(path)!r} carries no architecture metadata (not written by pnpleaves).")
    model = build_model(info["arch"], dict(info.get("arch_kwargs", {})))
    model.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()},
                          strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, info
