"""The quality/speed frontier of colour denoisers: ``python benchmarks/frontier.py --reference DIR [options]``.

Every model is measured the same way:

- **PSNR** on the dev sets (default Kodak24, Set14, Set5) at sigma 15 / 25 / 50 (0-255 scale), the noise of
  image ``k`` drawn from a generator seeded by ``(seed, k)`` (:func:`pnpleaves.training.evaluate.noisy_version`),
  so every model denoises the same noisy pixels; output clipped to [0, 1].
- **Seconds per 512x512 colour call** in eager fp32 PyTorch (``torch.inference_mode``), ``--threads`` threads,
  rounds interleaved over all models in this one process (each round calls every model once, in turn); the
  ratio of minima to the reference FFDNet-VL is the figure of merit (medians beside it).

``--reference DIR`` is a folder holding the VibrantLeaves authors' published weights ``ffdnet_vl.pth`` and
``ffdnet_dl.pth`` (``models_zoo/`` of github.com/rachddou/DeadLeavesPlus). They are read with this package's own
FFDNet forward pass (:class:`pnpleaves.models.FFDNet`); they are never shipped nor downloaded. ``--models``
names registered priors or weight files; ``--arch NAME=ARCH:JSON`` adds a network with random weights to the
timing only (to choose an architecture before training it).

Writes ``--csv`` (one row per model x set x sigma, timing columns repeated; existing rows of other models are
kept, so a new candidate can be added without re-running the others) and ``--figure`` (Kodak24 PSNR against
seconds per 512x512 call). Run from a source checkout after ``pip install -e .``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from pnpleaves.errors import UserError
from pnpleaves.models import FFDNet, build_model, count_parameters
from pnpleaves.priors import file_sha256, load_prior, read_registry
from pnpleaves.training.evaluate import evaluate_denoiser

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_FILES = {"ref-ffdnet-vl": "ffdnet_vl.pth", "ref-ffdnet-dl": "ffdnet_dl.pth"}
DEFAULT_MODELS = ("vl-drunet", "dl-drunet", "vl-drunet-synthetic")
FIELDS = ["model", "set", "sigma", "psnr", "n_images", "params", "time_min_s", "time_median_s",
          "ratio_min_to_reference", "ratio_median_to_reference", "threads", "layout", "load_before", "weights_sha256"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/frontier.py", description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="folder holding ffdnet_vl.pth and ffdnet_dl.pth")
    p.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS), help="registered priors or weight files")
    p.add_argument("--arch", nargs="*", default=[], metavar="NAME=ARCH:JSON",
                   help='timing-only candidates with random weights, e.g. \'drunet-nb1=drunet:{"nb": 1}\'')
    p.add_argument("--data", default=None, help="test-set root holding testsets/ (default: $PNPLEAVES_DATA)")
    p.add_argument("--sets", nargs="+", default=["Kodak24", "Set14", "Set5"])
    p.add_argument("--sigmas", nargs="+", type=float, default=[15, 25, 50], help="0-255 scale")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--max-images", type=int, default=None, help="first N images per set (default: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default 7)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--layout", choices=["channels_last", "contiguous"], default="channels_last",
                   help="memory layout of every model and input in the timing (default channels_last, the layout "
                        "pnpleaves runs its priors in)")
    p.add_argument("--no-psnr", action="store_true", help="timing only")
    p.add_argument("--no-timing", action="store_true", help="PSNR only (timing columns left empty)")
    p.add_argument("--force", nargs="*", default=None, metavar="NAME",
                   help="re-measure PSNR of models already in the CSV (the named ones; all without a name)")
    p.add_argument("--csv", default=str(ROOT / "docs" / "results" / "frontier.csv"))
    p.add_argument("--figure", default=str(ROOT / "docs" / "results" / "frontier.png"))
    return p


def load_reference(folder: Path, name: str) -> FFDNet:
    path = folder / REFERENCE_FILES[name]
    if not path.is_file():
        raise UserError(
            f"no {REFERENCE_FILES[name]} in {str(folder)!r}. Expected the authors' models_zoo/ folder "
            "(github.com/rachddou/DeadLeavesPlus); pnpleaves never downloads it."
        )
    return FFDNet.from_reference_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def load_models(args: argparse.Namespace) -> dict[str, tuple[torch.nn.Module, str]]:
    """name -> (module in eval mode, sha256 of its weights or the arch spec)."""
    ref = Path(args.reference)
    models: dict[str, tuple[torch.nn.Module, str]] = {}
    for name, file in REFERENCE_FILES.items():
        models[name] = (load_reference(ref, name), file_sha256(ref / file))
    for spec in args.models:
        prior = load_prior(spec)
        path = Path(spec)
        label = path.stem if path.suffix else spec
        sha = file_sha256(path) if path.is_file() else read_registry()[spec]["sha256"]
        models[label] = (prior.eval(), sha)
    for spec in args.arch:
        name, _, rest = spec.partition("=")
        arch, _, kw = rest.partition(":")
        models[name] = (build_model(arch, json.loads(kw) if kw else {}).eval(), f"random:{rest}")
    return models


def time_models(models: dict[str, torch.nn.Module], size: int, rounds: int, layout: str) -> dict[str, list[float]]:
    """Wall seconds of one ``size``x``size`` colour call per model and round (rounds interleaved)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, size, size, generator=g)
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
        models = {k: m.to(memory_format=torch.channels_last) for k, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for m in models.values():  # warm-up
            m(x, 25 / 255)
        for _ in range(rounds):
            for name, m in models.items():
                t0 = time.perf_counter()
                m(x, 25 / 255)
                times[name].append(time.perf_counter() - t0)
    return times


def _forced(force: list[str] | None, name: str) -> bool:
    return force is not None and (not force or name in force)


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def plot(rows: list[dict[str, Any]], path: Path, set_name: str = "Kodak24") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharex=True)
    sigmas = sorted({float(r["sigma"]) for r in rows if r["set"] == set_name})
    for ax, s in zip(axes, sigmas):
        for r in rows:
            if r["set"] != set_name or float(r["sigma"]) != s or not r["time_min_s"]:
                continue
            ref = r["model"].startswith("ref-")
            ax.scatter(float(r["time_min_s"]), float(r["psnr"]), marker="s" if ref else "o",
                       color="black" if ref else "tab:blue")
            ax.annotate(r["model"], (float(r["time_min_s"]), float(r["psnr"])), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{set_name}, sigma {s:g}")
        ax.set_xlabel("s per 512x512 call (min of rounds)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("PSNR (dB)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: (model, compared with, margin the issue asks for): the target of each comparison
TARGETS = (("vl-drunet", "ref-ffdnet-vl", 0.2), ("dl-drunet", "ref-ffdnet-dl", 0.0),
           ("vl-drunet-synthetic", "vl-drunet", -0.3))


def targets_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per (set, sigma) the PSNR of each model and its gap to the model it is compared with."""
    psnr = {(r["model"], r["set"], r["sigma"]): float(r["psnr"]) for r in rows if r["psnr"]}
    cells = sorted({(r["set"], r["sigma"]) for r in rows if r["psnr"]}, key=lambda c: (c[0], float(c[1])))
    lines = ["| set | sigma | " + " | ".join(f"{a} - {b} (target >= {m:+.1f})" for a, b, m in TARGETS) + " |",
             "|---|---|" + "---|" * len(TARGETS)]
    for set_name, sigma in cells:
        out = []
        for a, b, margin in TARGETS:
            if (a, set_name, sigma) in psnr and (b, set_name, sigma) in psnr:
                gap = psnr[a, set_name, sigma] - psnr[b, set_name, sigma]
                out.append(f"{psnr[a, set_name, sigma]:.2f} ({gap:+.2f}{'' if gap >= margin else ', missed'})")
            else:
                out.append("-")
        lines.append(f"| {set_name} | {sigma} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        models = load_models(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f}; threads {args.threads}; layout {args.layout}; torch {torch.__version__}")

    timing: dict[str, tuple[float, float]] = {}
    if not args.no_timing:
        times = time_models({k: v[0] for k, v in models.items()}, args.size, args.rounds, args.layout)
        ref_min, ref_med = min(times["ref-ffdnet-vl"]), statistics.median(times["ref-ffdnet-vl"])
        print(f"\n{'model':28s} {'params':>9s} {'min s':>7s} {'median s':>9s} {'min ratio':>9s} {'med ratio':>9s}")
        for name, ts in times.items():
            timing[name] = (min(ts), statistics.median(ts))
            print(f"{name:28s} {count_parameters(models[name][0]):9d} {min(ts):7.3f} {statistics.median(ts):9.3f} "
                  f"{min(ts) / ref_min:9.3f} {statistics.median(ts) / ref_med:9.3f}")

    path = Path(args.csv)
    old = read_rows(path)
    done = {(r["model"], r["weights_sha256"]) for r in old if r["psnr"]}
    rows = {(r["model"], r["set"], r["sigma"]): r for r in old}
    data = args.data or os.environ.get("PNPLEAVES_DATA")
    for name, (model, sha) in models.items():
        if sha.startswith("random:"):
            keys = [(name, "-", "-")]
        elif args.no_psnr or ((name, sha) in done and not _forced(args.force, name)):
            keys = [k for k in rows if k[0] == name]
        else:
            if not data:
                print("error: PSNR needs --data DIR or $PNPLEAVES_DATA (the folder holding testsets/)", file=sys.stderr)
                return 2
            keys = []
            for set_name in args.sets:
                folder = Path(data) / "testsets" / set_name
                res = evaluate_denoiser(model, folder, [s / 255 for s in args.sigmas], seed=args.seed,
                                        max_images=args.max_images, ssim=False)
                n = len({r["image"] for r in res.rows})
                for s in args.sigmas:
                    key = (name, set_name, f"{s:g}")
                    rows[key] = {"model": name, "set": set_name, "sigma": f"{s:g}", "n_images": n,
                                 "psnr": f"{res.table['denoiser'][s / 255]['psnr']:.3f}"}
                    keys.append(key)
                    print(f"{name:28s} {set_name:8s} sigma {s:4g}: {rows[key]['psnr']} dB ({n} images)", flush=True)
        for key in keys:
            r = rows.setdefault(key, {"model": name, "set": key[1], "sigma": key[2], "psnr": "", "n_images": ""})
            r.update({"params": count_parameters(model), "weights_sha256": sha})
            if name in timing:
                ref_min, ref_med = timing["ref-ffdnet-vl"]
                r.update({"time_min_s": f"{timing[name][0]:.4f}", "time_median_s": f"{timing[name][1]:.4f}",
                          "ratio_min_to_reference": f"{timing[name][0] / ref_min:.3f}",
                          "ratio_median_to_reference": f"{timing[name][1] / ref_med:.3f}",
                          "threads": args.threads, "layout": args.layout, "load_before": f"{load:.2f}"})
    out = sorted(rows.values(), key=lambda r: (r["model"], r["set"], float(r["sigma"]) if r["sigma"] != "-" else 0))
    write_rows(path, out)
    if any(r["psnr"] and r.get("time_min_s") for r in out):
        plot(out, Path(args.figure))
    print("\n" + targets_table(out))
    print(f"\nwrote {path}" + ("" if args.no_psnr else f" and {args.figure}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
