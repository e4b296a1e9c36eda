r"""How much clean detail a denoiser keeps: the *identity test*.

For a clean image :math:`x` and a small noise level :math:`\sigma`, an ideal MMSE denoiser returns
almost :math:`x` itself, :math:`D(x, \sigma) \approx x`: there is (nearly) nothing to remove. A
prior learned from images without texture (classic Dead Leaves) instead "cleans" natural texture
away, and Plug-and-Play inherits that loss at every iteration run at a low level (the last ones of
every schedule, and all of them in noise-free super-resolution). The score is

.. math:: \mathrm{PSNR}\big(D(x, \sigma), x\big), \qquad x \text{ clean (no noise added)},

higher is better (infinite for the identity). See Achddou, Gousseau & Ladjal, "Synthetic images as
a regularity prior for image restoration neural networks" (SSVM 2021) and the VibrantLeaves talk for
why texture in the training images matters.

Usage::

    python -m pnpleaves.analysis.fidelity --testset ../shared/data/testsets/Set5 --sigma 1 --sigma 2
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

__all__ = ["identity_psnr"]


def identity_psnr(denoiser: Any, images: list[np.ndarray], sigma: float, *, crop: int = 0,
                  device: Any = None) -> float:
    """Mean PSNR (dB) of ``denoiser(x, sigma)`` against the clean ``x`` over ``images``.

    :param denoiser: a deepinv-style callable ``D(x, sigma)`` on ``(1, C, H, W)`` tensors in [0, 1].
    :param images: clean ``(H, W, C)`` float images in [0, 1].
    :param sigma: noise level handed to the denoiser, on the [0, 1] scale (no noise is added).
    :param crop: centre-crop each image to ``crop x crop`` first (0: whole images).
    """
    from pnpleaves.metrics import psnr

    scores = []
    for img in images:
        img = np.asarray(img, dtype=np.float32)
        if img.ndim != 3:
            raise ValueError(f"images must be (H, W, C) arrays; got shape {img.shape}.")
        if crop:
            top, left = max((img.shape[0] - crop) // 2, 0), max((img.shape[1] - crop) // 2, 0)
            img = img[top : top + crop, left : left + crop]
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device or "cpu")
        with torch.no_grad():
            scores.append(float(psnr(denoiser(x, float(sigma)), x)[0]))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    from pnpleaves.priors import list_priors, load_prior
    from pnpleaves.io import load_testset

    ap = argparse.ArgumentParser(prog="python -m pnpleaves.analysis.fidelity", description=__doc__.splitlines()[0])
    ap.add_argument("--testset", required=True, help="folder of clean images")
    ap.add_argument("--priors", nargs="+", default=None, help="prior names or weight files (default: all registered)")
    ap.add_argument("--sigma", type=float, action="append", default=None,
                    help="noise level on the 0-255 scale (repeat; default 1 and 2)")
    ap.add_argument("--crop", type=int, default=256, help="centre crop (default 256; 0: whole images)")
    args = ap.parse_args(argv)
    names, tensors = load_testset(args.testset, crop=args.crop)
    if not names:
        print(f"error: no images in {args.testset!r}")
        return 2
    images = [t[0].permute(1, 2, 0).numpy() for t in tensors]
    sigmas = args.sigma or [1.0, 2.0]
    priors = args.priors or sorted(list_priors())
    print(f"PSNR (dB) of D(x, sigma) against the clean x: {len(images)} images of {args.testset}"
          + (f", {args.crop}x{args.crop} centre crops" if args.crop else ""))
    print("prior".ljust(24) + "".join(f"sigma={s:g}/255".rjust(16) for s in sigmas))
    for name in priors:
        den = load_prior(name)
        row = [identity_psnr(den, images, s / 255.0, crop=args.crop) for s in sigmas]
        print(str(name).ljust(24) + "".join(f"{v:16.2f}" for v in row))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
