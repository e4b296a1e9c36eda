"""Tests for pnpleaves.analysis.identity and the ``pnpleaves analyze identity`` command."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pnpleaves.analysis import identity_psnr
from pnpleaves.cli import main
from pnpleaves.errors import InputError
from pnpleaves.images import load_testset
from pnpleaves.io import write_image
from pnpleaves.models import build_model
from pnpleaves.priors import load_prior, write_weights


def test_identity_psnr_of_identity_and_of_a_smoother():
    """The identity keeps everything (capped at 120 dB); a 3x3 box blur loses texture, more on noise-like images."""
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
    with pytest.raises(InputError, match=r"\(H, W, C\)"):
        identity_psnr(box, [texture[..., 0]], 1 / 255)


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory):
    kwargs = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model("drunet", kwargs)
    return str(write_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, "drunet", kwargs))


def test_analyze_identity_prints_the_table_of_identity_psnr(tmp_path, prior_file, capsys):
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(tmp_path / f"{i}.png", rng.random((24, 30, 3)))
    code = main(["analyze", "identity", "--testset", str(tmp_path), "--priors", prior_file,
                 "--sigma", "2", "--sigma", "10", "--crop", "16"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == f"PSNR (dB) of D(x, sigma) against the clean x: 2 images of {tmp_path}, 16x16 centre crops"
    assert out[1].split() == ["prior", "sigma=2/255", "sigma=10/255"]
    _, tensors = load_testset(tmp_path, crop=16)
    images = [t[0].permute(1, 2, 0).numpy() for t in tensors]
    den = load_prior(prior_file)
    expected = [f"{identity_psnr(den, images, s / 255, crop=16):.2f}" for s in (2, 10)]
    assert out[2].split() == [prior_file, *expected]


def test_analyze_identity_user_errors(tmp_path, prior_file, capsys):
    assert main(["analyze", "identity", "--testset", str(tmp_path / "missing"), "--priors", prior_file]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pnpleaves analyze: error: expected a folder of images") and "\n" not in err
    assert main(["analyze", "identity", "--testset", str(tmp_path), "--priors", prior_file, "--sigma", "300"]) == 2
    assert "--sigma must be a finite number >= 0 and <= 255; got 300.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # an analysis must be named
        main(["analyze"])
