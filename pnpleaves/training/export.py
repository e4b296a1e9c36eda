"""Export a trained run as a prior: fp16 weights ``<weights_dir>/<name>.safetensors`` and a registry
entry with its training card.

The card is filled from the checkpoint (config, steps, wall time, machine) and from a dev-set
evaluation of the *exported* (fp16) weights, so the PSNR table is what users of the file get. The
entry is written into a registry TOML only when one is given (``registry=``, CLI ``--registry PATH``);
the exporter never writes into the installed package by itself. The command line is
``pnpleaves export RUN_DIR --name NAME [--registry PATH --update-registry]`` (:mod:`pnpleaves.cli.export`).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import statistics
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import torch

from pnpleaves.errors import InputError
from pnpleaves.io import check_output_path
from pnpleaves.generators.config import config_to_dict, make_config
from pnpleaves.models import build_model, count_parameters
from pnpleaves.priors.files import file_sha256, read_weights, write_weights
from pnpleaves.training.checkpoint import model_from_weights, read_checkpoint
from pnpleaves.training.config import TrainConfig, dumps_toml
from pnpleaves.training.evaluate import evaluate_denoiser

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SIGMAS", "build_card", "export_run", "read_run", "time_denoiser", "update_registry"]

DEFAULT_SIGMAS = (15.0 / 255.0, 25.0 / 255.0, 50.0 / 255.0)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: drop ``None`` values (recursively)."""
    return {k: _drop_empty(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}


def _manifest_config(cfg: TrainConfig) -> dict[str, Any] | None:
    if cfg.data.source != "cache":
        return None
    manifest = cfg.resolve_path(cfg.data.cache_dir) / "manifest.jsonl"
    if not manifest.is_file():
        return None
    with open(manifest, encoding="utf-8") as f:
        first = f.readline()
    try:
        return json.loads(first).get("config")
    except json.JSONDecodeError:
        return None


def read_run(run: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dict of a run: its folder or ``checkpoint.pt``, or the ``model.safetensors`` the
    trainer writes beside it (which carries the config, step, wall time and machine; weights only, so
    a run copied back from another machine as that one file can still be exported)."""
    path = Path(run)
    if path.suffix != ".safetensors":
        return read_checkpoint(path)[0]
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {str(path)!r}.")
    state, info = read_weights(path)
    missing = [k for k in ("config", "arch", "step") if k not in info]
    if missing:
        raise InputError(f"{str(path)!r} has no training metadata ({', '.join(missing)} missing): export needs a run "
                         "folder, its checkpoint.pt or the model.safetensors the trainer wrote there.")
    return {"model": {k: v.float() if v.is_floating_point() else v for k, v in state.items()},
            "config": info["config"], "arch": info["arch"], "arch_kwargs": info.get("arch_kwargs", {}),
            "step": int(info["step"]), "wall_time_s": float(info.get("wall_time_s", 0.0)),
            "machine": info.get("machine", "unknown"), "world_size": int(info.get("world_size", 1))}


def _generator_config(model: str, preset: str, options: dict[str, Any]) -> dict[str, Any]:
    return config_to_dict(make_config(model, preset or None, **options))


def build_card(ckpt: dict[str, Any], metrics: dict[str, float], *, description: str = "",
               license: str = "MIT") -> dict[str, Any]:
    """The training card of a checkpoint: data, noise, train, metrics, num_params, date."""
    cfg = TrainConfig.from_dict(ckpt["config"])
    d = cfg.data
    data = {
        "source": d.source,
        "generator": d.generator,
        "preset": d.preset or ("vl" if d.generator == "vl" else ""),
        "options": dict(d.options),
        "image_size": d.image_size,
        "n_images": d.n_images,
        "patch_size": d.patch_size,
        "augment": d.augment,
        "permute_channels": d.permute_channels,
        "seed": cfg.seed,
    }
    if d.source == "cache":
        data["cache_dir"] = d.cache_dir
        manifest = Path(cfg.resolve_path(d.cache_dir)) / "manifest.jsonl"
        if manifest.is_file():
            seeds = [json.loads(line)["seed"] for line in manifest.read_text().splitlines() if line.strip()]
            data["cache_images"] = len(seeds)
            data["cache_seeds"] = [min(seeds), max(seeds)] if seeds else []
        # the images' own config; when the cache is not on this machine, the recipe's (same code version)
        data["generator_config"] = _manifest_config(cfg) or _generator_config(d.generator, d.preset, d.options)
    elif d.source == "generate":
        data["generator_config"] = _generator_config(d.generator, d.preset, d.options)
    card = {
        "description": description or f"{cfg.model.arch} trained on "
        + ({"generate": f"{d.generator} images", "cache": f"cached {d.generator} images"}.get(d.source, "random images")),
        "data": data,
        "noise": {"kind": "gaussian", "sigma_range": [float(v) for v in cfg.noise.sigma_range],
                  "blind": cfg.noise.blind}
        | ({"low_fraction": cfg.noise.low_fraction, "low_range": [float(v) for v in cfg.noise.low_range]}
           if cfg.noise.low_fraction > 0 else {}),
        "train": {
            "steps": int(ckpt["step"]),
            "wall_time_s": round(float(ckpt.get("wall_time_s", 0.0)), 1),
            "machine": str(ckpt.get("machine", "unknown")),
            "world_size": int(ckpt.get("world_size", 1)),
            "batch": d.batch_size,
            "loss": cfg.optim.loss,
            "lr": cfg.optim.lr,
            "warmup_steps": cfg.optim.warmup_steps,
            "halve_every": cfg.optim.halve_every,
            "lr_min": cfg.optim.lr_min,
            "grad_clip": cfg.optim.grad_clip,
            "config": cfg.name,
            "git": _git_commit(),
        },
        "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
        "num_params": count_parameters(build_model(ckpt["arch"], dict(ckpt["arch_kwargs"]))),
        "date": datetime.date.today().isoformat(),
        "license": license,
    }
    return _drop_empty(card)


def update_registry(name: str, entry: dict[str, Any], registry: str | os.PathLike, *,
                    overwrite: bool = False) -> Path:
    """Write (or replace, with ``overwrite``) the entry ``name`` of the registry TOML ``registry``
    (created if absent), keeping its header comments."""
    path = Path(registry)
    header, entries = "", {}
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
        try:
            entries = {k: v for k, v in tomllib.loads(text).items() if isinstance(v, dict)}
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"registry {str(path)!r} is not valid TOML ({exc}).") from None
    if name in entries and not overwrite:
        raise FileExistsError(f"prior {name!r} is already registered in {str(path)!r}; pass --overwrite to replace it.")
    entries[name] = entry
    body = dumps_toml(entries)
    tomllib.loads(body)  # never write a registry that does not parse
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(header + ("\n" if header else "") + body, encoding="utf-8")
    os.replace(tmp, path)
    return path


def time_denoiser(den: torch.nn.Module, size: int = 512, repeats: int = 5, device: str | None = None) -> dict[str, Any]:
    """Median seconds to denoise one ``size x size`` colour image (after one warm-up call)."""
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device or "cpu")
    times = []
    with torch.no_grad():
        den(x, 25 / 255)
        for _ in range(repeats):
            t0 = time.perf_counter()
            den(x, 25 / 255)
            times.append(time.perf_counter() - t0)
    return {"denoise_512_s": round(statistics.median(times), 4), "threads": torch.get_num_threads(),
            "size": size, "repeats": repeats}


def export_run(
    run: str | os.PathLike,
    name: str,
    *,
    weights_dir: str | os.PathLike = "weights",
    registry: str | os.PathLike | None = None,
    update: bool = False,
    overwrite: bool = False,
    dev_folder: str | os.PathLike | list[str | os.PathLike] | None = None,
    dev_sigmas: tuple[float, ...] = DEFAULT_SIGMAS,
    max_images: int | None = None,
    crop: int = 0,
    dtype: torch.dtype = torch.float16,
    description: str = "",
    device: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Write ``<weights_dir>/<name>.safetensors`` from a run and build its registry entry.

    :param run: a training run folder, its ``checkpoint.pt`` or its ``model.safetensors`` (:func:`read_run`).
    :param weights_dir: destination folder (default: ``weights`` in the working directory).
    :param dev_folder: folder(s) of images for the card's PSNR table (default: the run's
        ``dev.folder``, found as :meth:`TrainConfig.dev_folder` finds it; none when it is not on this
        machine); whole images unless ``crop > 0``; ``max_images`` limits their number.
        The card also records the measured time to denoise one 512x512 colour image.
    :param registry: the registry TOML that ``update`` writes the entry into (the package's own,
        ``pnpleaves/priors/weights.toml``, only when it is given here).
    :param update: also write the entry into ``registry``.
    :returns: ``(entry, toml_block)``.
    """
    if not name or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
        raise InputError(f"name must use only letters, digits, '-' and '_' (e.g. 'vl-drunet'); got {name!r}.")
    if update and registry is None:
        raise InputError("update=True needs registry=PATH, the registry TOML to write the entry into "
                         "(CLI: --registry PATH).")
    out_dir = Path(weights_dir)
    target = check_output_path(out_dir / f"{name}.safetensors", overwrite=overwrite, suffixes=(".safetensors",),
                               what="weights file")  # before any work
    if update:
        check_output_path(registry, overwrite=True, suffixes=(".toml",), what="registry")
    ckpt = read_run(run)
    cfg = TrainConfig.from_dict(ckpt["config"])
    model = build_model(ckpt["arch"], dict(ckpt["arch_kwargs"]))
    model.load_state_dict(ckpt["model"], strict=True)
    # write beside the target and move into place only once the card is complete: an interrupted
    # export never leaves the registry pointing at a file whose checksum it does not know
    staged = target.with_name(f".{target.stem}.partial.safetensors")
    write_weights(staged, model, ckpt["arch"], dict(ckpt["arch_kwargs"]),
                  sigma_range=tuple(cfg.noise.sigma_range), dtype=dtype,
                  extra={"name": name, "step": int(ckpt["step"]),
                         "wall_time_s": round(float(ckpt.get("wall_time_s", 0.0)), 1)})
    try:
        sha = file_sha256(staged)

        metrics: dict[str, float] = {}
        if dev_folder is None:
            run_dev = cfg.dev_folder()
            folders = [run_dev] if run_dev is not None else []
            if cfg.dev.folder and run_dev is None:
                logger.warning("the run's dev set %r is not on this machine: the card gets no PSNR table "
                               "(pass dev_folder, CLI --dev-folder)", cfg.dev.folder)
        else:
            folders = [Path(f) for f in (dev_folder if isinstance(dev_folder, (list, tuple)) else [dev_folder])]
        den, _ = model_from_weights(staged)  # the exported fp16 weights, as users get them
        den = den.to(device) if device is not None else den
        for folder in folders:
            res = evaluate_denoiser(den, folder, list(dev_sigmas), seed=cfg.dev.seed, max_images=max_images, crop=crop,
                                    device=device, ssim=True)
            n = len({r["image"] for r in res.rows})
            tag = folder.name + (f"-crop{crop}" if crop else "") + (f"-first{n}" if max_images else "")
            for s in dev_sigmas:
                v = res.table["denoiser"][s]
                metrics[f"{tag}/sigma={s * 255:g}/psnr"] = v["psnr"]
                metrics[f"{tag}/sigma={s * 255:g}/ssim"] = v["ssim"]
            logger.info("dev set %s:\n%s", folder, res.format())
        speed = time_denoiser(den, device=device)
        logger.info("denoising one 512x512 colour image: %.3f s (median, %d threads)", speed["denoise_512_s"],
                    speed["threads"])
        entry = {
            "file": target.name,
            "sha256": sha,
            "arch": ckpt["arch"],
            "arch_kwargs": dict(ckpt["arch_kwargs"]),
            "card": build_card(ckpt, metrics, description=description) | {"speed": speed},
        }
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    block = dumps_toml({name: entry})
    os.replace(staged, target)
    logger.info("wrote %s (sha256 %s)", target, sha)
    if update:
        path = update_registry(name, entry, registry, overwrite=overwrite)
        logger.info("registry %s updated with %r", path, name)
    return entry, block

