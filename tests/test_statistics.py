"""Tests for pnpleaves.analysis.statistics and the ``pnpleaves stats`` command."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from pnpleaves import cli
from pnpleaves.analysis import (
    ImageSetStatistics,
    compare_image_sets,
    gradient_histogram,
    image_set_statistics,
    js_divergence,
    kl_divergence,
    plot_statistics,
    power_spectrum_slope,
    radial_amplitude_spectrum,
)
from pnpleaves.io import write_image


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


def test_input_forms_agree_and_results_are_deterministic(tmp_path):
    rgb = [np.stack([power_law_image((40, 48), 1.1, s)] * 3, axis=-1) for s in range(3)]
    rgb8 = [np.round(x * 255) / 255 for x in rgb]
    for i, x in enumerate(rgb8):
        write_image(tmp_path / f"{i}.png", x)
    a = image_set_statistics(rgb8)
    b = image_set_statistics(np.stack(rgb8))
    c = image_set_statistics(tmp_path)
    d = image_set_statistics([np.round(x * 255).astype(np.uint8) for x in rgb])
    e = image_set_statistics([x[..., :1] for x in rgb8])  # (H, W, 1) grey = the same luminance
    for other in (b, c, d, e):
        assert other.slope == pytest.approx(a.slope, abs=1e-6)
        np.testing.assert_allclose(other.hist, a.hist, atol=1e-12)
    again = image_set_statistics(rgb8)
    assert again.slope == a.slope and np.array_equal(again.hist, a.hist)
    assert image_set_statistics(tmp_path, max_images=2).n_images == 2


def test_bad_inputs_raise_clear_errors():
    img = np.zeros((32, 32))
    with pytest.raises(ValueError, match=r"band must satisfy 0 < nu_min < nu_max <= 0.5.*\(0.0, 0.5\)"):
        power_spectrum_slope(img, band=(0.0, 0.5))
    with pytest.raises(ValueError, match=r"band\[1\] must be a finite number >= 0.0 and <= 0.5; got 0.7"):
        power_spectrum_slope(img, band=(0.1, 0.7))
    with pytest.raises(ValueError, match="window must be one of 'periodic', 'hann', 'none'; got 'kaiser'"):
        power_spectrum_slope(img, window="kaiser")
    with pytest.raises(ValueError, match=r"image 0 must have finite values in \[0, 1\]; got values in \[0, 2\]"):
        gradient_histogram(np.linspace(0, 2, 64).reshape(8, 8))
    with pytest.raises(ValueError, match="images is empty"):
        gradient_histogram([])
    with pytest.raises(ValueError, match="image 1 must have shape"):
        gradient_histogram([img, np.zeros((8, 8, 5))])
    with pytest.raises(ValueError, match="need at least 3 frequency bins"):
        power_spectrum_slope(np.zeros((4, 4)), band=(0.3, 0.5))
    with pytest.raises(ValueError, match="max_images must be an integer >= 1; got 0"):
        gradient_histogram(img, max_images=0)


# ----------------------------------------------------------------------------------- gradients
def test_gradient_histogram_of_ramps_and_constants():
    y, x = np.mgrid[0:20, 0:30]
    ramp = 0.01 * x + 0.02 * y + 0.05  # |grad| = sqrt(0.01^2 + 0.02^2) = 0.02236 everywhere
    p, edges = gradient_histogram(ramp, bins=100)
    assert p.sum() == pytest.approx(1.0)
    assert p[2] == pytest.approx(1.0)  # bin [0.02, 0.03)
    p, _ = gradient_histogram(np.full((9, 9), 0.4), bins=10)
    assert p[0] == 1.0 and p[1:].sum() == 0.0
    # magnitudes above max_gradient go to the last bin: a checkerboard has |grad| = sqrt(2)
    checker = (np.indices((8, 8)).sum(0) % 2).astype(float)
    p, _ = gradient_histogram(checker, bins=5, max_gradient=1.0)
    assert p[-1] == pytest.approx(1.0)


def test_identical_sets_have_zero_divergence_and_different_ones_do_not():
    a = [power_law_image((64, 64), 1.0, s) for s in range(3)]
    rows = compare_image_sets({"a": a, "a_again": [x.copy() for x in a], "flat": [np.full((64, 64), 0.5)]})
    assert [r.name for r in rows] == ["a", "a_again", "flat"]
    assert rows[0].is_reference and not rows[1].is_reference
    assert rows[0].kl == 0.0 and rows[0].js == 0.0
    assert rows[1].kl == 0.0 and rows[1].js == 0.0
    assert rows[2].kl > 1.0 and rows[2].js > 0.1
    assert math.isnan(rows[2].slope) and math.isnan(rows[2].r2)  # a constant image has no spectrum
    assert rows[1].slope == rows[0].slope and rows[0].n_images == 3
    rows = compare_image_sets({"a": a, "flat": [np.full((64, 64), 0.5)] * 2}, reference="a")
    assert rows[1].n_images == 2
    with pytest.raises(ValueError, match="reference must be one of 'a', 'b'; got 'c'"):
        compare_image_sets({"a": a, "b": a}, reference="c")


# --------------------------------------------------------------------------------- divergences
def test_kl_properties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.random(12), rng.random(12)
        assert kl_divergence(p, p) == 0.0
        assert kl_divergence(p, q) >= 0.0
    # closed form without smoothing
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence([1, 1], [1, 3], eps=0.0) == pytest.approx(expected, rel=1e-12)
    assert kl_divergence([1, 3], [1, 1], eps=0.0) != pytest.approx(expected)  # not symmetric
    # smoothing keeps an empty bin of q finite; without it the divergence is infinite
    assert math.isfinite(kl_divergence([0.5, 0.5], [1.0, 0.0]))
    assert kl_divergence([0.5, 0.5], [1.0, 0.0], eps=0.0) == math.inf


def test_js_properties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.random(10) ** 3, rng.random(10)
        assert js_divergence(p, q) == js_divergence(q, p)
        assert 0.0 < js_divergence(p, q) <= math.log(2)
        assert js_divergence(p, p) == 0.0
    assert js_divergence([1, 0, 0], [0, 0, 2]) == pytest.approx(math.log(2), abs=1e-15)


def test_divergence_errors():
    with pytest.raises(ValueError, match="p and q must have the same number of bins; got 2 and 3"):
        kl_divergence([1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="q must hold finite non-negative values"):
        js_divergence([1, 1], [1, -1])
    with pytest.raises(ValueError, match="p must have a positive sum"):
        kl_divergence([0, 0], [1, 1])
    with pytest.raises(ValueError, match="eps must be a finite number >= 0; got -1"):
        kl_divergence([1, 1], [1, 1], eps=-1)


# ------------------------------------------------------------------------------ plot and CLI
def test_plot_statistics_writes_a_png_and_refuses_to_overwrite(tmp_path):
    stats = {"a": image_set_statistics(power_law_image((64, 64), 1.0, 0)),
             "b": [power_law_image((48, 64), 1.5, 1)]}
    out = plot_statistics(stats, tmp_path / "fig.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot_statistics(stats, out)
    assert plot_statistics(stats, out, overwrite=True) == out
    assert isinstance(stats["a"], ImageSetStatistics)


def _folder(path, images):
    path.mkdir()
    for i, img in enumerate(images):
        write_image(path / f"{i:02d}.png", img)
    return path


def _run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["pnpleaves"])  # cli.main rewrites sys.argv; restore it afterwards
    code = cli.main(["stats", *map(str, args)])
    return code, capsys.readouterr()


def test_cli_prints_a_table(tmp_path, monkeypatch, capsys):
    nat = _folder(tmp_path / "nat", [power_law_image((64, 64), 1.2, s) for s in range(3)])
    syn = _folder(tmp_path / "syn", [power_law_image((48, 56), 1.8, s) for s in range(2)])
    code, out = _run_cli(monkeypatch, capsys, nat, syn, "--plot", tmp_path / "p.png")
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].split() == ["set", "images", "slope", "R^2", "KL(set||ref)", "JS(set,ref)"]
    nat_row, syn_row = lines[2].split(), lines[3].split()
    assert nat_row[:3] == ["nat", "*", "3"] and nat_row[-2:] == ["0.0000", "0.0000"]
    assert syn_row[:2] == ["syn", "2"] and float(syn_row[2]) > float(nat_row[3]) + 0.3
    assert (tmp_path / "p.png").is_file()
    # --reference reorders: the reference row comes first
    code, out = _run_cli(monkeypatch, capsys, nat, syn, "--reference", syn, "--max-images", 1)
    assert code == 0
    rows = out.out.splitlines()[2:4]
    assert rows[0].split()[:3] == ["syn", "*", "1"] and rows[1].split()[:2] == ["nat", "1"]


def test_cli_refuses_missing_or_empty_folders(tmp_path, monkeypatch, capsys):
    good = _folder(tmp_path / "good", [power_law_image((32, 32), 1.0, 0)])
    (tmp_path / "empty").mkdir()
    code, out = _run_cli(monkeypatch, capsys, good, tmp_path / "missing")
    assert code == 2 and out.out == ""
    assert out.err.strip().count("\n") == 0
    assert "error: expected a folder of images" in out.err and "missing" in out.err
    code, out = _run_cli(monkeypatch, capsys, good, tmp_path / "empty")
    assert code == 2 and out.err.strip().count("\n") == 0
    assert "found none" in out.err


def test_identity_psnr_of_identity_and_of_a_smoother():
    """The identity keeps everything (capped at 120 dB); a 3x3 box blur loses texture, more on noise-like images."""
    import torch

    from pnpleaves.analysis import identity_psnr

    rng = np.random.default_rng(0)
    texture = rng.random((33, 47, 3)).astype(np.float32)
    flat = np.full((33, 47, 3), 0.4, np.float32)
    assert identity_psnr(lambda x, s: x, [texture, flat], 1 / 255) == pytest.approx(120.0)

    def box(x, s):
        return torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)

    assert identity_psnr(box, [flat], 1 / 255) == pytest.approx(120.0)
    blurred = identity_psnr(box, [texture], 1 / 255)
    # white noise of variance 1/12 keeps 1/9 of its variance after a 3x3 box: MSE = (8/9)/12 per pixel
    assert blurred == pytest.approx(10 * np.log10(1 / ((8 / 9) / 12)), abs=0.3)
    assert identity_psnr(box, [texture], 1 / 255, crop=16) == pytest.approx(blurred, abs=0.6)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        identity_psnr(box, [texture[..., 0]], 1 / 255)
