r"""Two-stage fine-tuning: adapt a prior trained on synthetic pairs to a user's real degraded images.

After Chen et al., *Deep Learning with Inaccurate Training Data for Image Restoration* (arXiv 2018).
Stage 1 is the parent prior itself, trained on synthetic pairs (Gaussian noise on VibrantLeaves
images). Each further stage :math:`k = 2, \dots, S`

1. runs the network of stage :math:`k-1` on the real degraded images :math:`y_i` to make surrogate
   ground truths :math:`\hat x_i = D_{k-1}(y_i, \sigma_i)` (:mod:`pnpleaves.training.surrogates`);
2. starts from the weights of stage :math:`k-1` (fresh Adam, linear warm-up) and minimises

   .. math:: \mathcal L = \| D(y, \sigma) - t \|_1 + \lambda\, \mathcal L_{adv}(D(y_{real}, \sigma))

   over batches that mix real pairs :math:`(y_i, \sigma_i) \to \hat x_i` and anchor pairs
   :math:`(c + \sigma z, \sigma) \to c` (clean crops plus Gaussian noise at a known level drawn from the
   parent's training law), with, when unpaired clean images are given and :math:`\lambda > 0`, the
   adversarial term of a small spectral-norm patch critic trained against those clean images
   (:class:`~pnpleaves.models.discriminator.PatchDiscriminator`, alternating one critic step and one
   network step).

**The noise-level input.** A fine-tuned prior must stay a Gaussian denoiser ``D(x, sigma)``, because
Plug-and-Play and the samplers call it on their iterates at a schedule of levels. Two things keep
``sigma`` meaningful: each real image is given the very level :math:`\sigma_i` that made its surrogate
(one the user gives, or :func:`pnpleaves.restoration.estimate_sigma`'s estimate), so the same rule at
inference reproduces the adaptation; and the anchor pairs (a fraction ``anchor_fraction`` of every
batch) keep training ``(c + sigma z, sigma) -> c`` over the parent's whole noise range. The exported
card records both, with the parent's noise range.

A run folder holds ``finetune.json`` (the settings, the parent, the folders' digests and the noise
levels), ``checkpoint.pt`` (everything ``resume`` needs: network, critic, both Adam states, stage and
step), ``model.safetensors`` (the current weights, loadable by :func:`pnpleaves.load_prior`),
``surrogates-stage<k>.pt``, ``stage<k>.safetensors`` (the weights at the end of each stage) and
``log.csv``. As in :mod:`pnpleaves.training.loop`, batches are a pure function of ``(seed, stage,
step)``, files are written atomically, a checkpoint is written every ``checkpoint_every`` steps, at
the end of each stage and on SIGINT / SIGTERM, and a resumed run is bit-identical to an
uninterrupted one. The folder is created only once every input has been checked.

The command line is ``pnpleaves finetune`` (:mod:`pnpleaves.cli.finetune`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import logging
import math
import os
import statistics
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.functional import l1_loss, mse_loss
from tqdm import tqdm

from pnpleaves._checks import check_choice, check_number
from pnpleaves._random import mix_seed
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.models import build_model, count_parameters
from pnpleaves.models.discriminator import (
    ADVERSARIAL_LOSSES,
    PatchDiscriminator,
    discriminator_loss,
    generator_loss,
)
from pnpleaves.priors.files import file_sha256, write_weights
from pnpleaves.training.checkpoint import atomic_torch_save, atomic_write_text
from pnpleaves.training.config import LOSSES, dumps_toml
from pnpleaves.training.distributed import machine_description
from pnpleaves.training.export import time_denoiser, update_registry
from pnpleaves.training.loop import stop_on_signals
from pnpleaves.training.surrogates import ImageSet, NoiseLaw, load_image_folder, make_batch, make_surrogates

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_ADVERSARIAL_WEIGHT",
    "FinetuneConfig",
    "FinetuneResult",
    "ParentPrior",
    "check_export_target",
    "export_finetuned",
    "finetune",
    "finetune_card",
    "read_finetune_checkpoint",
]

CHECKPOINT_FORMAT = "pnpleaves-finetune/1"
#: the adversarial weight used when clean images are given and no weight is (see docs/two_stage.md)
DEFAULT_ADVERSARIAL_WEIGHT = 0.01
ANCHOR_SOURCES = ("auto", "clean", "surrogate")
LOG_COLUMNS = ("stage", "step", "wall_time_s", "lr", "fidelity", "adversarial", "critic", "steps_per_s")


@dataclass(frozen=True)
class FinetuneConfig:
    """The settings of a fine-tuning (all but the data and the parent).

    :param stages: total number of stages, counting the parent as stage 1 (2: one fine-tuning).
    :param steps: optimisation steps per stage.
    :param batch_size: samples per step (real plus anchor pairs); ``patch_size``: their side.
    :param loss: fidelity loss, ``"l1"`` (as the parent was trained) or ``"l2"``.
    :param lr: Adam learning rate (constant after ``warmup_steps`` linear warm-up steps; each stage
        starts a fresh optimizer); ``grad_clip``: gradient-norm clip (0: none).
    :param adversarial_weight: :math:`\\lambda`; None means :data:`DEFAULT_ADVERSARIAL_WEIGHT` when
        clean images are given and 0 otherwise. A positive weight needs clean images.
    :param adversarial_loss: ``"nonsaturating"`` or ``"hinge"`` (:mod:`pnpleaves.models.discriminator`).
    :param critic_width, critic_layers, critic_lr: the patch critic and its Adam rate (betas 0.5, 0.999).
    :param anchor_fraction: share of each batch that is anchor pairs (Gaussian noise at known levels).
    :param anchor_source: clean images of the anchors: ``"clean"``, ``"surrogate"`` or ``"auto"`` (the
        clean images when given, else the surrogates).
    :param ensemble: make surrogates with the 8-transform self-ensemble of the previous stage.
    :param tile: window side for surrogates of large images (0: whole images).
    :param checkpoint_every, log_every: periods in steps (0: only at the end of each stage).
    :param device: ``"cpu"``, ``"cuda[:N]"`` or ``"auto"``.
    """

    stages: int = 2
    steps: int = 500
    batch_size: int = 8
    patch_size: int = 64
    loss: str = "l1"
    lr: float = 5e-5
    warmup_steps: int = 20
    grad_clip: float = 0.5
    adversarial_weight: float | None = None
    adversarial_loss: str = "nonsaturating"
    critic_width: int = 32
    critic_layers: int = 3
    critic_lr: float = 2e-4
    anchor_fraction: float = 0.25
    anchor_source: str = "auto"
    ensemble: bool = False
    tile: int = 512
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 10
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_number(self.stages, "stages", low=2, integer=True,
                     hint="Stage 1 is the parent prior: --stages 2 fine-tunes once, 3 twice.")
        check_number(self.steps, "steps", low=1, integer=True)
        check_number(self.batch_size, "batch_size", low=1, integer=True)
        check_number(self.patch_size, "patch_size", low=8, integer=True)
        check_choice(self.loss, "loss", LOSSES)
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_number(self.warmup_steps, "warmup_steps", low=0, integer=True)
        check_number(self.grad_clip, "grad_clip", low=0)
        if self.adversarial_weight is not None:
            check_number(self.adversarial_weight, "adversarial_weight", low=0)
        check_choice(self.adversarial_loss, "adversarial_loss", ADVERSARIAL_LOSSES)
        check_number(self.critic_width, "critic_width", low=1, integer=True)
        check_number(self.critic_layers, "critic_layers", low=1, high=6, integer=True)
        check_number(self.critic_lr, "critic_lr", low=0, low_inclusive=False)
        check_number(self.anchor_fraction, "anchor_fraction", low=0, high=1)
        check_choice(self.anchor_source, "anchor_source", ANCHOR_SOURCES)
        check_number(self.tile, "tile", low=0, integer=True)
        check_number(self.seed, "seed", low=0, integer=True)
        check_number(self.checkpoint_every, "checkpoint_every", low=0, integer=True)
        check_number(self.log_every, "log_every", low=0, integer=True)
        if not isinstance(self.device, str):
            raise InputTypeError(f"device must be a string ('cpu', 'cuda' or 'auto'); got {self.device!r}.")
        if self.n_anchor >= self.batch_size:
            raise InputError(f"anchor_fraction {self.anchor_fraction} leaves no real pair in a batch of "
                             f"{self.batch_size}; lower it below 1.")

    @property
    def n_anchor(self) -> int:
        """Anchor pairs per batch."""
        return int(round(self.anchor_fraction * self.batch_size))

    def resolved(self, has_clean: bool) -> FinetuneConfig:
        """The config with ``adversarial_weight`` and ``anchor_source`` decided for a run with or without
        clean images; refuses settings that need clean images when there are none."""
        weight = self.adversarial_weight
        if weight is None:
            weight = DEFAULT_ADVERSARIAL_WEIGHT if has_clean else 0.0
        source = self.anchor_source if self.anchor_source != "auto" else ("clean" if has_clean else "surrogate")
        if not has_clean and weight > 0:
            raise InputError(f"an adversarial weight of {weight:g} needs unpaired clean images (--clean DIR); "
                             "give some, or set the weight to 0.")
        if not has_clean and source == "clean":
            raise InputError("anchor_source='clean' needs unpaired clean images (--clean DIR).")
        if weight > 0 and self.patch_size < 4 * 2**self.critic_layers:
            raise InputError(f"patch_size {self.patch_size} is smaller than the critic's smallest input "
                             f"{4 * 2**self.critic_layers}; use larger patches or fewer critic_layers.")
        return dataclasses.replace(self, adversarial_weight=float(weight), anchor_source=source)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown fine-tuning setting(s) {unknown}; known: {', '.join(sorted(known))}.")
        return cls(**data)


@dataclass(frozen=True)
class ParentPrior:
    """The prior a fine-tuning starts from: its network and what the card says about it.

    Build it with :meth:`from_prior` from what :func:`pnpleaves.load_prior` returns.
    """

    module: torch.nn.Module = field(repr=False)
    name: str
    arch: str
    arch_kwargs: dict[str, Any]
    sigma_range: tuple[float, float]
    card: dict[str, Any] = field(default_factory=dict, repr=False)
    sha256: str = ""

    @property
    def in_channels(self) -> int:
        return int(self.arch_kwargs.get("in_channels", 3))

    @classmethod
    def from_prior(cls, prior: torch.nn.Module, *, arch: str | None = None, arch_kwargs: dict | None = None,
                   sha256: str = "", name: str | None = None) -> ParentPrior:
        """The parent of a loaded prior (a module with the attributes of :class:`pnpleaves.priors.Prior`).

        ``arch`` / ``arch_kwargs`` (the registry entry's, or the weights file's metadata) default to the
        module's ``arch`` / ``arch_kwargs`` attributes; ``sha256`` is the parent file's checksum.
        """
        if not isinstance(prior, torch.nn.Module):
            raise InputTypeError(f"prior must be a loaded prior (a torch Module, e.g. pnpleaves.load_prior(name)); "
                                 f"got {type(prior).__name__}.")
        arch = arch if arch is not None else getattr(prior, "arch", None)
        arch_kwargs = arch_kwargs if arch_kwargs is not None else getattr(prior, "arch_kwargs", None)
        if arch is None or arch_kwargs is None:
            raise InputError("fine-tuning needs the prior's architecture to export the result: pass arch= and "
                             "arch_kwargs= (the registry entry's 'arch' and 'arch_kwargs').")
        rng = tuple(float(v) for v in getattr(prior, "sigma_range", (0.0, 75.0 / 255.0)))
        card = dict(getattr(prior, "card", {}) or {})
        return cls(module=prior, name=str(name or getattr(prior, "name", type(prior).__name__)), arch=str(arch),
                   arch_kwargs=dict(arch_kwargs), sigma_range=(rng[0], rng[1]), card=card, sha256=str(sha256 or ""))

    def describe(self) -> dict[str, Any]:
        """``{name, sha256, arch, arch_kwargs, sigma_range, train_steps}`` for manifests and cards."""
        out = {"name": self.name, "sha256": self.sha256, "arch": self.arch, "arch_kwargs": dict(self.arch_kwargs),
               "sigma_range": [float(v) for v in self.sigma_range]}
        steps = self.card.get("train", {}).get("steps") if isinstance(self.card.get("train"), dict) else None
        if steps is not None:
            out["train_steps"] = int(steps)
        return out


@dataclass
class FinetuneResult:
    """What a call to :func:`finetune` did."""

    out_dir: Path
    stage: int  # the stage the run is in (or finished)
    step: int  # steps done in that stage
    steps_done: int  # fine-tuning steps done in all stages
    finished: bool
    interrupted: bool
    wall_time_s: float
    losses: list[dict[str, float]] = field(default_factory=list)  # one dict per step of this call
    stage_weights: dict[int, Path] = field(default_factory=dict)  # stage -> weights at its end
    stop_signal: int | None = None
    weights_file: Path | None = None  # the exported prior, when a name was given
    entry: dict[str, Any] | None = None  # its registry entry


def read_finetune_checkpoint(run: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dict of a fine-tuning run folder (or of its ``checkpoint.pt``)."""
    path = Path(run)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no fine-tuning checkpoint at {str(path)!r}; pass the run folder of `pnpleaves finetune`.")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{str(path)!r} is not a checkpoint written by `pnpleaves finetune`.")
    return ckpt


