"""Denoiser training: a TOML config in, a run folder out, then an exported prior.

- :mod:`~pnpleaves.training.config`: :class:`TrainConfig` (frozen dataclasses) and its TOML form;
- :mod:`~pnpleaves.training.data`: the batch stream, a pure function of ``(seed, step)``;
- :mod:`~pnpleaves.training.loop`: :func:`train`, the training loop;
- :mod:`~pnpleaves.training.checkpoint`: the run's checkpoint and weights files, resume and continue;
- :mod:`~pnpleaves.training.distributed`: one process or DistributedDataParallel under ``torchrun``;
- :mod:`~pnpleaves.training.run_log`: ``log.csv`` and ``curves.png``;
- :mod:`~pnpleaves.training.evaluate`: PSNR / SSIM of a denoiser on a folder of images;
- :mod:`~pnpleaves.training.widen`: function-preserving widening of a trained network;
- :mod:`~pnpleaves.training.export`: fp16 weights plus a registry entry with the training card.

The command line is ``pnpleaves train`` / ``pnpleaves export`` (:mod:`pnpleaves.cli`).
"""

from pnpleaves.training.config import TrainConfig, load_config
from pnpleaves.training.evaluate import EvalResult, evaluate_denoiser
from pnpleaves.training.export import export_run
from pnpleaves.training.loop import TrainResult, train

__all__ = ["EvalResult", "TrainConfig", "TrainResult", "evaluate_denoiser", "export_run", "load_config", "train"]
