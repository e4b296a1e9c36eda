"""``pnpleaves analyze ...``: every analysis prints a table and writes a CSV and a PNG."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pnpleaves.cli import main
from pnpleaves.cli.analyze import ANALYSES
from pnpleaves.io import write_image


@pytest.fixture
def testset(tmp_path):
    folder = tmp_path / "testset"
    rng = np.random.default_rng(1)
    for i in range(2):
        img = np.kron(rng.random((8, 8, 3)), np.ones((8, 8, 1)))
        write_image(folder / f"im{i}.png", 0.2 + 0.6 * img)
    return folder


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("analysis", sorted(ANALYSES))
def test_every_analysis_has_help_with_an_example(analysis, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", analysis, "--help"])
    assert exc.value.code == 0
    assert f"pnpleaves analyze {analysis}" in capsys.readouterr().out


def test_jacobian_command(testset, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["analyze", "jacobian", "--testset", str(testset), "--priors", "gaussian", "--crop", "16",
            "--n-images", "1", "--sigma", "10", "--sigma", "50", "--probes", "2", "--spectrum", "2",
            "--spectrum-crop", "8", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "trace_per_pixel" in text
    rows = _rows(out / "analysis_jacobian.csv")
    assert [r["prior"] for r in rows] == ["gaussian", "gaussian"]
    assert float(rows[0]["trace_per_pixel"]) > float(rows[1]["trace_per_pixel"])  # falls with sigma
    assert (out / "analysis_jacobian.png").is_file()
    assert (out / "analysis_jacobian_eigenvectors_gaussian.png").is_file()
    assert main(args) == 2  # the files exist: a one-line error without --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_invariance_and_equivariance_commands(testset, tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", "invariance", "--testset", str(testset), "--priors", "gaussian", "--crop", "32",
                 "--transform", "blur", "--levels", "1", "2", "--out", str(out)]) == 0
    rows = _rows(out / "analysis_invariance_blur.csv")
    assert len(rows) == 2 and rows[0]["prior"] == "gaussian"
    assert (out / "analysis_invariance_blur.png").is_file()
    assert main(["analyze", "equivariance", "--testset", str(testset), "--priors", "gaussian", "--crop", "48",
                 "--group", "flips", "--out", str(out)]) == 0
    rows = _rows(out / "analysis_equivariance.csv")
    assert [r["element"] for r in rows] == ["flip-lr", "flip-ud", "transpose"]
    assert max(float(r["relative_error"]) for r in rows) < 1e-5  # the circulant Gaussian model is equivariant


def test_naturalness_command(testset, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", "naturalness", "--testset", str(testset), "--size", "32", "--n", "2",
                 "--sets", "DL", "VL no-textures", "--n-patches", "500", "--out", str(out)]) == 0
    assert "(ref)" in capsys.readouterr().out
    rows = _rows(out / "analysis_naturalness.csv")
    assert [r["name"] for r in rows] == ["natural (testset)", "DL", "VL no-textures"]
    assert (out / "analysis_naturalness.png").is_file()


def test_identity_command_writes_csv_and_png(testset, tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", "identity", "--testset", str(testset), "--priors", "vl-drunet", "--crop", "32",
                 "--sigma", "1", "--out", str(out)]) == 0
    rows = _rows(out / "analysis_identity.csv")
    assert rows[0]["prior"] == "vl-drunet" and float(rows[0]["identity_psnr"]) > 25
