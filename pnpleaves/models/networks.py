"""Denoiser architectures by name: ``ARCHITECTURES[name](**kwargs)`` builds a randomly initialised
:class:`deepinv.models.Denoiser` (never downloads weights).

- ``"drunet"``: DRUNet (Zhang et al., *Plug-and-Play Image Restoration with Deep Denoiser Prior*,
  TPAMI 2021), deepinv's implementation with its KAIR layer names, so deepinv/KAIR checkpoints
  load with ``strict=True``. The noise level is an extra constant input channel; ``blind=True``
  feeds a zero map instead (same layers, no noise information).
- ``"ffdnet"``: FFDNet (Zhang et al., TIP 2018), half-resolution plain convolutions
  (:mod:`pnpleaves.models.ffdnet`).
- ``"dncnn"``: residual DnCNN (Zhang et al., *Beyond a Gaussian Denoiser*, TIP 2017),
  :math:`D(y) = y - R(y)` with conv-ReLU layers; optionally non-blind with a noise-level map.

Add an architecture with :func:`register_architecture`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from deepinv.models import Denoiser, DRUNet
from deepinv.models.drunet import ResBlock
from torch import nn

from pnpleaves.errors import InputError
from pnpleaves.models.ffdnet import FFDNet
from pnpleaves.models.init import init_near_identity
from pnpleaves.models.sigma import sigma_like

__all__ = ["ARCHITECTURES", "DRUNetDenoiser", "DnCNN", "build_model", "count_parameters", "register_architecture"]


class DRUNetDenoiser(DRUNet):
    """deepinv's DRUNet (same layer names) with a forgiving ``sigma`` and a plainer, faster forward.

    ``sigma`` may be a float, a 0-d / ``(1,)`` / ``(B,)`` / ``(B,1,1,1)`` tensor (moved to ``x``'s device)
    or a ``(B,1,H,W)`` map. With ``blind=True`` the noise-level channel is always zero.

    Any size: the input ``[x, sigma map]`` is mirrored at its bottom and right edges to a multiple of 8
    (at least 32; replicated where the image is smaller than that), run through the U-Net once and cropped
    back (deepinv instead runs four overlapping quarters of such images, about 1.3x the pixels, for the same
    PSNR on the dev sets: docs/frontier.md). Without gradients the residual and skip additions are
    done in place: the same sums in the same order, so the same outputs, without a fresh full-size buffer
    per addition.
    """

    #: the input side is padded to a multiple of this (three 2x downsamplings)
    MULTIPLE = 8
    #: and to at least this many pixels
    MIN_SIDE = 32

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        nc: tuple[int, ...] | list[int] = (64, 128, 256, 512),
        nb: int = 4,
        act_mode: str = "R",
        downsample_mode: str = "strideconv",
        upsample_mode: str = "convtranspose",
        blind: bool = False,
    ):
        nc = [int(c) for c in nc]
        if len(nc) != 4 or any(c < 1 for c in nc):
            raise InputError(f"DRUNet nc must be 4 positive channel counts, e.g. [32, 64, 128, 256]; got {nc}.")
        if int(nb) < 1:
            raise InputError(f"DRUNet nb (residual blocks per level) must be >= 1; got {nb}.")
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            nc=nc,
            nb=int(nb),
            act_mode=act_mode,
            downsample_mode=downsample_mode,
            upsample_mode=upsample_mode,
            pretrained=None,
            device=None,
        )
        self.blind = bool(blind)
        self.in_channels = int(in_channels)

    def forward(self, x: torch.Tensor, sigma: Any = 0.0) -> torch.Tensor:  # noqa: D102
        if x.ndim != 4:
            raise InputError(f"DRUNet expects a (B, C, H, W) tensor; got shape {tuple(x.shape)}.")
        s = sigma_like(sigma, x)
        if self.blind:
            s = torch.zeros_like(s)
        b, _, h, w = x.shape
        smap = s.view(-1, 1, 1, 1).expand(b, 1, h, w) if s.ndim == 1 else s
        inp = torch.cat((x, smap.to(x.dtype)), 1)
        pad_h = max(self.MIN_SIDE, -(-h // self.MULTIPLE) * self.MULTIPLE) - h
        pad_w = max(self.MIN_SIDE, -(-w // self.MULTIPLE) * self.MULTIPLE) - w
        if pad_h or pad_w:  # mirror (replicate where the image is smaller than its padding)
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            inp = F.pad(inp, (0, pad_w, 0, pad_h), mode=mode)
            return self.forward_unet(inp)[..., :h, :w]
        return self.forward_unet(inp)

    def forward_unet(self, x0: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if torch.is_grad_enabled() and x0.requires_grad or self.training:
            return super().forward_unet(x0)
        x1 = self.m_head(x0)
        x2 = _run_inplace(self.m_down1, x1)
        x3 = _run_inplace(self.m_down2, x2)
        x4 = _run_inplace(self.m_down3, x3)
        x = _run_inplace(self.m_body, x4)
        x = _run_inplace(self.m_up3, x.add_(x4))
        x = _run_inplace(self.m_up2, x.add_(x3))
        x = _run_inplace(self.m_up1, x.add_(x2))
        return self.m_tail(x.add_(x1))


def _run_inplace(seq: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``seq(h)`` with each residual block's ``h + res(h)`` summed into the fresh ``res(h)`` buffer
    (``seq``: a Sequential, or a single block where deepinv's builder unwrapped a one-layer Sequential)."""
    for layer in seq if isinstance(seq, nn.Sequential) else [seq]:
        if isinstance(layer, ResBlock):
            r = layer.res(h)
            h = r.add_(h)
        else:
            h = layer(h)
    return h


class DnCNN(Denoiser):
    r"""Residual DnCNN: :math:`D(y, \sigma) = y - R([y, \sigma])`.

    ``depth`` convolutions of width ``nf`` (conv-ReLU, then conv), no batch norm (so results do not
    depend on the batch split). With ``noise_map=True`` a constant :math:`\sigma` channel is appended
    to the input (non-blind); otherwise ``sigma`` is ignored (blind).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        depth: int = 17,
        nf: int = 64,
        noise_map: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        if int(depth) < 2:
            raise InputError(f"DnCNN depth must be >= 2 convolutions; got {depth}.")
        if in_channels != out_channels:
            raise InputError(
                f"residual DnCNN needs in_channels == out_channels; got {in_channels} and {out_channels}."
            )
        self.noise_map = bool(noise_map)
        self.in_channels = int(in_channels)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels + int(self.noise_map), nf, 3, padding=1, bias=bias),
            nn.ReLU(inplace=True),
        ]
        for _ in range(int(depth) - 2):
            layers += [nn.Conv2d(nf, nf, 3, padding=1, bias=bias), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(nf, out_channels, 3, padding=1, bias=bias))
        self.body = nn.Sequential(*layers)
        init_near_identity(self.body)

    def forward(self, x: torch.Tensor, sigma: Any = 0.0) -> torch.Tensor:  # noqa: D102
        inp = x
        if self.noise_map:
            s = sigma_like(sigma, x)
            smap = s.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:]) if s.ndim == 1 else s
            inp = torch.cat([x, smap], dim=1)
        return x - self.body(inp)


#: name -> constructor taking only keyword arguments (stored in checkpoints and the registry)
ARCHITECTURES: dict[str, Callable[..., Denoiser]] = {
    "drunet": DRUNetDenoiser,
    "dncnn": DnCNN,
    "ffdnet": FFDNet,
}


def register_architecture(name: str, builder: Callable[..., Denoiser]) -> None:
    """Add ``builder`` (keyword-only constructor returning a Denoiser) under ``name``."""
    if name in ARCHITECTURES and ARCHITECTURES[name] is not builder:
        raise InputError(f"architecture {name!r} is already registered; pick another name.")
    ARCHITECTURES[name] = builder


def build_model(arch: str, arch_kwargs: dict[str, Any] | None = None) -> Denoiser:
    """Build ``ARCHITECTURES[arch](**arch_kwargs)`` (random init, train mode), checking the arguments."""
    if arch not in ARCHITECTURES:
        raise InputError(
            f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}. "
            "Register new ones with pnpleaves.models.register_architecture."
        )
    builder = ARCHITECTURES[arch]
    kwargs = dict(arch_kwargs or {})
    params = inspect.signature(builder).parameters
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown:
        allowed = ", ".join(k for k in params if k not in ("self", "device", "pretrained"))
        raise InputError(f"unknown argument(s) {unknown} for architecture {arch!r}; allowed: {allowed}.")
    return builder(**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``."""
    return int(sum(p.numel() for p in model.parameters()))
