"""How DRUNet should meet a side that is not a multiple of 8: Kodak24 PSNR of vl-drunet (500x500 images) with the
input padded at the end or centred, by mirroring or by replicating the edge. deepinv's own forward (four overlapping
quarters) scored 33.803 / 28.378 dB at sigma 15 / 50 on the same noise (docs/frontier.md).

    OMP_NUM_THREADS=1 python research/drunet_padding.py --data "$PNPLEAVES_DATA"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from pnpleaves.models import DRUNetDenoiser
from pnpleaves.models.sigma import sigma_like
from pnpleaves.priors import load_prior
from pnpleaves.training.evaluate import evaluate_denoiser


def padded_forward(mode: str, centred: bool):
    """A DRUNetDenoiser.forward that pads ``[x, sigma map]`` to a multiple of 8 with ``mode``."""

    def forward(self, x, sigma=0.0):
        s = sigma_like(sigma, x)
        b, _, h, w = x.shape
        smap = s.view(-1, 1, 1, 1).expand(b, 1, h, w) if s.ndim == 1 else s
        inp = torch.cat((x, smap.to(x.dtype)), 1)
        ph, pw = max(32, -(-h // 8) * 8) - h, max(32, -(-w // 8) * 8) - w
        top, left = (ph // 2, pw // 2) if centred else (0, 0)
        inp = F.pad(inp, (left, pw - left, top, ph - top), mode=mode)
        return self.forward_unet(inp)[..., top:top + h, left:left + w]

    return forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_prior("vl-drunet").eval()
    for mode in ("replicate", "reflect"):
        for centred in (False, True):
            DRUNetDenoiser.forward = padded_forward(mode, centred)
            res = evaluate_denoiser(model, args.data / "testsets" / "Kodak24", [15 / 255, 50 / 255], ssim=False)
            table = {round(k * 255): round(v["psnr"], 3) for k, v in res.table["denoiser"].items()}
            print(f"{mode:9s} {'centred' if centred else 'at the end':10s} {table}", flush=True)


if __name__ == "__main__":
    main()
