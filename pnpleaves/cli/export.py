"""``pnpleaves export RUN_DIR --name NAME [--weights-dir DIR] [--registry PATH --update-registry]``:
export a training run as a prior.

Writes ``DIR/NAME.safetensors`` (fp16; ``DIR`` is ``weights`` by default) and prints the registry
entry with its card (dev-set PSNR of the exported weights, time to denoise one 512x512 image).
``--update-registry`` also writes the entry into the registry TOML given by ``--registry``; the
registry shipped in the package is written only when its path is given explicitly, e.g. from a
source checkout::

    pnpleaves export runs/vl-drunet --name vl-drunet --weights-dir pnpleaves/priors/weights \\
        --registry pnpleaves/priors/weights.toml --update-registry --overwrite
"""

from __future__ import annotations

import argparse

import torch

from pnpleaves.errors import InputError
from pnpleaves.priors.registry import REGISTRY_PATH
from pnpleaves.training.export import export_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="training run folder, its checkpoint.pt, or the model.safetensors the trainer wrote")
    parser.add_argument("--name", required=True, help="prior name, e.g. my-drunet")
    parser.add_argument("--weights-dir", default="weights", help="destination folder (default: ./weights)")
    parser.add_argument("--registry", default=None, metavar="PATH",
                        help="registry TOML that --update-registry writes the entry into (created if absent)")
    parser.add_argument("--update-registry", action="store_true", help="write the entry into --registry")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file / entry")
    parser.add_argument("--dev-folder", action="append", default=None,
                        help="images for the PSNR table; repeat for several sets (default: the run's dev.folder)")
    parser.add_argument("--max-images", type=int, default=None, help="first N dev images only")
    parser.add_argument("--crop", type=int, default=0, help="centre-crop dev images (0: whole images)")
    parser.add_argument("--fp32", action="store_true", help="store float32 instead of float16")
    parser.add_argument("--description", default="", help="one line for the card")
    parser.add_argument("--device", default=None, help="device for the dev evaluation (cpu / cuda)")


def run(args: argparse.Namespace) -> int:
    if args.update_registry and args.registry is None:
        raise InputError(
            "--update-registry needs --registry PATH, the registry TOML to write the entry into (the "
            f"package's own registry is {str(REGISTRY_PATH)!r}: give its path to update it)."
        )
    _, block = export_run(
        args.run, args.name, weights_dir=args.weights_dir, registry=args.registry, update=args.update_registry,
        overwrite=args.overwrite, dev_folder=args.dev_folder, max_images=args.max_images, crop=args.crop,
        dtype=torch.float32 if args.fp32 else torch.float16, description=args.description, device=args.device,
    )
    print(block)
    return 0
