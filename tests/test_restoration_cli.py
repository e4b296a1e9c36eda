"""pnpleaves.cli.restore: pnpleaves deblur / super-resolve / inpaint / denoise."""

import sys

import imageio.v3 as iio
import numpy as np
import pytest
import scipy.io as sio

from pnpleaves.cli import main
from test_restoration_benchmark import tiny_prior_file


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory):
    return tiny_prior_file(tmp_path_factory.mktemp("w"))


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((37, 51, 3)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "in8.png", img)
    iio.imwrite(tmp_path / "in16.png", (rng.random((37, 51)) * 65535).astype(np.uint16))
    k = np.ones((3, 5)) / 15
    np.save(tmp_path / "k.npy", k)
    np.save(tmp_path / "stack.npy", np.stack([k, k[::-1]]))
    sio.savemat(tmp_path / "k.mat", {"psf": k})
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = k, np.ones((3, 3)) / 9
    sio.savemat(tmp_path / "cell.mat", {"kernels": cell})
    iio.imwrite(tmp_path / "k.png", (np.ones((5, 5)) * 200).astype(np.uint8))
    mask = np.full((37, 51), 255, np.uint8)
    mask[10:20, 10:30] = 0
    iio.imwrite(tmp_path / "mask.png", mask)
    iio.imwrite(tmp_path / "mask_small.png", mask[:30])
    return tmp_path


def _run(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["pnpleaves", *argv])
    return main(list(argv))


def _fast(prior):
    return ["--prior", prior, "--n-iter", "2", "--no-progress"]


def test_deblur_kernel_formats_and_bit_depths(monkeypatch, files, prior_file, capsys):
    out = files / "o.png"
    for kspec in (["k.npy"], ["k.mat"], ["k.png"], ["stack.npy", "--kernel-index", "2"],
                  ["cell.mat", "--kernel-index", "1"]):
        k = [str(files / kspec[0]), *kspec[1:]]
        rc = _run(monkeypatch, "deblur", str(files / "in8.png"), "--kernel", *k, "--out", str(out),
                  "--sigma", "2", "--overwrite", *_fast(prior_file))
        assert rc == 0, capsys.readouterr().err
        res = iio.imread(out)
        assert res.dtype == np.uint8 and res.shape == (37, 51, 3)
    out16 = files / "o16.png"
    assert _run(monkeypatch, "deblur", str(files / "in16.png"), "--kernel", str(files / "k.npy"), "--out", str(out16),
                "--sigma", "2", *_fast(prior_file)) == 0
    res = iio.imread(out16)
    assert res.dtype == np.uint16 and res.shape == (37, 51)
    out_forced = files / "o8to16.tif"  # 16-bit RGB PNG: see the report on pnpleaves.io
    assert _run(monkeypatch, "deblur", str(files / "in8.png"), "--kernel", str(files / "k.npy"), "--out",
                str(out_forced), "--bit-depth", "16", "--sigma", "2", *_fast(prior_file)) == 0
    assert iio.imread(out_forced).dtype == np.uint16


def test_other_commands(monkeypatch, files, prior_file, capsys):
    assert _run(monkeypatch, "super-resolve", str(files / "in8.png"), "--scale", "2", "--out", str(files / "sr.png"),
                "--sigma", "0", *_fast(prior_file)) == 0
    assert iio.imread(files / "sr.png").shape == (74, 102, 3)
    assert _run(monkeypatch, "super-resolve", str(files / "in8.png"), "--scale", "2", "--out", str(files / "sr0.png"),
                "--sigma", "0", "--ensemble", "none", *_fast(prior_file)) == 0
    assert not np.array_equal(iio.imread(files / "sr0.png"), iio.imread(files / "sr.png"))  # the flag reaches the API
    assert _run(monkeypatch, "inpaint", str(files / "in8.png"), "--mask", str(files / "mask.png"), "--out",
                str(files / "inp.png"), "--sigma", "0", *_fast(prior_file)) == 0
    assert _run(monkeypatch, "denoise", str(files / "in16.png"), "--sigma", "25", "--out", str(files / "dn.tif"),
                "--prior", prior_file) == 0
    assert iio.imread(files / "dn.tif").dtype == np.uint16
    assert "wrote" in capsys.readouterr().out


