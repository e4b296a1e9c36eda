r"""Images as arrays and tensors: conversion, layout bookkeeping, validation, dihedral transforms.

The library's one place that turns NumPy ``(H, W[, C])`` arrays into torch ``(B, C, H, W)`` tensors and
back. Input normalisation for the restoration and sampling functions:

Every ``pnp_*`` function accepts NumPy ``(H, W)`` / ``(H, W, C)`` arrays (uint8, uint16, bool, or
float in [0, 1]) and torch ``(C, H, W)`` / ``(B, C, H, W)`` tensors, and returns the same kind and
layout as float in [0, 1]. Noisy float values are used as they are (clipping them would bias the
data term): within [-0.5, 1.5] always, and within :math:`[-k\sigma, 1 + k\sigma]` (:data:`NOISE_RANGE_K`)
once the noise level :math:`\sigma` is known (:func:`check_noisy_range`), so photographs with noise of
std 50/255 or 75/255 pass. A float image reaching beyond :data:`SCALE_LIMIT` is on another scale (0-255
or 0-65535 data) and is refused with an InputError that names the scale. Internally everything is a
float32 ``(B, C, H, W)`` tensor. Inputs are never modified in place: the conversion always copies.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.io import list_images, read_image

logger = logging.getLogger(__name__)

__all__ = ["NOISE_RANGE_K", "SCALE_LIMIT", "Layout", "check_device", "check_noisy_range", "check_output", "dihedral", "kernel_to_tensor", "load_testset", "mask_to_tensor", "to_bchw", "to_numpy", "to_tensor"]

#: float values within [-SCALE_TOLERANCE, 1 + SCALE_TOLERANCE] are accepted as they are whatever the noise
#: level (noisy data on the [0, 1] scale)
SCALE_TOLERANCE = 0.5
#: with noise of std sigma, values within [-k sigma, 1 + k sigma] are accepted (Gaussian noise exceeds
#: 6 sigma with probability 2e-9 per pixel: once in 500 twelve-megapixel colour photographs)
NOISE_RANGE_K = 6.0
#: a float image with values above this (or below 1 - SCALE_LIMIT) is on another scale whatever its noise:
#: 1 + 6 sigma reaches it only for sigma > 1.17, beyond any noise level the library accepts (sigma <= 1),
#: while 0-255 data of anything but a nearly black image exceed it
SCALE_LIMIT = 8.0
#: a kernel whose sum differs from 1 by more than this is normalised *with* a warning
KERNEL_SUM_TOLERANCE = 1e-3
#: a kernel with a side longer than this draws a warning (it is more likely a photograph than a blur)
KERNEL_WARN_SIZE = 128
#: a mask with more than this fraction of grey pixels (neither black nor white) draws a warning
MASK_GREY_FRACTION = 0.05


@dataclass(frozen=True)
class Layout:
    """How an input image was laid out, so the output can be given back the same way."""

    kind: str  # "numpy" or "torch"
    ndim: int  # 2/3 for NumPy, 3/4 for torch
    dtype: Any  # output dtype: the float dtype of the input, float32 for integer input
    device: Any = None  # torch device of the input

    def restore(self, x: torch.Tensor) -> np.ndarray | torch.Tensor:
        """Turn a ``(B, C, H, W)`` result back into the caller's kind and layout (float in [0, 1])."""
        x = x.detach().clamp(0.0, 1.0)
        if self.kind == "torch":
            out = x if self.ndim == 4 else x[0]
            return out.to(device=self.device, dtype=self.dtype).contiguous()
        arr = x[0].permute(1, 2, 0).to("cpu", torch.float64).numpy().astype(self.dtype)
        if self.ndim == 2:
            arr = arr[..., 0]
        return np.ascontiguousarray(arr)


def _other_scale(hi: float) -> str:
    # noisy 0-255 data reach about 255 + 5 x 75 = 630; 0-65535 data of any but a nearly black image pass 1024
    return "0-65535 (16-bit)" if hi > 1024 else "0-255 (8-bit)"


