"""The main demo: deblur a photograph with the learned prior and compare with Wiener deconvolution.

``run_demo(out_dir)`` takes scikit-image's ``astronaut`` photograph (512x512 RGB, shipped with
scikit-image), blurs it with Levin et al.'s camera-shake kernel 2 (17x17) using reflecting borders,
adds Gaussian noise of std 2.55/255 (:func:`pnpleaves.restoration.degrade_blur`), restores it with
:func:`pnpleaves.pnp_deblur` (noise level estimated, default settings) and with
:func:`pnpleaves.restoration.wiener_deblur`, and writes a side-by-side PNG with the PSNRs in the
titles. It uses ``vl-drunet`` when it is registered, otherwise the best registered prior (and says
so); with no prior registered it shows the Wiener result only and explains how to get a prior.

Run it as ``pnpleaves demo`` or ``python -m pnpleaves.cli.demo``. ``demos/demo_deblur.py`` walks
through the same steps, one public call at a time.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from skimage import data

from pnpleaves.io import check_output_path
from pnpleaves.metrics import psnr
from pnpleaves.priors import list_priors
from pnpleaves.restoration import degrade_blur, estimate_sigma, levin_kernel, pnp_deblur, wiener_deblur

logger = logging.getLogger(__name__)

PREFERRED = "vl-drunet"
NOISE = 2.55 / 255
KERNEL = 2


def best_prior() -> tuple[str | None, str]:
    """The prior the demo uses and a sentence saying why.

    ``vl-drunet`` if registered; else the registered prior with the highest mean PSNR in its card's
    ``metrics``; else None.
    """
    cards = list_priors()
    if PREFERRED in cards:
        return PREFERRED, f"using prior {PREFERRED!r}"
    if not cards:
        return None, (
            "no trained prior is registered yet (the weights registry is empty), so only the Wiener baseline "
            "is shown; train one with `pnpleaves train CONFIG` and register it, then run the demo again"
        )

    def score(name: str) -> float:
        metrics = cards[name].get("metrics", {}) or {}
        vals = [float(v) for k, v in metrics.items() if "psnr" in str(k).lower() and isinstance(v, (int, float))]
        return float(np.mean(vals)) if vals else float("-inf")

    name = max(sorted(cards), key=score)
    return name, f"{PREFERRED!r} is not trained yet; using the best registered prior, {name!r}"


def run_demo(out_dir: str | os.PathLike = "pnpleaves_demo", *, prior: Any = None, size: int | None = None,
             seed: int = 0, overwrite: bool = True, backend: str = "auto") -> dict[str, Any]:
    """Blur + noise a photograph, restore it, and save a comparison figure.

    :param out_dir: folder for ``demo_deblur.png`` (created if needed).
    :param prior: a prior to use instead of the automatic choice (name, path or Denoiser).
    :param size: crop the photograph to ``size x size`` (centre) for a faster run; None keeps 512.
    :param seed: seed of the noise.
    :param backend: what runs the prior (:func:`pnpleaves.pnp_deblur`'s ``backend``).
    :returns: dict with ``path``, ``prior``, ``psnr`` (per image) , ``sigma_estimated`` and ``seconds``.
    """
    import matplotlib  # optional heavy dependency: imported when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sharp = data.astronaut().astype(np.float64) / 255.0
    if size is not None:
        h, w = sharp.shape[:2]
        top, left = (h - size) // 2, (w - size) // 2
        sharp = sharp[top : top + size, left : left + size]
    k = levin_kernel(KERNEL)
    observed = degrade_blur(sharp, k, NOISE, seed, mode="reflect", clip=True)  # float32, clipped to [0, 1]

    name, why = (prior, f"using the prior given: {prior!r}") if prior is not None else best_prior()
    logger.debug("%s", why)  # the CLI prints it; logging it at INFO showed it twice
    results: dict[str, Any] = {"prior": name, "why": why, "psnr": {}, "seconds": {}}
    results["psnr"]["blurred"] = psnr(observed, sharp)
    sigma_hat = estimate_sigma(observed)
    results["sigma_estimated"] = sigma_hat
    t0 = time.perf_counter()
    wiener = wiener_deblur(observed, k, sigma=sigma_hat)
    results["seconds"]["wiener"] = time.perf_counter() - t0
    results["psnr"]["wiener"] = psnr(wiener, sharp)
    panels = [("sharp", sharp), (f"blurred + noise\n{results['psnr']['blurred']:.2f} dB", observed),
              (f"Wiener\n{results['psnr']['wiener']:.2f} dB", wiener)]
    if name is not None:
        t0 = time.perf_counter()
        restored = pnp_deblur(observed, k, prior=name, backend=backend)  # the user's first line: sigma estimated
        results["seconds"]["pnp"] = time.perf_counter() - t0
        results["psnr"]["pnp"] = psnr(restored, sharp)
        label = name if isinstance(name, str) else type(name).__name__
        panels.append((f"PnP-HQS, {label}\n{results['psnr']['pnp']:.2f} dB", restored))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo_deblur.png"
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it.")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (title, im) in zip(axes, panels):
        ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    inset = axes[1].inset_axes([0.0, 0.0, 0.22, 0.22])
    inset.imshow(k / k.max(), cmap="gray", interpolation="nearest")
    inset.set_xticks([])
    inset.set_yticks([])
    fig.suptitle(f"Levin kernel {KERNEL}, noise 2.55/255 (estimated {sigma_hat * 255:.2f}/255)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    results["path"] = str(path)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out-dir", default="pnpleaves_demo", help="folder for the figure (default: pnpleaves_demo)")
    parser.add_argument("--prior", default=None, help="prior to use (default: vl-drunet, else the best registered)")
    parser.add_argument("--size", type=int, default=None, help="centre crop side for a faster run (default: 512)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR/demo_deblur.png if it exists")
    parser.add_argument("--backend", choices=("auto", "torch", "openvino", "onnxruntime"), default="auto",
                        help="what runs the prior: auto (OpenVINO, else ONNX Runtime, else PyTorch; default), or one")


def run(args: argparse.Namespace) -> int:
    check_output_path(Path(args.out_dir) / "demo_deblur.png", overwrite=args.overwrite, what="the figure",
                      overwrite_hint="--overwrite")  # before any work
    res = run_demo(args.out_dir, prior=args.prior, size=args.size, overwrite=args.overwrite, backend=args.backend)
    print(res["why"])
    p = res["psnr"]
    line = f"PSNR: blurred {p['blurred']:.2f} dB, Wiener {p['wiener']:.2f} dB"
    if "pnp" in p:
        line += f", PnP ({res['prior']}) {p['pnp']:.2f} dB in {res['seconds']['pnp']:.1f} s"
    print(line)
    print(f"noise level: true {NOISE * 255:.2f}/255, estimated {res['sigma_estimated'] * 255:.2f}/255")
    print(f"figure: {res['path']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(prog="pnpleaves demo")
    add_arguments(ap)
    sys.exit(run(ap.parse_args()))
