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

import deepinv as dinv
import torch
from deepinv.optim.optim_iterators import ADMMIteration

from pnpleaves._checks import check_choice

from .problems import Problem
from .schedules import Schedule

__all__ = ["RescaledADMMIteration", "build_solver", "solve"]


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
