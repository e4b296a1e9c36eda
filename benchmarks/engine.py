"""Inference engine benchmark: ``python benchmarks/engine.py --data DIR [--threads 2]``.

1. **Engine table**: one denoiser call of a prior (default vl-drunet) on a noisy photograph, for every
   backend x precision this machine runs (eager fp32 PyTorch, PyTorch ``channels_last`` + inference
   mode, PyTorch bf16 autocast, OpenVINO f32 / bf16, ONNX Runtime f32) and every size (512x512,
   544x560, and the odd 509x517, where DRUNet tiles): seconds (median of ``--rounds`` interleaved
   rounds: every round calls every configuration once, so a change of the machine's load touches them
   all alike), the ratio to eager fp32 PyTorch in the same round set, and the PSNR of the output to
   the eager fp32 output.
2. **End to end**: the default ``pnp_deblur`` of a 512x512 colour image (Kodak24_full crop, Levin
   kernel 4, noise 0.01, noise level estimated), in persistent worker processes, interleaved: the
   code of ``--baseline-rev`` (default: the commit before the engine, as it was; its own process,
   extracted with ``git archive``), this tree with ``backend="torch"``, and this tree's default
   (``backend="auto"``). Seconds of the first call (loading, export, compilation) and the median of
   ``--deblur-rounds`` later calls, the ratio to the baseline, PSNR to the sharp image and the PSNR
   difference to the baseline's output.

``--cli`` adds the wall time of ``pnpleaves demo`` (a fresh process each, so import, loading and the
first call count), baseline and this tree, interleaved. The load average is printed before and after.
Prints tables (no unit test); run from a source checkout after ``pip install -e ".[engine]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from pnpleaves.io import list_images, read_image
from pnpleaves.priors import EngineDenoiser, TorchInference, engine_installed, load_prior
from pnpleaves.restoration import degrade_blur, levin_kernel

ROOT = Path(__file__).resolve().parents[1]
#: the last commit before the inference engine (issue 24): "today's code" of the end-to-end comparison
BASELINE_REV = "a270994"
SIZES = ((512, 512), (544, 560), (509, 517))


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def _psnr(ref: torch.Tensor, x: torch.Tensor) -> float:
    mse = float(((ref.double() - x.double()) ** 2).mean())
    return float("inf") if mse == 0 else float(-10 * np.log10(mse))


def _photo(root: Path, h: int, w: int, sigma: float) -> torch.Tensor:
    """A noisy ``(1, 3, h, w)`` crop of the first Kodak24_full image (mirrored where it is too small)."""
    img = read_image(list_images(root / "testsets" / "Kodak24_full")[0], channels=3)
    img = np.pad(img, ((0, max(0, h - img.shape[0])), (0, max(0, w - img.shape[1])), (0, 0)), mode="reflect")
    x = torch.from_numpy(np.ascontiguousarray(img[:h, :w])).permute(2, 0, 1)[None]
    return x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))


def bf16_native() -> bool:
    """Whether oneDNN (PyTorch) has native bf16 on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def engine_configs(prior: str) -> dict[str, Callable[[torch.Tensor, float], torch.Tensor]]:
    """``"backend precision"`` -> a denoiser call, for what this machine can run."""
    eager = load_prior(prior)

    def eager_call(x, s):
        with torch.no_grad():
            return eager(x, s)

    configs: dict[str, Callable] = {"torch f32 (eager)": eager_call,
                                    "torch f32 (channels_last, inference_mode)": TorchInference(load_prior(prior))}
    if bf16_native():
        configs["torch bf16 (autocast, channels_last)"] = TorchInference(load_prior(prior), "bf16")
    for backend in ("openvino", "onnxruntime"):
        if not engine_installed(backend):
            print(f"note: {backend} is not installed; its rows are skipped")
            continue
        for precision in ("f32", "bf16") if backend == "openvino" else ("f32",):
            den = load_prior(prior, backend=backend, precision=precision)
            if isinstance(den, EngineDenoiser):
                configs[f"{backend} {den.precision}"] = den
    return configs


