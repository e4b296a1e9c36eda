"""``pnpleaves finetune --prior vl-drunet --degraded DIR [--clean DIR] --out NAME [options]``: adapt a prior
to your own degraded images by two-stage training (:mod:`pnpleaves.training.finetune`).

The prior denoises the images of ``--degraded`` at ``--sigma`` (0-255 scale; by default each image's
level is estimated with :func:`pnpleaves.restoration.estimate_sigma`) to make surrogate ground truths,
then is fine-tuned on (degraded, surrogate) pairs for ``--steps`` steps; with ``--clean DIR`` (unpaired
clean photographs) an adversarial term pulls its outputs towards clean images. ``--stages 3`` repeats
the fine-tuning once with surrogates from the fine-tuned network. The result is written as
``WEIGHTS_DIR/NAME.safetensors`` with its training card (and, with ``--registry PATH``, registered
there); the run folder (``--run-dir``, default ``runs/finetune/NAME``) can be resumed with ``--resume``.
Use the new prior by path, ``--prior weights/NAME.safetensors``, or by name with its registry.

Example::

    pnpleaves finetune --prior vl-drunet --degraded my-camera/ --clean clean-photos/ --out vl-drunet-cam \\
        --steps 500 --weights-dir weights --registry weights/registry.toml
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import torch

from pnpleaves.errors import InputError
from pnpleaves.priors import load_prior, read_registry
from pnpleaves.priors.files import file_sha256, read_checkpoint_file
from pnpleaves.restoration import estimate_sigma
from pnpleaves.training.finetune import (
    DEFAULT_ADVERSARIAL_WEIGHT,
    FinetuneConfig,
    ParentPrior,
    check_export_target,
    finetune,
)
from pnpleaves.training.surrogates import load_image_folder

__all__ = ["add_arguments", "load_parent", "run"]

_DEFAULTS = FinetuneConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prior", default="vl-drunet",
                        help="the prior to adapt: a registered name or a .safetensors / run folder (default vl-drunet)")
    parser.add_argument("--degraded", required=True, metavar="DIR", help="folder of your real degraded images")
    parser.add_argument("--clean", default=None, metavar="DIR",
                        help="folder of unpaired clean images: turns on the adversarial term")
    parser.add_argument("--out", required=True, metavar="NAME", help="name of the new prior, e.g. vl-drunet-cam")
    parser.add_argument("--sigma", type=float, default=None,
                        help="noise level of the degraded images on the 0-255 scale (default: estimated per image)")
    parser.add_argument("--stages", type=int, default=_DEFAULTS.stages,
                        help="number of stages counting the prior as stage 1 (default 2: one fine-tuning)")
    parser.add_argument("--steps", type=int, default=_DEFAULTS.steps,
                        help=f"steps per fine-tuning stage (default {_DEFAULTS.steps})")
    parser.add_argument("--adversarial-weight", type=float, default=None, metavar="W",
                        help=f"weight of the adversarial term (default {DEFAULT_ADVERSARIAL_WEIGHT:g} with --clean, "
                             "else 0; a positive weight needs --clean)")
    parser.add_argument("--adversarial-loss", choices=("nonsaturating", "hinge"), default=_DEFAULTS.adversarial_loss)
    parser.add_argument("--anchor-fraction", type=float, default=_DEFAULTS.anchor_fraction,
                        help="share of each batch with Gaussian noise at known levels, which keeps the noise-level "
                             f"input meaningful (default {_DEFAULTS.anchor_fraction:g})")
    parser.add_argument("--ensemble", action="store_true",
                        help="make the surrogates with the 8-transform self-ensemble (8x their cost)")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    parser.add_argument("--patch-size", type=int, default=_DEFAULTS.patch_size)
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr, help=f"Adam rate (default {_DEFAULTS.lr:g})")
    parser.add_argument("--loss", choices=("l1", "l2"), default=_DEFAULTS.loss, help="fidelity loss (default l1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default=None, help="run folder (default runs/finetune/NAME)")
    parser.add_argument("--resume", action="store_true", help="continue the run folder's checkpoint (exactly)")
    parser.add_argument("--checkpoint-every", type=int, default=_DEFAULTS.checkpoint_every)
    parser.add_argument("--weights-dir", default="weights", help="where NAME.safetensors goes (default ./weights)")
    parser.add_argument("--registry", default=None, metavar="PATH",
                        help="also write the new prior's entry into this registry TOML (created if absent)")
    parser.add_argument("--prior-registry", default=None, metavar="PATH",
                        help="registry TOML that --prior is registered in (default: the package's)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing weights file / entry")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")


def load_parent(prior: str, registry: str | None = None) -> ParentPrior:
    """The prior ``prior`` (a registered name or a path) with its architecture and file checksum."""
    den = load_prior(prior, registry=registry)  # unknown names, bad files and checksums fail here
    entries = read_registry(registry)
    if prior in entries:
        entry = entries[prior]
        return ParentPrior.from_prior(den, arch=entry["arch"], arch_kwargs=entry["arch_kwargs"], sha256=entry["sha256"])
    path = Path(prior).expanduser()
    if path.is_dir():
        path = next(p for p in (path / "model.safetensors", path / "checkpoint.pt") if p.is_file())
    _, info = read_checkpoint_file(path)
    return ParentPrior.from_prior(den, arch=info["arch"], arch_kwargs=info["arch_kwargs"], sha256=file_sha256(path))


def run(args: argparse.Namespace) -> int:
    if args.threads < 0:
        raise InputError(f"--threads must be >= 0; got {args.threads}.")
    if args.sigma is not None and not 0 <= args.sigma <= 255:
        raise InputError(f"--sigma is on the 0-255 scale and must be in [0, 255]; got {args.sigma}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = FinetuneConfig(stages=args.stages, steps=args.steps, batch_size=args.batch_size, patch_size=args.patch_size,
                         loss=args.loss, lr=args.lr, adversarial_weight=args.adversarial_weight,
                         adversarial_loss=args.adversarial_loss, anchor_fraction=args.anchor_fraction,
                         ensemble=args.ensemble, seed=args.seed, checkpoint_every=args.checkpoint_every,
                         device=args.device)
    cfg.resolved(has_clean=args.clean is not None)  # refuses --adversarial-weight without --clean now
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / "finetune" / args.out
    check_export_target(args.out, args.weights_dir, args.registry, overwrite=args.overwrite)
    if (run_dir / "checkpoint.pt").exists() and not args.resume:
        raise FileExistsError(f"{str(run_dir / 'checkpoint.pt')!r} already exists; pass --resume to continue that "
                              "run, or choose another --run-dir.")
    parent = load_parent(args.prior, args.prior_registry)
    degraded = load_image_folder(args.degraded, channels=parent.in_channels, what="--degraded",
                                 min_size=cfg.patch_size)
    clean = None if args.clean is None else load_image_folder(args.clean, channels=parent.in_channels,
                                                              what="--clean", min_size=cfg.patch_size)
    if args.sigma is not None:
        sigmas, source = [args.sigma / 255.0] * len(degraded), "given (--sigma)"
    else:
        sigmas = [float(estimate_sigma(x)) for x in degraded.images]
        source = "estimated per image (pnpleaves.restoration.estimate_sigma, pca)"
        print(f"estimated noise levels (0-255): min {min(sigmas) * 255:.2f}, max {max(sigmas) * 255:.2f}. The "
              "estimate assumes white noise and reads correlated or compressed noise far too low: if "
              "`pnpleaves denoise` at these levels leaves noise, pass --sigma (see docs/two_stage.md).")
    result = finetune(parent, degraded, sigma=sigmas, sigma_source=source, out_dir=run_dir, clean=clean, config=cfg,
                      resume=args.resume, progress=sys.stderr.isatty(), name=args.out, weights_dir=args.weights_dir,
                      registry=args.registry, overwrite=args.overwrite)
    if not result.finished:
        print(f"{args.out}: interrupted at stage {result.stage} step {result.step}; run folder {run_dir} "
              "(continue with the same command and --resume)")
        return 128 + int(result.stop_signal or signal.SIGINT)
    print(f"{args.out}: {result.steps_done} fine-tuning steps in {cfg.stages - 1} stage(s), {result.wall_time_s:.0f} s; "
          f"run folder {run_dir}")
    print(f"wrote {result.weights_file}" + (f" and its entry in {args.registry}" if args.registry else ""))
    return 0
