"""Grid search of the PnP schedule parameters on development images (run once trained priors exist).

For one prior, problem (``deblur``, ``sr``, ``inpaint``) and method (``hqs``, ``admm``), every
combination of the grid's :class:`~pnpleaves.restoration.ScheduleParams` values is run on a fixed set
of degraded development images and ranked by mean PSNR. The development images are Kodak24 images
13-24 (centre 256x256 crops): the benchmark (``benchmarks/restore.py``) uses Set3C, Set5, Set14 and
Kodak24 images 1-6, so tuning and testing images do not overlap. Degradations: deblurring with Levin
kernels 1-8 in turn at noise 2.55 and 7.65/255 (reflecting borders); x2 and x4 bicubic
super-resolution; inpainting with 50 %, 80 % random and block masks (as in the benchmark).

Usage::

    python research/tune_schedule.py --data DIR --prior vl-drunet --problem deblur --method hqs \\
        --grid lam=0.12,0.23,0.4 sigma_start=0.15,0.19,0.25 n_iter=8,12 --images 6

``DIR`` (or ``$PNPLEAVES_DATA``) holds ``testsets/Kodak24``. It prints the ranking and the line to paste
into ``DEFAULTS`` of ``pnpleaves/restoration/schedules.py``, and writes the full results as JSON with
``--out``. The tuned values and their grids are in ``docs/results.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from pnpleaves.io import list_images, read_image
from pnpleaves.metrics import psnr
from pnpleaves.priors import resolve_prior
from pnpleaves.restoration import (
    ScheduleParams,
    block_mask,
    degrade_blur,
    degrade_sr,
    levin_kernel,
    pnp_deblur,
    pnp_inpaint,
    pnp_super_resolve,
    random_mask,
)
from pnpleaves.restoration.schedules import default_params

logger = logging.getLogger("research.tune_schedule")

PROBLEMS = ("deblur", "sr", "inpaint")

#: default grids per problem (values around DPIR's)
DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "deblur": {"lam": [0.12, 0.23, 0.4], "sigma_start": [35 / 255, 49 / 255, 65 / 255], "n_iter": [8, 12]},
    # noise-free SR: the step is sigma_k^2 / (lam * sigma_floor^2), so lam and the floor act as one knob;
    # a first probe on Set5 crops favoured weak priors (small lam) and few iterations
    "sr": {"lam": [0.01, 0.03, 0.1], "sigma_start": [35 / 255, 49 / 255, 75 / 255], "n_iter": [6, 8, 12],
           "sigma_floor": [1 / 255]},
    "inpaint": {"sigma_start": [50 / 255, 75 / 255], "n_iter": [16, 24], "sigma_min": [1 / 255, 2 / 255, 5 / 255]},
}


def inpainting_masks(shape: tuple[int, int], seed: int, name: str) -> dict[str, np.ndarray]:
    """The benchmark's three inpainting masks: 50 % and 80 % missing at random, a central 128x128 block."""
    out = {f"{int(frac * 100)}% missing": random_mask(shape, frac, (seed, "mask", name, str(frac)))
           for frac in (0.5, 0.8)}
    out["block 128"] = block_mask(shape, 128)
    return out


