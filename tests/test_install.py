"""A non-editable install works away from the source tree: the shipped weights are package data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_weights_install_with_the_package(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(ROOT)], check=True)
    assert (site / "pnpleaves" / "priors" / "weights" / "vl-drunet.safetensors").is_file()
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("PNPLEAVES_WEIGHTS_DIR", None)
    code = ("import pnpleaves, pnpleaves.priors as p; d = p.load_prior('vl-drunet'); "
            "print(pnpleaves.__file__); print(d.name)")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    where, name = run.stdout.split()
    assert where.startswith(str(site)) and name == "vl-drunet"
