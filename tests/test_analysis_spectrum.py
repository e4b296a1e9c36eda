"""Tests for pnpleaves.analysis.spectrum (and the image sources it reads through)."""

from __future__ import annotations

import numpy as np
import pytest

from pnpleaves.analysis import gradient_histogram, power_spectrum_slope, radial_amplitude_spectrum
from pnpleaves.analysis.spectrum import fit_power_law
from pnpleaves.errors import InputError


def power_law_image(shape, alpha, seed, *, exact=True):
    """Spectral synthesis: a real image whose DFT amplitude is ``nu^-alpha`` (exactly if ``exact``).

    The phase is that of a real white noise (so the result is real); with ``exact=False`` the
    amplitude keeps the noise's Rayleigh fluctuations (a Gaussian field with that mean spectrum).
    The image is rescaled to [0, 1] (an affine map does not change the slope).
    """
    h, w = shape
    noise_hat = np.fft.fft2(np.random.default_rng(seed).standard_normal((h, w)))
    if exact:
        noise_hat /= np.abs(noise_hat)
    nu = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    nu[0, 0] = 1.0
    x = np.fft.ifft2(noise_hat * nu**-alpha).real
    return (x - x.min()) / (x.max() - x.min())


# ------------------------------------------------------------------------------------ spectrum
@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5, 2.0])
def test_slope_of_exact_power_law_is_recovered(alpha):
    imgs = [power_law_image((256, 256), alpha, seed) for seed in range(2)]
    slope, r2 = power_spectrum_slope(imgs, window="none")  # periodic image: the raw DFT is exact
    assert slope == pytest.approx(alpha, abs=1e-3)
    assert r2 > 0.9999
    slope, r2 = power_spectrum_slope(imgs)  # default: periodic + smooth decomposition
    assert slope == pytest.approx(alpha, abs=5e-3)
    assert r2 > 0.998


@pytest.mark.parametrize("alpha", [1.0, 1.5])
def test_slope_of_gaussian_field_and_of_non_periodic_crops(alpha):
    field = power_law_image((512, 512), alpha, seed=3, exact=False)
    slope, r2 = power_spectrum_slope(field)
    assert slope == pytest.approx(alpha, abs=0.02)
    assert r2 > 0.995
    # crops are not periodic: their borders jump, which the default border handling must absorb
    crops = [field[i:i + 200, j:j + 300] for i in (0, 250) for j in (0, 200)]
    slope, r2 = power_spectrum_slope(crops)
    assert slope == pytest.approx(alpha, abs=0.03)
    assert r2 > 0.99


def test_border_cross_is_removed_by_periodic_decomposition():
    field = power_law_image((256, 256), 1.0, seed=4)
    ramp = np.linspace(0.0, 1.0, 256)[None, :] * np.ones((256, 1))
    img = 0.3 * field + 0.7 * ramp  # a strong left-right jump across the periodic border
    slope, r2 = power_spectrum_slope(img)
    assert slope == pytest.approx(1.0, abs=0.01) and r2 > 0.999
    slope, r2 = power_spectrum_slope(img, window="none")  # the raw DFT sees the cross
    assert slope > 1.15 and r2 < 0.97


def test_slope_is_the_amplitude_slope_and_white_noise_is_flat():
    noise = np.random.default_rng(0).random((16, 128, 128, 1))
    slope, _ = power_spectrum_slope(noise, window="none")
    assert abs(slope) < 0.02
    freqs, amp = radial_amplitude_spectrum(power_law_image((128, 128), 1.0, 0), window="none")
    # amplitude (not power) halves per doubling of the frequency when alpha = 1
    ratio = np.interp(0.2, freqs, amp) / np.interp(0.4, freqs, amp)
    assert ratio == pytest.approx(2.0, rel=0.02)


def test_slope_invariant_to_contrast_and_mixed_sizes_work():
    img = power_law_image((96, 96), 1.2, seed=1)
    assert power_spectrum_slope(0.5 * img + 0.25)[0] == pytest.approx(power_spectrum_slope(img)[0], abs=1e-9)
    mixed = [power_law_image((37, 51), 1.2, 1), power_law_image((64, 80), 1.2, 2), power_law_image((128, 96), 1.2, 3)]
    slope, r2 = power_spectrum_slope(mixed)
    assert slope == pytest.approx(1.2, abs=0.06)
    assert r2 > 0.99
    h, edges = gradient_histogram(mixed, bins=16)
    assert h.shape == (16,) and edges.shape == (17,) and h.sum() == pytest.approx(1.0)


def test_bad_inputs_raise_clear_errors():
    img = np.zeros((32, 32))
    with pytest.raises(InputError, match=r"band must satisfy 0 < nu_min < nu_max <= 0.5.*\(0.0, 0.5\)"):
        power_spectrum_slope(img, band=(0.0, 0.5))
    with pytest.raises(InputError, match=r"band\[1\] must be a finite number >= 0.0 and <= 0.5; got 0.7"):
        power_spectrum_slope(img, band=(0.1, 0.7))
    with pytest.raises(InputError, match="window must be one of 'periodic', 'hann', 'none'; got 'kaiser'"):
        power_spectrum_slope(img, window="kaiser")
    with pytest.raises(InputError, match=r"image 0 must have finite values in \[0, 1\]; got values in \[0, 2\]"):
        gradient_histogram(np.linspace(0, 2, 64).reshape(8, 8))
    with pytest.raises(InputError, match="images is empty"):
        gradient_histogram([])
    with pytest.raises(InputError, match="image 1 must have shape"):
        gradient_histogram([img, np.zeros((8, 8, 5))])
    with pytest.raises(InputError, match="need at least 3 frequency bins"):
        power_spectrum_slope(np.zeros((4, 4)), band=(0.3, 0.5))
    with pytest.raises(InputError, match="max_images must be an integer >= 1; got 0"):
        gradient_histogram(img, max_images=0)




def test_fit_power_law_recovers_slope_and_intercept(caplog):
    freqs = np.geomspace(0.01, 0.5, 10)
    alpha, c, r2 = fit_power_law(freqs, 3.0 * freqs**-1.3)
    assert alpha == pytest.approx(1.3, abs=1e-12) and c == pytest.approx(np.log(3.0), abs=1e-12)
    assert r2 == pytest.approx(1.0, abs=1e-12)
    assert all(np.isnan(fit_power_law(freqs, np.zeros(10))))  # a constant image has no spectrum
    assert "no spectrum slope" in caplog.text
    with pytest.raises(InputError, match="need at least 3 frequency bins with data to fit a slope; got 2"):
        fit_power_law(freqs[:2], freqs[:2])
