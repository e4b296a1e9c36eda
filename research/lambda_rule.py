r"""The prior weight λ of ``pnp_deblur`` (HQS) against the kernel: fixed-λ grid vs the kernel rule.

Four protocols, one PSNR per (case, λ), cached in a JSON file as it goes (a restart resumes):

- ``motion`` (dev): the deblurring dev cases of ``research/tune_schedule.py`` (``dev_cases("deblur",
  n_images=6)``): Kodak24 images 13-18, centre 256x256 crops, Levin kernel ``i % 8 + 1`` for image ``i``
  (kernels 1-6), reflecting borders, noise 2.55 and 7.65/255, solved with the default
  ``boundary="unknown"``; PSNR on the float output.
- ``gauss`` (dev): the same six crops blurred circularly by the anchors' kernels
  (``fspecial_gaussian(25, std)``, std 1.6 and 2.0, ``degrade_dpir``), noise 2.55 and 7.65/255,
  ``boundary="circular"``.
- ``shapes`` (dev): the same six crops blurred (reflecting borders) by a defocus disk of radius 5 and a
  straight horizontal motion of 15 pixels, noise 2.55 and 7.65/255, ``boundary="unknown"``.
- ``anchors`` (test data, reported, never tuned on): the deblurring anchors of ``benchmarks/restore.py``
  (Set3C, the same Gaussian kernels, circular blur, noise 2.55/255, the benchmark's seeds, PSNR of the
  output rounded to 8 bits).

For each case the script runs ``pnp_deblur(..., schedule={"lam": λ})`` for every λ of the grid and the
default call (no ``schedule``: λ from :func:`pnpleaves.restoration.prior_weight.deblur_lambda`), then
prints, per cell (protocol, kernel, noise level), the mean PSNR of each fixed λ, the best fixed λ of the
cell, the rule and today's 0.23. ``--fit`` refits the rule's two constants on the dev cells (the PSNR of a
case interpolated between the grid points).

Usage (one thread; about 2-4 s per 256x256 solve with OpenVINO f32 on the shared 2-core machine)::

    OMP_NUM_THREADS=1 python research/lambda_rule.py --data DIR --cache lambda_rule.json
    OMP_NUM_THREADS=1 python research/lambda_rule.py --data DIR --cache lambda_rule.json --no-run --fit

``DIR`` (or ``$PNPLEAVES_DATA``) holds ``testsets/Kodak24`` and ``testsets/Set3C``. ``--features`` prints
the ill-posedness and the rule's λ per case with the best fixed λ of the case. The table is in
``docs/restoration.md``, "λ from the kernel".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from pnpleaves.io import list_images, read_image
from pnpleaves.metrics import psnr
from pnpleaves.restoration import degrade_blur, degrade_dpir, fspecial_gaussian, pnp_deblur

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_schedule import dev_cases  # noqa: E402  (the dev protocol, not re-implemented)

GRID = (0.05, 0.07, 0.1, 0.15, 0.23, 0.3)
TODAY = 0.23
PROTOCOLS = ("motion", "gauss", "anchors", "shapes")
STDS = (1.6, 2.0)
LEVELS = (2.55, 7.65)


def _disk(radius: int) -> np.ndarray:
    u = np.arange(-radius, radius + 1)
    d = (u[:, None] ** 2 + u[None, :] ** 2 <= radius**2).astype(np.float64)
    return d / d.sum()


def _line(length: int) -> np.ndarray:
    k = np.zeros((length, length))
    k[length // 2, :] = 1.0 / length
    return k


#: kernels of other shapes (dev images): a defocus disk and a straight, horizontal motion
SHAPES = {"disk5": _disk(5), "line15": _line(15)}


def _q8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(x, np.float64), 0, 1) * 255) / 255


def build_cases(root: Path, protocols: tuple[str, ...] = PROTOCOLS, seed: int = 0) -> list[dict[str, Any]]:
    """The cases: dicts with ``protocol``, ``cell``, ``id``, ``x``, ``y``, ``kernel``, ``sigma``,
    ``boundary``, ``q8`` (score the 8-bit output)."""
    cases = []
    if "motion" in protocols:
        files = list_images(root / "testsets" / "Kodak24")[12:18]
        raw = dev_cases("deblur", root, 6, seed)  # two noise levels per image, in file order
        for j, c in enumerate(raw):
            i, level = divmod(j, 2)
            lv = LEVELS[level]
            assert abs(c["sigma"] - lv / 255) < 1e-12
            cases.append(dict(protocol="motion", cell=f"motion dev {lv}", id=f"{files[i].stem}-levin{i % 8 + 1}-{lv}",
                              x=c["x"], y=c["y"], kernel=c["kernel"], sigma=c["sigma"], boundary="unknown", q8=False))
    if "gauss" in protocols:
        for path in list_images(root / "testsets" / "Kodak24")[12:18]:
            x = read_image(path, channels=3).astype(np.float64)
            top, left = (x.shape[0] - 256) // 2, (x.shape[1] - 256) // 2
            x = x[top : top + 256, left : left + 256]
            for std in STDS:
                k = fspecial_gaussian(25, std)
                for lv in LEVELS:
                    y = degrade_dpir(x, k, 1, lv / 255, (seed, "lambda-rule", path.stem, str(std), str(lv)))
                    cases.append(dict(protocol="gauss", cell=f"gauss dev std {std} {lv}", id=f"{path.stem}-g{std}-{lv}",
                                      x=x, y=y, kernel=k, sigma=lv / 255, boundary="circular", q8=False))
    if "shapes" in protocols:
        for path in list_images(root / "testsets" / "Kodak24")[12:18]:
            x = read_image(path, channels=3).astype(np.float64)
            top, left = (x.shape[0] - 256) // 2, (x.shape[1] - 256) // 2
            x = x[top : top + 256, left : left + 256]
            for name, k in SHAPES.items():
                for lv in LEVELS:
                    y = degrade_blur(x, k, lv / 255, (seed, "lambda-rule", path.stem, name, str(lv)))
                    cases.append(dict(protocol="shapes", cell=f"{name} dev {lv}", id=f"{path.stem}-{name}-{lv}",
                                      x=x, y=y, kernel=k, sigma=lv / 255, boundary="unknown", q8=False))
    if "anchors" in protocols:
        for path in list_images(root / "testsets" / "Set3C"):
            x = read_image(path, channels=3).astype(np.float64)
            for std in STDS:
                k = fspecial_gaussian(25, std)
                sigma = 2.55 / 255
                y = degrade_dpir(x, k, 1, sigma, (seed, "anchor", path.stem, "deblur", str(std)))
                cases.append(dict(protocol="anchors", cell=f"anchors Set3C std {std} 2.55", id=f"{path.stem}-g{std}",
                                  x=x, y=y, kernel=k, sigma=sigma, boundary="circular", q8=True))
    return cases


def rule_lambda(case: dict[str, Any]) -> float:
    """The λ that the default call uses on ``case``."""
    from pnpleaves.restoration.prior_weight import deblur_lambda

    return deblur_lambda(case["kernel"], case["sigma"])


class Cache:
    """``{protocol|id|key: psnr}`` in a JSON file, rewritten after every new value."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, float] = {}
        if path is not None and path.is_file():
            self.data = json.loads(path.read_text())

    def get(self, key: str, fn: Callable[[], float]) -> float:
        if key not in self.data:
            self.data[key] = float(fn())
            if self.path is not None:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self.data, indent=0, sort_keys=True))
                tmp.replace(self.path)
        return self.data[key]


