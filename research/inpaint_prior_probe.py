"""Is PnP inpainting limited by the solver or by the prior? Three measurements on one image.

1. the interpolation baseline (biharmonic) and the shipped ``pnp_inpaint`` default;
2. the simplest PnP loop there is, with no splitting parameter at all: start from the biharmonic
   fill, then ``z = D(x, s_k)``, ``x = m * y + (1 - m) * z`` along a geometric ladder of ``s_k``
   (several ladders); if no ladder beats the interpolation, no tuning of HQS / ADMM will;
3. how close each prior stays to the identity at small sigma: PSNR of ``D(x, s)`` against a clean
   ``x`` (and of ``D(x + s z, s)``), the regime the last iterations of every PnP run are in.

    python research/inpaint_prior_probe.py IMAGE [--crop 256] [--missing 0.5] [--priors vl-drunet dl-drunet]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pnpleaves import load_prior
from pnpleaves.io import read_image
from pnpleaves.metrics import psnr
from pnpleaves.restoration import pnp_inpaint
from pnpleaves.restoration.baselines import biharmonic_inpaint

LADDERS = ((50.0, 1.0, 30), (20.0, 1.0, 20), (10.0, 1.0, 10), (5.0, 0.5, 10))


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--missing", type=float, default=0.5)
    ap.add_argument("--priors", nargs="+", default=["vl-drunet", "dl-drunet"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = read_image(args.image)[: args.crop, : args.crop]
    m = np.random.default_rng(0).random(x.shape[:2]) >= args.missing
    y = x * m[..., None]
    X, M = _t(x), _t(np.repeat(m[..., None], 3, 2))
    fill = biharmonic_inpaint(y, m)
    print(f"{args.image}, {x.shape[0]}x{x.shape[1]}, {args.missing:.0%} missing")
    print(f"biharmonic: {float(psnr(_t(fill), X)):.2f} dB")
    for name in args.priors:
        t0 = time.perf_counter()
        out = pnp_inpaint(y, m, prior=name)
        print(f"{name} pnp_inpaint default: {float(psnr(_t(out), X)):.2f} dB ({time.perf_counter() - t0:.0f} s)")
        den = load_prior(name)
        with torch.no_grad():
            for s0, s1, n in LADDERS:
                xk = _t(fill)
                for s in np.geomspace(s0, s1, n) / 255:
                    xk = M * (X * M) + (1 - M) * den(xk, float(s))
                print(f"{name} projection loop sigma {s0:g} -> {s1:g} /255, {n} steps: {float(psnr(xk, X)):.2f} dB")
            for s in (0.5, 1.0, 2.0, 5.0):
                noise = torch.randn(X.shape, generator=torch.Generator().manual_seed(0)) * s / 255
                clean_in = float(psnr(den(X, s / 255), X))
                noisy_in = float(psnr(den(X + noise, s / 255), X))
                print(f"{name} identity at sigma {s:g}/255: D(clean) {clean_in:.2f} dB, D(noisy) {noisy_in:.2f} dB "
                      f"(noisy input {float(psnr(X + noise, X)):.2f} dB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