def check_export_target(name: str, weights_dir: str | os.PathLike, registry: str | os.PathLike | None = None,
                        *, overwrite: bool = False) -> Path:
    """Check (before any work) that ``name`` is a valid prior name and that its weights file and registry
    entry may be written; returns the weights file's path."""
    if not isinstance(name, str) or not name or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
        raise InputError(f"the prior name must use only letters, digits, '-' and '_' (e.g. 'my-camera'); got {name!r}.")
    target = Path(weights_dir) / f"{name}.safetensors"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{str(target)!r} already exists; pass --overwrite to replace it or choose another --out.")
    if registry is not None and Path(registry).is_file() and not overwrite:
        try:
            registered = tomllib.loads(Path(registry).read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"registry {str(registry)!r} is not valid TOML ({exc}).") from None
        if name in registered:
            raise FileExistsError(f"prior {name!r} is already registered in {str(registry)!r}; pass --overwrite "
                                  "to replace it or choose another --out.")
    return target


def _check_sigmas(sigma: float | Sequence[float], n: int, sigma_range: tuple[float, float]) -> list[float]:
    values = [sigma] * n if isinstance(sigma, (int, float)) and not isinstance(sigma, bool) else list(sigma)
    if len(values) != n:
        raise InputError(f"sigma must be one value or one per degraded image ({n}); got {len(values)} values.")
    out = [float(check_number(v, "sigma", low=0, high=1, hint="Noise levels are on the [0, 1] scale (25/255 = 0.098)."))
           for v in values]
    lo, hi = sigma_range
    if any(not lo <= v <= hi for v in out):
        logger.warning("some noise levels lie outside the prior's training range [%.4g, %.4g]: clipped to it", lo, hi)
        out = [min(max(v, lo), hi) for v in out]
    return out


