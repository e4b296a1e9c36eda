"""`pnpleaves sample` end to end with a tiny randomly initialised prior written to disk."""

import sys

import pytest
import torch

from pnpleaves.cli import main
from pnpleaves.io import read_image
from pnpleaves.priors import write_weights
from pnpleaves.models import build_model

KW = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}


@pytest.fixture
def tiny_prior(tmp_path):
    torch.manual_seed(0)  # weights only; the sampler itself never touches the global RNG
    return str(write_weights(tmp_path / "tiny.safetensors", build_model("drunet", KW), "drunet", KW,
                             sigma_range=(0.0, 0.2)))


def test_sample_command_writes_grid(tiny_prior, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["pnpleaves"])
    out = tmp_path / "grid.png"
    args = ["sample", "--prior", tiny_prior, "--n", "3", "--size", "16", "--steps", "3", "--out", str(out)]
    assert main(args) == 0
    img = read_image(out)
    assert img.shape == (2 * 16 + 2, 2 * 16 + 2, 3)  # 3 samples on a 2x2 grid, 2-pixel gaps
    assert "3 samples of 16x16" in capsys.readouterr().out
    assert main(args) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err.lower()
    assert main([*args, "--overwrite", "--method", "kadkhodaie", "--steps", "30"]) == 0


def test_sample_command_unknown_prior(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["pnpleaves"])
    assert main(["sample", "--prior", "no-such-prior", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown prior 'no-such-prior'" in capsys.readouterr().err
