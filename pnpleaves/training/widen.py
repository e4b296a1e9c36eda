r"""Function-preserving widening of a trained convolutional denoiser.

A narrow network's weights are embedded in a wider network of the same architecture so that the
wider one computes *exactly* the same function; training then continues with the extra capacity
instead of starting from scratch (the idea of Net2Net, Chen, Goodfellow & Shlens, *Net2Net:
Accelerating Learning via Knowledge Transfer*, ICLR 2016; here with zero-coupled new channels
instead of copied ones, so that no noise is needed to break the symmetry).

For every convolution with weight :math:`W \in \mathbb{R}^{C'_\text{out}\times C'_\text{in}\times k\times k}`
(old sizes :math:`C_\text{out}, C_\text{in}`):

.. math::
    W'_{[:C_\text{out},\,:C_\text{in}]} = W, \qquad W'_{[:C_\text{out},\,C_\text{in}:]} = 0,

and the rows of the new output channels keep the wide network's random initialisation. The old
channels therefore never read the new ones, and the new channels are not read by anything old: the
output is unchanged. The gradient of the zero block is (new activation) x (old channel's gradient),
which is not zero, so the new channels join in from the first step. This holds for networks whose
only channel-mixing operations are convolutions (and transposed convolutions) and whose other
operations act per channel (ReLU, residual additions of tensors with the same channels): DRUNet and
DnCNN. :func:`widen_into` checks the claim numerically and refuses otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from pnpleaves.errors import InputError

__all__ = ["widen_into"]


def _embed(new: torch.Tensor, old: torch.Tensor, in_axis: int, out_axis: int, name: str) -> None:
    if new.ndim != old.ndim or any(n < o for n, o in zip(new.shape, old.shape)):
        raise InputError(
            f"cannot widen {name!r}: the narrow tensor has shape {tuple(old.shape)} and the wide one "
            f"{tuple(new.shape)}; every dimension of the wide network must be at least the narrow one's."
        )
    if any(n != o for i, (n, o) in enumerate(zip(new.shape, old.shape)) if i not in (in_axis, out_axis)):
        raise InputError(
            f"cannot widen {name!r}: kernel sizes differ ({tuple(old.shape)} -> {tuple(new.shape)}); only "
            "channel counts may grow."
        )
    idx_old = [slice(None)] * new.ndim
    idx_old[in_axis] = slice(0, old.shape[in_axis])
    idx_old[out_axis] = slice(0, old.shape[out_axis])
    new[tuple(idx_old)] = old.to(new.dtype)
    idx_zero = [slice(None)] * new.ndim
    idx_zero[out_axis] = slice(0, old.shape[out_axis])
    idx_zero[in_axis] = slice(old.shape[in_axis], None)
    new[tuple(idx_zero)] = 0.0


@torch.no_grad()
def widen_into(wide: nn.Module, narrow_state: Mapping[str, torch.Tensor], *,
               check_input: torch.Tensor | None = None, atol: float = 1e-5) -> nn.Module:
    r"""Copy ``narrow_state`` (the state dict of a narrower network of the same architecture) into
    ``wide`` in place, so that ``wide`` computes the same function; returns ``wide``.

    ``check_input`` (default: a random 1x(C)x32x32 batch) is passed through both networks to verify
    that the output is unchanged within ``atol``; an :class:`~pnpleaves.errors.InputError` (a
    ``ValueError``) is raised otherwise (a network that mixes channels other than by convolution cannot
    be widened this way).
    """
    state = {k: v.detach().float() for k, v in narrow_state.items()}
    wide_state = wide.state_dict()
    if set(state) != set(wide_state):
        missing, extra = sorted(set(wide_state) - set(state)), sorted(set(state) - set(wide_state))
        raise InputError(
            "the narrow and wide networks do not have the same layers "
            f"(missing from the narrow weights: {missing[:4]}, unexpected: {extra[:4]}); widening needs the "
            "same architecture and depth, with only the channel counts grown."
        )
    modules = dict(wide.named_modules())
    for key, old in state.items():
        new = wide_state[key]
        owner, _, leaf = key.rpartition(".")
        module = modules.get(owner)
        if leaf == "weight" and isinstance(module, nn.ConvTranspose2d):
            _embed(new, old, in_axis=0, out_axis=1, name=key)
        elif leaf == "weight" and isinstance(module, nn.Conv2d):
            _embed(new, old, in_axis=1, out_axis=0, name=key)
        elif leaf == "bias" and isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and new.numel() >= old.numel():
            new[: old.numel()] = old  # the new channels' biases keep their initial values
        elif new.shape == old.shape:
            new.copy_(old)
        else:
            raise InputError(
                f"cannot widen {key!r} ({type(module).__name__}): only convolutions may change size "
                f"({tuple(old.shape)} -> {tuple(new.shape)})."
            )
    # _embed wrote into the wide state dict's tensors, which share storage with the parameters.

    narrow = _narrow_copy(wide, state)
    if check_input is None:
        in_ch = getattr(wide, "in_channels", None) or next(v for k, v in state.items() if k.endswith("weight")).shape[1]
        gen = torch.Generator().manual_seed(0)
        check_input = torch.rand(1, in_ch, 32, 32, generator=gen)
    dev = next(wide.parameters()).device
    was_training = wide.training
    wide.eval()
    try:
        a = _forward(wide, check_input.to(dev))
        b = _forward(narrow.to(dev), check_input.to(dev))
    finally:
        wide.train(was_training)
    err = float((a - b).abs().max())
    if not err <= atol:
        raise InputError(
            f"widening changed the network's output by up to {err:.3g} (allowed {atol:g}): this architecture "
            "mixes channels other than by convolutions, so it cannot be widened by zero-coupling."
        )
    return wide


def _forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    try:  # deepinv denoisers take (x, sigma); plain modules take x
        return net(x, 0.1)
    except TypeError:
        return net(x)


def _narrow_copy(wide: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A copy of ``wide`` with every convolution cut back to the narrow shapes and ``state`` loaded."""
    narrow = copy.deepcopy(wide)
    modules = dict(narrow.named_modules())
    for key, old in state.items():
        owner, _, leaf = key.rpartition(".")
        module = modules[owner]
        setattr(module, leaf, nn.Parameter(old.clone(), requires_grad=False))
        if isinstance(module, nn.ConvTranspose2d) and leaf == "weight":
            module.in_channels, module.out_channels = old.shape[0], old.shape[1]
        elif isinstance(module, nn.Conv2d) and leaf == "weight":
            module.out_channels, module.in_channels = old.shape[0], old.shape[1]
    return narrow
