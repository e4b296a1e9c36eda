r"""The data of two-stage fine-tuning: a user's image folders, surrogate ground truths, and batches.

Two-stage training (Chen et al., *Deep Learning with Inaccurate Training Data for Image
Restoration*, arXiv 2018; :mod:`pnpleaves.training.finetune`) has no clean version of the user's
*real* degraded images :math:`y_i`. Stage :math:`k` replaces it by a **surrogate** made by the
network of stage :math:`k-1`: :math:`\hat x_i = D_{k-1}(y_i, \sigma_i)` (optionally the mean of its 8
flips and quarter turns, :class:`~pnpleaves.models.DihedralCycle`), where :math:`\sigma_i` is the noise
level the caller gives for image :math:`i` (a value the user chose, or an estimate).

A fine-tuning batch of ``B`` samples holds

- ``B - n_anchor`` **real pairs** :math:`(y, \sigma_i) \to \hat x`: a random crop (and one of the 8
  dihedral transforms) of a degraded image and the same crop of its surrogate. The network is given
  the same :math:`\sigma_i` that made the surrogate, so at inference the same rule for :math:`\sigma`
  (e.g. :func:`pnpleaves.restoration.estimate_sigma`) reproduces the adapted behaviour;
- ``n_anchor`` **anchor pairs** :math:`(c + \sigma z, \sigma) \to c`: a crop :math:`c` of an unpaired
  clean image (or of a surrogate when there are none) plus white Gaussian noise at a known level
  :math:`\sigma` drawn from the parent prior's training law. These keep the noise-level input
  meaningful over the whole range that Plug-and-Play iterations and samplers use;
- for the adversarial term, ``B - n_anchor`` crops of the unpaired clean images (``clean``).

Batch ``t`` of stage ``k`` is a pure function of ``(seed, k, t)``: sample ``j`` draws its image,
crop, transform, noise level and noise from a generator seeded by ``(seed, k, t, j)``, so a resumed
fine-tuning sees exactly the batches of an uninterrupted one (as :mod:`pnpleaves.training.data`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pnpleaves._checks import check_number
from pnpleaves._random import mix_seed
from pnpleaves.errors import InputError
from pnpleaves.images import dihedral, to_tensor
from pnpleaves.io import list_images, read_image
from pnpleaves.models import DihedralCycle
from pnpleaves.priors.files import file_sha256

logger = logging.getLogger(__name__)

__all__ = [
    "ImageSet",
    "NoiseLaw",
    "PairBatch",
    "apply_tiled",
    "folder_digest",
    "load_image_folder",
    "make_batch",
    "make_surrogates",
]


@dataclass(frozen=True)
class ImageSet:
    """The images of a folder, read once: ``files`` (sorted), ``images`` (float32 ``(C, H, W)`` tensors in
    [0, 1]), ``digest`` (:func:`folder_digest` of the files) and ``folder``."""

    folder: str
    files: tuple[Path, ...]
    images: tuple[torch.Tensor, ...] = field(repr=False)
    digest: str

    def __len__(self) -> int:
        return len(self.images)

    def describe(self) -> dict[str, object]:
        """``{folder, digest, n_images, pixels}`` for a training card."""
        return {"folder": self.folder, "digest": self.digest, "n_images": len(self),
                "pixels": int(sum(x.shape[-2] * x.shape[-1] for x in self.images))}


@dataclass(frozen=True)
class NoiseLaw:
    """The Gaussian noise levels of the anchor pairs: ``sigma ~ U(sigma_range)``, except a fraction
    ``low_fraction`` drawn from ``U(low_range)`` (the law :class:`~pnpleaves.training.config.NoiseConfig`
    describes; fine-tuning takes it from the parent prior's card)."""

    sigma_range: tuple[float, float] = (0.0, 75.0 / 255.0)
    low_fraction: float = 0.0
    low_range: tuple[float, float] = (0.0, 2.0 / 255.0)

    @classmethod
    def from_card(cls, card: dict, sigma_range: tuple[float, float]) -> NoiseLaw:
        """The law of a prior's training card (``card["noise"]``), with ``sigma_range`` as the fallback range."""
        noise = card.get("noise", {}) if isinstance(card, dict) else {}
        rng = tuple(float(v) for v in noise.get("sigma_range", sigma_range))
        low = tuple(float(v) for v in noise.get("low_range", (0.0, 2.0 / 255.0)))
        return cls(sigma_range=(rng[0], rng[1]), low_fraction=float(noise.get("low_fraction", 0.0)),
                   low_range=(low[0], low[1]))

    def draw(self, g: torch.Generator) -> float:
        """One noise level from generator ``g``."""
        lo, hi = self.low_range if float(torch.rand((), generator=g)) < self.low_fraction else self.sigma_range
        return lo + (hi - lo) * float(torch.rand((), generator=g))

    def to_dict(self) -> dict[str, object]:
        return {"sigma_range": [float(v) for v in self.sigma_range], "low_fraction": float(self.low_fraction),
                "low_range": [float(v) for v in self.low_range]}


def folder_digest(files: Sequence[str | os.PathLike]) -> str:
    """sha256 of the sorted ``name:sha256(file)`` lines of ``files``: it changes when a file is added,
    removed, renamed or edited."""
    h = hashlib.sha256()
    for path in sorted(Path(f) for f in files):
        h.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return h.hexdigest()


def load_image_folder(folder: str | os.PathLike, *, channels: int, what: str = "folder",
                      min_size: int = 0) -> ImageSet:
    """Read every image of ``folder`` for a prior of ``channels`` image channels, checking them first.

    :param what: how error messages name the folder (e.g. ``"--degraded"``).
    :param min_size: the smallest image side accepted (the training patch size).
    :raises FileNotFoundError: when ``folder`` is not a folder or holds no image file.
    :raises InputError: for an unreadable file, a grey image for a colour prior (or the reverse), or an
        image smaller than ``min_size``.
    """
    folder = Path(folder)
    try:
        files = list_images(folder)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{what}: {exc}") from None
    images = []
    for path in files:
        try:
            arr = read_image(path)
        except InputError as exc:
            raise InputError(f"{what}: {exc} Remove or replace that file.") from None
        c = arr.shape[-1]
        if c != channels:
            kind = {1: "grey", 3: "colour"}
            raise InputError(
                f"{what}: {str(path)!r} is a {kind.get(c, f'{c}-channel')} image but the prior denoises "
                f"{kind.get(channels, f'{channels}-channel')} images ({channels} channel(s)); convert the images "
                f"or fine-tune a {kind.get(c, '')} prior."
            )
        h, w = arr.shape[:2]
        if min(h, w) < min_size:
            raise InputError(
                f"{what}: {str(path)!r} is {h}x{w}, smaller than the {min_size}x{min_size} training patches; "
                "use larger images or a smaller patch size (--patch-size)."
            )
        images.append(to_tensor(arr)[0])
    return ImageSet(folder=str(folder), files=tuple(files), images=tuple(images), digest=folder_digest(files))


def apply_tiled(denoiser: torch.nn.Module, x: torch.Tensor, sigma: float, *, tile: int = 512,
                overlap: int = 32) -> torch.Tensor:
    """``denoiser(x, sigma)`` of one ``(1, C, H, W)`` image computed on ``tile x tile`` windows that
    overlap by ``overlap`` pixels on each side (only each window's centre is kept), so that large
    photographs fit in memory. ``tile = 0`` (or an image no larger than a tile) runs it whole."""
    h, w = x.shape[-2:]
    if tile <= 0 or (h <= tile and w <= tile):
        return denoiser(x, sigma)
    if tile <= 2 * overlap:
        raise InputError(f"tile ({tile}) must be larger than twice the overlap ({overlap}).")
    core = tile - 2 * overlap
    out = torch.empty_like(x)
    for top in range(0, h, core):
        for left in range(0, w, core):
            bottom, right = min(top + core, h), min(left + core, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            y = denoiser(x[..., t0:t1, l0:l1], sigma)
            out[..., top:bottom, left:right] = y[..., top - t0 : bottom - t0, left - l0 : right - l0]
    return out


@torch.no_grad()
def make_surrogates(denoiser: torch.nn.Module, images: Sequence[torch.Tensor], sigmas: Sequence[float], *,
                    ensemble: bool = False, tile: int = 512, device: str | torch.device | None = None
                    ) -> list[torch.Tensor]:
    """Surrogate ground truths :math:`\\hat x_i = D(y_i, \\sigma_i)`, clipped to [0, 1], as new CPU tensors.

    The inputs are left untouched: ``images`` are not written to, and ``denoiser`` is run in eval mode
    and given back in the mode it came in (its parameters are not changed).

    :param images: ``(C, H, W)`` tensors in [0, 1] (an :class:`ImageSet`'s ``images``).
    :param sigmas: one noise level per image, on the [0, 1] scale.
    :param ensemble: average the 8 flips and quarter turns (8 times the cost; a better surrogate).
    :param tile: window side for large images (:func:`apply_tiled`; 0: whole images).
    """
    if len(sigmas) != len(images):
        raise InputError(f"give one noise level per image: {len(images)} images but {len(sigmas)} sigmas.")
    device = torch.device(device) if device is not None else next(
        (p.device for p in denoiser.parameters()), torch.device("cpu"))
    was_training = denoiser.training
    denoiser.eval()
    den = DihedralCycle(denoiser, mode="ensemble") if ensemble else denoiser
    try:
        out = []
        for x, s in zip(images, sigmas):
            y = apply_tiled(den, x[None].to(device), float(s), tile=tile)
            out.append(y[0].clamp(0.0, 1.0).to("cpu", torch.float32).contiguous())
    finally:
        denoiser.train(was_training)
    return out


@dataclass
class PairBatch:
    """One fine-tuning batch: ``noisy`` inputs, their ``sigma`` inputs ``(B,)`` and ``target`` outputs
    (the first ``n_real`` samples are real pairs, the others anchor pairs), and ``clean`` crops for the
    critic (``(n_real, C, P, P)``, or None without clean images)."""

    noisy: torch.Tensor
    sigma: torch.Tensor
    target: torch.Tensor
    n_real: int
    clean: torch.Tensor | None = None


def _crop(img: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    h, w = img.shape[-2:]
    top = int(torch.randint(0, h - size + 1, (1,), generator=g))
    left = int(torch.randint(0, w - size + 1, (1,), generator=g))
    return img[..., top : top + size, left : left + size]


def make_batch(
    degraded: Sequence[torch.Tensor],
    surrogates: Sequence[torch.Tensor],
    sigmas: Sequence[float],
    *,
    seed: int,
    stage: int,
    step: int,
    batch_size: int,
    patch_size: int,
    n_anchor: int,
    noise_law: NoiseLaw,
    anchors: Sequence[torch.Tensor] | None = None,
    clean: Sequence[torch.Tensor] | None = None,
) -> PairBatch:
    """Batch ``step`` of stage ``stage`` (see the module doc); a pure function of its arguments.

    :param anchors: the clean images of the anchor pairs (default: the surrogates).
    :param clean: unpaired clean images for the critic (None: no adversarial term).
    """
    n_anchor = int(check_number(n_anchor, "n_anchor", low=0, high=batch_size, integer=True))
    n_real = batch_size - n_anchor
    anchors = surrogates if anchors is None else anchors
    noisy, target, sigma, real = [], [], [], []
    for j in range(batch_size):
        g = torch.Generator().manual_seed(mix_seed(seed, "finetune", stage, step, j))
        k = int(torch.randint(0, 8, (1,), generator=g))
        if j < n_real:
            i = int(torch.randint(0, len(degraded), (1,), generator=g))
            pair = _crop(torch.stack([degraded[i], surrogates[i]]), patch_size, g)
            y, x = dihedral(pair[0], k), dihedral(pair[1], k)
            s = float(sigmas[i])
        else:
            i = int(torch.randint(0, len(anchors), (1,), generator=g))
            x = dihedral(_crop(anchors[i], patch_size, g), k)
            s = noise_law.draw(g)
            y = x + s * torch.randn(x.shape, generator=g, dtype=x.dtype)
        noisy.append(y)
        target.append(x)
        sigma.append(s)
    if clean is not None and n_real:
        for j in range(n_real):
            g = torch.Generator().manual_seed(mix_seed(seed, "finetune-clean", stage, step, j))
            k = int(torch.randint(0, 8, (1,), generator=g))
            i = int(torch.randint(0, len(clean), (1,), generator=g))
            real.append(dihedral(_crop(clean[i], patch_size, g), k))
    return PairBatch(noisy=torch.stack(noisy).contiguous(), sigma=torch.tensor(sigma, dtype=torch.float32),
                     target=torch.stack(target).contiguous(), n_real=n_real,
                     clean=torch.stack(real).contiguous() if real else None)
