"""pnpleaves.restoration.windowed_l2: the conjugate-gradient prox of the windowed blur data term."""

import torch

from pnpleaves.restoration.kernels import levin_kernel
from pnpleaves.restoration.problems import blur_problem
from pnpleaves.restoration.windowed_l2 import WindowedBlurL2, observation_window
from test_restoration_problems import asym_kernel, dense_matrix


def test_observation_window_marks_the_crop():
    w = observation_window(torch.Size((1, 3, 8, 10)), (2, 3, 4, 5), torch.float64)
    assert w.shape == (1, 1, 8, 10) and float(w.sum()) == 20
    assert float(w[..., 2:6, 3:8].min()) == 1.0


def test_windowed_prox_with_full_window_is_blurfft_prox():
    p = blur_problem(torch.rand(1, 3, 20, 24, dtype=torch.float64), asym_kernel())
    fid = WindowedBlurL2(asym_kernel(), torch.ones_like(p.fidelity.window))
    z = torch.rand_like(p.y)
    a = fid.prox(z, p.y, p.physics, gamma=3.0)
    b = p.physics.prox_l2(z, p.y, 3.0)
    assert float((a - b).abs().max()) < 1e-12


def test_windowed_prox_converges_at_large_gamma():
    """The conjugate gradient of WindowedBlurL2 reaches the exact prox even for DPIR's largest step."""
    k = torch.from_numpy(levin_kernel(5))[None, None]
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 1, 20, 20, generator=g, dtype=torch.float64)
    p = blur_problem(y, k, margin=7)
    z = torch.rand(p.y.shape, generator=g, dtype=torch.float64)
    p.fidelity.max_iter, p.fidelity.tol = 600, 0.0
    ref = p.fidelity.prox(z, p.y, p.physics, gamma=1600.0)
    A = dense_matrix(p.physics.A, tuple(p.y.shape))
    W = torch.diag(p.fidelity.window.reshape(-1))
    rhs = 1600.0 * A.T @ (W @ p.y.reshape(-1)) + z.reshape(-1)
    exact = torch.linalg.solve(1600.0 * A.T @ W @ A + torch.eye(A.shape[0], dtype=torch.float64), rhs)
    assert float((ref.reshape(-1) - exact).abs().max()) < 1e-8


def test_windowed_gradient_is_the_masked_residual():
    p = blur_problem(torch.rand(1, 1, 12, 10, dtype=torch.float64), asym_kernel(), margin=3)
    x = torch.rand_like(p.y)
    ref = p.physics.A_adjoint(p.fidelity.window * (p.physics.A(x) - p.y))
    assert torch.allclose(p.fidelity.grad(x, p.y, p.physics), ref)