def _float_range_check(t: torch.Tensor, name: str, tolerance: float | None = SCALE_TOLERANCE) -> torch.Tensor:
    """Reject NaN/Inf and values on another scale; keep values within ``tolerance`` of [0, 1] as they are.

    A noisy observation of an image in [0, 1] goes below 0 and above 1: clipping it would bias the
    Gaussian data term, so such values are used as they are (the *output* is clipped to [0, 1]).
    Values beyond :data:`SCALE_LIMIT` (a float image on the 0-255 or 0-65535 scale) always raise an
    InputError; ``tolerance=None`` checks only that (the caller then checks the range against the noise
    level with :func:`check_noisy_range`).
    """
    if not torch.isfinite(t).all():
        n_bad = int((~torch.isfinite(t)).sum())
        raise InputError(
            f"{name} must contain finite values; got {n_bad} NaN/Inf value(s). "
            "Replace them (e.g. numpy.nan_to_num) or mark those pixels missing and use pnp_inpaint."
        )
    lo, hi = float(t.min()), float(t.max())
    if hi > SCALE_LIMIT or (tolerance is not None and hi > 1.0 + tolerance):
        raise InputError(
            f"{name} is a float image expected on the [0, 1] scale (noisy values within "
            f"[{-SCALE_TOLERANCE}, {1 + SCALE_TOLERANCE}] are accepted, more with more noise); got values up to "
            f"{hi:.4g}, which looks like {_other_scale(hi)} data. Divide it by 255 (8-bit) or 65535 (16-bit) "
            "first, or pass the integer array itself."
        )
    if lo < 1.0 - SCALE_LIMIT or (tolerance is not None and lo < -tolerance):
        raise InputError(
            f"{name} is a float image expected on the [0, 1] scale (noisy values within "
            f"[{-SCALE_TOLERANCE}, {1 + SCALE_TOLERANCE}] are accepted, more with more noise); got values down "
            f"to {lo:.4g}. Rescale it to [0, 1] first (e.g. (img + 1) / 2 for data on [-1, 1])."
        )
    return t


def check_noisy_range(x: torch.Tensor, sigmas: Any, name: str = "img") -> torch.Tensor:
    r"""Check that each image of ``x`` (``(B, C, H, W)``) lies where noise of std ``sigmas[b]`` puts an
    image in [0, 1]: within :math:`[-t, 1 + t]` with :math:`t = \max(0.5, k\sigma)`,
    :math:`k` = :data:`NOISE_RANGE_K`. Returns ``x``; raises an InputError naming the likely scale.

    >>> import torch
    >>> x = torch.zeros(1, 1, 4, 4); x[..., 0, 0] = 2.4                # a noisy pixel, sigma 75/255
    >>> check_noisy_range(x, [75 / 255]).shape
    torch.Size([1, 1, 4, 4])
    """
    sig = [float(s) for s in (sigmas if isinstance(sigmas, (list, tuple)) else [sigmas] * x.shape[0])]
    for b in range(x.shape[0]):
        tol = max(SCALE_TOLERANCE, NOISE_RANGE_K * sig[b])
        lo, hi = float(x[b].min()), float(x[b].max())
        if lo >= -tol and hi <= 1.0 + tol:
            continue
        which = f"image {b} of {name}" if x.shape[0] > 1 else name
        found = f"up to {hi:.4g}" if hi > 1.0 + tol else f"down to {lo:.4g}"
        hint = ("is sigma right (the noise std on the [0, 1] scale; None estimates it)? A float image on another "
                "scale must be brought to [0, 1] first (divide 0-255 data by 255)")
        raise InputError(
            f"{which} holds values {found}, outside [{-tol:.3g}, {1 + tol:.3g}], the range an image in [0, 1] with "
            f"noise of std {sig[b]:.4g} ({sig[b] * 255:.1f}/255) reaches ({NOISE_RANGE_K:g} sigma, at least "
            f"{SCALE_TOLERANCE}); {hint}."
        )
    return x


def _numpy_to_float(arr: np.ndarray, name: str) -> tuple[np.ndarray, Any]:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, np.float32
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0, np.float32
    if arr.dtype == np.bool_:
        return arr.astype(np.float32), np.float32
    if np.issubdtype(arr.dtype, np.floating):
        out_dtype = np.float64 if arr.dtype == np.float64 else np.float32
        return arr.astype(np.float64 if arr.dtype == np.float64 else np.float32, copy=True), out_dtype
    raise InputTypeError(
        f"{name} must be uint8, uint16, bool or float in [0, 1]; got dtype {arr.dtype}. "
        f"Convert it, e.g. {name}.astype(numpy.uint8) for 0-255 data."
    )


