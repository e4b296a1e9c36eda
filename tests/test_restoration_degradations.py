"""pnpleaves.restoration.degradations: the one way tests, benchmarks and demos degrade an image."""

import zlib

import deepinv as dinv
import numpy as np
import pytest
import torch
from scipy import ndimage

from pnpleaves.restoration import bicubic_kernel, block_mask, degrade_blur, degrade_sr, levin_kernel, random_mask


@pytest.fixture(scope="module")
def img():
    return np.random.default_rng(0).random((40, 36, 3))


def _crc_stream(seed, *keys):
    """The benchmark's former stream: ``default_rng([seed, crc32(str(key)) ...])``."""
    return np.random.default_rng([seed, *[zlib.crc32(str(k).encode()) for k in keys]])


def test_degrade_blur_is_convolution_plus_seeded_noise(img):
    k = levin_kernel(2)
    blurred = np.stack([ndimage.convolve(img[..., c], k, mode="reflect") for c in range(3)], -1)
    noise = _crc_stream(0, "deblur", "a", 4, 2.55).standard_normal(img.shape)
    y = degrade_blur(img, k, 2.55 / 255, (0, "deblur", "a", "4", "2.55"))
    assert y.dtype == np.float32 and np.array_equal(y, (blurred + 2.55 / 255 * noise).astype(np.float32))
    # an integer seed is numpy's default_rng(seed); clip=True stores an image
    y = degrade_blur(img, k, 0.05, 3, clip=True, dtype=np.float64)
    assert np.array_equal(y, np.clip(blurred + 0.05 * np.random.default_rng(3).standard_normal(img.shape), 0, 1))
    # no noise: the blur alone, nothing drawn from a given generator
    gen = np.random.default_rng(5)
    assert np.array_equal(degrade_blur(img, k, 0.0, gen, dtype=np.float64), blurred)
    assert gen.random() == np.random.default_rng(5).random()
    wrap = degrade_blur(img[..., 0], k, mode="wrap", dtype=np.float64)
    assert wrap.shape == (40, 36) and np.array_equal(wrap, ndimage.convolve(img[..., 0], k, mode="wrap"))


def test_degrade_blur_rejects_bad_input(img):
    with pytest.raises(ValueError, match="kernel must be a 2-D array"):
        degrade_blur(img, np.ones(3) / 3)
    with pytest.raises(ValueError, match="img must be an"):
        degrade_blur(img[None], np.ones((3, 3)) / 9)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        degrade_blur(img, np.ones((3, 3)) / 9, -1.0)
    with pytest.raises(ValueError, match="mode must be one of 'reflect', 'wrap'"):
        degrade_blur(img, np.ones((3, 3)) / 9, mode="nearest")


def test_degrade_sr_is_deepinv_reflect_downsampling(img):
    for s in (2, 4):
        kt = torch.from_numpy(bicubic_kernel(s)).float()[None, None]
        down = dinv.physics.Downsampling(img_size=(3, 40, 36), filter=kt, factor=s, padding="reflect")
        ref = down.A(torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None])[0].permute(1, 2, 0).numpy()
        y = degrade_sr(img, s)
        assert y.dtype == np.float32 and y.shape == (40 // s, 36 // s, 3) and np.array_equal(y, ref)
    assert degrade_sr(img[..., 0], 2, kernel="gaussian").shape == (20, 18)
    with pytest.raises(ValueError, match="not a multiple of scale=3"):
        degrade_sr(img[:40, :35], 3)


def test_masks():
    m = random_mask((60, 50), 0.8, (0, "mask", "kodim01", "0.8"))
    assert m.dtype == bool and m.shape == (60, 50) and 0.7 < 1 - m.mean() < 0.9
    assert np.array_equal(m, _crc_stream(0, "mask", "kodim01", 0.8).random((60, 50)) >= 0.8)
    assert np.array_equal(random_mask((8, 8), 0.5, 7), random_mask((8, 8), 0.5, 7))
    b = block_mask((200, 180), 128)
    assert (~b).sum() == 128 * 128 and not b[100, 90] and b[0, 0]
    assert (~block_mask((100, 100), 128)).all()  # larger than the image: all missing


def test_degrade_dpir_matches_a_dense_matrix_reference():
    """DPIR's protocol degradation (circular blur, decimation from pixel 0, noise) against y = A x built entry by entry."""
    from pnpleaves.restoration.degradations import degrade_dpir
    from pnpleaves.restoration.kernels import fspecial_gaussian

    rng = np.random.default_rng(0)
    H, W = 12, 9
    k = fspecial_gaussian(5, 1.6)
    assert k.shape == (5, 5) and abs(k.sum() - 1) < 1e-12 and np.allclose(k, k.T) and k.argmax() == 12
    x = rng.random((H, W, 3))
    for s in (1, 3):
        # A[(i, j), (p, q)] = sum over kernel taps landing on (p, q) circularly, for output pixel (s*i, s*j)
        A = np.zeros((H // s * (W // s), H * W))
        for i in range(H // s):
            for j in range(W // s):
                for a in range(5):
                    for b in range(5):
                        p, q = (s * i + a - 2) % H, (s * j + b - 2) % W  # ndimage.convolve flips the kernel
                        A[i * (W // s) + j, p * W + q] += k[4 - a, 4 - b]
        ref = np.stack([(A @ x[..., c].ravel()).reshape(H // s, W // s) for c in range(3)], -1)
        out = degrade_dpir(x, k, s, 0.0)
        assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-12
        noisy = degrade_dpir(x, k, s, 0.01, seed=(0, "t"))
        assert np.array_equal(noisy, degrade_dpir(x, k, s, 0.01, seed=(0, "t")))  # seeded
        assert 0.005 < np.std(noisy - ref) < 0.02
