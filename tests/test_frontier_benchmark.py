"""benchmarks/frontier.py (a script outside the package) runs end to end on tiny stand-ins for the reference
weights, a prior and a test set; its CSV keeps earlier rows and its targets table reads gaps correctly."""

from __future__ import annotations

import csv
import runpy
import shutil

import torch
from training_fixtures import REPO

from pnpleaves.models import FFDNet, build_model
from pnpleaves.models.ffdnet import REFERENCE_PREFIX
from pnpleaves.priors import write_weights

SCRIPT = REPO / "benchmarks" / "frontier.py"
IMAGES = REPO / "tests" / "data" / "images"


def _setup(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    for i, name in enumerate(("ffdnet_vl.pth", "ffdnet_dl.pth")):
        torch.manual_seed(i)
        body = FFDNet(features=8, depth=3).body.state_dict()
        torch.save({REFERENCE_PREFIX + k: v for k, v in body.items()}, ref / name)
    kw = {"nc": [8, 8, 16, 16], "nb": 1}
    prior = write_weights(tmp_path / "tiny.safetensors", build_model("drunet", kw), "drunet", kw)
    data = tmp_path / "data"
    shutil.copytree(IMAGES, data / "testsets" / "Tiny", ignore=shutil.ignore_patterns("*.npy", "*.md"))
    return ref, prior, data


def test_frontier_benchmark_smoke(tmp_path, capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    ref, prior, data = _setup(tmp_path)
    out_csv = tmp_path / "f.csv"
    args = ["--reference", str(ref), "--models", str(prior), "--data", str(data), "--sets", "Tiny",
            "--sigmas", "25", "--rounds", "1", "--size", "32", "--threads", "1", "--csv", str(out_csv),
            "--figure", str(tmp_path / "f.png")]
    assert main(args + ["--arch", 'small=drunet:{"nc":[8,8,16,16],"nb":1}']) == 0
    rows = list(csv.DictReader(out_csv.read_text().splitlines()))
    by_model = {r["model"]: r for r in rows}
    assert set(by_model) == {"ref-ffdnet-vl", "ref-ffdnet-dl", "tiny", "small"}
    assert by_model["ref-ffdnet-vl"]["ratio_min_to_reference"] == "1.000"
    assert by_model["tiny"]["n_images"] == "4" and float(by_model["tiny"]["psnr"]) > 0
    assert by_model["small"]["psnr"] == "" and float(by_model["small"]["time_min_s"]) > 0  # timing only
    assert (tmp_path / "f.png").is_file()
    # a second run without the timing keeps the rows (and their timing) of models it does not re-measure
    capsys.readouterr()
    assert main(args + ["--no-timing"]) == 0
    again = {r["model"]: r for r in csv.DictReader(out_csv.read_text().splitlines())}
    assert again["small"]["time_min_s"] == by_model["small"]["time_min_s"]
    assert again["tiny"]["psnr"] == by_model["tiny"]["psnr"]


def test_missing_reference_file_is_a_clear_error(tmp_path, capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    assert main(["--reference", str(tmp_path), "--models", "--no-psnr"]) == 2
    assert "ffdnet_vl.pth" in capsys.readouterr().err


def test_targets_table_reads_the_gaps():
    ns = runpy.run_path(str(SCRIPT))
    rows = [{"model": m, "set": "K", "sigma": "25", "psnr": p} for m, p in
            (("vl-drunet", "31.0"), ("ref-ffdnet-vl", "30.7"), ("dl-drunet", "29.0"), ("ref-ffdnet-dl", "29.5"))]
    table = ns["targets_table"](rows)
    assert "31.00 (+0.30)" in table  # vl-drunet 0.3 above the reference: the +0.2 target holds
    assert "29.00 (-0.50, missed)" in table
