"""The runner of ``pnpleaves analyze ablation`` and ``pnpleaves analyze convergence``: generate, train, evaluate.

The runs, budgets and tables are defined in :mod:`pnpleaves.analysis.experiments`; this module (in
``cli``, the only layer allowed to import the trainer) carries them out in an experiment folder::

    OUT/data/<generator>-<preset>-<size>/   training images (pnpleaves.generators.write_dataset)
    OUT/runs/<run>/                         one training run folder per setting (pnpleaves.training.train)
    OUT/results.csv                         PSNR of every run on every dev set and sigma
    OUT/<experiment>.csv, OUT/<experiment>.png   the table and its figure

Everything resumes: images already written are kept, a finished run is skipped, an unfinished run
continues from its checkpoint (exactly, see :mod:`pnpleaves.training.loop`), and a run already
evaluated on a dev set is not evaluated again. Ctrl-C (or SIGTERM) stops the current run after a
checkpoint; the same command then continues.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pnpleaves.analysis.experiments import (
    RESULT_FIELDS,
    Budget,
    ExperimentRun,
    ablation_table,
    convergence_table,
    experiment_runs,
    read_rows,
    run_record,
    write_rows,
)
from pnpleaves.analysis.noisy_trials import mean_psnr
from pnpleaves.analysis.plots import plot_bars, plot_convergence
from pnpleaves.generators import make_config, write_dataset
from pnpleaves.images import check_device, load_testset
from pnpleaves.priors import load_prior
from pnpleaves.training import TrainConfig, train

logger = logging.getLogger(__name__)

__all__ = ["DATA_SEED", "ExperimentOutcome", "data_dir", "run_experiment", "train_config"]

#: seeds of the training images: disjoint from the statistics sets and the dev sets
DATA_SEED = 2_000_000


@dataclass
class ExperimentOutcome:
    """What :func:`run_experiment` did: per run ``"trained"``, ``"resumed"``, ``"skipped"`` (already
    finished) or ``"interrupted"``, the result rows and the table."""

    status: dict[str, str]
    rows: list[dict[str, Any]]
    table: list[dict[str, Any]]
    interrupted: bool
    csv_path: Path | None = None
    png_path: Path | None = None


def data_dir(out: Path, run: ExperimentRun, budget: Budget) -> Path:
    """The folder of the training images of ``run``: shared by every run with the same generator, preset and size."""
    return out / "data" / f"{run.generator}-{run.preset}-{budget.image_size}"


def train_config(run: ExperimentRun, budget: Budget, data_dir: Path, run_dir: Path, *,
                 device: str = "cpu") -> TrainConfig:
    """The training config of one run: the budget's network and batches, the run's schedule, no dev set.

    ``device`` is the trainer's ``train.device`` ("cpu", "cuda[:N]" or "auto"); one CPU thread per run.
    """
    return TrainConfig.from_dict({
        "name": run.name,
        "seed": budget.seed,
        "output_dir": str(run_dir),
        "model": {"arch": budget.arch, "kwargs": dict(budget.arch_kwargs)},
        "data": {"source": "cache", "cache_dir": str(data_dir), "preload": True, "generator": run.generator,
                 "preset": run.preset, "image_size": budget.image_size, "patch_size": budget.patch_size,
                 "batch_size": budget.batch_size, "workers": 0, "augment": True, "permute_channels": True},
        "noise": {"sigma_range": [0.0, 75.0 / 255.0], "low_fraction": 0.15, "low_range": [0.0, 2.0 / 255.0]},
        "optim": {"loss": "l1", "lr": run.lr, "warmup_steps": 0, "halve_every": run.halve_every,
                  "lr_min": run.lr_min, "grad_clip": 0.5},
        "train": {"steps": run.steps, "checkpoint_every": budget.checkpoint_every,
                  "log_every": max(1, min(100, run.steps // 10)), "eval_every": 0, "device": device, "threads": 1,
                  "compile": False},
        "dev": {"folder": ""},
    })


def _dev_images(testsets: list[str], budget: Budget) -> dict[str, list]:
    out = {}
    for folder in testsets:
        _, images = load_testset(folder, max_images=budget.eval_images, crop=budget.eval_crop)
        out[Path(folder).name] = images
    return out


def run_experiment(experiment: str, out: str | Path, budget: Budget, testsets: list[str], *,
                   progress: bool = False, plot: bool = True, device: str = "cpu",
                   workers: int = 1) -> ExperimentOutcome:
    """Generate the data, train every run (resuming), evaluate on every dev set, write the table and figure.

    :param device: where the runs train and are evaluated ("cpu", "cuda[:N]" or "auto": CUDA when
        available). A run resumes on another device than it started on.
    :param workers: processes that generate the training images.
    """
    out = Path(out)
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    eval_device = check_device(auto if device == "auto" else device)
    runs = experiment_runs(experiment, budget)
    if not testsets:
        raise FileNotFoundError("give at least one dev set (--testset DIR).")
    dev = {name: [x.to(eval_device) for x in images] for name, images in _dev_images(testsets, budget).items()}
    results_path = out / "results.csv"
    rows = read_rows(results_path)
    status: dict[str, str] = {}
    sigmas = budget.ablation_sigmas if experiment == "ablation" else budget.convergence_sigmas
    interrupted = False
    for run in runs:
        images_dir = data_dir(out, run, budget)
        config = make_config(run.generator, run.preset)
        counts = write_dataset(images_dir, config, n=budget.n_images, size=budget.image_size, seed=DATA_SEED,
                               workers=workers)
        if counts["written"]:
            logger.info("%s: wrote %d training images into %s", run.name, counts["written"], images_dir)
        run_dir = out / "runs" / run.name
        cfg = train_config(run, budget, images_dir, run_dir, device=device)
        had_checkpoint = (run_dir / "checkpoint.pt").is_file()
        result = train(cfg, resume=True, progress=progress)
        if result.interrupted:
            status[run.name] = "interrupted"
            interrupted = True
            logger.warning("%s interrupted at step %d / %d: run the same command again to continue", run.name,
                           result.step, run.steps)
            break
        trained_now = bool(result.losses)
        status[run.name] = ("resumed" if had_checkpoint else "trained") if trained_now else "skipped"
        if trained_now:  # (re)trained: its old evaluations are stale
            rows = [r for r in rows if r["run"] != run.name]
        done = {(r["run"], r["testset"], float(r["sigma"])) for r in rows}
        den = None
        for testset, images in dev.items():
            for s in sigmas:
                if (run.name, testset, float(s)) in done:
                    continue
                den = den or load_prior(run_dir, eval_device)
                value = mean_psnr(den, images, s / 255.0, seed=0)
                rows.append({**run_record(run), "testset": testset, "sigma": float(s), "psnr": value,
                             "train_s": round(result.wall_time_s, 1)})
                logger.info("%s on %s at sigma %g: %.2f dB", run.name, testset, s, value)
        write_rows(rows, results_path, RESULT_FIELDS)
    names = {r.name for r in runs}
    mine = [r for r in rows if r["run"] in names]
    table = ablation_table(mine) if experiment == "ablation" and any(r["setting"] == "full" for r in mine) else (
        convergence_table(mine) if experiment == "convergence" else [])
    outcome = ExperimentOutcome(status=status, rows=mine, table=table, interrupted=interrupted)
    if table:
        outcome.csv_path = write_rows(table, out / f"{experiment}.csv")
        if plot:
            outcome.png_path = _plot(experiment, table, out / f"{experiment}.png")
    return outcome


def _plot(experiment: str, table: list[dict[str, Any]], path: Path) -> Path:
    if experiment == "ablation":
        groups = list(dict.fromkeys(f"{r['testset']} s={r['sigma']:g}" for r in table))
        series: dict[str, list[float]] = {}
        for r in table:
            if r["setting"] == "full":
                continue
            series.setdefault(r["setting"], []).append(r["gap_to_full"])
        return plot_bars(path, groups, series, ylabel="PSNR gap to the full VL model (dB)",
                         title="VibrantLeaves ablation (equal training budget)", xlabel="dev set, sigma",
                         overwrite=True)
    return plot_convergence(table, path, overwrite=True)
