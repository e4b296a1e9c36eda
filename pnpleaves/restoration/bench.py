"""``pnpleaves bench restore``: restoration benchmark (prints a table, writes a CSV).

Problems (data from ``--data``, default ``$PNPLEAVES_DATA`` or ``<repo>/../shared/data``):

- deblurring: the 8 Levin kernels x Set3C, Gaussian noise 2.55/255 and 7.65/255, blur with
  ``scipy.ndimage.convolve(mode="reflect")`` (``--boundary wrap`` for DPIR's circular protocol, where
  our solvers then use ``boundary="circular"``);
- super-resolution x2 and x4: Set5 and Set14, anti-aliased bicubic kernel (MATLAB ``imresize``),
  reflecting borders, no noise; PSNR/SSIM skip a border of ``scale`` pixels;
- inpainting: the first 6 Kodak24 images, 50 % and 80 % of pixels missing at random, and a central
  128x128 block missing; no noise.

Rows: every prior (``--priors``, default vl-drunet and dl-drunet; unregistered ones are skipped with
a note) with HQS and ADMM, deepinv's ``DPIR`` class fed the same denoiser (parity check), and the
classical baselines (Wiener and TV for deblurring, bicubic and TV for SR, TV and push-pull
interpolation for inpainting; PnP-CBM3D with ``--bm3d``, for every problem, with the default HQS
schedule of each problem). Every method gets the true noise level. The CSV has one line per
(problem, setting, image, method); the table shows means, and a "targets" section checks the issue's
goals when the rows needed exist (PnP-CBM3D counts as a classical baseline there).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

logger = logging.getLogger(__name__)

DEFAULT_PRIORS = ("vl-drunet", "dl-drunet")


def default_data_root() -> Path:
    env = os.environ.get("PNPLEAVES_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="folder with testsets/ (default: $PNPLEAVES_DATA or ../shared/data)")
    parser.add_argument("--priors", nargs="+", default=list(DEFAULT_PRIORS), help="prior names or weight files")
    parser.add_argument("--methods", nargs="+", default=["hqs", "admm"], choices=["hqs", "admm"])
    parser.add_argument("--problems", nargs="+", default=["deblur", "sr", "inpaint"], choices=["deblur", "sr", "inpaint"])
    parser.add_argument("--boundary", choices=("reflect", "wrap"), default="reflect",
                        help="how the deblurring data are blurred (wrap = DPIR's circular protocol)")
    parser.add_argument("--quick", action="store_true", help="1 image per set, kernels 1 and 4 (a smoke run)")
    parser.add_argument("--no-dpir", action="store_true", help="skip deepinv's DPIR rows")
    parser.add_argument("--no-baselines", action="store_true", help="skip the classical baselines")
    parser.add_argument("--bm3d", action="store_true",
                        help="add PnP-CBM3D (HQS) rows for every problem (slow: 1.5 min per 256x256 deblurring; needs bm3d)")
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4], choices=[2, 4],
                        help="super-resolution factors to run (default: 2 4)")
    parser.add_argument("--noise", nargs="+", type=float, default=[2.55, 7.65], choices=[2.55, 7.65],
                        help="deblurring noise levels to run, on the 0-255 scale (default: 2.55 7.65)")
    parser.add_argument("--no-timing", action="store_true", help="skip the 512x512 default-settings timing")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--csv", default="bench_restore.csv", help="CSV file to write (default bench_restore.csv)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-baselines", default=None, metavar="CSV",
                        help="take the classical-baseline rows (which do not depend on any prior) from an earlier "
                             "CSV of this benchmark instead of recomputing them; same --seed and --boundary")


# --------------------------------------------------------------------------- data


def _images(root: Path, name: str, limit: int | None) -> list[tuple[str, np.ndarray]]:
    from pnpleaves.io import list_images, read_image

    files = list_images(root / "testsets" / name)
    if limit is not None:
        files = files[:limit]
    return [(p.stem, read_image(p, channels=3).astype(np.float64)) for p in files]


def _stable_rng(seed: int, *keys: Any) -> np.random.Generator:
    """A generator that depends only on (seed, keys), not on PYTHONHASHSEED."""
    import zlib

    return np.random.default_rng([seed, *[zlib.crc32(str(k).encode()) for k in keys]])


def _metrics(x: np.ndarray, ref: np.ndarray, border: int = 0) -> tuple[float, float]:
    from skimage.metrics import structural_similarity

    if border:
        x, ref = x[border:-border, border:-border], ref[border:-border, border:-border]
    x = np.clip(np.asarray(x, np.float64), 0, 1)
    mse = float(np.mean((x - ref) ** 2))
    psnr = 10 * np.log10(1.0 / max(mse, 1e-20))
    ssim = float(structural_similarity(x, ref, channel_axis=-1, data_range=1.0))
    return psnr, ssim


def _to_t(img: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None].to(device)


def _to_np(t: torch.Tensor) -> np.ndarray:
    return t[0].detach().cpu().permute(1, 2, 0).double().numpy()


# --------------------------------------------------------------------------- runners


def _dpir(den, y: np.ndarray, physics, sigma: float, device) -> np.ndarray:
    import deepinv as dinv

    model = dinv.optim.DPIR(sigma=max(sigma, 1 / 255), denoiser=den, device=device or "cpu")
    with torch.no_grad():
        out = model(_to_t(y, device), physics.to(device))
    return _to_np(out)


BASELINES = ("wiener", "tv", "bicubic", "push-pull", "cbm3d/hqs")


def _read_baselines(path: Path) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """Classical-baseline rows of an earlier benchmark CSV, keyed by (problem, setting, image, method)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("method") in BASELINES]
    return {(r["problem"], r["setting"], r["image"], r["method"]):
            dict(r, psnr=float(r["psnr"]), ssim=float(r["ssim"]), seconds=float(r["seconds"])) for r in rows}


