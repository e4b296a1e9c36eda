r"""Plug-and-Play HQS and ADMM on deepinv's ``optim`` machinery.

Both use :class:`deepinv.optim.PnP` (the denoiser as the prior's proximal map),
:class:`deepinv.optim.data_fidelity.L2` (:math:`f(x) = \tfrac12\|Ax - y\|^2`) and the physics' exact
``prox_l2`` (see :mod:`pnpleaves.restoration.problems`). With a schedule
:math:`(\sigma_k, \gamma_k)_{k<K}` (:mod:`pnpleaves.restoration.schedules`):

- HQS (Geman & Yang 1995; DPIR, Zhang et al. TPAMI 2022), :class:`deepinv.optim.HQS`:

  .. math:: u_k = \operatorname{prox}_{\gamma_k f}(x_k), \qquad x_{k+1} = D_{\sigma_k}(u_k)

- ADMM (Boyd et al. 2011; PnP-ADMM, Venkatakrishnan et al. 2013, Chan et al. 2017), on deepinv's
  :class:`~deepinv.optim.optim_iterators.ADMMIteration`:

  .. math:: u_k = \operatorname{prox}_{\gamma_k f}(x_k - z_k), \quad x_{k+1} = D_{\sigma_k}(u_k + z_k), \quad
            z_{k+1} = \tfrac{\gamma_{k+1}}{\gamma_k}\big(z_k + \beta(u_k - x_{k+1})\big)

  The factor :math:`\gamma_{k+1}/\gamma_k` keeps the *unscaled* multiplier :math:`z/\gamma` fixed when the
  penalty changes (Boyd et al. 2011, §3.4.1); deepinv's iterator leaves ``z`` as is.

With a fixed step and a linear Gaussian denoiser both reduce to closed forms (tested): ADMM converges
to the Tikhonov solution, HQS to the Tikhonov solution of the Moreau envelope of :math:`f`.
"""

from __future__ import annotations

import logging
from typing import Any

import deepinv as dinv
import torch
from deepinv.models import Denoiser
from deepinv.optim.optim_iterators import ADMMIteration

from pnpleaves._checks import check_choice
from pnpleaves._dihedral import dihedral

from .problems import Problem
from .schedules import Schedule

logger = logging.getLogger(__name__)

__all__ = [
    "ChannelAdapter",
    "DihedralCycle",
    "RescaledADMMIteration",
    "build_solver",
    "denoiser_channels",
    "dihedral",
    "solve",
]


class RescaledADMMIteration(ADMMIteration):
    """deepinv's ADMM iteration, with the scaled dual rescaled when the step size changes."""

    def __init__(self, *args, rescale: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.rescale = rescale

    def forward(self, X, cur_data_fidelity, cur_prior, cur_params, y, physics):  # noqa: D102
        x, z = X["est"]
        gamma = cur_params["stepsize"]
        prev = X.get("stepsize")
        if self.rescale and prev is not None and z.shape == x.shape:
            z = z * (float(gamma) / float(prev))
        out = super().forward({"est": (x, z), "cost": X.get("cost")}, cur_data_fidelity, cur_prior,
                              cur_params, y, physics)
        out["stepsize"] = gamma
        return out


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
        raise ValueError(
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
    #: element 4 + (r + 2) % 4 of :func:`~pnpleaves._dihedral.dihedral`, whose flips are left-right)
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


def build_solver(
    denoiser: torch.nn.Module,
    schedule: Schedule,
    method: str = "hqs",
    *,
    data_fidelity: dinv.optim.DataFidelity | None = None,
    progress: bool = False,
) -> dinv.optim.BaseOptim:
    """deepinv optimiser running ``method`` ("hqs" or "admm") with the schedule, PnP prior and L2 fidelity."""
    check_choice(method, "method", ("hqs", "admm"), hint="Use method='hqs' (DPIR-like) or 'admm'.")
    params = {
        "stepsize": list(schedule.stepsizes),
        "g_param": list(schedule.sigmas),
        "lambda": 1.0,
        "beta": float(schedule.beta),
    }
    common = dict(
        data_fidelity=data_fidelity if data_fidelity is not None else dinv.optim.data_fidelity.L2(),
        prior=dinv.optim.PnP(denoiser=denoiser),
        params_algo=params,
        max_iter=schedule.n_iter,
        early_stop=False,
        verbose=progress,
        show_progress_bar=progress,
    )
    if method == "hqs":
        params["beta"] = 1.0
        return dinv.optim.HQS(**common)
    return dinv.optim.BaseOptim(RescaledADMMIteration(g_first=False, cost_fn=None), **common)


def solve(
    problem: Problem,
    denoiser: torch.nn.Module,
    schedule: Schedule,
    method: str = "hqs",
    *,
    progress: bool = False,
) -> torch.Tensor:
    """Run PnP ``method`` on ``problem`` and return the estimate on the *padded* signal domain."""
    model = build_solver(denoiser, schedule, method, data_fidelity=problem.fidelity, progress=progress)
    x0 = problem.x_init
    init = (x0, x0.clone()) if method == "hqs" else (x0, torch.zeros_like(x0))
    with torch.no_grad():
        return model(problem.y, problem.physics, init=init)
