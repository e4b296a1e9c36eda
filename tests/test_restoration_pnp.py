"""pnpleaves.restoration.pnp: HQS / ADMM against closed forms with a linear Gaussian (Wiener) denoiser; DPIR parity.

Also the denoiser wrappers as the solvers use them (pnpleaves.models.wrappers, pnpleaves.images.dihedral).
:class:`GradientWiener` is shared with the other restoration test modules.
"""

import math

import deepinv as dinv
import pytest
import torch
from deepinv.models import Denoiser
from deepinv.optim.dpir import get_DPIR_params

from pnpleaves.images import dihedral
from pnpleaves.models.wrappers import ChannelAdapter, DihedralCycle, adapt_denoiser, denoiser_channels
from pnpleaves.restoration.kernels import gaussian_kernel
from pnpleaves.restoration.pnp import build_solver, solve
from pnpleaves.restoration.problems import blur_problem
from pnpleaves.restoration.schedules import Schedule


def laplacian_symbol(h, w):
    """|L|^2 of the circular Laplacian on an h x w grid (float64)."""
    fy = torch.arange(h, dtype=torch.float64)
    fx = torch.arange(w, dtype=torch.float64)
    return 4 * torch.sin(math.pi * fy / h)[:, None] ** 2 + 4 * torch.sin(math.pi * fx / w)[None, :] ** 2


class GradientWiener(Denoiser):
    r"""Linear Gaussian denoiser :math:`D_\sigma = (I + (\sigma^2/c)\,\nabla^\top\nabla)^{-1}` (circular).

    It is the MMSE (= MAP) denoiser of a Gaussian prior with power spectrum :math:`c/|\hat L|^2`, and the
    proximal map of :math:`h(x) = \tfrac{\tau}{2}\|\nabla x\|^2` with :math:`\tau = \sigma^2/c`.
    """

    def __init__(self, c=1e-2):
        super().__init__()
        self.c = c

    def forward(self, x, sigma, **kwargs):
        tau = float(sigma) ** 2 / self.c
        d = 1.0 / (1.0 + tau * laplacian_symbol(*x.shape[-2:]))
        return torch.fft.ifft2(torch.fft.fft2(x) * d.to(x.dtype)).real


