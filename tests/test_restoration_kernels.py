"""pnpleaves.restoration.kernels: Levin kernels, SR kernels, the transfer function."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from pnpleaves.restoration.kernels import (
    LEVIN_SIZES,
    bicubic_kernel,
    gaussian_kernel,
    levin_kernel,
    psf2otf,
    sr_kernel,
)
from pnpleaves.restoration.problems import blur_problem
from test_restoration_problems import asym_kernel


def test_levin_kernels_embedded():
    for i, n in enumerate(LEVIN_SIZES, start=1):
        k = levin_kernel(i)
        assert k.shape == (n, n) and abs(k.sum() - 1) < 1e-12 and k.min() >= 0
    k = levin_kernel(1)
    k[0, 0] = 5.0
    assert levin_kernel(1)[0, 0] != 5.0  # a fresh copy each time
    for bad in (9, 0, True, 1.0):
        with pytest.raises(ValueError, match="from 1 to 8"):
            levin_kernel(bad)


def test_bicubic_kernel_puts_low_res_pixels_at_pixel_centres():
    """A ramp decimated with the kernel samples the centre of each s x s block (MATLAB imresize)."""
    for s in (2, 3, 4):
        k = bicubic_kernel(s)
        assert abs(k.sum() - 1) < 1e-12 and k.shape[0] % 2 == 1
        ramp = np.tile(np.arange(64, dtype=np.float64)[:, None], (1, 64))
        lr = ndimage.convolve(ramp, k, mode="reflect")[::s, ::s]
        rows = np.arange(3, 8)
        assert np.abs(lr[rows, 10] - (s * rows + (s - 1) / 2)).max() < 1e-9


def test_gaussian_kernel_is_normalised_symmetric_and_centred():
    for s in (2, 3, 4):
        k = gaussian_kernel(s)
        assert abs(k.sum() - 1) < 1e-12 and np.allclose(k, k.T)
        ramp = np.tile(np.arange(64, dtype=np.float64)[:, None], (1, 64))
        lr = ndimage.convolve(ramp, k, mode="reflect")[::s, ::s]
        assert np.abs(lr[4:8, 10] - (s * np.arange(4, 8) + (s - 1) / 2)).max() < 0.01  # truncated at 3 std


def test_sr_kernel_names_and_arrays():
    assert torch.equal(sr_kernel("bicubic", 4, (64, 64)), torch.from_numpy(bicubic_kernel(4))[None, None])
    assert torch.equal(sr_kernel("gaussian", 2, (64, 64)), torch.from_numpy(gaussian_kernel(2))[None, None])
    k = sr_kernel(np.array([[0.0, -0.25, 0.0], [0.0, 1.5, 0.0], [0.0, -0.25, 0.0]]), 2, (32, 32))
    assert k.shape == (1, 1, 3, 3) and abs(float(k.sum()) - 1) < 1e-12  # negative lobes allowed
    with pytest.raises(ValueError, match="kernel must be one of 'bicubic', 'gaussian'"):
        sr_kernel("lanczos", 2, (32, 32))


def test_blur_matches_scipy_wrap_convolution():
    """BlurFFT and psf2otf implement scipy.ndimage.convolve(mode='wrap'), even kernels included."""
    x = torch.rand(1, 1, 20, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for k in (asym_kernel(), torch.from_numpy(levin_kernel(2))[None, None]):
        ref = ndimage.convolve(x[0, 0].numpy(), k[0, 0].numpy(), mode="wrap")
        p = blur_problem(x, k, boundary="circular")
        assert np.abs(p.physics.A(x)[0, 0].numpy() - ref).max() < 1e-12
        via_otf = torch.fft.irfft2(psf2otf(k, (20, 24)) * torch.fft.rfft2(x), s=(20, 24))
        assert np.abs(via_otf[0, 0].numpy() - ref).max() < 1e-12