def finetune(
    prior: torch.nn.Module | ParentPrior,
    degraded: str | os.PathLike | ImageSet,
    *,
    sigma: float | Sequence[float],
    out_dir: str | os.PathLike,
    clean: str | os.PathLike | ImageSet | None = None,
    config: FinetuneConfig | None = None,
    sigma_source: str = "given",
    arch: str | None = None,
    arch_kwargs: dict[str, Any] | None = None,
    parent_sha256: str = "",
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = False,
    name: str | None = None,
    weights_dir: str | os.PathLike = "weights",
    registry: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> FinetuneResult:
    """Fine-tune ``prior`` on real degraded images in ``config.stages - 1`` stages (see the module doc).

    :param prior: the parent, as :func:`pnpleaves.load_prior` returns it (left unchanged), or a
        :class:`ParentPrior`.
    :param degraded: folder (or :func:`~pnpleaves.training.surrogates.load_image_folder` result) of the
        real degraded images; they must have the prior's channels and be at least ``patch_size`` pixels.
    :param sigma: the noise level (on the [0, 1] scale) of all images, or one per image (sorted by
        file name), used both to make the surrogates and as the network's noise-level input for them.
    :param out_dir: the run folder.
    :param clean: folder of unpaired clean images: the adversarial term's "real" examples and the
        anchors' clean images.
    :param sigma_source: how ``sigma`` was obtained, for the card (e.g. ``"estimated (pca)"``).
    :param arch, arch_kwargs, parent_sha256: the parent's architecture and file checksum (see
        :meth:`ParentPrior.from_prior`).
    :param resume: continue ``out_dir``'s checkpoint (exactly); without it an existing checkpoint is an error.
    :param stop_after: stop (with a checkpoint) once this many fine-tuning steps are done in all, to
        resume later.
    :param name: when given, export the finished run as the prior ``name``: ``weights_dir/name.safetensors``
        and, with ``registry``, its entry in that registry TOML (:func:`export_finetuned`). The target is
        checked before any work.
    :returns: a :class:`FinetuneResult`.
    """
    cfg = config if config is not None else FinetuneConfig()
    if not isinstance(cfg, FinetuneConfig):
        raise InputTypeError(f"config must be a FinetuneConfig; got {type(cfg).__name__}.")
    parent = prior if isinstance(prior, ParentPrior) else ParentPrior.from_prior(
        prior, arch=arch, arch_kwargs=arch_kwargs, sha256=parent_sha256)
    channels = parent.in_channels
    deg = degraded if isinstance(degraded, ImageSet) else load_image_folder(
        degraded, channels=channels, what="degraded images", min_size=cfg.patch_size)
    cln = clean if isinstance(clean, ImageSet) or clean is None else load_image_folder(
        clean, channels=channels, what="clean images", min_size=cfg.patch_size)
    for images, what in ((deg, "degraded"), (cln, "clean")):
        if images is not None and min(min(x.shape[-2:]) for x in images.images) < cfg.patch_size:
            raise InputError(f"the {what} images must be at least patch_size = {cfg.patch_size} pixels on a side.")
        if images is not None and any(x.shape[0] != channels for x in images.images):
            raise InputError(f"the {what} images must have {channels} channel(s), as the prior.")
    cfg = cfg.resolved(has_clean=cln is not None)
    sigmas = _check_sigmas(sigma, len(deg), parent.sigma_range)
    if stop_after is not None:
        check_number(stop_after, "stop_after", low=0, integer=True)
    out = Path(out_dir)
    if (out / "checkpoint.pt").exists() and not resume:
        raise FileExistsError(f"{str(out / 'checkpoint.pt')!r} already exists; pass --resume to continue that run, "
                              "or choose another run folder.")
    if name is not None:
        check_export_target(name, weights_dir, registry, overwrite=overwrite)
    probe = build_model(parent.arch, parent.arch_kwargs)  # the architecture must fit the module's weights
    try:
        probe.load_state_dict(parent.module.state_dict(), strict=True)
    except RuntimeError as exc:
        raise InputError(f"the prior's weights do not fit {parent.arch}({parent.arch_kwargs}): "
                         f"{str(exc).splitlines()[0]}") from None
    manifest = {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_dict(),
        "parent": parent.describe(),
        "noise_law": NoiseLaw.from_card(parent.card, parent.sigma_range).to_dict(),
        "degraded": deg.describe(),
        "clean": cln.describe() if cln is not None else None,
        "sigmas": sigmas,
        "sigma_source": str(sigma_source),
        "files": [p.name for p in deg.files],
    }
    run = _Run(parent, probe, deg, cln, sigmas, cfg, out, manifest, resume=resume)
    result = run.run(stop_after=stop_after, progress=progress)
    if name is not None and result.finished:
        entry, _ = export_finetuned(out, name, weights_dir=weights_dir, registry=registry, overwrite=overwrite)
        result.weights_file, result.entry = Path(weights_dir) / entry["file"], entry
    return result


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


class _Run:
    """One call of :func:`finetune`: the networks, their optimizers, the run folder and the stage loop."""

    def __init__(self, parent: ParentPrior, model: torch.nn.Module, deg: ImageSet, cln: ImageSet | None,
                 sigmas: list[float], cfg: FinetuneConfig, out: Path, manifest: dict[str, Any], *, resume: bool):
        self.parent, self.cfg, self.out, self.deg, self.cln, self.sigmas = parent, cfg, out, deg, cln, sigmas
        self.manifest = _jsonable(manifest)
        dev = cfg.device
        self.device = torch.device("cuda" if dev == "auto" and torch.cuda.is_available() else
                                   "cpu" if dev == "auto" else dev)
        self.model = model.to(self.device).train()
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.noise_law = NoiseLaw.from_card(parent.card, parent.sigma_range)
        self.adversarial = cfg.adversarial_weight > 0
        self.stage, self.step, self.wall0 = 2, 0, 0.0
        self.ckpt: dict[str, Any] | None = None
        if resume and (out / "checkpoint.pt").is_file():
            self.ckpt = read_finetune_checkpoint(out)
            self._check_same_run(self.ckpt)
            self.model.load_state_dict(self.ckpt["model"], strict=True)
            self.stage, self.step = int(self.ckpt["stage"]), int(self.ckpt["step"])
            self.wall0 = float(self.ckpt.get("wall_time_s", 0.0))
            logger.info("resuming %s at stage %d, step %d / %d", out, self.stage, self.step, cfg.steps)
        elif resume:
            logger.info("no checkpoint in %s: starting from the parent", out)
        self.stage_losses: dict[str, dict[str, float]] = dict(self.ckpt.get("stage_losses", {})) if self.ckpt else {}
        self.stage_rows: list[dict[str, float]] = []  # the losses of every step of the current stage
        self.t0 = time.perf_counter()

    # ------------------------------------------------------------------ bookkeeping
    def _check_same_run(self, ckpt: dict[str, Any]) -> None:
        saved = ckpt.get("manifest", {})

        def same(key):  # a folder may be given by another path: its digest and size count
            a, b = saved.get(key), self.manifest.get(key)
            if key in ("degraded", "clean") and isinstance(a, dict) and isinstance(b, dict):
                return {k: v for k, v in a.items() if k != "folder"} == {k: v for k, v in b.items() if k != "folder"}
            return a == b

        for key in ("config", "parent", "noise_law", "degraded", "clean", "sigmas"):
            if not same(key):
                what = {"degraded": "the degraded images (folder digest)", "clean": "the clean images",
                        "sigmas": "the noise levels", "parent": "the parent prior"}.get(key, "the settings")
                raise InputError(f"{what} differ from those of the run in {str(self.out)!r}; resume with the same "
                                 f"inputs and options (see its finetune.json), or start a new run folder.")

    def wall(self) -> float:
        return self.wall0 + time.perf_counter() - self.t0

    def steps_done(self) -> int:
        return (self.stage - 2) * self.cfg.steps + self.step

    def _open_folder(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "finetune.json", json.dumps(self.manifest, indent=2) + "\n")
        log = self.out / "log.csv"
        rows = []
        if log.is_file() and self.ckpt is not None:  # keep the rows up to the checkpoint, as RunLog does
            with open(log, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if (int(r["stage"]), int(r["step"])) <= (self.stage, self.step)]
        with open(log, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=LOG_COLUMNS)
            w.writeheader()
            w.writerows({k: r.get(k, "") for k in LOG_COLUMNS} for r in rows)

    def _log(self, row: dict[str, Any]) -> None:
        with open(self.out / "log.csv", "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=LOG_COLUMNS).writerow({k: row.get(k, "") for k in LOG_COLUMNS})

    def _weights_extra(self) -> dict[str, Any]:
        return {"step": self.steps_done(), "stage": self.stage, "parent": self.parent.name,
                "wall_time_s": round(self.wall(), 1)}

    def save(self, opt: torch.optim.Optimizer, critic: PatchDiscriminator | None,
             copt: torch.optim.Optimizer | None) -> None:
        """Write ``checkpoint.pt`` and ``model.safetensors`` at the current stage and step."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "stage": self.stage,
            "step": self.step,
            "steps_done": self.steps_done(),
            "wall_time_s": self.wall(),
            "machine": machine_description(),
            "arch": self.parent.arch,
            "arch_kwargs": dict(self.parent.arch_kwargs),
            "sigma_range": [float(v) for v in self.parent.sigma_range],
            "manifest": self.manifest,
            "stage_losses": self.stage_losses,
            "stage_rows": self.stage_rows,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": opt.state_dict(),
            "critic": {k: v.detach().cpu() for k, v in critic.state_dict().items()} if critic is not None else None,
            "critic_optimizer": copt.state_dict() if copt is not None else None,
        }
        atomic_torch_save(state, self.out / "checkpoint.pt")
        write_weights(self.out / "model.safetensors", self.model, self.parent.arch, dict(self.parent.arch_kwargs),
                      sigma_range=self.parent.sigma_range, extra=self._weights_extra())
        logger.info("checkpoint at stage %d step %d -> %s", self.stage, self.step, self.out / "checkpoint.pt")

    # ------------------------------------------------------------------ the stages
    def _stage_start(self) -> tuple[list[torch.Tensor], torch.optim.Optimizer, PatchDiscriminator | None,
                                     torch.optim.Optimizer | None]:
        """Surrogates, optimizer and critic of the current stage: new at step 0, else from the files."""
        cfg, k = self.cfg, self.stage
        path = self.out / f"surrogates-stage{k}.pt"
        resumed = self.ckpt is not None and self.step > 0
        if resumed:
            surrogates = list(torch.load(path, map_location="cpu", weights_only=True)["surrogates"])
        else:
            teacher = self.parent.name if k == 2 else f"stage {k - 1}"
            logger.info("stage %d: surrogates of %d images from %s%s", k, len(self.deg), teacher,
                        " (x8 self-ensemble)" if cfg.ensemble else "")
            # the network of stage k-1 is the student's current weights (the parent's at stage 2)
            surrogates = make_surrogates(self.model, self.deg.images, self.sigmas, ensemble=cfg.ensemble,
                                         tile=cfg.tile, device=self.device)
            atomic_torch_save({"stage": k, "sigmas": self.sigmas, "files": self.manifest["files"],
                               "surrogates": surrogates}, path)
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        critic = copt = None
        if self.adversarial:
            with torch.random.fork_rng(devices=[]):  # deterministic init (and power-iteration start) per stage
                torch.manual_seed(mix_seed(cfg.seed, "critic", k))
                critic = PatchDiscriminator(self.parent.in_channels, cfg.critic_width, cfg.critic_layers)
            critic.to(self.device).train()
            copt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, betas=(0.5, 0.999))
        self.stage_rows = list(self.ckpt.get("stage_rows", [])) if resumed else []
        if resumed:
            opt.load_state_dict(self.ckpt["optimizer"])
            if critic is not None:
                critic.load_state_dict(self.ckpt["critic"])
                copt.load_state_dict(self.ckpt["critic_optimizer"])
        return surrogates, opt, critic, copt

    def learning_rate(self) -> float:
        w = self.cfg.warmup_steps
        return self.cfg.lr * min(1.0, (self.step + 1) / w) if w else self.cfg.lr

    def run(self, *, stop_after: int | None, progress: bool) -> FinetuneResult:
        cfg = self.cfg
        if self.stage == cfg.stages and self.step >= cfg.steps:
            logger.info("nothing to do: the run in %s is finished", self.out)
            return self._result(interrupted=False)
        self._open_folder()
        if self.step >= cfg.steps:  # the checkpoint ends a stage: the next one starts
            self.stage, self.step = self.stage + 1, 0
        result_losses: list[dict[str, float]] = []
        interrupted, stop_signal = False, None
        total = (cfg.stages - 1) * cfg.steps
        bar = tqdm(total=total, initial=self.steps_done(), unit="step", desc="finetune") if progress else None
        with stop_on_signals() as signals:
            try:
                while self.stage <= cfg.stages:
                    if stop_after is not None and self.steps_done() >= stop_after:
                        interrupted = True
                        break
                    stop = self._stage(result_losses, signals, stop_after, bar)
                    if stop:
                        interrupted, stop_signal = True, signals["signal"]
                        break
                    if self.stage == cfg.stages:
                        break
                    self.stage, self.step = self.stage + 1, 0
            finally:
                if bar is not None:
                    bar.close()
        result = self._result(interrupted=interrupted)
        result.losses, result.stop_signal = result_losses, stop_signal
        return result

    def _result(self, *, interrupted: bool) -> FinetuneResult:
        cfg = self.cfg
        finished = self.stage == cfg.stages and self.step >= cfg.steps
        stages = {k: self.out / f"stage{k}.safetensors" for k in range(2, cfg.stages + 1)
                  if (self.out / f"stage{k}.safetensors").is_file()}
        return FinetuneResult(out_dir=self.out, stage=self.stage, step=self.step, steps_done=self.steps_done(),
                              finished=finished, interrupted=interrupted and not finished, wall_time_s=self.wall(),
                              stage_weights=stages)

    def _stage(self, losses: list[dict[str, float]], signals: dict, stop_after: int | None, bar) -> bool:
        """The steps of the current stage from ``self.step``; returns True when stopped early."""
        cfg, dev, k = self.cfg, self.device, self.stage
        surrogates, opt, critic, copt = self._stage_start()
        anchors = self.cln.images if cfg.anchor_source == "clean" else surrogates
        clean = self.cln.images if self.adversarial else None
        fid_fn = l1_loss if cfg.loss == "l1" else mse_loss
        self.model.train()
        window: list[dict[str, float]] = []
        t_log = time.perf_counter()
        while self.step < cfg.steps:
            lr = self.learning_rate()
            for group in opt.param_groups:
                group["lr"] = lr
            batch = make_batch(self.deg.images, surrogates, self.sigmas, seed=cfg.seed, stage=k, step=self.step,
                               batch_size=cfg.batch_size, patch_size=cfg.patch_size, n_anchor=cfg.n_anchor,
                               noise_law=self.noise_law, anchors=anchors, clean=clean)
            noisy, target, sigma = batch.noisy.to(dev), batch.target.to(dev), batch.sigma.to(dev)
            out = self.model(noisy, sigma)
            fidelity = fid_fn(out, target)
            row = {"stage": k, "step": self.step + 1, "fidelity": float(fidelity.detach())}
            loss = fidelity
            if critic is not None:
                fake = out[: batch.n_real]
                real = batch.clean.to(dev)
                c_loss = discriminator_loss(critic(real), critic(fake.detach()), cfg.adversarial_loss)
                copt.zero_grad(set_to_none=True)
                c_loss.backward()
                copt.step()
                for p in critic.parameters():
                    p.requires_grad_(False)
                adv = generator_loss(critic(fake), cfg.adversarial_loss)
                for p in critic.parameters():
                    p.requires_grad_(True)
                loss = fidelity + cfg.adversarial_weight * adv
                row |= {"adversarial": float(adv.detach()), "critic": float(c_loss.detach())}
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            opt.step()
            self.step += 1
            if not all(math.isfinite(v) for v in row.values()):
                raise FloatingPointError(f"the fine-tuning loss is not finite at stage {k} step {self.step} ({row}); "
                                         "lower lr or the adversarial weight. The last checkpoint was kept.")
            losses.append(row)
            self.stage_rows.append(row)
            window.append(row)
            if bar is not None:
                bar.update(1)
            stop = signals["signal"] is not None or (stop_after is not None and self.steps_done() >= stop_after)
            end = self.step == cfg.steps
            if (cfg.log_every and self.step % cfg.log_every == 0) or end or stop:
                self._log_window(window, lr, t_log)
                window, t_log = [], time.perf_counter()
            if end:
                self._finish_stage()
            if stop or end or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                self.save(opt, critic, copt)
            if stop and not end:
                return True
            if stop and end:
                return self.stage < cfg.stages
        return False

    def _log_window(self, window: list[dict[str, float]], lr: float, t_start: float) -> None:
        if not window:
            return
        mean = {key: statistics.fmean(r[key] for r in window) for key in ("fidelity", "adversarial", "critic")
                if key in window[0]}
        rate = len(window) / max(time.perf_counter() - t_start, 1e-9)
        self._log({"stage": self.stage, "step": self.step, "wall_time_s": f"{self.wall():.1f}", "lr": f"{lr:.4g}",
                   **{k: f"{v:.6g}" for k, v in mean.items()}, "steps_per_s": f"{rate:.3f}"})
        logger.info("stage %d step %d/%d %s lr %.3g %.2f steps/s", self.stage, self.step, self.cfg.steps,
                    " ".join(f"{k} {v:.5f}" for k, v in mean.items()), lr, rate)

    def _finish_stage(self) -> None:
        """Record the stage's loss summary (means of its first and last ``min(50, steps // 4)`` steps) and
        write ``stage<k>.safetensors``."""
        k, n, rows = self.stage, max(1, min(50, self.cfg.steps // 4)), self.stage_rows
        summary = {f"{key}_last": statistics.fmean(r[key] for r in rows[-n:])
                   for key in ("fidelity", "adversarial", "critic") if key in rows[0]}
        summary["fidelity_first"] = statistics.fmean(r["fidelity"] for r in rows[:n])
        self.stage_losses[str(k)] = summary
        write_weights(self.out / f"stage{k}.safetensors", self.model, self.parent.arch, dict(self.parent.arch_kwargs),
                      sigma_range=self.parent.sigma_range, extra=self._weights_extra())


# ---------------------------------------------------------------------- export
def finetune_card(ckpt: dict[str, Any], *, description: str = "", license: str = "MIT") -> dict[str, Any]:
    """The training card of a finished fine-tuning checkpoint (valid for
    :func:`pnpleaves.priors.check_registry`): parent, data (folder digests, image counts), noise (the
    parent's range and how the noise-level input was kept meaningful), train (stages, steps, losses'
    weights, critic), metrics (the stages' final losses)."""
    m = ckpt["manifest"]
    cfg = FinetuneConfig.from_dict(m["config"])
    parent, law = m["parent"], m["noise_law"]
    deg, cln = m["degraded"], m["clean"]
    adv = cfg.adversarial_weight > 0
    sig255 = [round(s * 255, 3) for s in m["sigmas"]]
    data = {
        "source": "finetune",
        "generator": f"finetune of {parent['name']}",
        "degraded": {"folder": deg["folder"], "digest": deg["digest"], "n_images": deg["n_images"],
                     "pixels": deg["pixels"]},
        "patch_size": cfg.patch_size,
        "seed": cfg.seed,
    }
    if cln is not None:
        data["clean"] = {"folder": cln["folder"], "digest": cln["digest"], "n_images": cln["n_images"],
                         "pixels": cln["pixels"]}
    noise = {
        "kind": "gaussian",
        "sigma_range": law["sigma_range"],
        "blind": bool(parent["arch_kwargs"].get("blind", False)),
        "low_fraction": law["low_fraction"],
        "low_range": law["low_range"],
        "sigma_input": (
            "each real image is given the noise level that made its surrogate (surrogate_sigma); anchor pairs "
            f"({cfg.anchor_fraction:g} of each batch: {cfg.anchor_source} images plus white Gaussian noise at a "
            "known level drawn from the parent's law above) keep D(x + sigma z, sigma) a Gaussian denoiser "
            "over the whole range"),
        "surrogate_sigma": {"source": m["sigma_source"], "min_255": min(sig255), "median_255": statistics.median(sig255),
                            "max_255": max(sig255), "per_image_255": sig255},
    }
    train = {
        "steps": int(ckpt["steps_done"]),
        "stages": cfg.stages,
        "steps_per_stage": cfg.steps,
        "wall_time_s": round(float(ckpt.get("wall_time_s", 0.0)), 1),
        "machine": str(ckpt.get("machine", "unknown")),
        "world_size": 1,
        "batch": cfg.batch_size,
        "loss": cfg.loss,
        "lr": cfg.lr,
        "warmup_steps": cfg.warmup_steps,
        "grad_clip": cfg.grad_clip,
        "anchor_fraction": cfg.anchor_fraction,
        "anchor_source": cfg.anchor_source,
        "ensemble_surrogates": cfg.ensemble,
        "weights": {"fidelity": 1.0, "adversarial": cfg.adversarial_weight},
        "adversarial": ({"loss": cfg.adversarial_loss, "critic": "PatchDiscriminator, spectral norm",
                         "critic_width": cfg.critic_width, "critic_layers": cfg.critic_layers, "critic_lr": cfg.critic_lr}
                        if adv else {"loss": "none"}),
        "method": "two-stage training (Chen et al., arXiv 2018): surrogate ground truths from the previous stage",
    }
    metrics = {f"stage{k}/{key}": round(float(v), 6) for k, summary in ckpt.get("stage_losses", {}).items()
               for key, v in summary.items()}
    parent_card = {k: v for k, v in parent.items() if k != "arch_kwargs" and v != ""}
    stages = "once" if cfg.stages == 2 else f"{cfg.stages - 1} times"
    card = {
        "description": description or (
            f"{parent['name']} fine-tuned {stages} ({cfg.steps} steps per stage) on {deg['n_images']} real degraded "
            f"images with surrogate ground truths{' and an adversarial term against ' + str(cln['n_images']) + ' clean images' if adv else ''}"),
        "parent": parent_card,
        "data": data,
        "noise": noise,
        "train": train,
        "metrics": metrics,
        "num_params": count_parameters(build_model(ckpt["arch"], dict(ckpt["arch_kwargs"]))),
        "date": datetime.date.today().isoformat(),
        "license": license,
    }
    return card


def export_finetuned(
    run: str | os.PathLike,
    name: str,
    *,
    weights_dir: str | os.PathLike = "weights",
    registry: str | os.PathLike | None = None,
    overwrite: bool = False,
    dtype: torch.dtype = torch.float16,
    description: str = "",
) -> tuple[dict[str, Any], str]:
    """Write ``weights_dir/name.safetensors`` (fp16, with the card in its metadata, so that
    :func:`pnpleaves.load_prior` of the path carries it) from a finished fine-tuning run, and its
    registry entry; with ``registry`` the entry is also written into that TOML (created if absent).
    Returns ``(entry, toml_block)``."""
    ckpt = read_finetune_checkpoint(run)
    cfg = FinetuneConfig.from_dict(ckpt["manifest"]["config"])
    if int(ckpt["stage"]) != cfg.stages or int(ckpt["step"]) < cfg.steps:
        raise InputError(f"the run {str(run)!r} is at stage {ckpt['stage']} step {ckpt['step']} of "
                         f"{cfg.stages} x {cfg.steps}: finish it first (resume it).")
    target = check_export_target(name, weights_dir, registry, overwrite=overwrite)
    model = build_model(ckpt["arch"], dict(ckpt["arch_kwargs"]))
    model.load_state_dict(ckpt["model"], strict=True)
    model.eval()
    card = finetune_card(ckpt, description=description)
    staged = target.with_name(f".{target.stem}.partial.safetensors")
    try:
        card["speed"] = time_denoiser(model)
        write_weights(staged, model, ckpt["arch"], dict(ckpt["arch_kwargs"]), sigma_range=tuple(ckpt["sigma_range"]),
                      dtype=dtype, extra={"name": name, "step": int(ckpt["steps_done"]), "card": card})
        entry = {"file": target.name, "sha256": file_sha256(staged), "arch": ckpt["arch"],
                 "arch_kwargs": dict(ckpt["arch_kwargs"]), "card": card}
        block = dumps_toml({name: entry})
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    os.replace(staged, target)
    logger.info("wrote %s (sha256 %s)", target, entry["sha256"])
    if registry is not None:
        path = update_registry(name, entry, registry, overwrite=overwrite)
        logger.info("registry %s updated with %r", path, name)
    return entry, block