def to_bchw(img: Any, name: str = "img", *, tolerance: float | None = SCALE_TOLERANCE) -> tuple[torch.Tensor, Layout]:
    """Copy an image into a float32 ``(B, C, H, W)`` tensor in [0, 1] and remember its layout.

    Float values within ``tolerance`` of [0, 1] are used as they are; ``tolerance=None`` refuses only
    values on another scale (beyond :data:`SCALE_LIMIT`), for callers that then check the range
    against the noise level (:func:`check_noisy_range`).

    :raises TypeError: for an unsupported type or dtype.
    :raises ValueError: for a bad shape or NaN/Inf values.
    """
    if isinstance(img, (str, bytes, os.PathLike)):
        raise InputTypeError(
            f"{name} must be an image array, not a path; got {img!r}. Read the file first with "
            "pnpleaves.io.read_image(path), or use the command line (pnpleaves deblur IMG ...)."
        )
    if isinstance(img, torch.Tensor):
        if img.ndim == 3 and img.shape[-1] in (1, 3) and img.shape[0] not in (1, 3):
            raise InputError(
                f"{name} as a torch tensor must be channels-first (C, H, W); got shape {tuple(img.shape)}, which "
                f"looks like (H, W, C). Permute it: {name}.permute(2, 0, 1)."
            )
        if img.ndim not in (3, 4):
            raise InputError(
                f"{name} as a torch tensor must be (C, H, W) or (B, C, H, W); got shape {tuple(img.shape)}. "
                f"Add the channel axis, e.g. {name}[None] for a single grey image."
            )
        if img.is_complex():
            raise InputTypeError(f"{name} must be a real image; got a complex tensor.")
        t = img.detach().to("cpu", copy=True)
        if t.dtype == torch.uint8:
            t, out_dtype = t.float() / 255.0, torch.float32
        elif t.dtype == torch.bool:
            t, out_dtype = t.float(), torch.float32
        elif t.is_floating_point():
            out_dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
            t = t.to(torch.float64 if t.dtype == torch.float64 else torch.float32)
        else:
            raise InputTypeError(
                f"{name} must be a uint8, bool or float tensor in [0, 1]; got dtype {t.dtype}. "
                f"Use {name}.float() / 255 for 0-255 data."
            )
        t = t if t.ndim == 4 else t[None]
        layout = Layout("torch", img.ndim, out_dtype, img.device)
    elif isinstance(img, np.ndarray) or np.isscalar(img) or isinstance(img, (list, tuple)):
        arr = np.asarray(img)
        if arr.ndim not in (2, 3):
            raise InputError(
                f"{name} as a NumPy array must be (H, W) or (H, W, C); got shape {arr.shape}."
            )
        if arr.ndim == 3 and arr.shape[-1] not in (1, 3) and arr.shape[0] in (1, 3):
            raise InputError(
                f"{name} as a NumPy array must be channels-last (H, W, C); got shape {arr.shape}, which looks "
                f"channels-first. Use {name}.transpose(1, 2, 0)."
            )
        f, out_dtype = _numpy_to_float(arr, name)
        if f.ndim == 2:
            f = f[..., None]
        t = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None]
        layout = Layout("numpy", arr.ndim, out_dtype)
    else:
        raise InputTypeError(
            f"{name} must be a NumPy array (H, W) / (H, W, C) or a torch tensor (C, H, W) / (B, C, H, W); "
            f"got {type(img).__name__}."
        )
    if t.shape[1] not in (1, 3):
        raise InputError(
            f"{name} must have 1 (grey) or 3 (RGB) channels; got {t.shape[1]} in shape {tuple(t.shape)}. "
            "Drop an alpha channel with img[..., :3] (NumPy) or img[:3] (torch)."
        )
    if min(t.shape[-2:]) < 2:
        raise InputError(f"{name} must be at least 2x2 pixels; got {tuple(t.shape[-2:])}.")
    t = _float_range_check(t, name, tolerance)
    return t.float(), layout


