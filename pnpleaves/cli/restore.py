"""CLI sub-commands ``deblur``, ``super-resolve``, ``inpaint`` and ``denoise``.

``pnpleaves deblur IMG --kernel K --out OUT`` and friends: read an image (PNG/JPEG/TIFF, 8 or 16 bit, or a
float TIFF, whose noisy values may lie outside [0, 1]),
restore it with :mod:`pnpleaves.restoration`, write the result (8 or 16 bit; by default the input's
depth). ``--sigma`` is on the 0-255 scale here (the library uses [0, 1]). Kernels come from ``.npy``,
``.mat`` (MATLAB v5, or v7.3 when h5py is installed) or an image file; masks from an image file
(white = observed). User errors print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io as sio

from pnpleaves.errors import InputError
from pnpleaves.io import FORMATS_HELP, DEFAULT_JPEG_QUALITY, check_output_path, image_bit_depth, read_image, write_image
from pnpleaves.restoration import pnp_deblur, pnp_denoise, pnp_inpaint, pnp_super_resolve

logger = logging.getLogger(__name__)

SUBCOMMANDS = ("deblur", "super-resolve", "inpaint", "denoise")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _which(parser: argparse.ArgumentParser) -> str:
    for name in SUBCOMMANDS:
        if parser.prog.endswith(name):
            return name
    raise ValueError(f"unknown restoration sub-command in {parser.prog!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the sub-command ``parser.prog`` ends with."""
    cmd = _which(parser)
    parser.add_argument("image", help="input image (PNG, JPEG or TIFF; 8 or 16 bit, or float TIFF with noisy values as they are; grey or RGB)")
    parser.add_argument("--out", "-o", required=True,
                        help=f"output image file (.png, .tif, .jpg, .bmp; the extension picks the format): {FORMATS_HELP}")
    if cmd == "deblur":
        parser.add_argument("--kernel", "-k", required=True,
                            help="blur kernel: .npy, .mat or an image file (normalised to sum 1)")
        parser.add_argument("--kernel-index", type=int, default=None,
                            help="which kernel (counting from 1) when the file holds several (cell array, 3-D stack)")
        parser.add_argument("--kernel-var", default=None, help="variable name in a .mat file with several")
        parser.add_argument("--boundary", choices=("unknown", "circular"), default="unknown",
                            help="'unknown' for photographs (default); 'circular' if the blur wrapped around")
    elif cmd == "super-resolve":
        parser.add_argument("--scale", "-s", type=int, required=True, help="integer upscaling factor >= 2")
        parser.add_argument("--boundary", choices=("unknown", "circular"), default="unknown",
                            help="'circular' if the low-resolution image was blurred circularly (default unknown)")
        parser.add_argument("--kernel", "-k", default="bicubic",
                            help="'bicubic' (default), 'gaussian', or a kernel file (.npy, .mat, image)")
        parser.add_argument("--kernel-index", type=int, default=None,
                            help="which kernel (counting from 1) when the file holds several")
        parser.add_argument("--kernel-var", default=None, help="variable name in a .mat file with several")
    elif cmd == "inpaint":
        parser.add_argument("--mask", "-m", required=True,
                            help="mask image of the same size: white (> 0.5) = observed, black = missing")
        parser.add_argument("--invert-mask", action="store_true", help="black = observed instead")
    noise_help = ("noise std on the 0-255 scale (e.g. 25); default: estimated from the image"
                  if cmd != "denoise" else "noise std on the 0-255 scale (e.g. 25); default: estimated")
    parser.add_argument("--sigma", type=float, default=None, help=noise_help)
    parser.add_argument("--prior", default="vl-drunet",
                        help="registered prior name or weights file (default: vl-drunet)")
    if cmd != "denoise":
        parser.add_argument("--method", choices=("hqs", "admm"), default=None,
                            help="PnP splitting (default: the API's per problem: hqs for deblur and super-resolve, "
                                 "admm for inpaint)")
        parser.add_argument("--n-iter", type=int, default=None, help="number of iterations (default: per problem)")
        parser.add_argument("--ensemble", choices=("cycle", "x8", "none"), default="cycle",
                            help="flips/quarter turns of the image: 'cycle' one per iteration (default, free), "
                                 "'x8' all eight averaged at every step (8x slower), 'none'")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--backend", choices=("auto", "torch", "openvino", "onnxruntime"), default="auto",
                        help="what runs the prior: auto (OpenVINO, else ONNX Runtime, else PyTorch; default), or one")
    parser.add_argument("--precision", choices=("auto", "f32", "bf16"), default="auto",
                        help="auto (default: bf16 only where the CPU has it natively and it measures within 55 dB "
                             "of fp32, else f32), f32 or bf16")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                        help="output bit depth for PNG/TIFF (default: the input's, 16-bit colour PNGs included); "
                             "JPEG and BMP are always 8 bit")
    parser.add_argument("--quality", type=int, default=DEFAULT_JPEG_QUALITY,
                        help=f"JPEG quality 1-100 (default {DEFAULT_JPEG_QUALITY}; JPEG output only)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


# --------------------------------------------------------------------------- readers


def _pick(arrays: list[np.ndarray], index: int | None, what: str) -> np.ndarray:
    if len(arrays) == 1 and index is None:
        return arrays[0]
    if index is None:
        raise InputError(f"{what} holds {len(arrays)} kernels; choose one with --kernel-index 1..{len(arrays)}.")
    if not 1 <= index <= len(arrays):
        raise InputError(f"--kernel-index must be in 1..{len(arrays)} for {what}; got {index}.")
    return arrays[index - 1]


def _mat_v73(path: Path, var: str | None, index: int | None) -> np.ndarray:
    try:
        import h5py
    except ImportError:
        raise InputError(
            f"{str(path)!r} is a MATLAB v7.3 file, which needs the h5py package; install it, or save the kernel "
            "with save(..., '-v7') or as .npy."
        ) from None
    with h5py.File(path, "r") as f:
        names = [k for k in f.keys() if not k.startswith("#")]
        if var is None:
            if len(names) != 1:
                raise InputError(f"{str(path)!r} holds variables {names}; choose one with --kernel-var.")
            var = names[0]
        if var not in f:
            raise InputError(f"no variable {var!r} in {str(path)!r}; it holds {names}.")
        ds = f[var]
        if ds.dtype == h5py.ref_dtype:  # cell array of references
            refs = [r for r in np.asarray(ds).T.ravel()]
            arrays = [np.asarray(f[r]).T for r in refs]
        else:
            data = np.asarray(ds).T  # MATLAB is column-major
            arrays = [data] if data.ndim == 2 else [data[..., i] for i in range(data.shape[-1])]
    return _pick(arrays, index, repr(str(path)))


def read_kernel(path: str | Path, *, index: int | None = None, var: str | None = None) -> np.ndarray:
    """Read a 2-D kernel from ``.npy``, ``.mat`` or an image file (grey levels, normalised to sum 1).

    Files with several kernels (a 3-D ``.npy`` stack, a MATLAB cell array, a 3-D MATLAB array) need
    ``index`` (counting from 1); a ``.mat`` with several variables needs ``var``.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"kernel file {str(path)!r} is a folder; give a .npy, .mat or image file.")
    if not path.is_file():
        raise FileNotFoundError(f"kernel file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"could not read {str(path)!r} as a NumPy .npy file: it is not a valid .npy array "
                             f"file ({type(exc).__name__}). Save the kernel with numpy.save.") from None
        arrays = [data] if data.ndim == 2 else list(data) if data.ndim == 3 else None
        if arrays is None:
            raise InputError(f"expected a 2-D kernel or a 3-D stack in {str(path)!r}; got shape {data.shape}.")
        return np.asarray(_pick(arrays, index, repr(str(path))), dtype=np.float64)
    if suffix == ".mat":
        try:
            content = sio.loadmat(path)
        except NotImplementedError:  # v7.3 = HDF5
            return np.asarray(_mat_v73(path, var, index), dtype=np.float64)
        except Exception as exc:
            raise InputError(f"could not read {str(path)!r} as a MATLAB file ({exc}).") from None
        names = [k for k in content if not k.startswith("__")]
        if var is None:
            if len(names) != 1:
                raise InputError(f"{str(path)!r} holds variables {names}; choose one with --kernel-var.")
            var = names[0]
        if var not in content:
            raise InputError(f"no variable {var!r} in {str(path)!r}; it holds {names}.")
        data = content[var]
        if data.dtype == object:  # cell array
            arrays = [np.asarray(c, dtype=np.float64) for c in data.T.ravel()]
        elif data.ndim == 3:
            arrays = [data[..., i] for i in range(data.shape[-1])]
        else:
            arrays = [data]
        return np.asarray(_pick(arrays, index, repr(str(path))), dtype=np.float64)
    if suffix in _IMAGE_SUFFIXES:
        k = read_image(path, channels=1)[..., 0].astype(np.float64)
        total = k.sum()
        return k / total if total > 0 else k
    raise InputError(f"kernel file must be .npy, .mat or an image ({', '.join(_IMAGE_SUFFIXES)}); got {str(path)!r}.")


def _kernel_arg(spec: str, args: argparse.Namespace) -> Any:
    if spec in ("bicubic", "gaussian"):
        return spec
    if args.command == "super-resolve" and not Path(spec).exists() and not Path(spec).suffix:
        raise InputError(f"--kernel must be 'bicubic', 'gaussian' or a kernel file (.npy, .mat, image); got {spec!r}.")
    return read_kernel(spec, index=args.kernel_index, var=args.kernel_var)


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    cmd = args.command
    out = check_output_path(args.out, overwrite=args.overwrite, what="--out", overwrite_hint="--overwrite")  # before any work
    if not 1 <= args.quality <= 100:
        raise InputError(f"--quality must be in 1..100; got {args.quality}.")
    src = Path(args.image)
    img = read_image(src)  # FileNotFoundError / ValueError with one clear line
    depth = args.bit_depth or image_bit_depth(src)
    if out.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        if args.bit_depth == 16:
            logger.warning("warning: --bit-depth 16 does not apply to %s; writing 8 bit", out.suffix)
        depth = 8
    sigma = None if args.sigma is None else args.sigma / 255.0
    if sigma is not None and not 0 <= sigma <= 1:
        raise InputError(f"--sigma is on the 0-255 scale and must be in [0, 255]; got {args.sigma}.")
    progress = not args.no_progress
    common = dict(prior=args.prior, sigma=sigma, device=args.device, backend=args.backend, precision=args.precision)
    method = {} if getattr(args, "method", None) is None else {"method": args.method}  # None: the API default
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if cmd == "deblur":
            kernel = _kernel_arg(args.kernel, args)
            res = pnp_deblur(img, kernel, boundary=args.boundary, n_iter=args.n_iter, **method,
                             progress=progress, ensemble=args.ensemble, **common)
        elif cmd == "super-resolve":
            kernel = _kernel_arg(args.kernel, args)
            res = pnp_super_resolve(img, args.scale, kernel=kernel, boundary=args.boundary, n_iter=args.n_iter, **method,
                                    progress=progress, ensemble=args.ensemble, **common)
        elif cmd == "inpaint":
            mask = read_image(args.mask, channels=1)[..., 0]
            if mask.shape != img.shape[:2]:
                raise InputError(
                    f"mask {args.mask!r} is {mask.shape[0]}x{mask.shape[1]} but the image is "
                    f"{img.shape[0]}x{img.shape[1]}; give a mask of the image's size."
                )
            observed = mask <= 0.5 if args.invert_mask else mask > 0.5
            res = pnp_inpaint(img, observed, n_iter=args.n_iter, progress=progress, **method,
                              ensemble=args.ensemble, **common)
        else:
            res = pnp_denoise(img, **common)
    for w in caught:
        logger.warning("warning: %s", w.message)
    path = write_image(out, res, bit_depth=depth, overwrite=args.overwrite, quality=args.quality)
    print(f"wrote {path} ({res.shape[1]}x{res.shape[0]}, {depth}-bit)")
    return 0