def _key(case: dict[str, Any], what: str) -> str:
    return f"{case['protocol']}|{case['id']}|{what}"


def _score(case: dict[str, Any], out: np.ndarray) -> float:
    return psnr(_q8(out) if case["q8"] else out, case["x"])


def run(cases: list[dict[str, Any]], den: Any, cache: Cache, grid: tuple[float, ...], rule: bool = True, *,
        backend: str = "auto", precision: str = "f32") -> None:
    """Fill the cache: every fixed λ of ``grid`` and (``rule``) the default call, for every case.

    ``den`` is a prior name (loaded once, shared by the calls), ``backend`` and ``precision`` those of
    ``pnp_deblur``."""
    for c in cases:
        common = dict(prior=den, sigma=c["sigma"], boundary=c["boundary"], backend=backend, precision=precision)
        jobs = [(f"lam={lam:g}", (lambda lam=lam: pnp_deblur(c["y"], c["kernel"], schedule={"lam": lam}, **common)))
                for lam in grid]
        if rule:
            jobs.append((f"rule={rule_lambda(c):.4f}", lambda: pnp_deblur(c["y"], c["kernel"], **common)))
        for what, fn in jobs:
            key = _key(c, what)
            if key in cache.data:
                continue
            t0 = time.perf_counter()
            value = cache.get(key, lambda fn=fn: _score(c, fn()))
            print(f"{key}: {value:.3f} dB ({time.perf_counter() - t0:.1f} s)", flush=True)


