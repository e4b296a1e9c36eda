"""Denoiser training: a TOML config in, a run folder out, then an exported prior.

- :mod:`~pnpleaves.training.config`: :class:`TrainConfig` (frozen dataclasses) and its TOML form;
- :mod:`~pnpleaves.training.data`: the batch stream, a pure function of ``(seed, step)``;
- :mod:`~pnpleaves.training.loop`: :func:`train`, the training loop;
- :mod:`~pnpleaves.training.checkpoint`: the run's checkpoint and weights files, resume and continue;
- :mod:`~pnpleaves.training.distributed`: one process or DistributedDataParallel under ``torchrun``;
- :mod:`~pnpleaves.training.run_log`: ``log.csv`` and ``curves.png``;
- :mod:`~pnpleaves.training.evaluate`: PSNR / SSIM of a denoiser on a folder of images;
- :mod:`~pnpleaves.training.widen`: function-preserving widening of a trained network;
- :mod:`~pnpleaves.training.export`: fp16 weights plus a registry entry with the training card;
- :mod:`~pnpleaves.training.surrogates`: stage-2 inputs: real degraded images and their surrogate
  ground truths made by the previous stage;
- :mod:`~pnpleaves.training.finetune`: :func:`finetune`, two-stage fine-tuning of a prior on real
  degraded images (fidelity plus an optional adversarial term), checkpointed like the trainer.

The command line is ``pnpleaves train`` / ``export`` / ``finetune`` (:mod:`pnpleaves.cli`).
"""

from pnpleaves.training.config import TrainConfig, load_config
from pnpleaves.training.evaluate import EvalResult, evaluate_denoiser
from pnpleaves.training.export import export_run
from pnpleaves.training.finetune import FinetuneConfig, FinetuneResult, export_finetuned, finetune
from pnpleaves.training.loop import TrainResult, train

__all__ = [
    "EvalResult", "FinetuneConfig", "FinetuneResult", "TrainConfig", "TrainResult", "evaluate_denoiser",
    "export_finetuned", "export_run", "finetune", "load_config", "train",
]