def engine_table(root: Path, prior: str, rounds: int, sigma: float = 25 / 255,
                 sizes: tuple[tuple[int, int], ...] = SIZES) -> list[dict[str, Any]]:
    """Seconds (median of interleaved rounds), ratio to eager fp32 and PSNR to its output, per config x size."""
    configs = engine_configs(prior)
    inputs = {hw: _photo(root, *hw, sigma) for hw in sizes}
    refs, psnrs, times = {}, {}, {(c, hw): [] for c in configs for hw in sizes}
    for hw, x in inputs.items():  # warm-up (compilation per shape) and the outputs compared
        for name, call in configs.items():
            out = call(x, sigma)
            if name == "torch f32 (eager)":
                refs[hw] = out
            psnrs[(name, hw)] = _psnr(refs[hw], out)
    for _ in range(rounds):
        for hw, x in inputs.items():
            for name, call in configs.items():
                t0 = time.perf_counter()
                call(x, sigma)
                times[(name, hw)].append(time.perf_counter() - t0)
    rows = []
    for hw in sizes:
        base = statistics.median(times[("torch f32 (eager)", hw)])
        for name in configs:
            sec = statistics.median(times[(name, hw)])
            rows.append({"config": name, "size": f"{hw[0]}x{hw[1]}", "seconds": sec, "ratio": base / sec,
                         "psnr": psnrs[(name, hw)]})
    return rows


def format_engine_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| backend, precision | size | seconds | speed-up vs eager fp32 | PSNR to eager fp32 (dB) |",
             "|---|---|---|---|---|"]
    for r in rows:
        psnr = "identical" if r["psnr"] == float("inf") else f"{r['psnr']:.1f}"
        lines.append(f"| {r['config']} | {r['size']} | {r['seconds']:.3f} | {r['ratio']:.2f}x | {psnr} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- end to end, in workers

#: a worker: loads the inputs, then runs pnp_deblur once per line read, printing one JSON line each
WORKER = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[2]))
import pnpleaves
from pnpleaves.restoration import pnp_deblur
d = np.load(sys.argv[1])
kwargs = json.loads(sys.argv[3])
print(json.dumps({"ready": pnpleaves.__file__}), flush=True)
for i, line in enumerate(sys.stdin):
    t0 = time.perf_counter()
    out = pnp_deblur(d["y"], d["k"], **kwargs)
    dt = time.perf_counter() - t0
    mse = float(((out.astype(np.float64) - d["x"]) ** 2).mean())
    np.save(sys.argv[4], out)
    print(json.dumps({"seconds": dt, "psnr": -10 * np.log10(mse)}), flush=True)
"""


class Worker:
    """A persistent process running one version of the code (``src``: the folder that holds ``pnpleaves``)."""

    def __init__(self, label: str, src: Path, data: Path, threads: int, kwargs: dict, out: Path):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(src))
        self.label, self.out = label, out
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(data), str(threads), json.dumps(kwargs),
                                      str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=src, env=env)
        ready = json.loads(self.proc.stdout.readline())
        if not Path(ready["ready"]).resolve().is_relative_to(src.resolve()):
            raise RuntimeError(f"worker {label!r} imported {ready['ready']}, not the code under {src}")

    def run(self) -> dict[str, float]:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.label!r} died (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def extract_baseline(rev: str, folder: Path) -> Path:
    """The package as it was at ``rev`` (``git archive``), under ``folder``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pnpleaves"], check=True, capture_output=True)
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def end_to_end(root: Path, threads: int, rounds: int, rev: str, tmp: Path, size: int = 512) -> list[dict[str, Any]]:
    x = read_image(list_images(root / "testsets" / "Kodak24_full")[0], channels=3)[:size, :size].astype(np.float64)
    k = levin_kernel(4)
    y = degrade_blur(x, k, 0.01, (0, "timing"), clip=True)
    data = tmp / "deblur.npz"
    np.savez(data, x=x, y=y, k=k)
    base_src = extract_baseline(rev, tmp / "baseline")
    specs = [(f"baseline {rev} (today's code)", base_src, {}),
             ("this tree, backend='torch'", ROOT, {"backend": "torch"}),
             ("this tree, default (backend='auto')", ROOT, {})]
    workers = [Worker(label, src, data, threads, kw, tmp / f"out{i}.npy") for i, (label, src, kw) in enumerate(specs)]
    first, times, psnrs, outs = {}, {w.label: [] for w in workers}, {}, {}
    try:
        for w in workers:  # first call: loading, export, compilation
            r = w.run()
            first[w.label], psnrs[w.label] = r["seconds"], r["psnr"]
            outs[w.label] = np.load(w.out)
        for _ in range(rounds):
            for w in workers:
                times[w.label].append(w.run()["seconds"])
    finally:
        for w in workers:
            w.close()
    base = statistics.median(times[workers[0].label])
    ref = outs[workers[0].label]
    rows = []
    for w in workers:
        med = statistics.median(times[w.label])
        diff = float(np.abs(outs[w.label].astype(np.float64) - ref).max())
        rows.append({"code": w.label, "first": first[w.label], "median": med, "runs": times[w.label],
                     "speedup": base / med, "psnr": psnrs[w.label], "dpsnr": psnrs[w.label] - psnrs[workers[0].label],
                     "maxdiff": diff})
    return rows


