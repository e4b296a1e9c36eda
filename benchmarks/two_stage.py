r"""Two-stage fine-tuning on a simulated domain gap: ``python benchmarks/two_stage.py --data DIR [options]``.

The shipped prior (``vl-drunet``, trained on VibrantLeaves images with white Gaussian noise) meets two
degradations it never saw. The clean images are known because the degradations are simulated:

- ``pg-demosaic``: raw-sensor noise. Each pixel keeps the colour of an RGGB Bayer pattern and gets
  Poisson-Gaussian noise of variance :math:`a x + b^2` (``a = 0.01``, ``b = 0.02``); the noise (not the
  image) is then demosaicked bilinearly and added to the clean RGB image, so it is signal-dependent,
  spatially low-pass and correlated across channels, with a 2x2-periodic variance. The image content
  stays exact, so the error is the noise alone;
- ``jpeg``: white Gaussian noise of std 15/255, 8-bit rounding, then JPEG at quality 40 (4:2:0 chroma),
  which removes part of the noise and adds block and ringing artefacts.

Colour images of Kodak24 and Set14 (at least ``--crop`` pixels on a side; centre crops) are shuffled
with a fixed seed and split into ``--n-train`` images whose degraded versions are the "real" images to
fine-tune on, ``--n-test`` held-out images to evaluate on and ``--n-clean`` others as the unpaired clean
images of the adversarial term (and of the anchor pairs). All degraded images are rounded to 8 bits.
Two noise-level rules (the two ways ``pnpleaves finetune`` gets one):

- :math:`\hat\sigma`: :func:`pnpleaves.restoration.estimate_sigma` on each degraded image (blind, the
  command's default). It assumes white noise and reads these degradations far too low;
- :math:`S`: one level for all images (``--sigma S``), chosen from ``SIGMA_GRID`` as the one that gives
  stage 1 the best mean PSNR on the *fine-tuning* images, with their ground truth: a user who tunes
  ``--sigma`` by eye on their own images, at best. The fine-tunings use :math:`S`, and every network is
  evaluated at :math:`S` (``--sigma-rule estimated`` uses :math:`\hat\sigma` instead).

Rows of the table (held-out images, mean PSNR / SSIM):

- ``stage 1 (est)``: the prior at :math:`\hat\sigma`; ``stage 1``: at :math:`S`; ``stage 1 x8``: its
  8-transform self-ensemble at :math:`S`;
- ``stage 2``: :func:`pnpleaves.training.finetune` once, fidelity only (the clean images serve only as
  anchors); ``stage 2 + adv`` and ``stage 3 + adv``: with the adversarial term, two stages of one run;
  ``stage 2, x8 surrogates``: fidelity only, surrogates from the self-ensemble (``--runs`` picks
  which fine-tunings run);
- ``CBM3D (est)`` and ``CBM3D``: at :math:`\hat\sigma` and at :math:`S` (``bm3d`` package);
- forgetting: Gaussian denoising (sigma 15, 25, 50) of the held-out clean images by each network.

Writes ``OUT/two_stage.csv`` and ``OUT/two_stage.png`` (crops of one held-out image) and prints the
table with the CPU time. Fine-tuning runs are kept in ``--work`` and resumed when the script is run
again with the same folder. The latest table and its command are in ``docs/two_stage.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import convolve

from pnpleaves.cli.finetune import load_parent
from pnpleaves.images import to_tensor
from pnpleaves.io import IMAGE_SUFFIXES, read_image, write_image
from pnpleaves.metrics import psnr, ssim
from pnpleaves.models import DihedralCycle, bm3d_available
from pnpleaves.models.bm3d import bm3d_denoise
from pnpleaves.priors import load_prior
from pnpleaves.restoration import estimate_sigma
from pnpleaves.training.evaluate import evaluate_denoiser
from pnpleaves.training.finetune import DEFAULT_ADVERSARIAL_WEIGHT, FinetuneConfig, finetune

logger = logging.getLogger("two_stage")

DEGRADATIONS = ("pg-demosaic", "jpeg")
SIGMA_GRID = (2, 4, 6, 8, 10, 12, 15, 20, 25, 30)  # on the 0-255 scale
GAUSSIAN = (15, 25, 50)
RUNS = ("stage2", "adv", "x8")


# ---------------------------------------------------------------------- degradations
def bayer_masks(h: int, w: int) -> np.ndarray:
    """RGGB one-hot masks, ``(H, W, 3)``."""
    m = np.zeros((h, w, 3))
    m[0::2, 0::2, 0] = 1
    m[0::2, 1::2, 1] = 1
    m[1::2, 0::2, 1] = 1
    m[1::2, 1::2, 2] = 1
    return m


def bilinear_demosaic(mosaic: np.ndarray) -> np.ndarray:
    """Bilinear demosaicking of a masked ``(H, W, 3)`` mosaic (zeros where a colour was not sampled)."""
    k_g = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4
    k_rb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
    return np.stack([convolve(mosaic[..., c], k_g if c == 1 else k_rb, mode="mirror") for c in range(3)], axis=-1)


def quantise(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0, 1) * 255) / 255


def pg_demosaic(x: np.ndarray, rng: np.random.Generator, a: float = 0.01, b: float = 0.02) -> np.ndarray:
    """Poisson-Gaussian noise on the Bayer samples, demosaicked bilinearly, added to ``x`` (see the doc)."""
    m = bayer_masks(*x.shape[:2])
    raw = (x * m).sum(-1)
    noisy = a * rng.poisson(raw / a) + b * rng.standard_normal(raw.shape)
    return quantise(x + bilinear_demosaic(m * (noisy - raw)[..., None]))


def noisy_jpeg(x: np.ndarray, rng: np.random.Generator, sigma: float = 15 / 255, quality: int = 40) -> np.ndarray:
    """White Gaussian noise, 8-bit rounding, JPEG at ``quality``."""
    y = np.round(np.clip(x + sigma * rng.standard_normal(x.shape), 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(y).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float64) / 255


def degrade(kind: str, x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return pg_demosaic(x, rng) if kind == "pg-demosaic" else noisy_jpeg(x, rng)


# ---------------------------------------------------------------------- data
def colour_crops(root: Path, crop: int) -> list[tuple[str, np.ndarray]]:
    """Centre crops of the colour images of Kodak24 and Set14 that are at least ``crop`` on a side."""
    out = []
    for name in ("Kodak24", "Set14"):
        folder = root / "testsets" / name
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            img = read_image(path)
            h, w, c = img.shape
            if c != 3 or min(h, w) < crop or np.allclose(img, img[..., :1]):
                continue
            top, left = (h - crop) // 2, (w - crop) // 2
            out.append((f"{name}/{path.stem}", img[top : top + crop, left : left + crop].astype(np.float64)))
    return out


def split(images, n_train: int, n_test: int, n_clean: int, seed: int = 0):
    order = np.random.default_rng(seed).permutation(len(images))
    if n_train + n_test + n_clean > len(images):
        raise SystemExit(f"only {len(images)} colour images; lower --n-train/--n-test/--n-clean")
    pick = [images[i] for i in order]
    return pick[:n_train], pick[n_train : n_train + n_test], pick[n_train + n_test : n_train + n_test + n_clean]


# ---------------------------------------------------------------------- evaluation
@torch.no_grad()
def run_net(net, y: np.ndarray, sigma: float) -> np.ndarray:
    out = net(to_tensor(y.astype(np.float32)), float(sigma))
    return out[0].clamp(0, 1).permute(1, 2, 0).double().numpy()


def scores(outs, cleans) -> tuple[float, float]:
    return (float(np.mean([psnr(o, c) for o, c in zip(outs, cleans)])),
            float(np.mean([ssim(o, c) for o, c in zip(outs, cleans)])))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/two_stage.py", description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="data root holding testsets/ (default: $PNPLEAVES_DATA)")
    p.add_argument("--prior", default="vl-drunet")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--n-train", type=int, default=8)
    p.add_argument("--n-test", type=int, default=8)
    p.add_argument("--n-clean", type=int, default=8)
    p.add_argument("--steps", type=int, default=200, help="fine-tuning steps per stage (default 200)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--adversarial-weight", type=float, default=DEFAULT_ADVERSARIAL_WEIGHT)
    p.add_argument("--sigma-rule", choices=("tuned", "estimated"), default="tuned",
                   help="noise level of the fine-tunings and of the evaluation (see the module doc)")
    p.add_argument("--degradations", nargs="+", choices=DEGRADATIONS, default=list(DEGRADATIONS))
    p.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS),
                   help="fine-tunings to run: 'stage2' (fidelity only), 'adv' (stages 2 and 3 with the adversarial "
                        "term), 'x8' (stage 2 with self-ensemble surrogates); default all")
    p.add_argument("--no-bm3d", action="store_true", help="skip CBM3D")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--work", default=None, help="folder for the images and runs (default: a temporary folder)")
    p.add_argument("--out", default="docs/results", help="folder for two_stage.csv and two_stage.png")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = args.data or os.environ.get("PNPLEAVES_DATA")
    if not data or not (Path(data) / "testsets").is_dir():
        build_parser().error("pass --data DIR or set PNPLEAVES_DATA (the folder that holds testsets/).")
    torch.set_num_threads(args.threads)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="two_stage-"))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test, clean = split(colour_crops(Path(data), args.crop), args.n_train, args.n_test, args.n_clean)
    print("fine-tune on:", ", ".join(n for n, _ in train))
    print("test on:     ", ", ".join(n for n, _ in test))
    print("clean (unpaired):", ", ".join(n for n, _ in clean))
    clean_dir = work / "clean"
    clean_dir.mkdir(parents=True, exist_ok=True)
    for i, (_, x) in enumerate(clean):
        write_image(clean_dir / f"{i:02d}.png", x, overwrite=True)
    parent = load_parent(args.prior)
    stage1 = parent.module
    use_bm3d = bm3d_available() and not args.no_bm3d
    rows: list[dict] = []
    figure: dict[str, list[tuple[str, np.ndarray, float]]] = {}
    cleans = [x for _, x in test]
    nets_by_deg: dict[str, dict[str, torch.nn.Module]] = {}
    for kind in args.degradations:
        seed0 = 1000 * (DEGRADATIONS.index(kind) + 1)
        y_train = [degrade(kind, x, seed0 + i) for i, (_, x) in enumerate(train)]
        y_test = [degrade(kind, x, seed0 + 500 + i) for i, (_, x) in enumerate(test)]
        s_train = [float(estimate_sigma(y)) for y in y_train]
        s_test = s_est = [float(estimate_sigma(y)) for y in y_test]
        true = [float(np.std(y - x)) for y, x in zip(y_test, cleans)]
        print(f"\n[{kind}] noise std (0-255): true {np.mean(true) * 255:.2f}, estimated {np.mean(s_test) * 255:.2f} (mean)")
        deg_dir = work / kind / "train"
        deg_dir.mkdir(parents=True, exist_ok=True)
        for i, y in enumerate(y_train):
            write_image(deg_dir / f"{i:02d}.png", y, overwrite=True)
        results: dict[str, tuple[list[np.ndarray], float]] = {}

        def add(method, outs, cpu=float("nan"), note=""):
            p, s = scores(outs, cleans)
            results[method] = (outs, cpu)
            rows.append({"task": kind, "finetuned_on": "", "method": method, "psnr": f"{p:.3f}", "ssim": f"{s:.4f}",
                         "cpu_s": "" if cpu != cpu else f"{cpu:.0f}", "note": note})
            print(f"  {method:<34} {p:6.2f} dB  SSIM {s:.4f}" + (f"  ({cpu:.0f} s CPU)" if cpu == cpu else ""))

        add("degraded", y_test)
        add("stage 1 (est)", [run_net(stage1, y, s) for y, s in zip(y_test, s_test)])
        tuned = max(SIGMA_GRID, key=lambda s: np.mean([psnr(run_net(stage1, y, s / 255), x[1])
                                                      for y, x in zip(y_train, train)]))
        print(f"  S = {tuned}/255 (best single level for stage 1 on the fine-tuning images)")
        if args.sigma_rule == "tuned":
            s_train, s_test, rule = [tuned / 255] * len(y_train), [tuned / 255] * len(y_test), f"S = {tuned}/255"
        else:
            rule = "estimated per image"
        add("stage 1", [run_net(stage1, y, s) for y, s in zip(y_test, s_test)], note=rule)
        ens = DihedralCycle(stage1, mode="ensemble")
        add("stage 1 x8", [run_net(ens, y, s) for y, s in zip(y_test, s_test)], note=rule)
        if use_bm3d:
            t = time.process_time()
            add("CBM3D (est)", [np.clip(bm3d_denoise(y, s), 0, 1) for y, s in zip(y_test, s_est)],
                time.process_time() - t)
            if args.sigma_rule == "tuned":
                t = time.process_time()
                add("CBM3D", [np.clip(bm3d_denoise(y, s), 0, 1) for y, s in zip(y_test, s_test)],
                    time.process_time() - t, note=rule)

        common = dict(batch_size=args.batch_size, patch_size=args.patch_size, lr=args.lr, log_every=25,
                      checkpoint_every=50, device=args.device)
        runs = {}
        if "stage2" in args.runs:
            runs["stage 2"] = FinetuneConfig(stages=2, steps=args.steps, adversarial_weight=0.0, **common)
        if "adv" in args.runs:
            runs["adv"] = FinetuneConfig(stages=3, steps=args.steps, adversarial_weight=args.adversarial_weight,
                                         **common)
        if "x8" in args.runs:
            runs["stage 2, x8 surrogates"] = FinetuneConfig(stages=2, steps=args.steps, adversarial_weight=0.0,
                                                            ensemble=True, **common)
        nets: dict[str, torch.nn.Module] = {"stage 1": stage1}
        for label, cfg in runs.items():
            run_dir = work / kind / (label.replace(" ", "_").replace(",", "")
                                     + (f"_w{cfg.adversarial_weight:g}" if cfg.adversarial_weight else ""))
            t = time.process_time()
            source = "estimated (estimate_sigma, pca)" if args.sigma_rule == "estimated" else "given (tuned)"
            res = finetune(parent, deg_dir, sigma=s_train, sigma_source=source,
                           out_dir=run_dir, clean=clean_dir, config=cfg, resume=True)
            cpu = time.process_time() - t
            if label == "adv":
                nets["stage 2 + adv"] = load_prior(res.stage_weights[2])
                nets["stage 3 + adv"] = load_prior(res.stage_weights[3])
                for name in ("stage 2 + adv", "stage 3 + adv"):
                    add(name, [run_net(nets[name], y, s) for y, s in zip(y_test, s_test)], cpu,
                        note=f"{rule}; weight {cfg.adversarial_weight:g}; one run of {cfg.stages - 1} stages x "
                             f"{cfg.steps} steps (cpu_s: the whole run)")
            else:
                nets[label] = load_prior(res.stage_weights[2])
                add(label, [run_net(nets[label], y, s) for y, s in zip(y_test, s_test)], cpu,
                    note=f"{rule}; {cfg.steps} steps")
        nets_by_deg[kind] = nets
        # crops of the first held-out image for the figure
        h = cleans[0].shape[0]
        c0 = (h - 96) // 2
        order = ["degraded", "CBM3D", "stage 1", "stage 2", "stage 2 + adv", "stage 3 + adv", "stage 2, x8 surrogates"]
        figure[kind] = [("clean", cleans[0], float("inf"))] + [
            (m, results[m][0][0], psnr(results[m][0][0], cleans[0])) for m in order if m in results]
        figure[kind] = [(m, img[c0 : c0 + 96, c0 : c0 + 96], p) for m, img, p in figure[kind]]

    # forgetting: plain Gaussian denoising of the held-out clean images
    test_t = [to_tensor(x.astype(np.float32)) for x in cleans]
    sig = [s / 255 for s in GAUSSIAN]
    print("\n[gaussian] PSNR of the held-out clean images plus white Gaussian noise")
    base = evaluate_denoiser(stage1, test_t, sig, seed=0, ssim=False).table["denoiser"]
    for s in GAUSSIAN:
        rows.append({"task": f"gaussian-{s}", "finetuned_on": "", "method": "stage 1",
                     "psnr": f"{base[s / 255]['psnr']:.3f}", "ssim": "", "cpu_s": "", "note": ""})
    print("  stage 1: " + ", ".join(f"sigma {s}: {base[s / 255]['psnr']:.2f}" for s in GAUSSIAN))
    for kind, nets in nets_by_deg.items():
        for name, net in nets.items():
            if name == "stage 1":
                continue
            tab = evaluate_denoiser(net, test_t, sig, seed=0, ssim=False).table["denoiser"]
            for s in GAUSSIAN:
                rows.append({"task": f"gaussian-{s}", "finetuned_on": kind, "method": name,
                             "psnr": f"{tab[s / 255]['psnr']:.3f}", "ssim": "", "cpu_s": "", "note": ""})
            print(f"  {name} ({kind}): " + ", ".join(
                f"sigma {s}: {tab[s / 255]['psnr']:.2f} ({tab[s / 255]['psnr'] - base[s / 255]['psnr']:+.2f})"
                for s in GAUSSIAN))

    with open(out_dir / "two_stage.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["task", "finetuned_on", "method", "psnr", "ssim", "cpu_s", "note"])
        w.writeheader()
        w.writerows(rows)
    draw(figure, out_dir / "two_stage.png")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"\nwrote {out_dir / 'two_stage.csv'} and {out_dir / 'two_stage.png'}; "
          f"{cpu:.0f} s CPU, {wall:.0f} s wall, {torch.get_num_threads()} thread(s); work folder {work}")
    return 0


def draw(figure: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncol = max(len(v) for v in figure.values())
    fig, axes = plt.subplots(len(figure), ncol, figsize=(1.6 * ncol, 1.85 * len(figure)), squeeze=False)
    for r, (kind, panels) in enumerate(figure.items()):
        for c in range(ncol):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(panels):
                name, img, p = panels[c]
                ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
                ax.set_title(name if p == float("inf") else f"{name}\n{p:.2f} dB", fontsize=7)
        axes[r, 0].text(-0.08, 0.5, kind, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
