"""Tests for pnpleaves.analysis.experiments and its runner (pnpleaves analyze ablation / convergence)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnpleaves.analysis.experiments import (
    BUDGETS,
    ablation_table,
    convergence_table,
    experiment_runs,
    read_rows,
    write_rows,
)
from pnpleaves.cli.experiments import data_dir, run_experiment, train_config
from pnpleaves.generators import make_config, write_dataset
from pnpleaves.io import write_image
from pnpleaves.training import train
from pnpleaves.training.run_log import RunLog


@pytest.fixture
def dev_set(tmp_path):
    folder = tmp_path / "dev"
    rng = np.random.default_rng(0)
    for i in range(2):
        img = np.kron(rng.random((6, 6, 3)), np.ones((8, 8, 1)))
        write_image(folder / f"im{i}.png", img)
    return folder


@pytest.fixture(autouse=True)
def no_training_curves(monkeypatch):
    """The trainer's curves.png costs a second per run: not what these tests check."""
    monkeypatch.setattr(RunLog, "plot", lambda self, path: None)


def test_runs_of_each_budget():
    abl = experiment_runs("ablation", "small")
    assert [r.setting for r in abl] == ["full", "no-depth", "no-micro", "no-periodic", "no-textures"]
    assert len({r.steps for r in abl}) == 1  # an equal budget
    conv = experiment_runs("convergence", BUDGETS["small"])
    assert {r.generator for r in conv} == {"dl", "vl"}
    for r in conv:
        assert r.steps == r.k * BUDGETS["small"].convergence_stages and r.halve_every == r.k
    assert BUDGETS["small"].convergence_lr_min == pytest.approx(5e-4 / 16)


def test_tables_gap_to_reference():
    rows = [{"run": s, "setting": s, "generator": "vl", "k": 0, "testset": "t", "sigma": 25.0, "psnr": p}
            for s, p in (("full", 30.0), ("no-depth", 29.5))]
    t = ablation_table(rows)
    assert [r["gap_to_full"] for r in t] == [0.0, -0.5]
    rows = [{"run": f"vl-K{k}", "setting": "vl", "generator": "vl", "k": k, "testset": "t", "sigma": 25.0, "psnr": p}
            for k, p in ((10, 29.0), (40, 30.0))]
    t = convergence_table(rows)
    assert [(r["k"], r["gap_to_largest_k"]) for r in t] == [(10, -1.0), (40, 0.0)]


def test_results_csv_round_trip(tmp_path):
    rows = [{"run": "a", "setting": "a", "generator": "vl", "preset": "vl", "k": 0, "steps": 2, "testset": "t",
             "sigma": 25.0, "psnr": 12.5, "train_s": 0.1}]
    write_rows(rows, tmp_path / "r.csv")
    assert read_rows(tmp_path / "r.csv") == rows
    assert read_rows(tmp_path / "missing.csv") == []


def test_tiny_ablation_runs_end_to_end_and_resumes(tmp_path, dev_set):
    budget = BUDGETS["tiny"]
    out = tmp_path / "ablation"
    # an interrupted run: the full model stopped after 1 of its 2 steps
    full = experiment_runs("ablation", budget)[0]
    images = data_dir(out, full, budget)
    write_dataset(images, make_config(full.generator, full.preset), n=budget.n_images, size=budget.image_size,
                  seed=2_000_000)
    train(train_config(full, budget, images, out / "runs" / full.name), steps=1)
    first = run_experiment("ablation", out, budget, [str(dev_set)], plot=False)
    assert first.status == {"full": "resumed", "no-depth": "trained", "no-micro": "trained",
                            "no-periodic": "trained", "no-textures": "trained"}
    assert len(first.table) == 5 * 2  # settings x sigmas (one dev set)
    assert all(r["gap_to_full"] == 0 for r in first.table if r["setting"] == "full")
    assert all(math.isfinite(r["psnr"]) for r in first.table)
    assert (out / "ablation.csv").is_file() and (out / "results.csv").is_file()
    again = run_experiment("ablation", out, budget, [str(dev_set)], plot=False)
    assert set(again.status.values()) == {"skipped"}
    assert again.table == first.table


def test_tiny_convergence_runs_end_to_end(tmp_path, dev_set):
    out = tmp_path / "convergence"
    res = run_experiment("convergence", out, BUDGETS["tiny"], [str(dev_set)])
    assert res.status == {"dl-K1": "trained", "dl-K2": "trained", "vl-K1": "trained", "vl-K2": "trained"}
    assert {(r["generator"], r["k"]) for r in res.table} == {("dl", 1), ("dl", 2), ("vl", 1), ("vl", 2)}
    assert all(r["gap_to_largest_k"] == 0 for r in res.table if r["k"] == 2)
    assert res.png_path is not None and res.png_path.is_file()


def test_convergence_figure_has_both_panels_and_refuses_to_overwrite(tmp_path):
    from pnpleaves.analysis.plots import plot_convergence

    rows = [{"generator": g, "k": k, "testset": "dev", "sigma": 25.0, "psnr": 20.0 + k / 100 + (g == "vl"),
             "gap_to_largest_k": (k - 4) / 100} for g in ("dl", "vl") for k in (1, 2, 4)]
    path = plot_convergence(rows, tmp_path / "c.png")
    assert path.stat().st_size > 10_000
    with pytest.raises(FileExistsError, match="overwrite"):
        plot_convergence(rows, path)
