"""``pnpleaves train CONFIG [--resume] [--steps N] [--dev DIR] ...``: train a denoiser from a TOML config.

For several processes run the same command under torchrun (DistributedDataParallel)::

    torchrun --nproc_per_node 4 -m pnpleaves.cli train CONFIG --resume

The run folder gets a ``train.log`` (rank 0, appended across resumes) besides the files the trainer
writes (:mod:`pnpleaves.training.loop`). The exit status is 0 when the run finished, and 128 + the
signal number (130 for Ctrl-C, 143 for SIGTERM) when a signal stopped it after a checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from pnpleaves.errors import InputError
from pnpleaves.images import check_device
from pnpleaves.io import check_output_path
from pnpleaves.training.config import DATA_ENV, TrainConfig
from pnpleaves.training.loop import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="TOML training config, e.g. pnpleaves/configs/tiny.toml")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUTPUT_DIR/checkpoint.pt (starts from scratch if there is none)")
    parser.add_argument("--steps", type=int, default=None, help="total number of steps (overrides train.steps)")
    parser.add_argument("--init-from", default=None, metavar="WEIGHTS",
                        help="continue from exported weights (e.g. my-weights/my-drunet.safetensors): same step "
                             "counter, fresh optimizer with a warm-up; ignored if --resume finds a checkpoint")
    parser.add_argument("--widen", action="store_true",
                        help="with --init-from: the config's network may be wider (more channels) than the "
                             "weights; they are embedded so that training starts from the same function")
    parser.add_argument("--output-dir", default=None, help="run folder (overrides output_dir)")
    parser.add_argument("--dev", default=None, metavar="DIR",
                        help=f"folder of dev images (overrides dev.folder; a relative dev.folder is also looked "
                             f"up under ${DATA_ENV}); without one the dev evaluation is skipped")
    parser.add_argument("--device", default=None, help="'auto', 'cpu' or 'cuda[:N]' (overrides train.device)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader worker processes (overrides data.workers)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (overrides train.threads; 0 = all)")


class RunFolderLog(logging.FileHandler):
    """``train.log`` in the run folder: records logged before the trainer creates the folder are kept
    and written once it exists, so a run that fails its checks leaves no folder behind."""

    def __init__(self, path: Path):
        super().__init__(path, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.pending: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is None and not Path(self.baseFilename).parent.is_dir():
            self.pending.append(record)
            return
        self._flush_pending()
        super().emit(record)

    def _flush_pending(self) -> None:
        pending, self.pending = self.pending, []
        for r in pending:
            super().emit(r)

    def close(self) -> None:
        if Path(self.baseFilename).parent.is_dir():  # the run started: the file exists, even if empty
            self._flush_pending()
            if self.stream is None:
                self.stream = self._open()
        super().close()


def run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 0:
        raise InputError(f"--steps must be >= 0; got {args.steps}.")
    if args.dev is not None and not Path(args.dev).is_dir():
        raise FileNotFoundError(f"--dev {args.dev!r} is not a folder of images.")
    cfg = TrainConfig.from_toml(args.config)
    overrides = {}
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    if args.dev is not None:
        overrides["dev.folder"] = str(Path(args.dev).resolve())
    if args.device:
        overrides["train.device"] = args.device
    if args.workers is not None:
        overrides["data.workers"] = args.workers
    if args.threads is not None:
        overrides["train.threads"] = args.threads
    if overrides:
        cfg = cfg.override(**overrides)
    out = Path(cfg.output_dir)
    check_output_path(out / "model.safetensors", overwrite=True, suffixes=(".safetensors",), what="run folder file")
    if cfg.train.device not in (None, "auto"):
        check_device(cfg.train.device)
    handler = None
    if int(os.environ.get("RANK", "0")) == 0:  # one log file per run, appended across resumes
        handler = RunFolderLog(out / "train.log")
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
    if result.interrupted:
        return 128 + int(result.stop_signal or signal.SIGINT)
    return 0