def format_end_to_end(rows: list[dict[str, Any]]) -> str:
    lines = ["| code | first call (s) | median of later calls (s) | speed-up | PSNR to sharp (dB) | ΔPSNR | max abs diff |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['code']} | {r['first']:.2f} | {r['median']:.2f} ({', '.join(f'{t:.2f}' for t in r['runs'])}) "
                     f"| {r['speedup']:.2f}x | {r['psnr']:.3f} | {r['dpsnr']:+.3f} | {r['maxdiff']:.2g} |")
    return "\n".join(lines)


def cli_demo(threads: int, rounds: int, rev: str, tmp: Path) -> list[tuple[str, list[float]]]:
    """Wall seconds of ``pnpleaves demo`` (fresh process each), baseline and this tree, interleaved."""
    base_src = tmp / "baseline"
    if not (base_src / "pnpleaves").is_dir():
        extract_baseline(rev, base_src)
    runs: dict[str, list[float]] = {f"baseline {rev}": [], "this tree": []}
    for _ in range(rounds):
        for label, src in ((f"baseline {rev}", base_src), ("this tree", ROOT)):
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(src))
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import torch; torch.set_num_threads({threads}); "
                            "from pnpleaves.cli import main; main(['demo', '--out-dir', 'demo-out', '--overwrite'])"],
                           cwd=tmp, env=env, check=True, capture_output=True)
            runs[label].append(time.perf_counter() - t0)
    return list(runs.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/engine.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("PNPLEAVES_DATA"),
                        help="test-set root holding testsets/Kodak24_full (default: $PNPLEAVES_DATA)")
    parser.add_argument("--prior", default="vl-drunet")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the engine table")
    parser.add_argument("--deblur-rounds", type=int, default=3, help="interleaved rounds of the end-to-end deblur")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of 'today's code'")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--skip-deblur", action="store_true")
    parser.add_argument("--cli", type=int, default=0, metavar="N", help="also time `pnpleaves demo` N times each")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, a 96x96 deblur")
    args = parser.parse_args(argv)
    if not args.data or not (Path(args.data) / "testsets" / "Kodak24_full").is_dir():
        parser.error("pass --data DIR (or set PNPLEAVES_DATA) with testsets/Kodak24_full under it")
    root = Path(args.data)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; {load_line()}")
    if not args.skip_table:
        rows = engine_table(root, args.prior, args.rounds, sizes=((64, 64), (64, 80), (37, 53)) if args.quick else SIZES)
        print(f"\nEngine table ({args.prior}, one call, noise 25/255, median of {args.rounds} interleaved rounds)\n")
        print(format_engine_table(rows))
        print(f"\n{load_line()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_deblur:
            size = 96 if args.quick else 512
            rows = end_to_end(root, args.threads, args.deblur_rounds, args.baseline_rev, Path(tmp), size)
            print(f"\npnp_deblur {size}x{size} colour, defaults (Levin kernel 4, noise 0.01, estimated), "
                  f"{args.deblur_rounds} interleaved rounds after a first call\n")
            print(format_end_to_end(rows))
            print(f"\n{load_line()}")
        if args.cli:
            for label, runs in cli_demo(args.threads, args.cli, args.baseline_rev, Path(tmp)):
                print(f"pnpleaves demo, {label}: {statistics.median(runs):.1f} s median wall time "
                      f"({', '.join(f'{t:.1f}' for t in runs)})")
            print(load_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
