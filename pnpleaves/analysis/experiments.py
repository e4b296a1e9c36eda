r"""The training experiments of the talk, as data: which runs, at which budget, and their tables.

Two experiments train one denoiser per setting at an equal budget (the runner, which calls the
trainer, is ``pnpleaves analyze ablation|convergence`` in :mod:`pnpleaves.cli.experiments`: the
analysis layer never imports the trainer). This module holds what they train and how their results
are read:

* **Ablation** (talk: "VibrantLeaves ablation study", Fig. 16): the five VibrantLeaves presets
  ``full``, ``no-depth``, ``no-micro``, ``no-periodic``, ``no-textures``
  (:data:`pnpleaves.generators.PRESETS`), one model each, the same steps and schedule; result: the
  PSNR gap of each ablated model to the ``full`` one at sigma 25 and 50 on each dev set
  (:func:`ablation_table`).
* **Convergence** (talk: the "K" experiment): Dead Leaves and VibrantLeaves, the learning rate
  halved every :math:`K` steps for a fixed number of stages (the talk: :math:`10^{-4}` down to
  :math:`5\cdot 10^{-7}`, :math:`K` from 100k down to 5k), so a run lasts :math:`K \times` stages
  steps; result: the PSNR gap of each :math:`K` to the largest :math:`K` of the same generator at
  sigma 25 (:func:`convergence_table`). Faster convergence shows as a smaller loss at small
  :math:`K`.

:data:`BUDGETS` sizes both: ``tiny`` runs in seconds (tests), ``small`` in CPU hours
(``docs/analysis.md`` gives the command and the measured cost).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pnpleaves._checks import check_choice
from pnpleaves.errors import InputError

__all__ = [
    "ABLATION_PRESETS",
    "BUDGETS",
    "CONVERGENCE_PRESETS",
    "EXPERIMENTS",
    "RESULT_FIELDS",
    "Budget",
    "ExperimentRun",
    "ablation_table",
    "convergence_table",
    "experiment_runs",
    "format_table",
    "read_rows",
    "run_record",
    "write_rows",
]

#: experiment -> one-line description
EXPERIMENTS: dict[str, str] = {
    "ablation": "one model per VibrantLeaves ablation preset: PSNR gap to the full model",
    "convergence": "DL vs VL with K steps per learning-rate stage: PSNR gap to the largest K",
}

#: setting -> VibrantLeaves preset of the ablation
ABLATION_PRESETS: dict[str, str] = {
    "full": "vl",
    "no-depth": "no-depth",
    "no-micro": "no-micro",
    "no-periodic": "no-periodic",
    "no-textures": "no-textures",
}

#: generator -> preset of the convergence experiment (the recipes of the shipped dl-drunet and vl-drunet)
CONVERGENCE_PRESETS: dict[str, str] = {"dl": "dl-mix", "vl": "vl"}


@dataclass(frozen=True)
class Budget:
    """Everything that sizes the two experiments."""

    name: str
    arch: str = "drunet"
    arch_kwargs: dict[str, Any] = field(default_factory=lambda: {"in_channels": 3, "out_channels": 3,
                                                                 "nc": [16, 32, 64, 128], "nb": 1})
    image_size: int = 128  #: training images are generated once at this size and cached as PNG
    n_images: int = 500  #: training images per setting
    patch_size: int = 64
    batch_size: int = 8
    lr: float = 5e-4
    ablation_steps: int = 6000
    ablation_halve_every: int = 1500
    convergence_ks: tuple[int, ...] = (125, 250, 500, 1000)
    convergence_stages: int = 5  #: learning-rate stages: lr, lr/2, ..., lr / 2^(stages-1)
    eval_crop: int = 256
    eval_images: int = 24  #: per dev set
    ablation_sigmas: tuple[float, ...] = (25.0, 50.0)  #: 0-255 scale
    convergence_sigmas: tuple[float, ...] = (25.0,)
    checkpoint_every: int = 500
    seed: int = 0

    @property
    def ablation_lr_min(self) -> float:
        return self.lr / 2 ** (self.ablation_steps // max(self.ablation_halve_every, 1))

    @property
    def convergence_lr_min(self) -> float:
        return self.lr / 2 ** (self.convergence_stages - 1)


#: the budgets: ``tiny`` (seconds; tests) and ``small`` (CPU hours; docs/analysis.md)
BUDGETS: dict[str, Budget] = {
    "tiny": Budget(
        name="tiny",
        arch_kwargs={"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1},
        image_size=32, n_images=2, patch_size=32, batch_size=2, lr=1e-3,
        ablation_steps=2, ablation_halve_every=1, convergence_ks=(1, 2), convergence_stages=2,
        eval_crop=32, eval_images=2, checkpoint_every=1,
    ),
    "small": Budget(name="small"),
}


@dataclass(frozen=True)
class ExperimentRun:
    """One training run of an experiment."""

    name: str  #: run folder name
    setting: str  #: ablation setting, or the generator of the convergence experiment
    generator: str  #: "vl" or "dl"
    preset: str
    steps: int
    halve_every: int
    lr: float
    lr_min: float
    k: int = 0  #: steps per learning-rate stage (convergence only)


def experiment_runs(experiment: str, budget: Budget | str) -> list[ExperimentRun]:
    """The runs of ``experiment`` (a key of :data:`EXPERIMENTS`) at ``budget`` (a :class:`Budget` or a key of :data:`BUDGETS`)."""
    experiment = check_choice(experiment, "experiment", list(EXPERIMENTS))
    if isinstance(budget, str):
        budget = BUDGETS[check_choice(budget, "budget", list(BUDGETS))]
    if experiment == "ablation":
        return [ExperimentRun(name=setting, setting=setting, generator="vl", preset=preset,
                              steps=budget.ablation_steps, halve_every=budget.ablation_halve_every, lr=budget.lr,
                              lr_min=budget.ablation_lr_min)
                for setting, preset in ABLATION_PRESETS.items()]
    return [ExperimentRun(name=f"{gen}-K{k}", setting=gen, generator=gen, preset=preset,
                          steps=k * budget.convergence_stages, halve_every=k, lr=budget.lr,
                          lr_min=budget.convergence_lr_min, k=k)
            for gen, preset in CONVERGENCE_PRESETS.items() for k in budget.convergence_ks]


# ------------------------------------------------------------------------------- results and tables
#: the columns of an experiment's per-run results file (``results.csv``)
RESULT_FIELDS = ("run", "setting", "generator", "preset", "k", "steps", "testset", "sigma", "psnr", "train_s")


def write_rows(rows: list[dict[str, Any]], path: str | os.PathLike, fields: tuple[str, ...] | None = None) -> Path:
    """Write dict rows as CSV (columns: ``fields`` or the first row's keys); replaces the file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = tuple(fields or (rows[0].keys() if rows else RESULT_FIELDS))
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(fields))
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    os.replace(tmp, path)
    return path


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a results CSV (numbers converted), or ``[]`` when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = dict(r)
            for key in ("k", "steps"):
                if row.get(key, "") != "":
                    row[key] = int(float(row[key]))
            for key in ("sigma", "psnr", "train_s"):
                if row.get(key, "") != "":
                    row[key] = float(row[key])
            out.append(row)
    return out


