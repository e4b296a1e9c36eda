"""``pnpleaves train CONFIG [--resume] [--steps N]``: train a denoiser from a TOML config.

For several processes run the same module under torchrun::

    torchrun --nproc_per_node 4 -m pnpleaves.training.train CONFIG --resume
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="TOML training config, e.g. pnpleaves/configs/tiny.toml")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUTPUT_DIR/checkpoint.pt (starts from scratch if there is none)")
    parser.add_argument("--steps", type=int, default=None, help="total number of steps (overrides train.steps)")
    parser.add_argument("--init-from", default=None, metavar="WEIGHTS",
                        help="continue from exported weights (e.g. weights/vl-drunet.safetensors): same step "
                             "counter, fresh optimizer with a warm-up; ignored if --resume finds a checkpoint")
    parser.add_argument("--widen", action="store_true",
                        help="with --init-from: the config's network may be wider (more channels) than the "
                             "weights; they are embedded so that training starts from the same function")
    parser.add_argument("--output-dir", default=None, help="run folder (overrides output_dir)")
    parser.add_argument("--device", default=None, help="'auto', 'cpu' or 'cuda[:N]' (overrides train.device)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader worker processes (overrides data.workers)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (overrides train.threads; 0 = all)")


def run(args: argparse.Namespace) -> int:
    from pnpleaves.training.config import TrainConfig
    from pnpleaves.training.train import train

    cfg = TrainConfig.from_toml(args.config)
    overrides = {}
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    if args.device:
        overrides["train.device"] = args.device
    if args.workers is not None:
        overrides["data.workers"] = args.workers
    if args.threads is not None:
        overrides["train.threads"] = args.threads
    if overrides:
        cfg = cfg.override(**overrides)
    if args.steps is not None and args.steps < 0:
        raise ValueError(f"--steps must be >= 0; got {args.steps}.")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    handler = None
    if int(os.environ.get("RANK", "0")) == 0:  # one log file per run, appended across resumes
        handler = logging.FileHandler(out / "train.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger("pnpleaves").addHandler(handler)
    try:
        result = train(cfg, resume=args.resume, steps=args.steps, progress=sys.stderr.isatty(),
                       init_from=args.init_from, widen=args.widen)
    finally:
        if handler is not None:
            logging.getLogger("pnpleaves").removeHandler(handler)
            handler.close()
    state = "interrupted at" if result.interrupted else "finished at"
    print(f"{cfg.name}: {state} step {result.step} ({result.wall_time_s:.0f} s in total); run folder {out}")
    if result.dev_psnr:
        print("dev PSNR: " + ", ".join(f"sigma {s * 255:g}: {v:.2f} dB" for s, v in result.dev_psnr.items()))
    return 130 if result.interrupted else 0
