"""Naturalness statistics of image sets for the data recipe (issue 18).

Every set is quantised to 8 bits first (as PNG files are), then measured on its grey image
``Y = 0.299 R + 0.587 G + 0.114 B`` (0-255 scale):

- ``slope``, ``R2``, ``KL``: exactly what ``pnpleaves stats`` computes (amplitude-spectrum slope
  over 0.01-0.5 cycles/pixel, gradient-magnitude histogram KL(set || reference)), through
  :func:`pnpleaves.analysis.statistics.compare_image_sets`;
- ``flat %``: pixels whose forward-difference gradient magnitude is below 0.5 (grey levels);
- ``edge %``: pixels whose gradient magnitude exceeds 20 grey levels;
- ``loc std``: mean over 8x8 blocks of the block standard deviation;
- ``HF %``: share of the (mean-removed) power at frequencies above 0.25 cycles/pixel;
- ``grey std``: standard deviation of the grey image, averaged over images.

Sets are folders (``NAME=folder:PATH``) or generated on the fly
(``NAME=vl:{"preset": "...", "r_min": 2}`` / ``NAME=dl:{...}``; JSON options of the generator).

Example (the command behind the tables of docs/training.md)::

    OMP_NUM_THREADS=1 python research/recipe/measure.py --n 24 --size 512 \\
        kodak=folder:../shared/data/testsets/Kodak24 \\
        old=vl:'{"preset": "pnpleaves-0.1"}' new=vl:'{}'

``--textures`` measures single texture kinds instead: one leaf covering the whole image, a
texture of one kind (``micro``, ``periodic``, ``mix``), no depth of field.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def grey255(img: np.ndarray) -> np.ndarray:
    q = np.round(np.clip(img, 0, 1) * 255) if img.dtype != np.uint8 else img
    q = q.astype(np.float64)
    if q.ndim == 3 and q.shape[2] == 1:
        q = q[..., 0]
    return q @ np.array([0.299, 0.587, 0.114]) if q.ndim == 3 else q


def extra_stats(grey: np.ndarray) -> dict[str, float]:
    gx = np.diff(grey, axis=1)[:-1, :]
    gy = np.diff(grey, axis=0)[:, :-1]
    g = np.hypot(gx, gy)
    h, w = (grey.shape[0] // 8) * 8, (grey.shape[1] // 8) * 8
    blocks = grey[:h, :w].reshape(h // 8, 8, w // 8, 8)
    loc = blocks.std(axis=(1, 3)).mean()
    f = np.abs(np.fft.fft2(grey - grey.mean())) ** 2
    fy = np.fft.fftfreq(grey.shape[0])[:, None]
    fx = np.fft.fftfreq(grey.shape[1])[None, :]
    hf = f[np.hypot(fx, fy) > 0.25].sum() / max(f.sum(), 1e-12)
    return {"flat": 100 * (g < 0.5).mean(), "edge": 100 * (g > 20).mean(), "loc": loc, "hf": 100 * hf,
            "std": grey.std()}


def load_folder(path: str, n: int | None) -> list[np.ndarray]:
    from pnpleaves.io import list_images, read_image

    files = list_images(path)[:n] if n else list_images(path)
    return [read_image(p) for p in files]


def generate(model: str, options: dict, n: int, size: int, seed: int) -> tuple[list[np.ndarray], float]:
    import pnpleaves as pl

    fn = pl.vibrant_leaves if model == "vl" else pl.dead_leaves
    opts = dict(options)
    scale = int(opts.pop("render_scale", 1))  # research: render scale x larger, area-downscale
    if scale > 1:
        for key in ("r_min", "r_max", "flat_below", "blur_scale", "blur_truncate"):
            if key in opts:
                opts[key] = opts[key] * scale
        for key in ("period", "warp_sigma"):
            if key in opts:
                opts[key] = [v * scale for v in opts[key]]
    imgs, t0 = [], time.perf_counter()
    for k in range(n):
        img = fn(size * scale, seed=seed + k, **opts)
        if scale > 1:
            img = img.reshape(size, scale, size, scale, 3).mean(axis=(1, 3))
        imgs.append(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    return imgs, (time.perf_counter() - t0) / n


def texture_images(kind: str, options: dict, n: int, size: int, seed: int) -> list[np.ndarray]:
    weights = {"micro": (0, 1, 0), "periodic": (1, 0, 0), "mix": (0, 0, 1)}[kind]
    opts = dict(r_min=4 * size, r_max=4 * size + 1, shape_weights=(1, 0, 0), flat_below=0.0, p_gradient=0.0,
                texture_weights=weights, depth=False, supersample=1)
    opts.update(options)
    imgs, _ = generate("vl", opts, n, size, seed)
    return imgs


def parse_set(spec: str) -> tuple[str, str, object]:
    name, _, src = spec.partition("=")
    kind, _, arg = src.partition(":")
    if kind == "folder":
        return name, kind, arg
    return name, kind, json.loads(arg or "{}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+", help="NAME=folder:PATH | NAME=vl:JSON | NAME=dl:JSON (first = reference)")
    ap.add_argument("--n", type=int, default=24, help="images per generated set (and max per folder)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=500_000)
    ap.add_argument("--textures", choices=("micro", "periodic", "mix"), help="single-texture images instead")
    args = ap.parse_args(argv)
    from pnpleaves.analysis import compare_image_sets, image_set_statistics

    stats, extra, speed = {}, {}, {}
    for spec in args.sets:
        name, kind, arg = parse_set(spec)
        if kind == "folder":
            imgs = load_folder(arg, args.n)
        elif args.textures:
            imgs = texture_images(args.textures, arg, args.n, args.size, args.seed)
        else:
            imgs, speed[name] = generate(kind, arg, args.n, args.size, args.seed)
        floats = [np.asarray(i, np.float32) / (255.0 if i.dtype == np.uint8 else 1.0) for i in imgs]
        stats[name] = image_set_statistics(floats)
        per = [extra_stats(grey255(i)) for i in imgs]
        extra[name] = {k: float(np.mean([p[k] for p in per])) for k in per[0]}
        print(f"# {name}: {len(imgs)} images" + (f", {speed[name]:.2f} s/img" if name in speed else ""),
              file=sys.stderr, flush=True)
    rows = compare_image_sets(stats)
    print(f"| set | n | slope | R2 | KL | flat % | edge % | loc std | HF % | grey std |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e = extra[r.name]
        print(f"| {r.name} | {r.n_images} | {r.slope:.3f} | {r.r2:.4f} | {r.kl:.3f} | {e['flat']:.1f} | "
              f"{e['edge']:.1f} | {e['loc']:.1f} | {e['hf']:.2f} | {e['std']:.1f} |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
