"""Why the shipped priors lose to the authors' FFDNet (issue 23): equal-budget training probes.

Two groups, every probe a short ``pnpleaves train`` run from a fixed starting point, with one setting changed,
then Kodak24 PSNR (24 images, 256x256 centre crops, sigma 15 / 25 / 50, fixed noise) before and after:

- **data or training?** The reference FFDNet weights (batch norm folded, :class:`pnpleaves.models.FFDNet`)
  trained on by *our* trainer on *our* images (``ref-vl-on-vl``: VibrantLeaves vl-r2; ``ref-dl-on-dl``: Dead
  Leaves dl-mix; ``-handcrafted``: the same recipes with the hand-set colour law instead of colours drawn from
  8 photographs; ``-lr1e-6``: the authors' last rate, a control for the drift of the optimiser itself), L2 loss as
  the authors', sigma ~ U(0, 75/255). If our images carried what natural photographs
  need as well as theirs, the Kodak24 PSNR would hold; a drop measures what our data lacks for that network.
- **recipe** (from the shipped vl-drunet, the same steps and rate): ``base`` (the shipped recipe: L1, 16 x 64^2,
  clip 0.5, 15 % low-noise patches), ``l2``, ``patch128`` (4 x 128^2, the same pixels per step), ``noclip``,
  ``uniform-noise`` (no low-noise patches), ``lr-high`` (rate x 5), ``noperm`` (colour channels not permuted).

Usage (one thread per probe; two side by side use the 2 cores)::

    python research/frontier_probes.py prepare --reference DIR          # the reference weights, converted once
    python research/frontier_probes.py run NAME [NAME ...] [--steps 1500]
    python research/frontier_probes.py table [--csv docs/results/frontier_probes.csv]

Runs live in ``runs/frontier-probes/NAME`` (resumable: ``run`` again continues); the training images come from
``data/vl-r2-512`` and ``data/dl-mix-512`` (``pnpleaves generate``, see the configs' headers); the dev images from
``$PNPLEAVES_DATA/testsets/Kodak24``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import torch

from pnpleaves.models import FFDNet
from pnpleaves.priors import load_prior, read_registry, read_weights, write_weights
from pnpleaves.priors.registry import find_weights_file
from pnpleaves.training.config import dumps_toml
from pnpleaves.training.evaluate import evaluate_denoiser

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "frontier-probes"
CONFIGS = ROOT / "pnpleaves" / "configs"
SIGMAS = (15, 25, 50)

#: the starting points: name -> (weights file, base config, its step)
STARTS = {
    "ref-vl": (OUT / "init" / "ref-ffdnet-vl.safetensors", CONFIGS / "vl-drunet.toml"),
    "ref-dl": (OUT / "init" / "ref-ffdnet-dl.safetensors", CONFIGS / "dl-drunet.toml"),
    "vl-drunet": ("vl-drunet", CONFIGS / "vl-drunet.toml"),
}
_FFDNET = {"model": {"arch": "ffdnet", "kwargs": {"in_channels": 3, "features": 96, "depth": 12, "batch_norm": False}}}
_AUTHORS = {"optim": {"loss": "l2", "grad_clip": 0.0}, "noise": {"low_fraction": 0.0}}
#: probe -> (start, config overrides, learning rate)
PROBES: dict[str, tuple[str, dict, float]] = {
    "ref-vl-on-vl": ("ref-vl", {**_FFDNET, **_AUTHORS}, 1e-5),
    "ref-dl-on-dl": ("ref-dl", {**_FFDNET, **_AUTHORS}, 1e-5),
    "ref-dl-on-dl-handcrafted": ("ref-dl", {**_FFDNET, **_AUTHORS, "data": {
        "cache_dir": "data/dl-mix-handcrafted-512", "options": {"color": "handcrafted", "r_min": 1.0, "r_max": 2000.0,
                                                                 "r_min_choices": [1.0, 16.0]}}}, 1e-5),
    "ref-vl-on-vl-handcrafted": ("ref-vl", {**_FFDNET, **_AUTHORS, "data": {
        "cache_dir": "data/vl-r2-handcrafted-512", "options": {"color": "handcrafted", "r_min": 2.0, "r_max": 500.0,
                                                                "flat_below": 20.0}}}, 1e-5),
    "ref-vl-on-vl-lr1e-6": ("ref-vl", {**_FFDNET, **_AUTHORS}, 1e-6),
    "ref-vl-on-photos": ("ref-vl", {**_FFDNET, **_AUTHORS, "data": {"cache_dir": "data/skimage-photos"}}, 1e-5),
    "ref-vl-on-vl-noperm": ("ref-vl", {**_FFDNET, **_AUTHORS, "data": {"permute_channels": False}}, 1e-5),
    "base": ("vl-drunet", {}, 2e-5),
    "l2": ("vl-drunet", {"optim": {"loss": "l2"}}, 2e-5),
    "patch128": ("vl-drunet", {"data": {"patch_size": 128, "batch_size": 4}}, 2e-5),
    "noclip": ("vl-drunet", {"optim": {"grad_clip": 0.0}}, 2e-5),
    "uniform-noise": ("vl-drunet", {"noise": {"low_fraction": 0.0}}, 2e-5),
    "lr-high": ("vl-drunet", {}, 1e-4),
    "noperm": ("vl-drunet", {"data": {"permute_channels": False}}, 2e-5),
}


def prepare(reference: Path) -> None:
    """Fold the reference weights into bias-carrying FFDNets (same function) in our weights format."""
    (OUT / "init").mkdir(parents=True, exist_ok=True)
    for key, file in (("ref-vl", "ffdnet_vl.pth"), ("ref-dl", "ffdnet_dl.pth")):
        model = FFDNet.from_reference_state_dict(torch.load(reference / file, map_location="cpu", weights_only=True))
        path = STARTS[key][0]
        write_weights(path, model, "ffdnet", _FFDNET["model"]["kwargs"], extra={"step": 0, "source": file})
        check = load_prior(path)
        x = torch.rand(1, 3, 40, 36)
        with torch.no_grad():
            assert torch.allclose(check(x, 0.1), model(x, 0.1), atol=1e-5)
        print(f"wrote {path}")


def dev_psnr(weights: str | Path, data: Path) -> dict[str, float]:
    """Kodak24 PSNR (24 centre crops of 256^2) at each sigma, one thread."""
    res = evaluate_denoiser(load_prior(weights), data / "testsets" / "Kodak24", [s / 255 for s in SIGMAS],
                            crop=256, ssim=False)
    return {f"psnr{s}": round(res.table["denoiser"][s / 255]["psnr"], 4) for s in SIGMAS}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) and k != "kwargs" else v
    return out


def run(name: str, steps: int, data: Path) -> dict:
    start, over, lr = PROBES[name]
    weights, config = STARTS[start]
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    cfg = _merge(tomllib.loads(Path(config).read_text()), over)
    cfg["name"] = f"probe-{name}"
    cfg["output_dir"] = str(folder / "run")
    cfg["data"]["cache_dir"] = str(ROOT / cfg["data"]["cache_dir"])
    cfg["optim"].update(lr=lr, warmup_steps=50, halve_every=0, restart_schedule=False)
    cfg["train"].update(threads=1, compile=False, checkpoint_every=250, eval_every=0, log_every=100, device="cpu")
    cfg["dev"]["folder"] = ""
    (folder / "config.toml").write_text(dumps_toml(cfg))
    file = Path(weights) if Path(weights).is_file() else _registered_file(str(weights))
    first = int(read_weights(file)[1].get("step", 0))
    before_file = OUT / f"before-{start}.json"
    if not before_file.is_file():
        before_file.write_text(json.dumps(dev_psnr(weights, data)))
    cmd = [sys.executable, "-m", "pnpleaves.cli", "train", str(folder / "config.toml"), "--resume",
           "--init-from", str(file),
           "--steps", str(first + steps)]
    print("+", " ".join(cmd), flush=True)
    with (folder / "train.log").open("a") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    after = dev_psnr(folder / "run" / "model.safetensors", data)
    record = {"probe": name, "start": start, "steps": steps, "lr": lr, "overrides": json.dumps(over, sort_keys=True),
              **{f"before_{k}": v for k, v in json.loads(before_file.read_text()).items()},
              **{f"after_{k}": v for k, v in after.items()}}
    (folder / "result.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record), flush=True)
    return record


def _registered_file(name: str) -> Path:
    return find_weights_file(name, read_registry()[name])


def table(path: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(OUT.glob("*/result.json"))]
    if not rows:
        print("no probe has finished yet")
        return
    fields = list(rows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    print(f"{'probe':16s} {'start':10s} " + " ".join(f"d{s:<6d}" for s in SIGMAS) + "  (after - before, dB)")
    for r in rows:
        print(f"{r['probe']:16s} {r['start']:10s} "
              + " ".join(f"{r[f'after_psnr{s}'] - r[f'before_psnr{s}']:+7.3f}" for s in SIGMAS))
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python research/frontier_probes.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--reference", required=True, type=Path)
    b = sub.add_parser("run")
    b.add_argument("names", nargs="+", choices=sorted(PROBES))
    b.add_argument("--steps", type=int, default=1500)
    b.add_argument("--data", type=Path, default=Path(os.environ.get("PNPLEAVES_DATA", ROOT / "data")))
    c = sub.add_parser("table")
    c.add_argument("--csv", type=Path, default=ROOT / "docs" / "results" / "frontier_probes.csv")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.cmd == "prepare":
        prepare(args.reference)
    elif args.cmd == "run":
        for name in args.names:
            run(name, args.steps, args.data)
    else:
        table(args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
