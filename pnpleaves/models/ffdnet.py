r"""FFDNet: a plain convolutional denoiser that works at half resolution (Zhang, Zuo, Zhang, *FFDNet: Toward a
Fast and Flexible Solution for CNN-Based Image Denoising*, IEEE TIP 27(9), 2018).

The image :math:`y \in \mathbb{R}^{C\times H\times W}` is de-interleaved into its four 2x2 polyphase
components (:func:`torch.nn.functional.pixel_unshuffle`: channel :math:`4c + 2i + j` holds
:math:`y_c[2m+i, 2n+j]`), a constant noise-level map :math:`\sigma` of :math:`C` channels is put in front,
and ``depth`` 3x3 convolutions of ``features`` channels (ReLU; batch norm in the hidden layers) predict the
noise in the same de-interleaved layout; re-interleaving it gives :math:`\hat n` and
:math:`D(y, \sigma) = y - \hat n`. Odd sides are padded by one replicated row/column and cropped back.

All convolutions run at :math:`H/2 \times W/2` with a wide, regular channel count, which suits a CPU: the
colour network (96 features, 12 layers, 0.85 M parameters) costs about 56 G multiply-adds per 512² image.

:meth:`FFDNet.from_reference_state_dict` reads the layout of the VibrantLeaves authors' published weights
(a ``DataParallel`` state dict, ``module.intermediate_dncnn.itermediate_dncnn.<i>.*``); nothing is shipped
or downloaded. :meth:`FFDNet.fold_batch_norm` merges each eval-mode batch norm into the convolution before
it (same outputs, less work per call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from deepinv.models import Denoiser
from torch import nn

from pnpleaves.errors import InputError
from pnpleaves.models.init import init_near_identity
from pnpleaves.models.sigma import sigma_like

__all__ = ["FFDNet"]

#: the prefix of every key in the authors' DataParallel state dict
REFERENCE_PREFIX = "module.intermediate_dncnn.itermediate_dncnn."


class FFDNet(Denoiser):
    r"""Non-blind FFDNet, :math:`D(y, \sigma) = y - \mathrm{up}(R([\sigma, \mathrm{down}(y)]))`.

    :param in_channels: image channels (1 or 3).
    :param features: hidden channels (96 for colour, 64 for grey in the paper).
    :param depth: number of convolutions (12 for colour, 15 for grey in the paper), at least 2.
    :param batch_norm: batch norm after each hidden convolution (as in the paper); with ``False``
        the hidden convolutions carry a bias instead.
    """

    def __init__(self, in_channels: int = 3, features: int = 96, depth: int = 12, batch_norm: bool = True):
        super().__init__()
        if int(in_channels) not in (1, 3):
            raise InputError(f"FFDNet in_channels must be 1 (grey) or 3 (colour); got {in_channels}.")
        if int(depth) < 2:
            raise InputError(f"FFDNet depth must be >= 2 convolutions; got {depth}.")
        if int(features) < 1:
            raise InputError(f"FFDNet features must be >= 1; got {features}.")
        self.in_channels = int(in_channels)
        c_in = 5 * self.in_channels  # sigma map (C) + 4 polyphase components (4C)
        c_out = 4 * self.in_channels
        layers: list[nn.Module] = [nn.Conv2d(c_in, features, 3, padding=1, bias=False), nn.ReLU(inplace=True)]
        for _ in range(int(depth) - 2):
            layers.append(nn.Conv2d(features, features, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(features))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(features, c_out, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)
        init_near_identity(self.body)

    def forward(self, x: torch.Tensor, sigma: Any = 0.0) -> torch.Tensor:  # noqa: D102
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"FFDNet expects a (B, {self.in_channels}, H, W) tensor; got shape {tuple(x.shape)}."
            )
        h, w = x.shape[-2:]
        pad_h, pad_w = h % 2, w % 2
        s = sigma_like(sigma, x)
        y = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if (pad_h or pad_w) else x
        if s.ndim == 4:  # a (B,1,H,W) map: average it on each 2x2 cell
            s = F.avg_pool2d(F.pad(s, (0, pad_w, 0, pad_h), mode="replicate"), 2)
            smap = s.expand(-1, self.in_channels, -1, -1)
        else:
            smap = s.view(-1, 1, 1, 1).expand(-1, self.in_channels, y.shape[-2] // 2, y.shape[-1] // 2)
        inp = torch.cat([smap.to(y.dtype), F.pixel_unshuffle(y, 2)], dim=1)
        noise = F.pixel_shuffle(self.body(inp), 2)
        return (y - noise)[..., :h, :w]

    @torch.no_grad()
    def fold_batch_norm(self) -> FFDNet:
        """Merge every batch norm (with its running statistics) into the convolution before it, in place.

        For :math:`\\mathrm{BN}(Wx) = \\gamma (Wx - \\mu)/\\sqrt{v + \\epsilon} + \\beta` the folded convolution has
        weight :math:`W\\gamma/\\sqrt{v+\\epsilon}` and bias :math:`\\beta - \\gamma\\mu/\\sqrt{v+\\epsilon}`: the eval-mode
        outputs are unchanged, and training afterwards no longer uses batch statistics.
        """
        layers = list(self.body)
        out: list[nn.Module] = []
        for layer in layers:
            if isinstance(layer, nn.BatchNorm2d):
                conv = out[-1]
                scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
                fused = nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=True)
                fused = fused.to(device=conv.weight.device, dtype=conv.weight.dtype)
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                bias = conv.bias if conv.bias is not None else torch.zeros_like(layer.running_mean)
                fused.bias.copy_(layer.bias + (bias - layer.running_mean) * scale)
                out[-1] = fused
            else:
                out.append(layer)
        self.body = nn.Sequential(*out)
        return self

    @classmethod
    def from_reference_state_dict(cls, state: Mapping[str, torch.Tensor], fold: bool = True) -> FFDNet:
        """Build an FFDNet (eval mode) from the authors' published state dict (see the module docstring).

        The size (grey or colour, features, depth) is read from the tensors. With ``fold=True`` the batch
        norms are merged into the convolutions (:meth:`fold_batch_norm`).
        """
        body = {k[len(REFERENCE_PREFIX):]: v for k, v in state.items() if k.startswith(REFERENCE_PREFIX)}
        if not body:
            raise InputError(
                f"not an FFDNet state dict of the reference layout: no key starts with {REFERENCE_PREFIX!r} "
                f"(first keys: {list(state)[:3]}). Expected e.g. models_zoo/ffdnet_vl.pth of the authors' repository."
            )
        convs = sorted(int(k.split(".")[0]) for k, v in body.items() if k.endswith(".weight") and v.ndim == 4)
        first, last = body[f"{convs[0]}.weight"], body[f"{convs[-1]}.weight"]
        model = cls(in_channels=last.shape[0] // 4, features=first.shape[0], depth=len(convs), batch_norm=True)
        # both Sequentials list conv, [BN], ReLU in the same order, so the layer indices agree
        missing, unexpected = model.body.load_state_dict(body, strict=False)
        if missing or unexpected:
            raise InputError(
                f"reference state dict does not match an FFDNet of depth {len(convs)}: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}."
            )
        model.eval()
        return model.fold_batch_norm() if fold else model

