"""Initialisation of plain residual convolution stacks (DnCNN, FFDNet)."""

from __future__ import annotations

from torch import nn

__all__ = ["init_near_identity"]


def init_near_identity(body: nn.Sequential, last_std: float = 1e-3) -> None:
    """He-normal convolutions (He et al., ICCV 2015), zero biases, and a last convolution of std ``last_std``:
    the predicted residual starts near zero, so a new denoiser ``y - body(.)`` starts close to the identity."""
    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    nn.init.normal_(body[-1].weight, std=last_std)
