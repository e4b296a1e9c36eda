"""Training configuration: a frozen dataclass tree serialised as TOML.

A config file has a few top-level keys and one table per section::

    name = "vl-drunet"
    seed = 0
    output_dir = "runs/vl-drunet"

    [model]   arch, kwargs               (see pnpleaves.models.ARCHITECTURES)
    [data]    source, generator, preset, options, image_size, n_images, cache_dir,
              patch_size, batch_size, workers, augment, permute_channels
    [noise]   sigma_range, blind, low_fraction, low_range        (sigma on the [0, 1] scale: 75/255 = 0.2941)
    [optim]   loss, lr, warmup_steps, halve_every, lr_min, grad_clip, betas, restart_schedule
    [train]   steps, checkpoint_every, log_every, eval_every, device, threads, channels_last, compile, amp
    [dev]     folder, n_images, crop, sigmas, seed

Unknown keys are errors. The resolved config (every default filled in) is saved as
``config.toml`` beside each checkpoint.

Relative paths (``data.cache_dir``, ``dev.folder``) are looked up in the working directory, the config
file's folder, the source checkout's root and the data folder ``$PNPLEAVES_DATA`` (the folder that holds
``testsets/``), in this order: a config can name its dev set ``"testsets/Kodak24"`` and run on any
machine that sets ``$PNPLEAVES_DATA``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnpleaves._checks import check_choice, check_number, check_range_pair
from pnpleaves.errors import InputError
from pnpleaves.models import ARCHITECTURES

__all__ = [
    "DataConfig",
    "DevConfig",
    "ModelConfig",
    "NoiseConfig",
    "OptimConfig",
    "DATA_ENV",
    "RunConfig",
    "TrainConfig",
    "dumps_toml",
    "load_config",
]

DATA_SOURCES = ("generate", "cache", "random")
#: environment variable naming the data folder (the one that holds ``testsets/``)
DATA_ENV = "PNPLEAVES_DATA"
LOSSES = ("l1", "l2")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture name (a key of ``ARCHITECTURES``) and its keyword arguments."""

    arch: str = "drunet"
    kwargs: dict[str, Any] = field(default_factory=lambda: {"nc": [32, 64, 128, 256], "nb": 2})


@dataclass(frozen=True)
class DataConfig:
    """Where clean training patches come from.

    ``source``: ``"generate"`` (on the fly from :class:`pnpleaves.generators.LeavesDataset`),
    ``"cache"`` (PNG folder written by ``pnpleaves generate``) or ``"random"`` (uniform noise
    images, only to time the compute path). With ``n_images = 0`` the on-the-fly source draws a new
    image for every patch; otherwise image indices cycle through ``n_images``.
    """

    source: str = "generate"
    generator: str = "vl"
    preset: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    image_size: int = 128
    n_images: int = 0
    cache_dir: str = ""
    preload: bool = True
    patch_size: int = 128
    batch_size: int = 16
    workers: int = 0
    augment: bool = True
    permute_channels: bool = False


@dataclass(frozen=True)
class NoiseConfig:
    """Additive Gaussian noise per image, on the [0, 1] scale: ``sigma ~ U(sigma_range)``, except that
    a fraction ``low_fraction`` of the patches draws ``sigma ~ U(low_range)`` instead.

    The low-noise share teaches the network to leave clean content alone: with ``U(0, 75/255)`` only,
    a DRUNet trained on synthetic images still smoothed natural textures at ``sigma = 1/255``
    (38.8 dB output from a clean input), which caps PnP super-resolution, whose last iterations run
    the denoiser at such levels. ``low_fraction = 0`` keeps the plain uniform law.
    """

    sigma_range: tuple[float, float] = (0.0, 75.0 / 255.0)
    blind: bool = False
    low_fraction: float = 0.0
    low_range: tuple[float, float] = (0.0, 2.0 / 255.0)


@dataclass(frozen=True)
class OptimConfig:
    """Adam; lr warms up linearly for ``warmup_steps``, then halves every ``halve_every`` steps,
    never below ``lr_min`` (Zhang et al. 2021 schedule). ``grad_clip = 0`` disables clipping.
    ``restart_schedule`` counts the halvings from the step a run was continued at (``--init-from``)
    instead of from step 0."""

    loss: str = "l1"
    lr: float = 1e-4
    warmup_steps: int = 0
    halve_every: int = 10000
    lr_min: float = 5e-7
    grad_clip: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    restart_schedule: bool = False


@dataclass(frozen=True)
class RunConfig:
    """Length of the run, checkpoint / log / evaluation periods, and the compute set-up.

    ``device = "auto"`` picks CUDA when available; ``threads = 0`` uses all cores (divided by the
    number of processes under torchrun); ``compile`` wraps the network in ``torch.compile`` (needs a C++
    compiler on CPU; the first steps are slow while it compiles); ``amp`` uses bfloat16 autocast on CUDA only.
    """

    steps: int = 90000
    checkpoint_every: int = 1000
    log_every: int = 100
    eval_every: int = 1000
    device: str = "auto"
    threads: int = 0
    channels_last: bool = False
    compile: bool = False
    amp: bool = False