def mask_to_tensor(mask: Any, image: torch.Tensor) -> torch.Tensor:
    """Inpainting mask (1 = observed) as a float ``{0, 1}`` tensor broadcastable to ``image``.

    Accepted shapes: ``(H, W)`` (shared by every channel), or the image's own layout (NumPy
    ``(H, W, C)``; torch ``(C, H, W)`` / ``(B, C, H, W)`` / ``(1, H, W)``). Values must lie in [0, 1]
    (bool, 0/1 integers, 0/255 uint8 or floats); they are thresholded at 0.5.
    """
    B, C, H, W = image.shape
    expected = f"(H, W) = {(H, W)} or the image's shape"
    if isinstance(mask, torch.Tensor):
        m = mask.detach().to("cpu", copy=True)
        if m.dtype == torch.uint8 and int(m.max()) > 1:
            m = m.float() / 255.0
        m = m.double()
        if m.ndim == 2:
            m = m[None, None]
        elif m.ndim == 3:
            m = m[None]
        elif m.ndim != 4:
            raise InputError(f"mask must be {expected}; got shape {tuple(mask.shape)}.")
    else:
        arr = np.asarray(mask)
        if arr.dtype == np.uint8 and arr.size and arr.max() > 1:
            arr = arr / 255.0
        if arr.dtype.kind not in "biuf":
            raise InputTypeError(f"mask must be a numeric or boolean array; got dtype {arr.dtype}.")
        arr = arr.astype(np.float64)
        if arr.ndim == 2:
            m = torch.from_numpy(arr)[None, None]
        elif arr.ndim == 3:
            m = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
        else:
            raise InputError(f"mask must be {expected}; got shape {arr.shape}.")
    ok_b = m.shape[0] in (1, B)
    ok_c = m.shape[1] in (1, C)
    if not (ok_b and ok_c and tuple(m.shape[-2:]) == (H, W)):
        shown = tuple(mask.shape) if hasattr(mask, "shape") else np.shape(mask)
        raise InputError(
            f"mask must be {expected}; got shape {shown} for an image of {H}x{W} pixels with {C} channel(s). "
            "Resize or crop the mask to the image (1 = observed pixel, 0 = missing)."
        )
    mask_min, mask_max = (float(m.min()), float(m.max())) if torch.isfinite(m).all() else (0.0, 0.0)
    if not torch.isfinite(m).all() or float(m.min()) < 0 or float(m.max()) > 1:
        raise InputError(
            "mask values must be in [0, 1] (1 = observed, 0 = missing); "
            f"got values in [{float(m.min()):.4g}, {float(m.max()):.4g}]."
        )
    grey = float(((m > 0.02) & (m < 0.98)).double().mean())
    if grey > MASK_GREY_FRACTION:
        warnings.warn(
            f"mask has grey levels at {grey:.0%} of its pixels (a mask is black and white: 1 = observed, 0 = missing); "
            "it was thresholded at 0.5. Is it a photograph rather than a mask?",
            UserWarning,
            stacklevel=3,
        )
    m = (m >= 0.5).float()
    if float(m.sum()) == 0:
        raise InputError(
            f"mask marks no pixel as observed: no value reaches 0.5 (its values lie in [{float(mask_min):.4g}, "
            f"{float(mask_max):.4g}]); 1 = observed, 0 = missing, thresholded at 0.5."
        )
    return m


def kernel_to_tensor(
    kernel: Any,
    image_hw: tuple[int, int],
    *,
    name: str = "kernel",
    allow_negative: bool = False,
) -> torch.Tensor:
    """Check a blur kernel and return it as a float64 ``(1, 1, kh, kw)`` tensor summing to 1.

    A kernel is a 2-D array (singleton leading axes are dropped). Entries must be finite and
    non-negative (``allow_negative=True`` accepts the negative lobes of e.g. bicubic kernels), the sum
    must be positive, and it must not be larger than the image. A sum other than 1 is normalised,
    with a warning when it differs by more than :data:`KERNEL_SUM_TOLERANCE`.
    """
    if isinstance(kernel, torch.Tensor):
        k = kernel.detach().to("cpu", torch.float64, copy=True).numpy()
    else:
        try:
            k = np.array(kernel, dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            raise InputTypeError(
                f"{name} must be a 2-D array of numbers; got {type(kernel).__name__}."
            ) from None
    while k.ndim > 2 and k.shape[0] == 1:
        k = k[0]
    if k.ndim != 2 or min(k.shape) < 1:
        raise InputError(
            f"{name} must be a 2-D array (kh, kw); got shape {np.shape(kernel)}. "
            "One kernel for all channels is supported."
        )
    if not np.isfinite(k).all():
        raise InputError(
            f"{name} must contain finite values; got {int((~np.isfinite(k)).sum())} NaN/Inf entries. "
            "Check how the kernel was estimated or loaded."
        )
    if not allow_negative and (k < 0).any():
        raise InputError(
            f"{name} entries must be >= 0 (a blur kernel is a distribution of light); got a minimum of "
            f"{k.min():.4g}. Clip it: numpy.clip(kernel, 0, None)."
        )
    total = float(k.sum())
    if not total > 1e-12:
        raise InputError(
            f"{name} must have a positive sum (it is normalised to sum 1); got sum {total:.4g}. "
            "An all-zero kernel has no meaning."
        )
    H, W = image_hw
    if k.shape[0] > H or k.shape[1] > W:
        raise InputError(
            f"{name} of size {k.shape[0]}x{k.shape[1]} is larger than the image ({H}x{W}); expected a kernel no "
            "larger than the image. Crop the kernel to its support or pass the full-size image."
        )
    if max(k.shape) > KERNEL_WARN_SIZE:
        warnings.warn(
            f"{name} is {k.shape[0]}x{k.shape[1]}, larger than any usual blur kernel (> {KERNEL_WARN_SIZE} pixels): "
            "is it a photograph rather than a kernel? It is used as given.",
            UserWarning,
            stacklevel=3,
        )
    if abs(total - 1.0) > KERNEL_SUM_TOLERANCE:
        warnings.warn(
            f"{name} sums to {total:.6g}, not 1; it was normalised to sum 1 (divide it by its sum to silence this).",
            UserWarning,
            stacklevel=3,
        )
    k = k / total
    return torch.from_numpy(k)[None, None]


def to_tensor(img: np.ndarray):
    """NumPy ``(H, W)`` or ``(H, W, C)`` -> torch ``(1, C, H, W)`` float32 (no copy of the caller's array is kept)."""
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)).copy())[None]