def table(cases: list[dict[str, Any]], cache: Cache, grid: tuple[float, ...]) -> str:
    """One markdown row per cell: mean PSNR of each fixed λ, best fixed λ, the rule, today's 0.23; then,
    per column, the worst cell's distance to its best fixed λ (dev cells and test cells apart)."""
    cells = list(dict.fromkeys(c["cell"] for c in cases))
    head = ("| cell | n | " + " | ".join(f"λ {lam:g}" for lam in grid)
            + " | best fixed λ | rule λ (range) | rule | rule − best | 0.23 − best |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    gaps: dict[str, dict[str, list[float]]] = {"dev": {}, "test": {}}
    for cell in cells:
        cc = [c for c in cases if c["cell"] == cell]
        means = {}
        for lam in grid:
            vals = [cache.data.get(_key(c, f"lam={lam:g}")) for c in cc]
            means[lam] = float(np.mean(vals)) if None not in vals else None
        lams = [rule_lambda(c) for c in cc]
        rv = [cache.data.get(_key(c, f"rule={lam:.4f}")) for c, lam in zip(cc, lams)]
        rule = float(np.mean(rv)) if None not in rv else None
        done = {lam: v for lam, v in means.items() if v is not None}
        best = max(done, key=done.get) if done else None
        row = [cell, str(len(cc))] + [fmt(means[lam]) for lam in grid]
        row.append("–" if best is None else f"{best:g}")
        row.append(f"{np.mean(lams):.3f} ({min(lams):.3f}–{max(lams):.3f})")
        row.append(fmt(rule))
        d_rule = None if rule is None or best is None else rule - done[best]
        d_today = None if best is None or means.get(TODAY) is None else means[TODAY] - done[best]
        row.append("–" if d_rule is None else f"{d_rule:+.2f}")
        row.append("–" if d_today is None else f"{d_today:+.2f}")
        lines.append("| " + " | ".join(row) + " |")
        if best is not None:
            role = gaps["test" if cc[0]["protocol"] == "anchors" else "dev"]
            for lam, v in done.items():
                role.setdefault(f"λ {lam:g}", []).append(v - done[best])
            if d_rule is not None:
                role.setdefault("rule", []).append(d_rule)
    for role, by in gaps.items():
        if by:
            lines.append(f"\nworst {role} cell − its best fixed λ: "
                         + ", ".join(f"{name} {min(v):+.2f}" for name, v in by.items()) + " dB")
    return "\n".join(lines)


def features(cases: list[dict[str, Any]], cache: Cache, grid: tuple[float, ...]) -> str:
    """Per case: the rule's spectral quantities, the rule's λ and the best fixed λ of the case."""
    from pnpleaves.restoration.prior_weight import ill_posedness

    lines = ["case | sigma x255 | ill-posedness | rule λ | best grid λ | PSNR at best"]
    for c in cases:
        vals = {lam: cache.data.get(_key(c, f"lam={lam:g}")) for lam in grid}
        vals = {k: v for k, v in vals.items() if v is not None}
        best = max(vals, key=vals.get) if vals else float("nan")
        m = ill_posedness(c["kernel"], c["sigma"])
        lines.append(f"{c['protocol']}|{c['id']} | {c['sigma'] * 255:.2f} | {m:.4f}"
                     f" | {rule_lambda(c):.3f} | {best:g} | {vals.get(best, float('nan')):.2f}")
    return "\n".join(lines)


def fit(cases: list[dict[str, Any]], cache: Cache, grid: tuple[float, ...], top: int = 8) -> str:
    """Refit the rule's two constants on the development cells (never the anchors).

    Each case's PSNR is interpolated in log λ between the grid points (monotone cubic, ``PchipInterpolator``);
    the rule ``min(1/4, lam0 * sqrt(max(sigma, 0.01) / 0.01) + c * m)``, with ``m`` the module's
    ``ill_posedness``, is scored per cell against the cell's best fixed λ, for ``lam0`` and ``c`` on a grid:
    the worst cell first (to 0.001 dB), then the mean over cells."""
    from scipy.interpolate import PchipInterpolator

    from pnpleaves.restoration.prior_weight import LAM_SAFE, SIGMA_REF, ill_posedness

    floor = 0.01
    rows = []
    for c in cases:
        if c["protocol"] == "anchors":
            continue
        vals = [cache.data.get(_key(c, f"lam={lam:g}")) for lam in grid]
        if None in vals:
            continue
        rows.append((c["cell"], PchipInterpolator(np.log(grid), vals), ill_posedness(c["kernel"], c["sigma"]),
                     np.sqrt(max(c["sigma"], floor) / SIGMA_REF), np.array(vals)))
    cells = sorted({r[0] for r in rows})
    best = {cell: max(np.mean([r[4] for r in rows if r[0] == cell], 0)) for cell in cells}
    results = []
    for lam0 in np.arange(0.03, 0.0801, 0.0025):
        for slope in np.arange(0.3, 1.2001, 0.01):
            per = {cell: [] for cell in cells}
            for cell, f, m, noise, _ in rows:
                lam = min(LAM_SAFE, lam0 * noise + slope * m)
                per[cell].append(float(f(np.log(np.clip(lam, grid[0], grid[-1])))))
            gaps = [np.mean(v) - best[cell] for cell, v in per.items()]
            results.append((round(min(gaps), 3), float(np.mean(gaps)), lam0, slope))
    results.sort(key=lambda r: (-r[0], -r[1]))
    lines = [f"fit on {len(rows)} dev cases, {len(cells)} cells (interpolated): worst cell, mean cell, lam0, c"]
    lines += [f"  {w:+.3f}  {m:+.3f}  lam0 {a:.4f}  c {b:.2f}" for w, m, a, b in results[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python research/lambda_rule.py", description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="test-set root holding testsets/ (default: $PNPLEAVES_DATA)")
    ap.add_argument("--prior", default="vl-drunet")
    ap.add_argument("--backend", default="auto", help="pnp_deblur's backend (default: auto)")
    ap.add_argument("--precision", default="f32", help="pnp_deblur's precision (default: f32, reproducible)")
    ap.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    ap.add_argument("--grid", default=",".join(f"{g:g}" for g in GRID), help="fixed λ values, comma-separated")
    ap.add_argument("--cache", default=None, help="JSON file of the per-case PSNRs (read, then extended)")
    ap.add_argument("--no-run", action="store_true", help="print the table from the cache only")
    ap.add_argument("--no-rule", action="store_true",
                    help="run the fixed-λ grid only (no default call, no rule column)")
    ap.add_argument("--features", action="store_true", help="print the per-case spectral quantities")
    ap.add_argument("--fit", action="store_true", help="refit the rule's two constants on the dev cells")
    args = ap.parse_args(argv)
    data = args.data or os.environ.get("PNPLEAVES_DATA")
    if not data:
        ap.error("no data folder: pass --data DIR or set PNPLEAVES_DATA (the folder that holds testsets/).")
    torch.set_num_threads(1)
    grid = tuple(float(v) for v in args.grid.split(","))
    cache = Cache(Path(args.cache) if args.cache else None)
    cases = build_cases(Path(data), tuple(args.protocols))
    if not args.no_run:
        run(cases, args.prior, cache, grid, rule=not args.no_rule, backend=args.backend, precision=args.precision)
    if args.features:
        print(features(cases, cache, grid))
    if args.fit:
        print(fit(cases, cache, grid))
    if not args.no_rule:
        print(table(cases, cache, grid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
