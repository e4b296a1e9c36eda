"""Prior or sampler? Whether a denoiser's ancestral chain keeps periodic textures it is started on.

``pnpleaves sample`` starts at the top of the prior's noise range (75/255) from a Gaussian fitted to
the training images; its samples show occlusions, depth blur and fine speckle but no stripes. Two
causes are possible: the prior does not hold stripes (a denoiser problem), or the chain never
creates them (a sampler / noise-range problem). This probe separates them: it renders VibrantLeaves
images whose textured leaves are all periodic, noises them at ``sigma_start`` and runs the same
ancestral chain down to 2.55/255 (then Tweedie's estimate). If the stripes survive from a
``sigma_start`` where the noise hides them, the prior regenerates them, and the missing stripes of
free samples come from the start, not from the prior.

Printed per ``sigma_start``: the correlation of the sample with the clean image, and the share of
the clean image's band-pass energy (periods 4-32 px) present in the sample. Figure: one row per
``sigma_start`` (first row: the clean images), one column per image.

    python research/sample_texture_probe.py --prior vl-drunet --out docs/results/samples/stripes-vl-drunet.png
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from pnpleaves import load_prior, vibrant_leaves
from pnpleaves.sampling.prior import ancestral
from pnpleaves.sampling.tweedie import denoise

SIGMAS_START = (15.0, 30.0, 50.0, 75.0)


def band_energy(x: torch.Tensor, lo: float = 1 / 32, hi: float = 1 / 4) -> torch.Tensor:
    """Per-image energy of the grey image in the radial frequency band [lo, hi] cycles/pixel."""
    g = x.mean(1)
    f = torch.fft.fftfreq(g.shape[-1])
    r = torch.sqrt(f[None, :] ** 2 + f[:, None] ** 2)
    band = (r >= lo) & (r <= hi)
    return (torch.fft.fft2(g).abs() ** 2 * band).sum((-1, -2))


def band_pass(x: torch.Tensor, lo: float = 1 / 32, hi: float = 1 / 4) -> torch.Tensor:
    g = x.mean(1)
    f = torch.fft.fftfreq(g.shape[-1])
    r = torch.sqrt(f[None, :] ** 2 + f[:, None] ** 2)
    return torch.fft.ifft2(torch.fft.fft2(g) * ((r >= lo) & (r <= hi))).real


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="vl-drunet")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    den = load_prior(args.prior)
    # periodic textures only, on every leaf of >= 6 px, no depth blur: the stripes are what is seen
    imgs = [vibrant_leaves(args.size, seed=900 + k, texture_weights=(1.0, 0.0, 0.0), p_gradient=0.0,
                           flat_below=6.0, depth=False) for k in range(args.n)]
    clean = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
    rows = [clean]
    e_clean = band_energy(clean)
    bp_clean = band_pass(clean)
    print(f"prior {args.prior}: {args.n} periodic-texture VL images of {args.size}^2, ancestral chain of "
          f"{args.steps} steps to 2.55/255 + Tweedie")
    print("sigma_start  corr(sample, clean)  band energy sample/clean  band-pass corr")
    for s0 in SIGMAS_START:
        g = torch.Generator().manual_seed(int(s0))
        x = clean + s0 / 255 * torch.randn(clean.shape, generator=g)
        x, _ = ancestral(den, x, sigma_max=s0 / 255, sigma_min=2.55 / 255, steps=args.steps, generator=g)
        x = denoise(den, x, 2.55 / 255).clamp(0, 1)
        rows.append(x)
        a, b = (x - x.mean((1, 2, 3), keepdim=True)).flatten(1), (clean - clean.mean((1, 2, 3), keepdim=True)).flatten(1)
        corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
        bp = band_pass(x)
        bcorr = (bp * bp_clean).flatten(1).sum(1) / (bp.flatten(1).norm(dim=1) * bp_clean.flatten(1).norm(dim=1))
        ratio = band_energy(x) / e_clean
        print(f"{s0:8.0f}/255  {corr.mean():.3f}               {ratio.mean():.2f}                     {bcorr.mean():.3f}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(rows), args.n, figsize=(2 * args.n, 2 * len(rows)), squeeze=False)
        labels = ["clean"] + [f"from {s:g}/255" for s in SIGMAS_START]
        for i, (row, label) in enumerate(zip(rows, labels)):
            for j in range(args.n):
                ax = axes[i, j]
                ax.imshow(row[j].permute(1, 2, 0).numpy().clip(0, 1))
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(label)
        fig.suptitle(f"{args.prior}: ancestral chain started from noised periodic-texture images")
        fig.tight_layout()
        fig.savefig(args.out, dpi=90)
        print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
