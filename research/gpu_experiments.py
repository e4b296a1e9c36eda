"""Run the ablation and convergence experiments (issue 15) on one GPU in a fixed wall-clock budget.

``pnpleaves analyze ablation|convergence`` trains its runs one after the other; a run of the
``small`` budget is a 0.58 M-parameter network on batches of 8 x 64^2, which a GPU steps through
faster than the Python loop feeds it. This driver therefore trains every run of both experiments
at once, one process each, in one experiment folder (the two experiments share the VL images):

1. ``generate``: each distinct training set with its own share of the CPU workers; a run starts as
   soon as its images are written;
2. ``train``: one process per run (``pnpleaves.training.train``, the runner's own config, resumable);
   at ``--deadline`` every unfinished run receives SIGTERM and saves a checkpoint;
3. ``evaluate``: when every run has finished, ``run_experiment`` of each experiment evaluates the
   runs on the dev sets and writes ``ablation.csv/png`` and ``convergence.csv/png`` (it trains
   nothing more). Otherwise the same command continues the runs, on any device::

    pnpleaves analyze ablation --budget small --out OUT --testset ... --device auto

Usage (the 2026-11-30 run: ``--budget small --device cuda --deadline 420 --gen-workers 10``)::

    python research/gpu_experiments.py --out DIR --testset DIR [--testset DIR] --budget small --device cuda
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from pnpleaves.analysis.experiments import BUDGETS, experiment_runs
from pnpleaves.cli.experiments import DATA_SEED, data_dir, run_experiment, train_config
from pnpleaves.training import train
from pnpleaves.training.checkpoint import read_checkpoint

EXPERIMENTS = ("ablation", "convergence")


def all_runs(budget):
    return [run for e in EXPERIMENTS for run in experiment_runs(e, budget)]


def _generate(folder: str, generator: str, preset: str, n: int, size: int, workers: int, log: Path):
    """``pnpleaves generate`` of one training set, in the background (the runner's seeds and config)."""
    cmd = [sys.executable, "-m", "pnpleaves.cli", "generate", "--model", generator, "--preset", preset, "--n", str(n),
           "--size", str(size), "--out", folder, "--workers", str(workers), "--seed", str(DATA_SEED)]
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def _train_one(out: str, budget_name: str, run_name: str, device: str) -> int:
    budget = BUDGETS[budget_name]
    run = next(r for r in all_runs(budget) if r.name == run_name)
    out_path = Path(out)
    cfg = train_config(run, budget, data_dir(out_path, run, budget), out_path / "runs" / run.name, device=device)
    result = train(cfg, resume=True)
    return 130 if result.interrupted else 0


def finished(out: Path, run) -> bool:
    try:
        ckpt, _ = read_checkpoint(out / "runs" / run.name)
    except FileNotFoundError:
        return False
    return int(ckpt["step"]) >= run.steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--testset", action="append", required=True)
    ap.add_argument("--budget", default="small", choices=list(BUDGETS))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--gen-workers", type=int, default=8)
    ap.add_argument("--deadline", type=float, default=420.0, help="seconds from the start until SIGTERM")
    ap.add_argument("--train-one", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.train_one:
        return _train_one(args.out, args.budget, args.train_one, args.device)
    t0 = time.time()
    out, budget = Path(args.out), BUDGETS[args.budget]
    runs = all_runs(budget)
    folders: dict[str, tuple] = {}
    for run in runs:
        folders.setdefault(str(data_dir(out, run, budget)), (run.generator, run.preset))
    cost = {f: (1.0 if g == "vl" else 0.2) for f, (g, _) in folders.items()}
    jobs = [(f, g, p, budget.n_images, budget.image_size,
             max(1, round(args.gen_workers * cost[f] / sum(cost.values())))) for f, (g, p) in folders.items()]
    procs: dict[str, subprocess.Popen] = {}
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = {f: _generate(*job, logs / f"generate-{Path(f).name}.log") for f, job in zip(folders, jobs)}
    while (pending or len(procs) < len(runs)) and time.time() - t0 < args.deadline:
        for f in [f for f, p in pending.items() if p.poll() is not None]:
            if pending.pop(f).returncode != 0:
                raise SystemExit(f"generating {f} failed: see {logs}")
            print(f"[{time.time() - t0:5.0f} s] images ready: {f}", flush=True)
        ready = set(folders) - set(pending)
        for run in runs:
            if run.name not in procs and str(data_dir(out, run, budget)) in ready:
                cmd = [sys.executable, __file__, "--out", str(out), "--testset", args.testset[0],
                       "--budget", args.budget, "--device", args.device, "--train-one", run.name]
                procs[run.name] = subprocess.Popen(cmd, stdout=open(logs / f"{run.name}.log", "w"),
                                                   stderr=subprocess.STDOUT)
        time.sleep(0.5)
    for p in pending.values():
        p.terminate()
    print(f"[{time.time() - t0:5.0f} s] {len(procs)} of {len(runs)} runs started", flush=True)
    while any(p.poll() is None for p in procs.values()) and time.time() - t0 < args.deadline:
        time.sleep(1.0)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
    state = {run.name: finished(out, run) for run in runs}
    print(f"[{time.time() - t0:5.0f} s] finished runs: {sum(state.values())} / {len(state)}", flush=True)
    (out / "state.json").write_text(json.dumps(state, indent=1))
    if not all(state.values()):
        print("unfinished runs: continue with `pnpleaves analyze ablation|convergence` on the same folder")
        return 1
    for experiment in EXPERIMENTS:
        outcome = run_experiment(experiment, out, budget, args.testset, device=args.device)
        print(experiment, outcome.status, outcome.csv_path, flush=True)
    print(f"[{time.time() - t0:5.0f} s] evaluated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