def _one_error_line(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, err


def test_user_errors_print_one_line(monkeypatch, files, prior_file, capsys):
    out = str(files / "x.png")
    assert _run(monkeypatch, "deblur", str(files / "missing.png"), "--kernel", str(files / "k.npy"), "--out", out,
                *_fast(prior_file)) == 2
    _one_error_line(capsys, "pnpleaves deblur: error:", "missing.png", "does not exist")
    assert _run(monkeypatch, "deblur", str(files / "in8.png"), "--kernel", str(files / "nok.npy"), "--out", out,
                *_fast(prior_file)) == 2
    _one_error_line(capsys, "kernel file", "does not exist")
    (files / "bad.npy").write_bytes(b"not a numpy file")
    assert _run(monkeypatch, "deblur", str(files / "in8.png"), "--kernel", str(files / "bad.npy"), "--out", out,
                *_fast(prior_file)) == 2
    _one_error_line(capsys, "could not read", "bad.npy")
    assert _run(monkeypatch, "deblur", str(files / "in8.png"), "--kernel", str(files / "cell.mat"), "--out", out,
                *_fast(prior_file)) == 2
    _one_error_line(capsys, "holds 2 kernels; choose one with --kernel-index 1..2")
    assert _run(monkeypatch, "inpaint", str(files / "in8.png"), "--mask", str(files / "mask_small.png"), "--out", out,
                *_fast(prior_file)) == 2
    _one_error_line(capsys, "is 30x51 but the image is 37x51")
    assert _run(monkeypatch, "deblur", str(files / "in8.png"), "--kernel", str(files / "k.npy"), "--out", out,
                "--prior", "no-such-prior") == 2
    _one_error_line(capsys, "unknown prior 'no-such-prior'; known priors:")
    assert not (files / "x.png").exists()


def test_existing_output_is_not_overwritten(monkeypatch, files, prior_file, capsys):
    out = files / "exists.png"
    out.write_bytes(b"keep me")
    args = ["denoise", str(files / "in8.png"), "--sigma", "10", "--out", str(out), "--prior", prior_file]
    assert _run(monkeypatch, *args) == 2
    _one_error_line(capsys, "already exists; pass --overwrite")
    assert out.read_bytes() == b"keep me"
    assert _run(monkeypatch, *args, "--overwrite") == 0
    assert iio.imread(out).shape == (37, 51, 3)


def test_help_says_sigma_is_on_the_255_scale(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _run(monkeypatch, "denoise", "--help")
    assert "0-255 scale" in capsys.readouterr().out


@pytest.mark.parametrize("sigma255", [50, 75])
def test_denoise_reads_a_noisy_float_tiff_unclipped(monkeypatch, tmp_path, capsys, sigma255):
    """Issue 24 item 3: a float TIFF keeps noisy values outside [0, 1]; the command denoises them as they are."""
    import tifffile
    from pathlib import Path

    from pnpleaves.io import read_image
    from pnpleaves.metrics import psnr

    clean = read_image(Path(__file__).with_name("data") / "images" / "kodim23_96.png")
    noisy = (clean + sigma255 / 255 * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
    assert noisy.min() < -0.5 or noisy.max() > 1.5
    tifffile.imwrite(tmp_path / "noisy.tif", noisy)
    out = tmp_path / "out.png"
    assert _run(monkeypatch, "denoise", str(tmp_path / "noisy.tif"), "--sigma", str(sigma255), "--out", str(out)) == 0
    assert psnr(iio.imread(out) / 255.0, clean) > psnr(np.clip(noisy, 0, 1), clean) + 5
    tifffile.imwrite(tmp_path / "scaled.tif", noisy * 255)
    capsys.readouterr()
    assert _run(monkeypatch, "denoise", str(tmp_path / "scaled.tif"), "--out", str(tmp_path / "o2.png")) == 2
    _one_error_line(capsys, "0-255 (8-bit)")