class _Recorder:
    def __init__(self, reuse: dict[tuple[str, str, str, str], dict[str, Any]] | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.reuse = reuse or {}

    def run(self, problem: str, setting: str, image: str, method: str, fn: Callable[[], np.ndarray],
            ref: np.ndarray, border: int = 0) -> None:
        old = self.reuse.get((problem, setting, image, method))
        if old is not None:
            self.rows.append(old)
            return
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        psnr, ssim = _metrics(out, ref, border)
        self.rows.append(dict(problem=problem, setting=setting, image=image, method=method,
                              psnr=round(psnr, 4), ssim=round(ssim, 5), seconds=round(dt, 3)))
        logger.info("%-8s %-14s %-12s %-22s %6.2f dB  %.4f  %.1f s", problem, setting, image, method, psnr, ssim, dt)


def _deblur(rec, root, priors, args, device) -> None:
    from scipy import ndimage

    import deepinv as dinv

    from . import baselines
    from .api import pnp_deblur
    from .kernels import levin_kernel

    images = _images(root, "Set3C", 1 if args.quick else None)
    kernels = [1, 4] if args.quick else list(range(1, 9))
    mode = "reflect" if args.boundary == "reflect" else "wrap"
    boundary = "unknown" if mode == "reflect" else "circular"
    for level in args.noise:
        sigma = level / 255
        setting = f"noise {level}"
        for name, x in images:
            for ki in kernels:
                k = levin_kernel(ki)
                rng = _stable_rng(args.seed, "deblur", name, ki, level)
                y = np.stack([ndimage.convolve(x[..., c], k, mode=mode) for c in range(3)], -1)
                y = (y + sigma * rng.standard_normal(y.shape)).astype(np.float32)
                tag = f"{name}/k{ki}"
                for label, den in priors.items():
                    for m in args.methods:
                        rec.run("deblur", setting, tag, f"{label}/{m}",
                                lambda: pnp_deblur(y, k, den, sigma=sigma, method=m, boundary=boundary, device=device), x)
                    if not args.no_dpir:
                        phys = dinv.physics.BlurFFT(img_size=(3, *x.shape[:2]), filter=torch.from_numpy(k).float()[None, None])
                        rec.run("deblur", setting, tag, f"{label}/dpir", lambda: _dpir(den, y, phys, sigma, device), x)
                if not args.no_baselines:
                    rec.run("deblur", setting, tag, "wiener", lambda: baselines.wiener_deblur(y, k, sigma=sigma), x)
                    rec.run("deblur", setting, tag, "tv", lambda: baselines.tv_deblur(y, k, sigma=sigma), x)
                if args.bm3d:
                    rec.run("deblur", setting, tag, "cbm3d/hqs",
                            lambda: baselines.pnp_cbm3d_deblur(y, k, sigma=sigma, boundary=boundary), x)


def _check_bm3d(args: argparse.Namespace) -> None:
    """With ``--bm3d``, an error that says how to install ``bm3d`` when it is missing."""
    from pnpleaves.models.bm3d import bm3d_available

    if args.bm3d and not bm3d_available():
        raise ValueError("--bm3d needs the optional 'bm3d' package, which is not installed; "
                         "pip install bm3d (or pip install -e '.[bm3d]'), or drop --bm3d.")


def _sr(rec, root, priors, args, device) -> None:
    import deepinv as dinv

    from . import baselines
    from .api import pnp_super_resolve
    from .problems import bicubic_kernel

    for scale in args.scales:
        kt = torch.from_numpy(bicubic_kernel(scale)).float()[None, None]
        for set_name in ("Set5", "Set14"):
            setting = f"x{scale} {set_name}"
            for name, x in _images(root, set_name, 1 if args.quick else None):
                h, w = (x.shape[0] // scale) * scale, (x.shape[1] // scale) * scale
                x = x[:h, :w]
                down = dinv.physics.Downsampling(img_size=(3, h, w), filter=kt, factor=scale, padding="reflect")
                with torch.no_grad():
                    y = _to_np(down.A(_to_t(x, "cpu"))).astype(np.float32)
                for label, den in priors.items():
                    for m in args.methods:
                        rec.run("sr", setting, name, f"{label}/{m}",
                                lambda: pnp_super_resolve(y, scale, prior=den, sigma=0.0, method=m, device=device),
                                x, scale)
                    if not args.no_dpir:
                        phys = dinv.physics.Downsampling(img_size=(3, h, w), filter=kt, factor=scale, padding="circular")
                        rec.run("sr", setting, name, f"{label}/dpir", lambda: _dpir(den, y, phys, 0.0, device), x, scale)
                if not args.no_baselines:
                    rec.run("sr", setting, name, "bicubic", lambda: baselines.bicubic_upsample(y, scale), x, scale)
                    rec.run("sr", setting, name, "tv", lambda: baselines.tv_super_resolve(y, scale, sigma=0.0), x, scale)
                if args.bm3d:
                    rec.run("sr", setting, name, "cbm3d/hqs",
                            lambda: pnp_super_resolve(y, scale, prior=baselines.BM3DDenoiser(), sigma=0.0), x, scale)


def _masks(shape: tuple[int, int], seed: int, name: str) -> dict[str, np.ndarray]:
    h, w = shape
    out = {}
    for frac in (0.5, 0.8):
        out[f"{int(frac * 100)}% missing"] = _stable_rng(seed, "mask", name, frac).random((h, w)) >= frac
    block = np.ones((h, w), bool)
    block[h // 2 - 64 : h // 2 + 64, w // 2 - 64 : w // 2 + 64] = False
    out["block 128"] = block
    return out


def _inpaint(rec, root, priors, args, device) -> None:
    import deepinv as dinv

    from . import baselines
    from .api import pnp_inpaint
    from .problems import fill_missing

    for name, x in _images(root, "Kodak24", 1 if args.quick else 6):
        for setting, mask in _masks(x.shape[:2], args.seed, name).items():
            y = (x * mask[..., None]).astype(np.float32)
            mt = torch.from_numpy(mask.astype(np.float32))[None, None].expand(1, 3, *mask.shape)
            for label, den in priors.items():
                for m in args.methods:
                    rec.run("inpaint", setting, name, f"{label}/{m}",
                            lambda: pnp_inpaint(y, mask, prior=den, sigma=0.0, method=m, device=device), x)
                if not args.no_dpir:
                    phys = dinv.physics.Inpainting(img_size=(3, *mask.shape), mask=mt.clone())
                    rec.run("inpaint", setting, name, f"{label}/dpir", lambda: _dpir(den, y, phys, 0.0, device), x)
            if not args.no_baselines:
                rec.run("inpaint", setting, name, "push-pull",
                        lambda: _to_np(fill_missing(_to_t(y, "cpu"), mt)), x)
                rec.run("inpaint", setting, name, "tv", lambda: baselines.tv_inpaint(y, mask, sigma=0.0), x)
            if args.bm3d:
                rec.run("inpaint", setting, name, "cbm3d/hqs",
                        lambda: pnp_inpaint(y, mask, prior=baselines.BM3DDenoiser(), sigma=0.0), x)


# --------------------------------------------------------------------------- summary


def summarise(rows: list[dict[str, Any]]) -> tuple[dict, list[str]]:
    """Means per (method, problem, setting) and the column order."""
    acc: dict[tuple[str, str], list[dict]] = defaultdict(list)
    cols: list[str] = []
    for r in rows:
        col = f"{r['problem']} {r['setting']}"
        if col not in cols:
            cols.append(col)
        acc[(r["method"], col)].append(r)
    means = {
        key: (float(np.mean([r["psnr"] for r in v])), float(np.mean([r["ssim"] for r in v])),
              float(np.mean([r["seconds"] for r in v])))
        for key, v in acc.items()
    }
    return means, cols


def format_table(rows: list[dict[str, Any]]) -> str:
    means, cols = summarise(rows)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    width = max([len(m) for m in methods] + [6])
    head = f"{'method':{width}s} | " + " | ".join(f"{c:^22s}" for c in cols)
    lines = [head, "-" * len(head)]
    for m in methods:
        cells = []
        for c in cols:
            v = means.get((m, c))
            cells.append(f"{v[0]:6.2f} {v[1]:.4f} {v[2]:6.2f}s" if v else f"{'-':^22s}")
        lines.append(f"{m:{width}s} | " + " | ".join(cells))
    lines.append("(each cell: mean PSNR dB, mean SSIM, seconds per image)")
    return "\n".join(lines)


def check_targets(rows: list[dict[str, Any]], priors: list[str], timing: float | None) -> list[str]:
    means, cols = summarise(rows)
    out = []

    def best(prefix: str, col: str) -> float | None:
        vals = [v[0] for (m, c), v in means.items() if c == col and m.startswith(prefix + "/") and not m.endswith("/dpir")]
        return max(vals) if vals else None

    for p in priors:
        for c in cols:
            h, d = means.get((f"{p}/hqs", c)), means.get((f"{p}/dpir", c))
            if h and d:
                ok = h[0] >= d[0] - 0.05
                out.append(f"[{'ok' if ok else 'MISS'}] {p} HQS vs DPIR, {c}: {h[0] - d[0]:+.2f} dB (target >= -0.05)")
    classical = {"deblur": ("wiener", "tv", "cbm3d/hqs"), "sr": ("bicubic", "tv", "cbm3d/hqs"),
                 "inpaint": ("tv", "push-pull", "cbm3d/hqs")}
    if "vl-drunet" in priors:
        for c in cols:
            if c.startswith("deblur noise 2.55") or c.startswith("sr x4"):
                prob = c.split()[0]
                base = [means[(b, c)][0] for b in classical[prob] if (b, c) in means]
                if not all(np.isfinite(base)):
                    bad = [b for b in classical[prob] if (b, c) in means and not np.isfinite(means[(b, c)][0])]
                    out.append(f"[WARN] {', '.join(bad)} gave non-finite PSNR in {c}: left out of the comparison")
                    base = [v for v in base if np.isfinite(v)]
                ours = best("vl-drunet", c)
                if base and ours is not None:
                    gain = ours - max(base)
                    out.append(f"[{'ok' if gain >= 1.5 else 'MISS'}] vl-drunet vs best classical, {c}: {gain:+.2f} dB (target >= +1.5)")
    if "vl-drunet" in priors and "dl-drunet" in priors:
        for c in cols:
            a, b = best("vl-drunet", c), best("dl-drunet", c)
            if a is not None and b is not None:
                out.append(f"[{'ok' if a >= b else 'MISS'}] vl-drunet >= dl-drunet, {c}: {a - b:+.2f} dB")
    if timing is not None:
        out.append(f"[{'ok' if timing <= 10 else 'MISS'}] 512x512 colour deblur, default settings: {timing:.1f} s (target <= 10)")
    return out


def time_default_deblur(root: Path, prior: Any, device=None) -> float:
    """Seconds for ``pnp_deblur`` with default settings on a 512x512 colour image (Kodak24_full crop)."""
    from scipy import ndimage

    from pnpleaves.io import list_images, read_image

    from .api import pnp_deblur
    from .kernels import levin_kernel

    x = read_image(list_images(root / "testsets" / "Kodak24_full")[0], channels=3)[:512, :512].astype(np.float64)
    k = levin_kernel(4)
    y = np.stack([ndimage.convolve(x[..., c], k, mode="reflect") for c in range(3)], -1)
    y = np.clip(y + 0.01 * _stable_rng(0, "timing").standard_normal(y.shape), 0, 1).astype(np.float32)
    pnp_deblur(y[:64, :64], k, prior, sigma=0.01, device=device)  # warm-up
    t0 = time.perf_counter()
    pnp_deblur(y, k, prior, device=device)
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> int:
    from pnpleaves.priors import resolve_prior

    _check_bm3d(args)  # before any work: a missing optional package fails at once
    root = Path(args.data) if args.data else default_data_root()
    if not (root / "testsets").is_dir():
        raise FileNotFoundError(f"no testsets/ folder under {str(root)!r}; pass --data or set PNPLEAVES_DATA.")
    priors: dict[str, Any] = {}
    for p in args.priors:
        try:
            den, _ = resolve_prior(p, args.device)
        except (ValueError, FileNotFoundError) as exc:
            print(f"note: skipping prior {p!r}: {exc}")
            continue
        priors[Path(p).stem if os.sep in p or p.endswith(".safetensors") else p] = den
    reuse = None
    if args.reuse_baselines:
        path = Path(args.reuse_baselines)
        if not path.is_file():
            raise FileNotFoundError(f"--reuse-baselines: no CSV at {str(path)!r}; run the benchmark once with "
                                    "the baselines and --csv FILE first.")
        reuse = _read_baselines(path)
    rec = _Recorder(reuse)
    for prob, fn in (("deblur", _deblur), ("sr", _sr), ("inpaint", _inpaint)):
        if prob in args.problems:
            fn(rec, root, priors, args, args.device)
    # write the rows first: nothing measured is lost if the timing below fails or is interrupted
    path = Path(args.csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["problem", "setting", "image", "method", "psnr", "ssim", "seconds"])
        w.writeheader()
        w.writerows(rec.rows)
    print(format_table(rec.rows))
    print(f"wrote {path} ({len(rec.rows)} rows)")
    timing = None
    if not args.no_timing and "vl-drunet" in priors:
        timing = time_default_deblur(root, priors["vl-drunet"], args.device)
    for line in check_targets(rec.rows, list(priors), timing):
        print(line)
    return 0
