"""Slow end-to-end runs: the demo and a smoke run of the restoration benchmark (``--runslow``)."""

from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    from pnpleaves.priors import write_weights
    from pnpleaves.models import build_model

    kwargs = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model("drunet", kwargs)
    return str(write_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, "drunet", kwargs))


def test_demo_writes_figure(tmp_path, tiny_prior):
    from pnpleaves.cli.demo import run_demo

    res = run_demo(tmp_path, prior=tiny_prior, size=128)
    assert Path(res["path"]).is_file()
    assert {"blurred", "wiener", "pnp"} <= set(res["psnr"])
    assert abs(res["sigma_estimated"] * 255 - 2.55) < 0.5
    res = run_demo(tmp_path / "auto", size=96)  # automatic choice: vl-drunet, best registered, or Wiener only
    assert Path(res["path"]).is_file() and res["why"]


def test_bench_quick_smoke(tmp_path, tiny_prior, capsys):
    from pnpleaves.cli import main
    from pnpleaves.restoration.bench import default_data_root

    if not (default_data_root() / "testsets" / "Set3C").is_dir():
        pytest.skip("development data not available")
    out = tmp_path / "b.csv"
    rc = main(["bench", "restore", "--quick", "--problems", "deblur", "--priors", tiny_prior,
               "--methods", "hqs", "--csv", str(out), "--no-timing"])
    assert rc == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "tiny/hqs" in text and "tiny/dpir" in text and "wiener" in text and "HQS vs DPIR" in text

    # a second run takes the classical rows from the first CSV instead of recomputing them
    out2 = tmp_path / "b2.csv"
    rc = main(["bench", "restore", "--quick", "--problems", "deblur", "--priors", tiny_prior, "--methods", "hqs",
               "--no-dpir", "--csv", str(out2), "--no-timing", "--reuse-baselines", str(out)])
    assert rc == 0
    first = [line for line in out.read_text().splitlines() if ",wiener," in line or ",tv," in line]
    second = [line for line in out2.read_text().splitlines() if ",wiener," in line or ",tv," in line]
    assert first and first == second


def test_default_deblur_timing_runs(tiny_prior):
    """The benchmark's 512x512 timing (warm-up included) runs end to end with a real Levin kernel."""
    from pnpleaves.priors import resolve_prior
    from pnpleaves.restoration.bench import default_data_root, time_default_deblur

    if not (default_data_root() / "testsets" / "Kodak24_full").is_dir():
        pytest.skip("development data not available")
    den, _ = resolve_prior(tiny_prior)
    assert 0 < time_default_deblur(default_data_root(), den) < 600


def test_demo_cli_says_which_prior_once(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pnpleaves.cli", "demo", "--size", "64", "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    said = (proc.stdout + proc.stderr).splitlines()
    assert sum(line.startswith(("using", "no trained prior", "'vl-drunet' is not")) for line in said) == 1, said
    assert (tmp_path / "demo_deblur.png").is_file()


def test_bench_bm3d_rows_on_tiny_sets(tmp_path, tiny_prior, capsys):
    """``--bm3d`` adds PnP-CBM3D rows to SR and inpainting and counts them as classical baselines."""
    pytest.importorskip("bm3d")
    import numpy as np

    from pnpleaves.cli import main
    from pnpleaves.io import write_image

    rng = np.random.default_rng(0)
    for name in ("Set3C", "Set5", "Set14", "Kodak24"):
        (tmp_path / "testsets" / name).mkdir(parents=True)
        write_image(tmp_path / "testsets" / name / "a.png", rng.random((40, 48, 3)))
    out = tmp_path / "b.csv"
    rc = main(["bench", "restore", "--data", str(tmp_path), "--scales", "4", "--noise", "2.55", "--priors", tiny_prior,
               "--methods", "hqs", "--no-dpir", "--bm3d", "--no-timing", "--csv", str(out)])
    assert rc == 0
    rows = out.read_text().splitlines()
    assert sum(",cbm3d/hqs," in r for r in rows) == 8 + 2 + 3  # 8 kernels, x4 on two sets, three masks
    assert not any(",x2 " in r or ",noise 7.65," in r for r in rows)
