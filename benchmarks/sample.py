"""Speed of the samplers: ``python benchmarks/sample.py [--prior NAME] ...`` (prints a table; never a
unit test).

Figures: wall seconds for one unconditional 64x64 and one 256x256 sample with the default method
(VE ancestral, 100 steps + final denoise, fitted-Gaussian start included), denoiser milliseconds per
call, and PnP-ULA seconds per iteration (9x9 box blur, sigma_y = 1/255) at 64x64 and 256x256. Without
``--prior`` the denoiser is a randomly initialised DRUNet nc=[32, 64, 128, 256], nb=2 (4.3 M
parameters): the cost does not depend on the weights. Run from a source checkout after
``pip install -e .``; the latest table is in ``docs/results.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import deepinv as dinv
import torch

from pnpleaves.errors import UserError
from pnpleaves.models import build_model, count_parameters
from pnpleaves.priors import resolve_prior
from pnpleaves.sampling import DEFAULT_STEPS, METHODS, sample_posterior, sample_prior


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python benchmarks/sample.py", description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=None, help="prior name or weights file (default: random-init DRUNet)")
    parser.add_argument("--method", default="ancestral", choices=sorted(METHODS),
                        help="unconditional method (default ancestral)")
    parser.add_argument("--steps", type=int, default=None, help="steps (default: the method's default)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs at 64x64 (median; default 3)")
    parser.add_argument("--ula-iters", type=int, default=20, help="PnP-ULA iterations timed (default 20)")
    parser.add_argument("--skip-256", action="store_true", help="skip the 256x256 figures")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return parser


def make_denoiser(prior: str | None) -> tuple[torch.nn.Module, str]:
    """The denoiser to time and its label: ``prior`` loaded, or a random-init DRUNet of the shipped size."""
    if prior is not None:
        return resolve_prior(prior, None)[0], str(prior)
    den = build_model("drunet", {"in_channels": 3, "out_channels": 3, "nc": [32, 64, 128, 256], "nb": 2}).eval()
    for p in den.parameters():
        p.requires_grad_(False)
    return den, f"random-init DRUNet nc=[32,64,128,256] nb=2 ({count_parameters(den) / 1e6:.2f} M)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    try:
        den, label = make_denoiser(args.prior)
    except (UserError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    steps = args.steps or DEFAULT_STEPS.get(args.method, 100)
    print(f"# sampling benchmark: {label}; {torch.get_num_threads()} torch thread(s)")
    rows = []

    def one_sample(size: int) -> float:
        t0 = time.perf_counter()
        sample_prior(den, n=1, size=size, method=args.method, steps=steps, seed=0)
        return time.perf_counter() - t0

    def nfe_ms(size: int) -> float:
        x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            den(x, 0.1)
            t0 = time.perf_counter()
            for _ in range(5):
                den(x, 0.1)
        return (time.perf_counter() - t0) / 5 * 1e3

    def ula_s_per_iter(size: int) -> float:
        phys = dinv.physics.BlurFFT(img_size=(3, size, size), filter=torch.ones(1, 1, 9, 9) / 81,
                                    noise_model=dinv.physics.GaussianNoise(sigma=1 / 255))
        x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        y = phys.A(x)
        sample_posterior(y, phys, den, n_samples=1, n_iter=2)  # warm-up
        t0 = time.perf_counter()
        sample_posterior(y, phys, den, n_samples=1, n_iter=args.ula_iters)
        return (time.perf_counter() - t0) / args.ula_iters

    sample_prior(den, n=1, size=64, method="ancestral", steps=2, seed=0)  # warm-up
    t64 = statistics.median(one_sample(64) for _ in range(max(1, args.repeat)))
    rows.append((f"1 sample 64x64, {args.method} {steps} steps", f"{t64:.2f} s", "<= 5 s"))
    rows.append(("denoiser call 64x64", f"{nfe_ms(64):.1f} ms", ""))
    rows.append(("PnP-ULA iteration 64x64", f"{ula_s_per_iter(64):.4f} s", "reported"))
    if not args.skip_256:
        sample_prior(den, n=1, size=256, method="ancestral", steps=1, seed=0)  # warm-up
        t256 = one_sample(256)
        rows.append((f"1 sample 256x256, {args.method} {steps} steps", f"{t256:.1f} s", "<= 60 s"))
        rows.append(("denoiser call 256x256", f"{nfe_ms(256):.0f} ms", ""))
        rows.append(("PnP-ULA iteration 256x256", f"{ula_s_per_iter(256):.3f} s", "reported"))
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'value':>10}  {'target':>8}")
    for name, value, target in rows:
        print(f"{name:<{w}}  {value:>10}  {target:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