@dataclass(frozen=True)
class DevConfig:
    """Dev set for evaluation during training: centre crops of a folder, fixed noise seed.

    ``folder = ""`` (the default) trains without evaluation; a relative folder is looked up as the
    module docstring says, ``$PNPLEAVES_DATA`` last (see :meth:`TrainConfig.dev_folder`).
    """

    folder: str = ""
    n_images: int = 24
    crop: int = 256
    sigmas: tuple[float, ...] = (15.0 / 255.0, 25.0 / 255.0, 50.0 / 255.0)
    seed: int = 0


_SECTIONS = {
    "model": ModelConfig,
    "data": DataConfig,
    "noise": NoiseConfig,
    "optim": OptimConfig,
    "train": RunConfig,
    "dev": DevConfig,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; ``TrainConfig.from_toml(path)`` / ``cfg.to_toml()``."""

    name: str = "denoiser"
    seed: int = 0
    output_dir: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)
    dev: DevConfig = field(default_factory=DevConfig)
    #: folder of the TOML file this came from (to resolve relative paths); not serialised
    base_dir: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        _validate(self)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: str = "") -> TrainConfig:
        """Build from nested dicts (as parsed from TOML); unknown keys raise InputError (a ValueError)."""
        data = dict(data)
        kwargs: dict[str, Any] = {"base_dir": base_dir}
        top = {f.name for f in dataclasses.fields(cls)} - set(_SECTIONS) - {"base_dir"}
        for key, value in data.items():
            if key in _SECTIONS:
                if not isinstance(value, dict):
                    raise InputError(f"[{key}] must be a table of settings; got {value!r}.")
                kwargs[key] = _section(_SECTIONS[key], key, value)
            elif key in top:
                kwargs[key] = value
            else:
                allowed = ", ".join(sorted(top | set(_SECTIONS)))
                raise InputError(f"unknown config key {key!r}; allowed top-level keys: {allowed}.")
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a TOML config file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist.")
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise InputError(f"config {str(path)!r} is not valid TOML ({exc}).") from None
            except UnicodeDecodeError as exc:
                raise InputError(f"config {str(path)!r} is not UTF-8 text (byte {exc.start}); a TOML config must be "
                                 "UTF-8: re-save it as UTF-8.") from None
        cfg = cls.from_dict(data, base_dir=str(path.resolve().parent))
        if not cfg.output_dir:
            cfg = dataclasses.replace(cfg, output_dir=str(Path("runs") / cfg.name))
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dicts/lists (TOML- and JSON-serialisable)."""
        out = {"name": self.name, "seed": self.seed, "output_dir": self.output_dir}
        for key in _SECTIONS:
            out[key] = _plain(dataclasses.asdict(getattr(self, key)))
        return out

    def to_toml(self) -> str:
        """The resolved config as TOML text."""
        return dumps_toml(self.to_dict())

    def override(self, **dotted: Any) -> TrainConfig:
        """A copy with some values replaced: ``cfg.override(**{"train.steps": 10, "seed": 1})``."""
        data = self.to_dict()
        for key, value in dotted.items():
            parts = key.split(".")
            node = data
            for p in parts[:-1]:
                if p not in node or not isinstance(node[p], dict):
                    raise InputError(f"unknown config section {p!r} in override {key!r}.")
                node = node[p]
            node[parts[-1]] = value
        return TrainConfig.from_dict(data, base_dir=self.base_dir)

    def resolve_path(self, value: str) -> Path:
        """A path from the config: absolute, or the first that exists of ``value`` relative to the
        working directory, the config file's folder, the source checkout's root and ``$PNPLEAVES_DATA``
        (else ``value`` as is)."""
        p = Path(value).expanduser()
        if p.is_absolute() or p.exists():
            return p
        for base in self._search_bases():
            if (base / p).exists():
                return base / p
        return p

    def _search_bases(self) -> list[Path]:
        bases = ([Path(self.base_dir)] if self.base_dir else []) + [Path(__file__).resolve().parents[2]]
        data = os.environ.get(DATA_ENV)
        return bases + ([Path(data).expanduser()] if data else [])

    def dev_folder(self) -> Path | None:
        """The dev set's folder, or ``None`` when the run has no dev evaluation.

        ``None`` when ``dev.folder`` or ``dev.sigmas`` is empty, or when ``dev.folder`` is a relative path
        found nowhere while ``$PNPLEAVES_DATA`` is unset (the data folder is not on this machine: the
        caller logs that it skips the evaluation). A folder that should exist but does not (an absolute
        path, or a relative one not under ``$PNPLEAVES_DATA`` either) raises FileNotFoundError.
        """
        if not self.dev.folder or not self.dev.sigmas:
            return None
        folder = self.resolve_path(self.dev.folder)
        if folder.is_dir():
            return folder
        if not folder.is_absolute() and not os.environ.get(DATA_ENV):
            return None
        raise FileNotFoundError(
            f"dev set folder {str(folder)!r} (dev.folder) does not exist; point it to a folder of test "
            f"images (a relative path may lie under ${DATA_ENV}), or set dev.folder = \"\" to train without "
            "evaluation."
        )


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a TOML training config (see :class:`TrainConfig`)."""
    return TrainConfig.from_toml(path)


def _section(cls: type, name: str, values: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(f"unknown key(s) {unknown} in [{name}]; allowed: {', '.join(sorted(names))}.")
    values = dict(values)
    for f in dataclasses.fields(cls):
        if f.name in values and isinstance(values[f.name], list) and "tuple" in str(f.type):
            values[f.name] = tuple(values[f.name])
    return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _validate(cfg: TrainConfig) -> None:
    check_number(cfg.seed, "seed", low=0, integer=True)
    if not isinstance(cfg.name, str) or not cfg.name:
        raise InputError(f"name must be a non-empty string; got {cfg.name!r}.")
    check_choice(cfg.model.arch, "model.arch", sorted(ARCHITECTURES))
    if not isinstance(cfg.model.kwargs, dict):
        raise InputError(f"model.kwargs must be a table; got {cfg.model.kwargs!r}.")
    d = cfg.data
    check_choice(d.source, "data.source", DATA_SOURCES)
    check_choice(d.generator, "data.generator", ("vl", "dl"))
    check_number(d.image_size, "data.image_size", low=8, integer=True)
    check_number(d.n_images, "data.n_images", low=0, integer=True)
    check_number(d.patch_size, "data.patch_size", low=8, integer=True)
    check_number(d.batch_size, "data.batch_size", low=1, integer=True)
    check_number(d.workers, "data.workers", low=0, integer=True)
    if d.source == "generate" and d.image_size < d.patch_size:
        raise InputError(
            f"data.image_size ({d.image_size}) must be >= data.patch_size ({d.patch_size}); "
            "patches are cropped from the generated images."
        )
    if d.source == "cache" and not d.cache_dir:
        raise InputError("data.source = 'cache' needs data.cache_dir (a folder written by `pnpleaves generate`).")
    check_range_pair(cfg.noise.sigma_range, "noise.sigma_range", low=0.0)
    check_range_pair(cfg.noise.low_range, "noise.low_range", low=0.0)
    check_number(cfg.noise.low_fraction, "noise.low_fraction", low=0.0, high=1.0)
    o = cfg.optim
    check_choice(o.loss, "optim.loss", LOSSES)
    check_number(o.lr, "optim.lr", low=0.0, low_inclusive=False)
    check_number(o.lr_min, "optim.lr_min", low=0.0)
    check_number(o.warmup_steps, "optim.warmup_steps", low=0, integer=True)
    check_number(o.halve_every, "optim.halve_every", low=0, integer=True, hint="0 keeps the rate constant.")
    check_number(o.grad_clip, "optim.grad_clip", low=0.0, hint="0 disables clipping.")
    check_range_pair(o.betas, "optim.betas", low=0.0, high=1.0)
    t = cfg.train
    check_number(t.steps, "train.steps", low=0, integer=True)
    for key in ("checkpoint_every", "log_every", "eval_every"):
        check_number(getattr(t, key), f"train.{key}", low=0, integer=True, hint="0 disables it.")
    check_number(t.threads, "train.threads", low=0, integer=True, hint="0 uses all cores.")
    if not (t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda")):
        raise InputError(f"train.device must be 'auto', 'cpu' or 'cuda[:N]'; got {t.device!r}.")
    v = cfg.dev
    check_number(v.n_images, "dev.n_images", low=0, integer=True, hint="0 uses every image.")
    check_number(v.crop, "dev.crop", low=0, integer=True, hint="0 keeps whole images.")
    for s in v.sigmas:
        check_number(s, "dev.sigmas[i]", low=0.0, high=1.0, hint="Give sigma on the [0, 1] scale, e.g. 25/255 = 0.098.")


# --------------------------------------------------------------------------- TOML writer


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        raise InputError("TOML has no null value; drop the key or use a default.")
    if hasattr(value, "item"):  # numpy / torch scalars
        return _toml_value(value.item())
    raise TypeError(f"cannot write a {type(value).__name__} to TOML.")


def _toml_key(key: str) -> str:
    key = str(key)
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return json.dumps(key, ensure_ascii=False)


def dumps_toml(data: dict[str, Any], *, _prefix: str = "") -> str:
    """Serialise nested dicts to TOML: scalars and lists first, then one ``[table]`` per sub-dict.

    Dicts nested inside a table's values are written as inline tables only when they are
    leaves (their values hold no dict); deeper dicts become ``[a.b]`` headers.
    """
    lines = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict) and (any(isinstance(v, dict) for v in value.values()) or not _prefix):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "\n".join(lines)
    for key, value in tables:
        name = f"{_prefix}.{_toml_key(key)}" if _prefix else _toml_key(key)
        body = dumps_toml(value, _prefix=name)
        out += ("\n\n" if out else "") + f"[{name}]\n{body}".rstrip("\n")
    return out + "\n" if _prefix == "" else out