def _index(rows: list[dict[str, Any]]) -> dict[tuple[str, str, float], float]:
    return {(r["run"], r["testset"], float(r["sigma"])): float(r["psnr"]) for r in rows}


def ablation_table(rows: list[dict[str, Any]], *, reference: str = "full") -> list[dict[str, Any]]:
    """One row per (setting, dev set, sigma): the PSNR and the gap to the ``reference`` setting."""
    idx = _index(rows)
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    if reference not in settings:
        raise InputError(f"the ablation results have no {reference!r} run; found {settings}.")
    keys = sorted({(r["testset"], float(r["sigma"])) for r in rows})
    out = []
    for testset, sigma in keys:
        ref = idx.get((reference, testset, sigma), math.nan)
        for s in settings:
            v = idx.get((s, testset, sigma), math.nan)
            out.append({"setting": s, "testset": testset, "sigma": sigma, "psnr": round(v, 4),
                        "gap_to_" + reference: round(v - ref, 4)})
    return out


def convergence_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (generator, K, dev set, sigma): the PSNR and the gap to the largest K of that generator."""
    by_gen: dict[str, dict[int, str]] = {}
    for r in rows:
        by_gen.setdefault(r["generator"], {})[int(r["k"])] = r["run"]
    idx = _index(rows)
    keys = sorted({(r["testset"], float(r["sigma"])) for r in rows})
    out = []
    for gen, runs in by_gen.items():
        k_max = max(runs)
        for testset, sigma in keys:
            ref = idx.get((runs[k_max], testset, sigma), math.nan)
            for k in sorted(runs):
                v = idx.get((runs[k], testset, sigma), math.nan)
                out.append({"generator": gen, "k": k, "testset": testset, "sigma": sigma, "psnr": round(v, 4),
                            "gap_to_largest_k": round(v - ref, 4)})
    return out


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of dict rows (columns: the first row's keys)."""
    if not rows:
        return "(no results)"
    head = list(rows[0])
    lines = [head] + [[f"{r[h]:g}" if isinstance(r[h], float) else str(r[h]) for h in head] for r in rows]
    widths = [max(len(line[j]) for line in lines) for j in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines)


def run_record(run: ExperimentRun) -> dict[str, Any]:
    """The run's fields as they appear in ``results.csv``."""
    d = asdict(run)
    return {"run": d["name"], "setting": d["setting"], "generator": d["generator"], "preset": d["preset"],
            "k": d["k"], "steps": d["steps"]}
