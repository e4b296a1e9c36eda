"""Noise levels given as floats, lists or tensors, brought to the shapes a denoiser uses."""

from __future__ import annotations

from typing import Any

import torch

from pnpleaves.errors import InputError, InputTypeError

__all__ = ["sigma_like", "sigma_per_image"]


def sigma_like(sigma: Any, x: torch.Tensor) -> torch.Tensor:
    """Noise level as a ``(B,)`` tensor or a ``(B,1,H,W)`` map, on ``x``'s device and dtype."""
    b = x.shape[0]
    if isinstance(sigma, torch.Tensor):
        s = sigma.to(device=x.device, dtype=x.dtype)
        if s.ndim == 4 and s.shape[1] == 1 and s.shape[2:] == x.shape[2:]:
            return s if s.shape[0] == b else s.expand(b, -1, -1, -1)
        s = s.reshape(-1)
        if s.numel() == 1:
            return s.expand(b)
        if s.numel() != b:
            raise InputError(
                f"sigma must be a float, a (B,) tensor with B = {b}, a (B,1,1,1) tensor or a (B,1,H,W) map; "
                f"got a tensor of shape {tuple(sigma.shape)}. Give one noise level per image."
            )
        return s
    if isinstance(sigma, (list, tuple)):
        return sigma_like(torch.as_tensor(sigma, dtype=x.dtype), x)
    if isinstance(sigma, (int, float)) and not isinstance(sigma, bool):
        return torch.full((b,), float(sigma), device=x.device, dtype=x.dtype)
    if hasattr(sigma, "__float__") and not isinstance(sigma, bool):  # numpy scalars
        return torch.full((b,), float(sigma), device=x.device, dtype=x.dtype)
    raise InputTypeError(
        f"sigma must be a float or a torch tensor (one value per image); got {type(sigma).__name__}."
    )


def sigma_per_image(sigma: Any, x: torch.Tensor) -> torch.Tensor:
    """Noise level(s) as a ``(B, 1, 1, 1)`` tensor on ``x``'s device and dtype.

    ``sigma`` is a float, a 0-d / ``(1,)`` tensor (shared) or a ``(B,)`` / ``(B,1,1,1)`` tensor.
    """
    b = x.shape[0]
    if isinstance(sigma, torch.Tensor):
        s = sigma.detach().to(device=x.device, dtype=x.dtype).reshape(-1)
    elif isinstance(sigma, (int, float)) and not isinstance(sigma, bool):
        s = torch.tensor([float(sigma)], device=x.device, dtype=x.dtype)
    else:
        raise InputTypeError(f"sigma must be a float or a torch tensor (one value per image); got {type(sigma).__name__}.")
    if s.numel() == 1:
        s = s.expand(b)
    if s.numel() != b:
        raise InputError(
            f"sigma must hold one value or one per image (B = {b}); got {s.numel()} values. "
            "Pass a float or a (B,) tensor."
        )
    return s.reshape(b, 1, 1, 1)
