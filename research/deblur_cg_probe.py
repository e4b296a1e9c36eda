"""Accuracy and cost of the unknown-boundary data step (CG budget of ``WindowedBlurL2``) in PnP deblurring.

On development deblurring cases (``research/tune_schedule.py``: Kodak24 13-24 centre 256x256 crops,
Levin kernels, reflecting borders, noise 2.55 and 7.65/255) it runs the default HQS schedule of
vl-drunet with several CG budgets (max_iter, tol) and prints the mean PSNR, the seconds spent in the
data steps and in the whole solve, and the ratio solve / (iterations x one denoiser call), measured in
the same run. Also the circular model on circularly blurred data (``--wrap``) for the interior check.

Usage::

    python research/deblur_cg_probe.py --data DIR --images 2 --budgets 15:0.01 6:0.01 3:0.01
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pnpleaves.images import kernel_to_tensor, to_bchw
from pnpleaves.metrics import psnr
from pnpleaves.models.wrappers import DihedralCycle, adapt_denoiser
from pnpleaves.priors import resolve_prior
from pnpleaves.restoration import degrade_blur
from pnpleaves.restoration.pnp import solve
from pnpleaves.restoration.problems import blur_problem
from pnpleaves.restoration.schedules import default_params, make_schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_schedule import dev_cases  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("PNPLEAVES_DATA"))
    ap.add_argument("--prior", default="vl-drunet")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--budgets", nargs="+", default=["15:0.01", "6:0.01", "3:0.01"])
    ap.add_argument("--wrap", action="store_true", help="blur circularly and add the circular-model row")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cases = dev_cases("deblur", Path(args.data), args.images)
    den, srange = resolve_prior(args.prior)
    den.eval()
    d = DihedralCycle(adapt_denoiser(den, 3), "cycle")
    params = default_params("deblur", "hqs")
    runs = [("circular", 0, 0.0)] if args.wrap else []
    runs += [("unknown", int(b.split(":")[0]), float(b.split(":")[1])) for b in args.budgets]
    for boundary, mi, tol in runs:
        ps, pin, t_data, t_all, t_den = [], [], 0.0, 0.0, 0.0
        for c in cases:
            y = degrade_blur(c["x"], c["kernel"], c["sigma"], (0, "cgprobe", str(c["sigma"])), mode="wrap") \
                if args.wrap else c["y"]
            yt, lay = to_bchw(y, "img")
            kt = kernel_to_tensor(c["kernel"], yt.shape[-2:]).to(yt.dtype)
            p = blur_problem(yt, kt, boundary=boundary, max_iter=mi, tol=tol)
            sched = make_schedule(c["sigma"], params, sigma_range=srange)
            fid = p.fidelity
            orig = fid.prox
            spent = [0.0]

            def timed(*a, _orig=orig, _spent=spent, **k):
                t0 = time.perf_counter()
                out = _orig(*a, **k)
                _spent[0] += time.perf_counter() - t0
                return out

            fid.prox = timed
            with torch.no_grad():
                t0 = time.perf_counter()
                d(p.y, 0.05)
                t_den += time.perf_counter() - t0
                t0 = time.perf_counter()
                out = solve(p, d, sched, "hqs")
                t_all += time.perf_counter() - t0
            t_data += spent[0]
            o = lay.restore(p.crop_output(out).float())
            ps.append(psnr(o, c["x"]))
            pin.append(psnr(o[32:-32, 32:-32], c["x"][32:-32, 32:-32]))
        n = len(cases)
        ratio = t_all / (params.n_iter * t_den)
        print(f"{boundary:8s} max_iter={mi:3d} tol={tol:g}: PSNR {np.mean(ps):.3f}  interior {np.mean(pin):.3f}  "
              f"data {t_data / n:.2f} s  solve {t_all / n:.2f} s  ratio (padded-size denoiser) {ratio:.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