def to_numpy(x) -> np.ndarray:
    """torch ``(1, C, H, W)`` or ``(C, H, W)`` -> NumPy ``(H, W, C)`` float32."""
    t = x.detach().to("cpu", copy=True).float()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InputError(f"to_numpy expects a batch of one image; got shape {tuple(t.shape)}.")
        t = t[0]
    return t.permute(1, 2, 0).numpy()


def dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """The ``k``-th (0..7) element of the dihedral group of the square on ``(..., H, W)``, or its inverse.

    ``k = 4 f + r``: a rotation by ``r`` quarter turns, preceded by a left-right flip when ``f = 1``.
    """
    k = int(k) % 8
    flip, r = divmod(k, 4)
    if not inverse:
        x = torch.flip(x, dims=(-1,)) if flip else x
        return torch.rot90(x, r, dims=(-2, -1))
    x = torch.rot90(x, -r, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x


def prior_label(prior: Any) -> str:
    """How an error names a ``prior`` argument: its registered name or path, else the module's name."""
    if isinstance(prior, (str, os.PathLike)):
        return repr(str(prior))
    name = getattr(prior, "name", None)
    return repr(name) if isinstance(name, str) else type(prior).__name__


def check_output(x: Any, prior: Any, what: str = "the result") -> Any:
    """Return the tensor ``x`` after checking it holds only finite values, else raise an InputError that
    blames the prior (its input was checked before): a damaged weights file or an unsuitable denoiser."""
    if not bool(torch.isfinite(x).all()):
        n_bad = int((~torch.isfinite(x)).sum())
        raise InputError(
            f"{what} holds {n_bad} NaN/Inf value(s) out of {x.numel()}: the prior {prior_label(prior)} returned "
            "non-finite values (damaged weights, or a denoiser that does not fit this input). Check the prior's "
            "file (pnpleaves.load_prior verifies registered names and files written by pnpleaves) or try another prior."
        )
    return x


def check_device(device: Any) -> Any:
    """Return ``device`` as a ``torch.device`` (None stays None), refusing names torch does not know and
    a CUDA/MPS device this machine does not have, with a one-line fix."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(
            f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; got {device!r}."
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} asks for CUDA, but no CUDA GPU is available here; use device 'cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                             f"(cuda:0..cuda:{torch.cuda.device_count() - 1}).")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InputError(f"device {device!r} asks for Apple MPS, which is not available here; use device 'cpu'.")
    return dev


def load_testset(
    folder: str | os.PathLike, *, max_images: int | None = None, crop: int = 0, channels: int = 3
) -> tuple[list[str], list[torch.Tensor]]:
    """Names and ``(1, C, H, W)`` tensors of the images of ``folder`` (sorted), centre-cropped to
    ``crop x crop`` when ``crop > 0`` (images smaller than ``crop`` are kept whole)."""
    files = list_images(folder)
    if max_images:
        files = files[: int(max_images)]
    names, images = [], []
    for path in files:
        x = to_tensor(read_image(path, channels=channels))
        if crop:
            h, w = x.shape[-2:]
            ch, cw = min(crop, h), min(crop, w)
            top, left = (h - ch) // 2, (w - cw) // 2
            x = x[..., top : top + ch, left : left + cw].contiguous()
        names.append(path.stem)
        images.append(x)
    return names, images
