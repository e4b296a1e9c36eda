"""benchmarks/restore.py, the restoration benchmark script, on a tiny data folder made in tmp_path.

The helpers :func:`load_script`, :func:`make_data_folder` and :func:`tiny_prior_file` are shared with the
other restoration test modules (research scripts, slow end-to-end runs, CLI).
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from pnpleaves.io import write_image
from pnpleaves.models import build_model
from pnpleaves.priors import write_weights
from pnpleaves.restoration import levin_kernel

ROOT = Path(__file__).resolve().parents[1]


def load_script(relpath: str):
    """Import a script of the source tree (``benchmarks/`` and ``research/`` are not packages)."""
    path = ROOT / relpath
    name = "script_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def make_data_folder(root: Path, sizes: dict[str, tuple[int, int]], kernels: bool = False) -> Path:
    """A test-set root ``root/testsets/<set>/`` with ``n`` crops of ``side x side`` of scikit-image
    photographs per set (``sizes = {set: (n, side)}``), and ``root/kernels/levin09_k*.npy`` on request."""
    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    for name, (n, side) in sizes.items():
        folder = root / "testsets" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = photos[i % 3]
            top, left = (7 * i) % (img.shape[0] - side + 1), (11 * i) % (img.shape[1] - side + 1)
            write_image(folder / f"img{i:02d}.png", img[top : top + side, left : left + side])
    if kernels:
        (root / "kernels").mkdir(parents=True, exist_ok=True)
        for i in range(1, 9):
            np.save(root / "kernels" / f"levin09_k{i}.npy", levin_kernel(i))
    return root


def tiny_prior_file(folder: Path) -> str:
    """Weights of a tiny random DRUNet (nc 8..64, nb 1), written as a prior file; returns its path."""
    kwargs = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model("drunet", kwargs)
    return str(write_weights(Path(folder) / "tiny.safetensors", model, "drunet", kwargs))


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/restore.py")


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    return tiny_prior_file(tmp_path_factory.mktemp("w"))


def test_help_runs_as_a_script():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "restore.py"), "--help"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "--data" in proc.stdout and "PNPLEAVES_DATA" in proc.stdout and "--check-targets" in proc.stdout


def test_no_data_folder_is_an_error(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PNPLEAVES_DATA", raising=False)
    with pytest.raises(SystemExit) as exc:
        bench.main(["--csv", str(tmp_path / "b.csv")])
    assert exc.value.code == 2 and "pass --data DIR or set PNPLEAVES_DATA" in capsys.readouterr().err
    monkeypatch.setenv("PNPLEAVES_DATA", str(tmp_path))
    with pytest.raises(SystemExit):
        bench.main(["--csv", str(tmp_path / "b.csv")])
    assert "no testsets/ folder under" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists()


def test_bm3d_without_the_package_fails_at_once(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "bm3d_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        bench.main(["--bm3d", "--data", str(tmp_path), "--csv", str(tmp_path / "b.csv")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--bm3d needs the optional 'bm3d' package" in err and "pip install bm3d" in err
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.filterwarnings("ignore:img is expected in:UserWarning")  # noisy data slightly outside [0, 1]
def test_tiny_run_prints_a_table_and_no_targets(bench, tmp_path, tiny_prior, capsys):
    root = make_data_folder(tmp_path / "data", {"Set3C": (1, 40)})
    out = tmp_path / "b.csv"
    argv = ["--data", str(root), "--quick", "--problems", "deblur", "--noise", "2.55", "--priors", tiny_prior,
            "--methods", "hqs", "--no-baselines", "--no-timing", "--csv", str(out)]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    rows = out.read_text().splitlines()
    assert rows[0] == "problem,setting,image,method,psnr,ssim,seconds" and len(rows) == 1 + 2 * 2  # 2 kernels
    assert "tiny/hqs" in text and "tiny/deepinv-DPIR-class" in text and "wrote" in text
    assert "[MISS]" not in text and "[ok]" not in text  # internal targets only with --check-targets
    assert bench.main([*argv, "--check-targets", "--csv", str(tmp_path / "c.csv")]) == 0
    assert "tiny HQS vs deepinv-DPIR-class, deblur noise 2.55" in capsys.readouterr().out
    assert (tmp_path / "c.csv").read_text().splitlines()[1:] != []


def test_target_checks_on_known_rows(bench):
    def row(problem, setting, method, psnr, image="a"):
        return dict(problem=problem, setting=setting, image=image, method=method, psnr=psnr, ssim=0.5, seconds=1.0)

    rows = [row("sr", "x4 Set5", "vl-drunet/hqs", 29.0), row("sr", "x4 Set5", "vl-drunet/dpir-sr-ladder", 29.1),
            row("sr", "x4 Set5", "dl-drunet/hqs", 28.0), row("sr", "x4 Set5", "tv", 27.4),
            row("sr", "x4 Set5", "bicubic", 26.0), row("sr", "x4 Set5", "cbm3d/hqs", float("nan")),
            row("deblur", "noise 2.55", "vl-drunet/admm", 30.0), row("deblur", "noise 2.55", "wiener", 28.6),
            row("deblur", "noise 2.55", "dl-drunet/admm", 30.5)]
    rows += [row("deblur", "noise 2.55", "cbm3d/hqs", 29.8), row("inpaint", "50% missing", "vl-drunet/admm", 30.0),
             row("inpaint", "50% missing", "linear", 28.0), row("inpaint", "50% missing", "biharmonic", 28.8),
             row("anchor", "deblur Set3C std 1.6", "vl-drunet/hqs", 29.33),
             row("anchor", "deblur Set3C std 2.0", "vl-drunet/hqs", 27.62),
             row("anchor", "deblur Set3C std 2.0", "cbm3d/hqs", 27.70)]
    timing = {"seconds": 6.0, "n_iter": 8, "call": 0.5, "ratio": 1.5}
    lines = bench.check_targets(rows, ["vl-drunet", "dl-drunet"], timing=timing)
    assert "[MISS] vl-drunet HQS vs dpir-sr-ladder, sr x4 Set5: -0.10 dB (target >= -0.05)" in lines
    assert "[ok] vl-drunet >= every classical baseline, sr x4 Set5: +1.60 dB over tv (target >= +0.0)" in lines
    assert any(line.startswith("[WARN] cbm3d/hqs gave non-finite PSNR in sr x4 Set5") for line in lines)
    assert "[ok] vl-drunet >= every classical baseline, deblur noise 2.55: +0.20 dB over cbm3d/hqs (target >= +0.3)" \
        not in lines
    assert "[MISS] vl-drunet >= every classical baseline, deblur noise 2.55: +0.20 dB over cbm3d/hqs (target >= +0.3)" \
        in lines
    assert "[MISS] vl-drunet vs best interpolation, inpaint 50% missing: +1.20 dB over biharmonic (target >= +1.5)" \
        in lines
    assert "[ok] vl-drunet >= dl-drunet, sr x4 Set5: +1.00 dB" in lines
    assert "[MISS] vl-drunet >= dl-drunet, deblur noise 2.55: -0.50 dB" in lines
    assert "[ok] anchors: vl-drunet vs published DPIR, mean over 2 cells -0.05 dB (target >= -0.5)" in lines
    assert "[ok] anchors: ahead on 1 cells (target >= 1)" in lines
    assert "[MISS] anchors: vl-drunet vs PnP-CBM3D, worst cell -0.08 dB over 1 cells (target >= 0)" in lines
    assert any(line.startswith("[MISS] 512x512 colour deblur") and "= 1.50 x (8 iterations" in line for line in lines)
    assert "29.53" in bench.format_anchors(rows)
    table = bench.format_table(rows)
    assert table.splitlines()[0].startswith("method") and "29.00" in table


def test_inpainting_masks_are_the_benchmark_protocol(bench):
    masks = bench.inpainting_masks((160, 150), 0, "kodim01")
    assert list(masks) == ["50% missing", "80% missing", "block 128"]
    assert 0.45 < 1 - masks["50% missing"].mean() < 0.55 and (~masks["block 128"]).sum() == 128 * 128