def _setup():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 24, 20, generator=g, dtype=torch.float64)
    k = torch.from_numpy(gaussian_kernel(2, std=1.2))[None, None]
    p = blur_problem(x, k, boundary="circular")  # measurement y = x (any data works for a fixed point)
    H = torch.fft.fft2(torch.roll(torch.nn.functional.pad(k, (0, 20 - k.shape[-1], 0, 24 - k.shape[-2])),
                                  (-(k.shape[-2] // 2), -(k.shape[-1] // 2)), (-2, -1)))
    return p, H, laplacian_symbol(24, 20)


def _constant(sigma, gamma, n):
    return Schedule((sigma,) * n, (gamma,) * n)


def test_admm_with_wiener_denoiser_converges_to_tikhonov():
    r"""ADMM with D = prox of (tau/2)||grad x||^2 solves min ½||Ax - y||² + tau/(2 gamma) ||grad x||²."""
    p, H, L = _setup()
    den = GradientWiener(c=1e-2)
    sigma, gamma = 0.05, 0.5
    mu = (sigma**2 / den.c) / gamma
    tikhonov = torch.fft.ifft2(H.conj() * torch.fft.fft2(p.y) / (H.abs() ** 2 + mu * L)).real
    out = solve(p, den, _constant(sigma, gamma, 400), "admm")
    assert float((out - tikhonov).abs().max()) < 1e-10


def test_hqs_with_wiener_denoiser_converges_to_its_closed_form():
    r"""HQS fixed point: argmin of the Moreau envelope of f plus h/gamma, i.e. in Fourier
    x = conj(H) y / (|H|^2 (1 + tau L) + tau L / gamma); it tends to Tikhonov(mu) when gamma -> 0, tau = mu gamma."""
    p, H, L = _setup()
    den = GradientWiener(c=1e-2)
    sigma, gamma = 0.05, 2.0
    tau = sigma**2 / den.c
    fixed = torch.fft.ifft2(H.conj() * torch.fft.fft2(p.y) / (H.abs() ** 2 * (1 + tau * L) + tau * L / gamma)).real
    out = solve(p, den, _constant(sigma, gamma, 300), "hqs")
    assert float((out - fixed).abs().max()) < 1e-10
    # the HQS penalty limit: small gamma with tau / gamma = mu fixed approaches Tikhonov(mu)
    mu = 0.02
    tikhonov = torch.fft.ifft2(H.conj() * torch.fft.fft2(p.y) / (H.abs() ** 2 + mu * L)).real
    errs = []
    for gamma in (0.5, 0.05):
        sigma = math.sqrt(mu * gamma * den.c)
        out = solve(p, den, _constant(sigma, gamma, 2000), "hqs")
        errs.append(float((out - tikhonov).abs().max()))
    assert errs[1] < errs[0] / 5 and errs[1] < 5e-3


def test_hqs_windowed_boundary_converges_to_the_dense_solution():
    """With unknown boundaries (windowed data term) HQS + Wiener reaches the fixed point of the exact steps."""
    g = torch.Generator().manual_seed(1)
    y = torch.rand(1, 1, 12, 10, generator=g, dtype=torch.float64)
    k = torch.rand(3, 4, generator=g, dtype=torch.float64)
    k = (k / k.sum())[None, None]
    p = blur_problem(y, k, margin=3)
    p.fidelity.max_iter, p.fidelity.tol = 100, 1e-13
    den = GradientWiener(c=1e-2)
    sigma, gamma = 0.2, 2.0
    n = p.y.numel()
    shape = tuple(p.y.shape)

    def dense(op):
        return torch.stack([op(torch.eye(n, dtype=torch.float64)[i].reshape(shape)).reshape(-1) for i in range(n)], 1)

    A = dense(p.physics.A)
    D = dense(lambda v: den(v, sigma))
    W = torch.diag(p.fidelity.window.reshape(-1))
    P = torch.linalg.inv(gamma * A.T @ W @ A + torch.eye(n, dtype=torch.float64))
    # x = D P (gamma A^T W y + x)  =>  (I - D P) x = D P gamma A^T W y
    rhs = D @ P @ (gamma * A.T @ W @ p.y.reshape(-1))
    fixed = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - D @ P, rhs)
    out = solve(p, den, _constant(sigma, gamma, 500), "hqs")  # spectral radius of the map: 0.94
    assert float((out.reshape(-1) - fixed).abs().max()) < 1e-9


def test_hqs_solver_equals_deepinv_dpir():
    """Our HQS wiring with DPIR's schedule and start gives deepinv's DPIR output exactly."""
    den = dinv.models.DRUNet(in_channels=1, out_channels=1, nc=(8, 16, 32, 64), nb=1, pretrained=None).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 32, 32, generator=g)
    k = torch.from_numpy(gaussian_kernel(2, std=1.0)).float()[None, None]
    p = blur_problem(x, k, boundary="circular")
    y = p.physics.A(x) + 0.03 * torch.randn(x.shape, generator=g)
    p.y = y
    p.x_init = p.physics.A_adjoint(y)  # DPIR's start
    sig, step, n = get_DPIR_params(0.03)
    ours = solve(p, den, Schedule(tuple(sig.tolist()), tuple(step.tolist())), "hqs")
    with torch.no_grad():
        ref = dinv.optim.DPIR(sigma=0.03, denoiser=den)(y, p.physics)
    assert float((ours - ref).abs().max()) < 1e-6


def test_channel_adapter():
    colour = dinv.models.DRUNet(in_channels=3, out_channels=3, nc=(8, 16, 32, 64), nb=1, pretrained=None).eval()
    grey = dinv.models.DRUNet(in_channels=1, out_channels=1, nc=(8, 16, 32, 64), nb=1, pretrained=None).eval()
    assert denoiser_channels(colour) == 3 and denoiser_channels(grey) == 1
    assert adapt_denoiser(colour, 3) is colour
    x1 = torch.rand(2, 1, 32, 32)
    a = adapt_denoiser(colour, 1)
    assert isinstance(a, ChannelAdapter)
    with torch.no_grad():
        out = a(x1, 0.1)
        ref = colour(x1.expand(2, 3, 32, 32), 0.1).mean(1, keepdim=True)
    assert out.shape == x1.shape and torch.allclose(out, ref)
    x3 = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = adapt_denoiser(grey, 3)(x3, torch.tensor([0.1]))
        ref = torch.cat([grey(x3[:, c : c + 1], 0.1) for c in range(3)], 1)
    assert torch.allclose(out, ref, atol=1e-6)


def test_build_solver_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        build_solver(GradientWiener(), _constant(0.1, 1.0, 2), "pgd")


class _Shift(Denoiser):
    """A denoiser that is not equivariant: it shifts the image one pixel down (circularly)."""

    def forward(self, x, sigma, **kwargs):
        return torch.roll(x, 1, dims=-2)


def test_dihedral_is_the_group_of_the_square_and_inverts():
    x = torch.arange(3 * 5, dtype=torch.float64).reshape(1, 1, 3, 5)
    outs = [dihedral(x, k) for k in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8  # 8 distinct elements
    assert torch.equal(outs[0], x) and outs[1].shape == (1, 1, 5, 3)
    for k in range(8):
        assert torch.equal(dihedral(outs[k], k, inverse=True), x)
    assert torch.equal(outs[4], torch.flip(x, dims=(-1,)))


def test_dihedral_cycle_turns_once_per_call_and_resets():
    x = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    wrapped = DihedralCycle(_Shift())
    outs = [wrapped(x, 0.1) for _ in range(9)]
    # T^-1 roll(T x) is a one-pixel roll along some direction: the 8 calls give 4 distinct ones, then repeat
    assert len({tuple(o.flatten().tolist()) for o in outs[:8]}) == 4
    assert torch.equal(outs[8], outs[0]) and torch.equal(outs[0], torch.roll(x, 1, dims=-2))
    assert torch.equal(outs[4], torch.roll(x, -1, dims=-2))  # 5th call: the up-down flip
    wrapped.reset()
    assert torch.equal(wrapped(x, 0.1), outs[0])


def test_dihedral_ensemble_averages_the_eight_and_keeps_equivariant_denoisers():
    x = torch.rand(2, 3, 6, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mean_shift = DihedralCycle(_Shift(), "ensemble")(x, 0.1)
    ref = sum(torch.roll(x, s, dims=d) for s in (1, -1) for d in (-2, -1)) / 4
    assert torch.allclose(mean_shift, ref, atol=1e-12)
    wiener = GradientWiener()  # isotropic Laplacian on a circular grid: equivariant under the group
    assert torch.allclose(DihedralCycle(wiener, "ensemble")(x, 0.1), wiener(x, 0.1), atol=1e-12)
    with pytest.raises(ValueError, match="mode must be one of"):
        DihedralCycle(wiener, "x16")
