"""Retrain the shipped priors on one GPU in a fixed wall-clock budget (how the 2026-11-30 priors were made).

All runs of a plan train side by side on one accelerator, each in two constant-rate phases (the step
count a GPU reaches in a fixed time is not known in advance, so the halvings of the CPU configs are
replaced by one drop of the rate, as a fresh-optimizer continuation with ``--init-from``):

1. ``generate``: one cached dataset per distinct generator recipe (all CPU cores);
2. ``phase 1``: every run for ``--phase1`` seconds at its rate (SIGTERM saves its weights);
3. ``phase 2``: every run again from its phase-1 weights for ``--phase2`` seconds at rate / 8 (or ``lr2``);
4. ``evaluate``: Kodak24 (or ``--testset``) at sigma 15 / 25 / 50, one CSV row per run and sigma.

Usage (the plan is a JSON list of runs; the one used: ``docs/results/gpu_retrain/plan.json``, whose paths
point at ``.gpu/src``, a ``git archive`` of the package carried to the GPU machine)::

    python research/gpu_retrain.py PLAN.json --testset DIR --out DIR [--n-images 800] [--phase1 260] [--phase2 100]

Each run: ``{"name", "config" (a training TOML), "init_from" (weights, a list of weights of which the first
that exists is used, or null), "lr", "batch_size", "patch_size", "data": {"generator", "preset", "options"},
"lr2" (optional: the phase-2 rate, default lr / 8), "overrides" (optional: config sections merged over the TOML,
e.g. ``{"optim": {"loss": "l2"}}``), "amp",
"channels_last"}``; the data block overrides the config's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from pnpleaves.training.config import dumps_toml

DEVICE = "cuda"


def _sh(cmd: list[str], **kw) -> subprocess.Popen:
    print("+", " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, **kw)


def _dataset_key(data: dict) -> str:
    return json.dumps([data["generator"], data.get("preset", ""), data.get("options", {})], sort_keys=True)


def generate(plan: list[dict], out: Path, n: int, size: int, workers: int) -> dict[str, Path]:
    """One cache folder per distinct recipe, generated concurrently (workers split between them)."""
    recipes: dict[str, dict] = {}
    for run in plan:
        recipes.setdefault(_dataset_key(run["data"]), run["data"])
    folders, procs = {}, []
    cost = {key: (1.0 if data["generator"] == "vl" else 0.1) for key, data in recipes.items()}
    for i, (key, data) in enumerate(recipes.items()):
        per = max(1, round(workers * cost[key] / sum(cost.values())))
        folder = out / f"data{i}"
        folders[key] = folder
        cmd = [sys.executable, "-m", "pnpleaves.cli", "generate", "--model", data["generator"], "--n", str(n),
               "--size", str(size), "--out", str(folder), "--workers", str(per), "--seed", "1000000"]
        if data.get("preset"):
            cmd += ["--preset", data["preset"]]
        for k, v in data.get("options", {}).items():
            cmd += ["--option", f"{k}={json.dumps(v)}"]
        procs.append(_sh(cmd, stdout=open(out / f"generate{i}.log", "w"), stderr=subprocess.STDOUT))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"generation failed (see {out}/generate*.log)")
    return folders


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) and k not in ("kwargs", "options") else v
    return out


def init_weights(run: dict) -> str | None:
    """The run's starting weights: ``init_from``, or the first existing file of a list of them."""
    init = run.get("init_from")
    if isinstance(init, list):
        return next((p for p in init if p and Path(p).is_file()), None)
    return init


def write_config(run: dict, phase: int, cache: Path, out: Path, testset: str, workers: int) -> Path:
    cfg = _merge(tomllib.loads(Path(run["config"]).read_text()), run.get("overrides", {}))
    cfg["name"] = run["name"]
    cfg["output_dir"] = str(out / f"{run['name']}-p{phase}")
    cfg["data"].update(source="cache", cache_dir=str(cache), preload=True, workers=workers,
                       batch_size=int(run["batch_size"]), patch_size=int(run["patch_size"]),
                       generator=run["data"]["generator"], preset=run["data"].get("preset", ""),
                       options=run["data"].get("options", {}))
    lr = float(run["lr"]) if phase == 1 else float(run.get("lr2", float(run["lr"]) / 8.0))
    cfg["optim"].update(lr=lr, halve_every=0, restart_schedule=True, warmup_steps=100 if phase == 1 else 20)
    cfg["train"].update(steps=10_000_000, checkpoint_every=500, log_every=100, eval_every=0, device=DEVICE,
                        threads=1, compile=False, amp=bool(run.get("amp", False)),
                        channels_last=bool(run.get("channels_last", False)))
    cfg["dev"].update(folder=testset, n_images=8, crop=256)
    path = out / f"{run['name']}-p{phase}.toml"
    path.write_text(dumps_toml(cfg))
    return path


