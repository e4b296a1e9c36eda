"""Slow end-to-end runs (``--runslow``): the deblurring demo (CLI and demos/demo_deblur.py) and the
restoration benchmark on a tiny data folder."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pnpleaves.cli.demo import run_demo
from pnpleaves.io import write_image
from pnpleaves.priors import resolve_prior
from test_restoration_benchmark import ROOT, load_script, make_data_folder, tiny_prior_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    return tiny_prior_file(tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/restore.py")


def test_demo_writes_figure(tmp_path, tiny_prior):
    res = run_demo(tmp_path, prior=tiny_prior, size=128)
    assert Path(res["path"]).is_file()
    assert {"blurred", "wiener", "pnp"} <= set(res["psnr"])
    assert abs(res["sigma_estimated"] * 255 - 2.55) < 0.5
    res = run_demo(tmp_path / "auto", size=96)  # automatic choice: vl-drunet, best registered, or Wiener only
    assert Path(res["path"]).is_file() and res["why"]


def test_demo_cli_says_which_prior_once(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pnpleaves.cli", "demo", "--size", "64", "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    said = (proc.stdout + proc.stderr).splitlines()
    assert sum(line.startswith(("using", "no trained prior", "'vl-drunet' is not")) for line in said) == 1, said
    assert (tmp_path / "demo_deblur.png").is_file()


def test_demo_script_is_the_cli_demo(tmp_path):
    """demos/demo_deblur.py, fast (64x64), prints the numbers of ``run_demo(size=64)`` and draws its figure."""
    env = dict(os.environ, PNPLEAVES_FAST="1")
    proc = subprocess.run([sys.executable, str(ROOT / "demos" / "demo_deblur.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = run_demo(tmp_path / "cli", size=64)
    out = proc.stdout
    assert f"blurred + noise: {res['psnr']['blurred']:.2f} dB" in out
    assert f"Wiener: {res['psnr']['wiener']:.2f} dB" in out
    assert f"estimated {res['sigma_estimated'] * 255:.2f}/255" in out
    if "pnp" in res["psnr"]:
        assert f"{res['psnr']['pnp']:.2f} dB" in out
    assert (tmp_path / "demos" / "_out" / "demo_deblur.png").is_file()


@pytest.mark.filterwarnings("ignore:img is expected in:UserWarning")  # noisy data slightly outside [0, 1]
def test_bench_quick_smoke_and_reused_baselines(tmp_path, tiny_prior, bench, capsys):
    root = make_data_folder(tmp_path / "data", {"Set3C": (1, 48)})
    out = tmp_path / "b.csv"
    argv = ["--data", str(root), "--quick", "--problems", "deblur", "--priors", tiny_prior, "--methods", "hqs",
            "--no-timing"]
    assert bench.main([*argv, "--csv", str(out), "--check-targets"]) == 0
    text = capsys.readouterr().out
    assert "tiny/hqs" in text and "tiny/dpir" in text and "wiener" in text and "HQS vs DPIR" in text
    # a second run takes the classical rows from the first CSV instead of recomputing them
    out2 = tmp_path / "b2.csv"
    assert bench.main([*argv, "--no-dpir", "--csv", str(out2), "--reuse-baselines", str(out)]) == 0
    first = [line for line in out.read_text().splitlines() if ",wiener," in line or ",tv," in line]
    second = [line for line in out2.read_text().splitlines() if ",wiener," in line or ",tv," in line]
    assert first and first == second


def test_default_deblur_timing_runs(tmp_path, tiny_prior, bench):
    """The benchmark's 512x512 timing (warm-up included) runs end to end with a real Levin kernel."""
    root = make_data_folder(tmp_path, {"Kodak24_full": (1, 512)})
    den, _ = resolve_prior(tiny_prior)
    t = bench.time_default_deblur(root, den, repeats=2)
    assert 0 < t["seconds"] <= t["seconds_median"] < 600 and 0 < t["call"] <= t["call_median"]
    assert t["ratio"] == pytest.approx(t["seconds"] / (t["n_iter"] * t["call"]))


@pytest.mark.filterwarnings("ignore:img is expected in:UserWarning")
def test_bench_bm3d_rows_on_tiny_sets(tmp_path, tiny_prior, bench):
    """``--bm3d`` adds PnP-CBM3D rows to every problem and counts them as classical baselines."""
    pytest.importorskip("bm3d")  # the optional third-party package
    rng = np.random.default_rng(0)
    for name, side in (("Set3C", 40), ("Set5", 48), ("Set14", 48), ("Kodak24", 136)):
        (tmp_path / "testsets" / name).mkdir(parents=True)
        write_image(tmp_path / "testsets" / name / "a.png", rng.random((side, side + 8, 3)))
    root = tmp_path
    out = tmp_path / "b.csv"
    assert bench.main(["--data", str(root), "--scales", "4", "--noise", "2.55", "--priors", tiny_prior,
                       "--methods", "hqs", "--no-dpir", "--bm3d", "--no-timing", "--csv", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert sum(",cbm3d/hqs," in r for r in rows) == 8 + 2 + 3  # 8 kernels, x4 on two sets, three masks
    assert not any(",x2 " in r or ",noise 7.65," in r for r in rows)
    assert np.isfinite([float(r.split(",")[4]) for r in rows[1:]]).all()
