"""Denoiser wrappers that change how a denoiser is applied, not what it computes on one image.

- :class:`ChannelAdapter`: a colour denoiser on grey images (replicate, then average) or a grey one on
  colour images (channel by channel).
- :class:`DihedralCycle`: the geometric self-ensemble of DPIR (Zhang et al., TPAMI 2022), either cycled
  along the iterations (``x8`` at no extra cost) or averaged at every call.
"""

from __future__ import annotations

from typing import Any

import deepinv as dinv
import torch
from deepinv.models import Denoiser

from pnpleaves.errors import InputError
from pnpleaves._checks import check_choice
from pnpleaves.images import dihedral

__all__ = ["ChannelAdapter", "DihedralCycle", "adapt_denoiser", "denoiser_channels"]


def denoiser_channels(denoiser: torch.nn.Module) -> int | None:
    """Number of image channels a denoiser expects (1 or 3), or None when it cannot be told."""
    for attr in ("in_channels", "channels"):
        value = getattr(denoiser, attr, None)
        if isinstance(value, int):
            return value
    conv = next((m for m in denoiser.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is None:
        return None
    if isinstance(denoiser, dinv.models.DRUNet):
        return conv.in_channels - 1  # DRUNet appends the noise-level map
    if hasattr(denoiser, "noise_map"):  # pnpleaves' DnCNN: optional noise-level channel
        return conv.in_channels - int(bool(denoiser.noise_map))
    return None


class ChannelAdapter(Denoiser):
    """Run a colour denoiser on grey images (replicate, then average) or a grey one on colour images
    (channel by channel). Other denoisers pass through unchanged."""

    def __init__(self, denoiser: torch.nn.Module, prior_channels: int):
        super().__init__()
        self.denoiser = denoiser
        self.prior_channels = prior_channels

    def forward(self, x: torch.Tensor, sigma: Any, **kwargs) -> torch.Tensor:  # noqa: D102
        B, C, H, W = x.shape
        if C == self.prior_channels:
            return self.denoiser(x, sigma)
        if C == 1 and self.prior_channels == 3:
            return self.denoiser(x.expand(B, 3, H, W).contiguous(), sigma).mean(dim=1, keepdim=True)
        if self.prior_channels == 1:
            s = sigma
            if isinstance(sigma, torch.Tensor) and sigma.ndim > 0:
                s = sigma.reshape(B, -1)[:, :1].repeat_interleave(C, dim=0).reshape(B * C)
            out = self.denoiser(x.reshape(B * C, 1, H, W), s)
            return out.reshape(B, C, H, W)
        raise InputError(
            f"the prior expects {self.prior_channels}-channel images; got {C} channels. "
            "Pass a grey (1) or RGB (3) image."
        )


class DihedralCycle(Denoiser):
    r"""Apply the denoiser to the ``k``-th dihedral transform of its input at its ``k``-th call, then undo it.

    :math:`D^{(k)}(x) = T_k^{-1} D(T_k x)` with :math:`T_k` cycling through the 8 flips and quarter turns,
    so the orientation biases of a network average out along the iterations at no extra cost (DPIR's
    ``x8`` option, Zhang et al. TPAMI 2022). ``mode="ensemble"`` instead averages all 8 transforms at
    every call (8 times slower). :meth:`reset` restarts the cycle, so that a solve is deterministic.
    """

    #: the four quarter turns, then an up-down flip followed by each turn (up-down flip then r turns is
    #: element 4 + (r + 2) % 4 of :func:`~pnpleaves.images.dihedral`, whose flips are left-right)
    _ORDER = (0, 1, 2, 3, 6, 7, 4, 5)

    def __init__(self, denoiser: torch.nn.Module, mode: str = "cycle"):
        super().__init__()
        check_choice(mode, "mode", ("cycle", "ensemble"))
        self.denoiser = denoiser
        self.mode = mode
        self.calls = 0

    def reset(self) -> None:
        """Start the cycle again at the identity."""
        self.calls = 0

    def forward(self, x: torch.Tensor, sigma: Any, **kwargs) -> torch.Tensor:  # noqa: D102
        if self.mode == "ensemble":
            out = sum(dihedral(self.denoiser(dihedral(x, k), sigma), k, inverse=True) for k in range(8))
            return out / 8
        k = self._ORDER[self.calls % 8]
        self.calls += 1
        return dihedral(self.denoiser(dihedral(x, k), sigma), k, inverse=True)


def adapt_denoiser(denoiser: torch.nn.Module, channels: int) -> torch.nn.Module:
    """Wrap ``denoiser`` with a :class:`ChannelAdapter` when its channel count differs from ``channels``."""
    expected = denoiser_channels(denoiser)
    if expected is None or expected == channels:
        return denoiser
    return ChannelAdapter(denoiser, expected)