def train_phase(plan, phase, folders, out, testset, seconds, workers) -> None:
    procs = []
    for run in plan:
        cfg = write_config(run, phase, folders[_dataset_key(run["data"])], out, testset, workers)
        init = init_weights(run) if phase == 1 else str(out / f"{run['name']}-p1" / "model.safetensors")
        cmd = [sys.executable, "-m", "pnpleaves.cli", "train", str(cfg)]
        if init:
            cmd += ["--init-from", init]
        log = open(out / f"{run['name']}-p{phase}.log", "w")
        procs.append(_sh(cmd, stdout=log, stderr=subprocess.STDOUT))
    time.sleep(seconds)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()


def evaluate(plan, out, testset) -> None:
    """Every run's final weights on the test set, all runs at once (one process each)."""
    jobs, rows = [], []
    for run in plan:
        folder = out / f"{run['name']}-p2"
        if not (folder / "model.safetensors").is_file():
            folder = out / f"{run['name']}-p1"
        csv_path = out / f"{run['name']}-eval.csv"
        cmd = [sys.executable, "-m", "pnpleaves.cli", "eval-denoiser", "--prior", str(folder), "--testset", testset,
               "--sigma", "15", "--sigma", "25", "--sigma", "50", "--no-bm3d", "--no-ssim", "--device", DEVICE,
               "--csv", str(csv_path)]
        log = open(out / f"{run['name']}-eval.log", "w")
        jobs.append((run, folder, csv_path, _sh(cmd, stdout=log, stderr=subprocess.STDOUT)))
    for run, folder, csv_path, proc in jobs:
        if proc.wait() != 0 or not csv_path.is_file():
            print(f"evaluation of {run['name']} failed (see {out}/{run['name']}-eval.log)", flush=True)
            continue
        with open(csv_path) as f:
            per: dict[str, list[float]] = {}
            for r in csv.DictReader(f):
                if r["method"] == "denoiser":
                    per.setdefault(r["sigma"], []).append(float(r["psnr"]))
        for s, v in per.items():
            rows.append({"run": run["name"], "sigma": s, "psnr": sum(v) / len(v), "n": len(v),
                         "weights": str(folder / "model.safetensors")})
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["run", "sigma", "psnr", "n", "weights"])
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(f"{r['run']:>24}  sigma {r['sigma']:>4}  {r['psnr']:.2f} dB  ({r['n']} images)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan")
    ap.add_argument("--testset", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-images", type=int, default=800)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--gen-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--loader-workers", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=0,
                    help="seconds for the whole run: the training phases share what generation leaves, minus "
                         "--reserve for the evaluation (overrides --phase1/--phase2)")
    ap.add_argument("--reserve", type=float, default=75)
    ap.add_argument("--phase1", type=float, default=260)
    ap.add_argument("--phase2", type=float, default=100)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    plan = json.loads(Path(args.plan).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    folders = generate(plan, out, args.n_images, args.size, args.gen_workers)
    print(f"generated in {time.time() - t0:.0f} s", flush=True)
    if args.deadline:
        left = args.deadline - (time.time() - t0) - args.reserve
        left = max(left, 120.0)
        args.phase1, args.phase2 = 0.72 * left, 0.28 * left
        print(f"phases: {args.phase1:.0f} s + {args.phase2:.0f} s", flush=True)
    train_phase(plan, 1, folders, out, args.testset, args.phase1, args.loader_workers)
    print(f"phase 1 done at {time.time() - t0:.0f} s", flush=True)
    train_phase(plan, 2, folders, out, args.testset, args.phase2, args.loader_workers)
    print(f"phase 2 done at {time.time() - t0:.0f} s", flush=True)
    evaluate(plan, out, args.testset)
    print(f"all done at {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
