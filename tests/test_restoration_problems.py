"""pnpleaves.restoration.problems: operators and exact proximal steps, in float64 against dense closed forms.

The helpers :func:`adjoint_gap`, :func:`dense_matrix`, :func:`asym_kernel` are shared with the other
restoration test modules.
"""

import numpy as np
import pytest
import torch
from scipy import ndimage

from pnpleaves.restoration.kernels import bicubic_kernel, gaussian_kernel, levin_kernel
from pnpleaves.restoration.padding import SIZE_MULTIPLE, reflect_pad
from pnpleaves.restoration.problems import (
    Problem,
    blur_problem,
    denoise_problem,
    fill_missing,
    inpaint_problem,
    sr_problem,
)
from pnpleaves.restoration.windowed_l2 import WindowedBlurL2

TOL = 1e-10


def generator():
    return torch.Generator().manual_seed(0)


def adjoint_gap(A, At, x_shape, y_shape):
    """Relative gap between <Ax, y> and <x, A^T y> for random x, y (float64)."""
    g = generator()
    x = torch.randn(x_shape, generator=g, dtype=torch.float64)
    y = torch.randn(y_shape, generator=g, dtype=torch.float64)
    lhs = (A(x) * y).sum()
    rhs = (x * At(y)).sum()
    return abs(float(lhs - rhs)) / max(abs(float(lhs)), 1e-12)


def dense_matrix(op, shape):
    """Matrix of a linear operator acting on tensors of ``shape`` (float64)."""
    n = int(np.prod(shape))
    cols = []
    for i in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = 1.0
        cols.append(op(e.reshape(shape)).reshape(-1))
    return torch.stack(cols, dim=1)


def asym_kernel():
    """A 5x4 non-symmetric kernel summing to 1, ``(1, 1, 5, 4)`` float64."""
    k = torch.rand(5, 4, generator=generator(), dtype=torch.float64) ** 2
    return (k / k.sum())[None, None]


# --------------------------------------------------------------------------- problems catalogue


def _problems() -> dict[str, Problem]:
    """Small problems (at most ~1,500 unknowns, so dense matrices stay tiny)."""
    g = generator()
    y = torch.rand(1, 2, 13, 11, generator=g, dtype=torch.float64)
    k = asym_kernel()
    mask = (torch.rand(1, 1, 13, 11, generator=g) > 0.4).double()
    lr2 = torch.rand(1, 2, 8, 8, generator=g, dtype=torch.float64)
    lr4 = torch.rand(1, 1, 8, 7, generator=g, dtype=torch.float64)
    return {
        "blur-unknown": blur_problem(y[:, :1], k, margin=3),
        "blur-circular": blur_problem(y, k, boundary="circular"),
        "sr-x2-bicubic": sr_problem(lr2, 2, torch.from_numpy(bicubic_kernel(2))[None, None], margin=0),
        "sr-x4-gaussian": sr_problem(lr4, 4, torch.from_numpy(gaussian_kernel(4))[None, None], margin=0),
        "inpaint": inpaint_problem(y, mask, margin=0),
        "denoise": denoise_problem(y[:, :1], margin=0),
    }


@pytest.mark.parametrize("name", list(_problems()))
def test_adjointness(name):
    p = _problems()[name]
    gap = adjoint_gap(p.physics.A, p.physics.A_adjoint, tuple(p.x_init.shape), tuple(p.y.shape))
    assert gap < TOL, f"{name}: <Ax, y> and <x, A^T y> differ by {gap:.2e}"


@pytest.mark.parametrize("name", list(_problems()))
def test_prox_l2_matches_closed_form(name):
    """prox_{gamma f}(z) = (gamma A^T A + I)^{-1} (gamma A^T y + z), for the fidelity the solvers use."""
    p = _problems()[name]
    shape = tuple(p.x_init.shape)
    A = dense_matrix(p.physics.A, shape)
    yv = p.y.reshape(-1)
    z = torch.randn(shape, generator=generator(), dtype=torch.float64)
    if isinstance(p.fidelity, WindowedBlurL2):
        p.fidelity.max_iter, p.fidelity.tol = 2000, 0.0
        W = torch.diag(p.fidelity.window.expand_as(p.y).reshape(-1))
    else:
        W = torch.eye(A.shape[0], dtype=torch.float64)
    for gamma in (0.3, 7.0, 150.0):
        rhs = gamma * A.T @ (W @ yv) + z.reshape(-1)
        expected = torch.linalg.solve(gamma * A.T @ W @ A + torch.eye(A.shape[1], dtype=torch.float64), rhs)
        got = p.fidelity.prox(z, p.y, p.physics, gamma=gamma).reshape(-1)
        err = float((got - expected).abs().max())
        assert err < 1e-9, f"{name}, gamma={gamma}: prox differs from the closed form by {err:.2e}"


