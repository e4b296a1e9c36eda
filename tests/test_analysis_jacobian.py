"""Tests for pnpleaves.analysis.jacobian: against linear denoisers whose Jacobian is a known matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pnpleaves.analysis import jacobian_spectrum, jacobian_symmetry, jacobian_trace, local_homogeneity
from pnpleaves.analysis.jacobian import JacobianOperator
from pnpleaves.errors import InputError
from pnpleaves.models import GaussianDenoiser, GaussianFit

BLUR = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], dtype=torch.float64) / 16
SKEW = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 0.4], [0.0, 0.1, 0.0]], dtype=torch.float64)


def conv_filter(kernel):
    """A linear 'denoiser' ``D(x, sigma) = k * x`` (zero padding, each channel alone): J is its matrix."""
    def den(x, sigma):
        c = x.shape[1]
        w = kernel.to(x).expand(c, 1, 3, 3)
        return F.conv2d(x, w, padding=1, groups=c)
    return den


def dense_matrix(den, shape):
    """The matrix of a linear map on tensors of ``shape`` (columns: images of the basis vectors)."""
    n = int(np.prod(shape))
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape[1:])
    return den(basis, 0.1).reshape(n, n).T.numpy()


def gaussian_case(sigma=0.1):
    fit = GaussianFit.power_law((8, 8), 3).to(dtype=torch.float64)
    den = GaussianDenoiser(fit)
    x = fit.sample(1, sigma=sigma, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cov = fit.dense_covariance().numpy()
    jac = cov @ np.linalg.inv(cov + sigma**2 * np.eye(cov.shape[0]))
    return den, x, jac


def test_trace_of_the_gaussian_mmse_denoiser_is_exact_within_the_hutchinson_bound():
    den, x, jac = gaussian_case()
    n_probes = 32
    est = jacobian_trace(den, x, 0.1, n_probes=n_probes, seed=0)
    exact = float(np.trace(jac))
    # Rademacher variance for a symmetric J: 2 (||J||_F^2 - sum J_ii^2) per probe
    bound = np.sqrt(2 * (np.sum(jac**2) - np.sum(np.diag(jac) ** 2)) / n_probes)
    assert est.method == "autograd" and est.dim == 192
    assert abs(est.trace - exact) < 4 * bound
    assert est.stderr == pytest.approx(bound, rel=0.5)  # the reported error is the right size
    assert est.per_pixel == pytest.approx(est.trace / 192)


def test_trace_by_finite_differences_of_a_linear_filter():
    den = conv_filter(BLUR)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = np.trace(dense_matrix(den, (1, 1, 8, 8)))
    est = jacobian_trace(den, x, 0.1, n_probes=64, seed=3, method="fd")
    assert est.method == "fd"
    assert abs(est.trace - exact) < 4 * est.stderr + 1e-6


def test_spectrum_of_a_symmetric_filter_matches_eigh():
    den = conv_filter(BLUR)
    shape = (1, 1, 8, 8)
    mat = dense_matrix(den, shape)
    assert np.allclose(mat, mat.T)
    ref = np.linalg.eigh(mat)
    top = ref.eigenvalues[::-1][:5]
    x = torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    res = jacobian_spectrum(den, x, 0.1, k=5, seed=0)  # default basis: 60 of the 64 dimensions
    assert res.eigenvalues == pytest.approx(top, abs=1e-8)
    rough = jacobian_spectrum(den, x, 0.1, k=5, n_iter=32, seed=0)  # half the space: still close
    assert rough.eigenvalues == pytest.approx(top, abs=1e-3)
    assert np.all(res.residuals < 1e-6)
    assert np.all(res.asymmetry < 1e-8)
    v1 = res.eigenvectors[0].double().reshape(-1).numpy()
    assert abs(v1 @ ref.eigenvectors[:, -1]) == pytest.approx(1.0, abs=1e-8)  # the top eigenvalue is simple


def test_spectrum_of_the_gaussian_denoiser():
    den, x, jac = gaussian_case()
    res = jacobian_spectrum(den, x, 0.1, k=3, n_iter=192, seed=1)
    assert res.eigenvalues == pytest.approx(np.sort(np.linalg.eigvalsh(jac))[::-1][:3], abs=1e-8)
    assert res.eigenvectors.shape == (3, 3, 8, 8)


def test_symmetry_is_zero_for_a_symmetric_filter_and_positive_for_a_skewed_one():
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    sym = jacobian_symmetry(conv_filter(BLUR), x, 0.1, n_probes=8)
    assert sym.ratio < 1e-10
    mat = dense_matrix(conv_filter(SKEW), (1, 1, 8, 8))
    exact = np.linalg.norm(mat - mat.T) / np.linalg.norm(mat)
    skew = jacobian_symmetry(conv_filter(SKEW), x, 0.1, n_probes=64, seed=1)
    assert skew.ratio > 0.3
    assert skew.ratio == pytest.approx(exact, rel=0.25)
    skew_fd = jacobian_symmetry(conv_filter(SKEW), x, 0.1, n_probes=64, seed=1, method="fd")
    assert skew_fd.method == "fd" and skew_fd.ratio == pytest.approx(exact, rel=0.25)


def test_homogeneity_of_linear_and_affine_denoisers():
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    lin = local_homogeneity(conv_filter(BLUR), x, 0.1)
    assert max(lin.errors) < 1e-12 and lin.euler_residual < 1e-8
    den, y, _ = gaussian_case()  # mu + W (y - mu): affine, not homogeneous
    aff = local_homogeneity(den, y, 0.1, scales=(0.5, 2.0))
    assert min(aff.errors) > 1e-3 and aff.euler_residual > 1e-3


def test_operator_picks_finite_differences_for_a_non_differentiable_denoiser():
    def numpy_blur(x, sigma):  # leaves autograd: like CBM3D
        return torch.from_numpy(conv_filter(BLUR)(x.detach(), sigma).numpy())

    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    op = JacobianOperator(numpy_blur, x, 0.1)
    assert not op.differentiable
    with pytest.raises(InputError):
        op.vjp(x)
    with pytest.raises(InputError):
        jacobian_spectrum(numpy_blur, x, 0.1, k=2)
