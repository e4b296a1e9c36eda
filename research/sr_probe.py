r"""Does the algorithm or the prior limit noise-free super-resolution? PnP-HQS variants, side by side.

Every variant runs HQS on the tuning cases of ``research/tune_schedule.py`` (Kodak24 images 13-24,
256x256 centre crops, bicubic kernel, no noise; never the benchmark images), with the exact data step
of :func:`pnpleaves.restoration.problems.sr_problem` and the cycle ensemble of the API:

.. math:: u_k = \operatorname{prox}_{\gamma_k f}(x_k), \qquad
          x_{k+1} = \frac1M \sum_{m=1}^{M} D_{c\,\tilde\sigma_k}\big(u_k + \eta\,\sigma_k\,\xi_m\big),
          \quad \tilde\sigma_k = \sigma_k\sqrt{1 + \eta^2},\ \xi_m \sim \mathcal N(0, I)

- ``c`` scales the noise level the denoiser is told (over- or under-smoothing);
- ``eta > 0`` re-noises the input before denoising (stochastic denoising regularisation, Renaud et al.,
  "Plug-and-Play image restoration with stochastic denoising regularization", ICML 2024; the fresh
  noise makes the denoiser's input look like its training data), averaged over ``M`` draws;
- ``init="tv"`` starts from the TV solution instead of bicubic upsampling.

``variant "default"`` is exactly :func:`pnpleaves.pnp_super_resolve` with its default schedule (tested).

Usage (``--data DIR`` or ``$PNPLEAVES_DATA``: the folder that holds ``testsets/Kodak24``)::

    python research/sr_probe.py --prior vl-drunet --scale 4 --images 6
    python research/sr_probe.py --prior cbm3d --variants default iter4

The x4 study made with it is in ``docs/results.md`` ("Why x4 super-resolution does not move").
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnpleaves.images import to_bchw
from pnpleaves.metrics import psnr
from pnpleaves.models import BM3DDenoiser, DihedralCycle
from pnpleaves.priors import resolve_prior
from pnpleaves.restoration.baselines import tv_lambda, tv_restore
from pnpleaves.restoration.kernels import sr_kernel
from pnpleaves.restoration.problems import Problem, sr_problem
from pnpleaves.restoration.schedules import default_params, make_schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_schedule import dev_cases  # noqa: E402  (research/ is not a package)

logger = logging.getLogger("research.sr_probe")


@dataclass(frozen=True)
class Variant:
    """One PnP-HQS variant: a schedule override plus the knobs of the module docstring."""

    n_iter: int | None = None
    sigma_start: float | None = None
    sigma_min: float | None = None
    fixed_sigma: float | None = None  # every iteration at this level instead of the geometric ladder
    sigma_scale: float = 1.0  # c
    renoise: float = 0.0  # eta
    draws: int = 1  # M
    init: str = "bicubic"


#: the variants of the x4 study (key: what it changes against the API's default)
VARIANTS: dict[str, Variant] = {
    "default": Variant(),
    "iter4": Variant(n_iter=4),
    "iter8": Variant(n_iter=8),
    "dpir-ladder": Variant(n_iter=24, sigma_start=49 / 255, sigma_min=4 / 255),  # DPIR's SR: 24 it., 49 -> 4/255
    "told-0.7": Variant(n_iter=8, sigma_scale=0.7),
    "told-1.4": Variant(n_iter=8, sigma_scale=1.4),
    "renoise": Variant(n_iter=8, renoise=1.0),
    "renoise-4draws": Variant(n_iter=8, renoise=1.0, draws=4),
    "fixed-10": Variant(n_iter=20, fixed_sigma=10 / 255),  # 20 iterations at 10/255
    "tv-start": Variant(n_iter=8, sigma_start=50 / 255, init="tv"),  # from the TV solution, 50/255 down
}


def sr_case_problem(case: dict[str, Any]) -> Problem:
    """The padded SR problem of a tuning case, built as :func:`pnpleaves.pnp_super_resolve` builds it."""
    s = int(case["scale"])
    y, _ = to_bchw(np.clip(case["y"], 0, 1), "y")
    return sr_problem(y, s, sr_kernel("bicubic", s, (y.shape[-2] * s, y.shape[-1] * s)))


def _to_hwc(problem: Problem, x: torch.Tensor) -> np.ndarray:
    return problem.crop_output(x).clamp(0, 1)[0].permute(1, 2, 0).double().numpy()  # as the API returns it


def run_variant(case: dict[str, Any], den: torch.nn.Module, variant: Variant, *, sigma_range=None,
                seed: int = 0) -> np.ndarray:
    """HR estimate ``(H, W, 3)`` of one tuning case (``case`` from ``tune_schedule.dev_cases``)."""
    problem = sr_case_problem(case)
    params = default_params("sr", "hqs")
    fields = {k: getattr(variant, k) for k in ("n_iter", "sigma_start", "sigma_min") if getattr(variant, k) is not None}
    sched = make_schedule(0.0, replace(params, **fields), sigma_range=sigma_range)
    sigmas = [variant.fixed_sigma] * sched.n_iter if variant.fixed_sigma else list(sched.sigmas)
    denom = params.lam * params.sigma_floor**2
    cycle = DihedralCycle(den)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = problem.x_init
        if variant.init == "tv":
            x = tv_restore(problem, tv_lambda(0.0))
        for sig in sigmas:
            u = problem.physics.prox_l2(x, problem.y, sig * sig / denom)
            if variant.renoise > 0:  # the M draws go through the denoiser as one batch, one orientation
                told = variant.sigma_scale * sig * math.sqrt(1 + variant.renoise**2)
                draws = u.expand(variant.draws, *u.shape[1:])
                noise = torch.randn(draws.shape, generator=gen, dtype=u.dtype)
                x = cycle(draws + variant.renoise * sig * noise, told).mean(0, keepdim=True)
            else:
                x = cycle(u, variant.sigma_scale * sig)
    return _to_hwc(problem, x)


def references(case: dict[str, Any]) -> dict[str, np.ndarray]:
    """Two yardsticks for a tuning case: the bicubic start of every variant, and one exact data step
    (gamma = 1e6) applied to the true image, which shows that the forward model matches the data."""
    problem = sr_case_problem(case)
    top, left, h, w = problem.crop
    truth = problem.x_init.clone()
    truth[..., top : top + h, left : left + w] = torch.from_numpy(np.asarray(case["x"])).permute(2, 0, 1).to(truth)
    with torch.no_grad():
        step = problem.physics.prox_l2(truth, problem.y, 1e6)
    return {"bicubic": _to_hwc(problem, problem.x_init), "data step of the truth": _to_hwc(problem, step)}


def probe(prior: Any, variants: dict[str, Variant] | None = None, *, data: str | Path, scale: int = 4,
          n_images: int = 6, seed: int = 0) -> list[dict[str, Any]]:
    """Mean PSNR (border ``scale``) of each variant on the ``scale`` tuning cases, in the given order,
    after the two :func:`references` (names in brackets).

    :param prior: a registered name, weights path or Denoiser, or ``"cbm3d"`` (needs ``bm3d``; slow).
    :param data: the test-set root (holds ``testsets/Kodak24``).
    """
    if isinstance(prior, str) and prior == "cbm3d":
        den, srange = BM3DDenoiser(), None
    else:
        den, srange = resolve_prior(prior)
    den.eval()
    cases = [c for c in dev_cases("sr", Path(data), n_images, seed) if c["scale"] == scale]
    results = []
    refs = [references(c) for c in cases]
    for name in refs[0]:
        psnrs = [psnr(r[name], c["x"], border=scale) for r, c in zip(refs, cases)]
        results.append({"variant": f"({name})", "psnr": float(np.mean(psnrs)),
                        "per_image": [round(float(p), 2) for p in psnrs], "seconds": 0.0})
    for name, var in (variants or VARIANTS).items():
        t0 = time.perf_counter()
        psnrs = [psnr(run_variant(c, den, var, sigma_range=srange, seed=seed), c["x"], border=scale) for c in cases]
        results.append({"variant": name, "psnr": float(np.mean(psnrs)), "per_image": [round(float(p), 2) for p in psnrs],
                        "seconds": time.perf_counter() - t0})
        logger.info("%7.3f dB  %6.0f s  %s", results[-1]["psnr"], results[-1]["seconds"], name)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python research/sr_probe.py", description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="vl-drunet", help="registered name, weights file, or cbm3d")
    ap.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS), metavar="NAME",
                    help="run only these (default: all): " + ", ".join(VARIANTS))
    ap.add_argument("--scale", type=int, default=4, choices=(2, 4))
    ap.add_argument("--images", type=int, default=6, help="number of tuning images (max 12)")
    ap.add_argument("--data", default=None, help="test-set root holding testsets/ (default: $PNPLEAVES_DATA)")
    args = ap.parse_args(argv)
    data = args.data or os.environ.get("PNPLEAVES_DATA")
    if not data:
        ap.error("no data folder: pass --data DIR or set PNPLEAVES_DATA (the folder that holds testsets/).")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chosen = {k: VARIANTS[k] for k in args.variants} if args.variants else None
    results = probe(args.prior, chosen, data=data, scale=args.scale, n_images=args.images)
    print("best first:")
    for r in sorted(results, key=lambda r: -r["psnr"]):
        print(f"{r['psnr']:7.3f} dB  {r['variant']}  {r['per_image']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