def test_padded_blur_is_exact_inside_the_window():
    """On the padded domain, the circular blur of the padded truth equals a non-circular blur in the window."""
    x = torch.rand(1, 1, 30, 26, generator=generator(), dtype=torch.float64)
    k = torch.from_numpy(levin_kernel(3))[None, None]
    y = torch.from_numpy(ndimage.convolve(x[0, 0].numpy(), k[0, 0].numpy(), mode="reflect"))[None, None]
    p = blur_problem(y, k)
    top, left, h, w = p.crop
    before = (top, left)
    after = (p.y.shape[-2] - top - h, p.y.shape[-1] - left - w)
    # mode="reflect" of scipy repeats the edge sample, as numpy's "symmetric" padding
    widths = ((before[0], after[0]), (before[1], after[1]))
    xs = torch.from_numpy(np.pad(x[0, 0].numpy(), widths, mode="symmetric"))[None, None]
    Ax = p.crop_output(p.physics.A(xs))
    assert float((Ax - y).abs().max()) < 1e-12
    assert reflect_pad(x, before, after).shape == xs.shape


def test_padded_sizes_are_fft_friendly_multiples_of_16():
    assert SIZE_MULTIPLE == 16
    for h, w in ((37, 51), (256, 256), (500, 333)):
        p = inpaint_problem(torch.rand(1, 1, h, w), torch.ones(1, 1, h, w))
        for n in p.y.shape[-2:]:
            assert n % 16 == 0
            m = n
            for q in (2, 3, 5):
                while m % q == 0:
                    m //= q
            assert m == 1, n


def test_deblurring_pads_by_the_kernel_radius_to_multiples_of_8():
    for h, w in ((37, 51), (256, 256), (500, 333), (512, 512)):
        p = blur_problem(torch.rand(1, 1, h, w), torch.ones(1, 1, 27, 27) / 729)
        for n in p.y.shape[-2:]:
            assert n % 8 == 0
            m = n
            for q in (2, 3, 5, 7, 11, 13, 17):
                while m % q == 0:
                    m //= q
            assert m == 1, n
        top, left, hh, ww = p.crop
        H, W = p.y.shape[-2:]
        assert min(top, left, H - top - h, W - left - w) >= 13 and (hh, ww) == (h, w)
    assert blur_problem(torch.rand(1, 3, 512, 512), torch.ones(1, 1, 27, 27) / 729).y.shape[-2:] == (544, 544)


def test_circular_blur_problem_is_not_padded():
    y = torch.rand(1, 3, 20, 24, dtype=torch.float64)
    p = blur_problem(y, asym_kernel(), boundary="circular")
    assert p.crop == (0, 0, 20, 24) and torch.equal(p.y, y) and p.kind == "deblur"
    assert not isinstance(p.fidelity, WindowedBlurL2)


def test_fill_missing_keeps_observed_pixels():
    g = generator()
    y = torch.rand(1, 3, 37, 51, generator=g, dtype=torch.float64)
    m = (torch.rand(1, 1, 37, 51, generator=g) > 0.9).double()
    f = fill_missing(y * m, m)
    assert torch.equal(f * m, y * m)
    assert float(f.min()) >= 0 and float(f.max()) <= 1
    assert torch.equal(fill_missing(y, torch.ones_like(m)), y)  # nothing missing: a copy


def test_problems_do_not_touch_their_input():
    y = torch.rand(1, 3, 21, 23, dtype=torch.float64)
    keep = y.clone()
    blur_problem(y, asym_kernel())
    sr_problem(y, 2, torch.from_numpy(bicubic_kernel(2))[None, None])
    inpaint_problem(y, torch.ones(1, 1, 21, 23, dtype=torch.float64))
    denoise_problem(y)
    assert torch.equal(y, keep)


def test_circular_sr_problem_is_dpirs_degradation_on_the_image_grid():
    from pnpleaves.restoration.degradations import degrade_dpir
    from pnpleaves.restoration.kernels import fspecial_gaussian

    x = np.random.default_rng(3).random((24, 30, 3))
    k = fspecial_gaussian(9, 1.6)
    y = degrade_dpir(x, k, 3)
    yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None]
    p = sr_problem(yt, 3, torch.from_numpy(k)[None, None], boundary="circular")
    assert p.crop == (0, 0, 24, 30) and p.x_init.shape == (1, 3, 24, 30)
    ax = p.physics.A(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None])
    assert torch.allclose(ax, yt, atol=1e-10)


def test_blended_fill_is_linear_near_data_and_push_pull_deep_in_holes():
    from pnpleaves.restoration.problems import blended_fill, fill_missing, linear_fill

    y = torch.rand(1, 3, 40, 40, dtype=torch.float64)
    m = torch.ones(1, 1, 40, 40, dtype=torch.float64)
    m[..., 10:30, 10:30] = 0  # a block
    m[..., 2, 2] = 0  # an isolated missing pixel
    out, lin, pp = blended_fill(y * m, m), linear_fill(y * m, m), fill_missing(y * m, m)
    assert torch.allclose(out[..., 20, 20], pp[..., 20, 20]) and torch.allclose(out[..., 2, 2], lin[..., 2, 2])
    assert torch.equal(out * m, y * m)  # observed pixels kept