def dev_cases(problem: str, root: Path, n_images: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    """Degraded development images: dicts with ``x`` (truth), ``y``, ``sigma``, ``border`` and the
    problem's own argument (``kernel``, ``scale`` or ``mask``)."""
    files = list_images(Path(root) / "testsets" / "Kodak24")[12 : 12 + n_images]
    cases = []
    for i, path in enumerate(files):
        x = read_image(path, channels=3).astype(np.float64)
        top, left = (x.shape[0] - 256) // 2, (x.shape[1] - 256) // 2
        x = x[top : top + 256, left : left + 256]
        if problem == "deblur":
            k = levin_kernel(i % 8 + 1)
            for level in (2.55, 7.65):
                y = degrade_blur(x, k, level / 255, (seed, "tune", path.stem, str(level)))
                cases.append(dict(x=x, y=y, kernel=k, sigma=level / 255, border=0))
        elif problem == "sr":
            for s in (2, 4):
                cases.append(dict(x=x, y=degrade_sr(x, s), scale=s, sigma=0.0, border=s))
        else:
            for mask in inpainting_masks(x.shape[:2], seed, path.stem).values():
                cases.append(dict(x=x, y=(x * mask[..., None]).astype(np.float32), mask=mask, sigma=0.0, border=0))
    return cases


def run_case(problem: str, case: dict, den, method: str, params: ScheduleParams, device=None,
             ensemble: str = "cycle") -> np.ndarray:
    """The restoration of one development case with the given schedule."""
    common = dict(prior=den, sigma=case["sigma"], method=method, schedule=params, device=device, ensemble=ensemble)
    if problem == "deblur":
        return pnp_deblur(case["y"], case["kernel"], **common)
    if problem == "sr":
        return pnp_super_resolve(case["y"], case["scale"], **common)
    return pnp_inpaint(case["y"], case["mask"], **common)


def tune_schedule(
    prior: Any,
    problem: str,
    method: str = "hqs",
    *,
    data: str | Path,
    grid: dict[str, list[Any]] | None = None,
    n_images: int = 12,
    device: Any = None,
    seed: int = 0,
    ensembles: tuple[str, ...] | list[str] = ("cycle",),
) -> list[dict[str, Any]]:
    """Mean PSNR of every grid point on the development cases, best first.

    :param prior: registered name, weights path or deepinv Denoiser.
    :param data: the test-set root (holds ``testsets/Kodak24``).
    :param grid: ``{field: [values]}`` over :class:`ScheduleParams` fields (default :data:`DEFAULT_GRIDS`).
    :param ensembles: the ``ensemble`` options of the PnP functions to try (an outer grid axis).
    :returns: list of ``{"params": {...}, "ensemble": str, "psnr": float, "seconds": float}``.
    """
    if problem not in PROBLEMS or method not in ("hqs", "admm"):
        raise ValueError(f"problem must be one of {PROBLEMS} and method 'hqs' or 'admm'; got {problem!r}, {method!r}.")
    grid = grid or DEFAULT_GRIDS[problem]
    unknown = set(grid) - set(asdict(ScheduleParams()))
    if unknown:
        raise ValueError(f"grid keys must be ScheduleParams fields {sorted(asdict(ScheduleParams()))}; got {sorted(unknown)}.")
    den, _ = resolve_prior(prior, device)
    cases = dev_cases(problem, Path(data), n_images, seed)
    base = default_params(problem, method)
    results = []
    keys = list(grid)
    for ensemble, values in itertools.product(ensembles, itertools.product(*(grid[k] for k in keys))):
        params = replace(base, **dict(zip(keys, values)))
        t0 = time.perf_counter()
        psnrs = [psnr(run_case(problem, c, den, method, params, device, ensemble), c["x"], border=c["border"])
                 for c in cases]
        res = {"params": asdict(params), "ensemble": ensemble, "psnr": float(np.mean(psnrs)),
               "seconds": time.perf_counter() - t0}
        logger.info("%s, ensemble %s -> %.3f dB (%.0f s)", dict(zip(keys, values)), ensemble, res["psnr"],
                    res["seconds"])
        results.append(res)
    return sorted(results, key=lambda r: -r["psnr"])


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["lam=0.1,0.23", "n_iter=8,12"]`` -> ``{"lam": [0.1, 0.23], "n_iter": [8, 12]}``."""
    grid = {}
    for item in items:
        key, _, vals = item.partition("=")
        if not vals:
            raise ValueError(f"grid items look like lam=0.1,0.23; got {item!r}.")
        grid[key] = [int(v) if key == "n_iter" else float(v) for v in vals.split(",")]
    return grid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python research/tune_schedule.py", description=__doc__.splitlines()[0])
    ap.add_argument("--prior", required=True)
    ap.add_argument("--problem", required=True, choices=PROBLEMS)
    ap.add_argument("--method", default="hqs", choices=("hqs", "admm"))
    ap.add_argument("--grid", nargs="*", default=None, help="field=v1,v2 ... (default: DEFAULT_GRIDS)")
    ap.add_argument("--images", type=int, default=12, help="number of development images (max 12)")
    ap.add_argument("--data", default=None, help="test-set root holding testsets/ (default: $PNPLEAVES_DATA)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--ensemble", nargs="*", default=["cycle"], choices=("none", "cycle", "x8"),
                    help="ensemble options of the PnP functions to compare (default: cycle, the API default)")
    ap.add_argument("--out", default=None, help="JSON file for all results")
    args = ap.parse_args(argv)
    data = args.data or os.environ.get("PNPLEAVES_DATA")
    if not data:
        ap.error("no data folder: pass --data DIR or set PNPLEAVES_DATA (the folder that holds testsets/).")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        grid = parse_grid(args.grid) if args.grid else None
    except ValueError as exc:
        ap.error(str(exc))
    results = tune_schedule(args.prior, args.problem, args.method, grid=grid, data=data,
                            n_images=args.images, device=args.device, ensembles=args.ensemble)
    for r in results[:10]:
        print(f"{r['psnr']:.3f} dB  ensemble={r['ensemble']}  {r['params']}")
    best = results[0]["params"]
    fields = ", ".join(f"{k}={v!r}" for k, v in best.items())
    print(f'paste into schedules.DEFAULTS: ("{args.problem}", "{args.method}"): ScheduleParams({fields}),')
    if args.out:
        Path(args.out).write_text(json.dumps({"prior": str(args.prior), "problem": args.problem,
                                              "method": args.method, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
