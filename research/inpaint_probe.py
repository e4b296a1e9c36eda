"""Inpainting probe on the development images: interpolation baselines against PnP (start, method, schedule).

Runs on the dev cases of ``research/tune_schedule.py`` (Kodak24 images 13-24, centre 256x256 crops; the
benchmark uses images 1-6): 50 % / 80 % random and 128x128 block masks, no noise. Rows: linear
(Delaunay), biharmonic, push-pull; PnP (vl-drunet by default) with HQS / ADMM, first estimate
push-pull or linear, over a small schedule grid.

Usage::

    python research/inpaint_probe.py --data DIR --images 2 --out runs/inpaint_probe.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from pnpleaves.images import mask_to_tensor, to_bchw
from pnpleaves.metrics import psnr
from pnpleaves.models.wrappers import DihedralCycle, adapt_denoiser
from pnpleaves.priors import resolve_prior
from pnpleaves.restoration.baselines import biharmonic_inpaint, linear_inpaint, push_pull_inpaint
from pnpleaves.restoration.pnp import solve
from pnpleaves.restoration.problems import inpaint_problem
from pnpleaves.restoration.schedules import default_params, make_schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_schedule import dev_cases  # noqa: E402

MASKS = ("50%", "80%", "block")


def pnp_run(case: dict, den, srange, method: str, start: str, params) -> np.ndarray:
    """One PnP inpainting with an explicit first estimate (what ``pnp_inpaint`` does, start exposed)."""
    x, layout = to_bchw(case["y"], "img")
    m = mask_to_tensor(case["mask"], x)
    problem = inpaint_problem(x, m, start=start)
    schedule = make_schedule(case["sigma"], params, sigma_range=srange)
    d = DihedralCycle(adapt_denoiser(den, 3), "cycle")
    den.eval()
    out = solve(problem, d, schedule, method)
    return layout.restore(problem.crop_output(out).float())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("PNPLEAVES_DATA"))
    ap.add_argument("--prior", default="vl-drunet")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--configs", nargs="*", default=None,
                    help="PnP runs as method:start:sigma_start*255:n_iter:lam:sigma_min*255 "
                         "(default: the shipped defaults of HQS and ADMM, each from push-pull and linear)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cases = dev_cases("inpaint", Path(args.data), args.images)
    for i, c in enumerate(cases):
        c["mask_name"] = MASKS[i % 3]
    den, srange = resolve_prior(args.prior)
    res: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    secs: dict[str, float] = defaultdict(float)

    def record(name, fn, c):
        t0 = time.perf_counter()
        out = fn()
        secs[name] += time.perf_counter() - t0
        res[name][c["mask_name"]].append(psnr(out, c["x"]))
        print(f"{name:50s} {c['mask_name']:6s} {res[name][c['mask_name']][-1]:6.2f}", flush=True)

    base = {m: default_params("inpaint", m) for m in ("hqs", "admm")}
    configs = [("hqs", "push-pull", base["hqs"]), ("admm", "push-pull", base["admm"]),
               ("hqs", "linear", base["hqs"]), ("admm", "linear", base["admm"])]
    if args.configs:
        configs = []
        for item in args.configs:
            method, start, s0, n, lam, smin = item.split(":")
            configs.append((method, start, replace(base[method], sigma_start=float(s0) / 255, n_iter=int(n),
                                                   lam=float(lam), sigma_min=float(smin) / 255)))
    for c in cases:
        if not args.no_baselines:
            record("linear", lambda: linear_inpaint(c["y"], c["mask"]), c)
            record("biharmonic", lambda: biharmonic_inpaint(c["y"], c["mask"]), c)
            record("push-pull", lambda: push_pull_inpaint(c["y"], c["mask"]), c)
        for method, start, p in configs:
            name = f"{method}/{start}/s{p.sigma_start * 255:.0f}/n{p.n_iter}/lam{p.lam}/min{p.sigma_min * 255:.0f}"
            record(name, lambda: pnp_run(c, den, srange, method, start, p), c)
    print("\nmean PSNR per mask (dB), seconds total")
    table = {}
    for name, d in res.items():
        row = {k: float(np.mean(v)) for k, v in d.items()}
        table[name] = dict(row, seconds=secs[name])
        print(f"{name:50s} " + "  ".join(f"{k} {v:6.2f}" for k, v in row.items()) + f"  {secs[name]:.0f}s")
    if args.out:
        Path(args.out).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
