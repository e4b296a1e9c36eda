"""The training commands: ``pnpleaves train``, ``eval-denoiser`` and ``export`` (pnpleaves.cli)."""

from __future__ import annotations

import logging

import numpy as np

from pnpleaves.cli import main
from pnpleaves.priors import read_registry
from training_fixtures import make_cache, tiny_config


def test_cli_train_and_eval_denoiser(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="pnpleaves")
    dev = make_cache(tmp_path / "dev", n=2, size=40, seed=4)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(tiny_config(tmp_path).to_toml(), encoding="utf-8")
    assert main(["train", str(cfg_path), "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "finished at step 3" in out and (tmp_path / "run" / "train.log").is_file()
    assert "steps 0 -> 3" in (tmp_path / "run" / "train.log").read_text()
    assert main(["train", str(cfg_path), "--steps", "3"]) == 2  # exists: needs --resume
    assert "pass --resume" in capsys.readouterr().err
    assert main(["eval-denoiser", "--prior", str(tmp_path / "run" / "model.safetensors"), "--testset", str(dev),
                 "--sigma", "25", "--sigma", "50", "--no-bm3d", "--max-images", "1"]) == 0
    out = capsys.readouterr().out
    assert "denoiser PSNR" in out and out.count("\n") == 4
    per_image = tmp_path / "rows.csv"
    args = ["eval-denoiser", "--prior", str(tmp_path / "run" / "model.safetensors"), "--testset", str(dev),
            "--sigma", "25", "--no-bm3d", "--no-ssim", "--csv", str(per_image)]
    assert main(args) == 0
    lines = per_image.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "image,sigma,method,psnr,ssim" and len(lines) == 3 and lines[1].split(",")[1:3] == ["25", "denoiser"]
    mean = np.mean([float(r.split(",")[3]) for r in lines[1:]])
    assert f"{mean:.2f}" in capsys.readouterr().out  # the table holds their mean
    assert main(args) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err and len(per_image.read_text().splitlines()) == 3
    assert main(["eval-denoiser", "--prior", "nope", "--testset", str(dev), "--sigma", "25"]) == 2
    assert "known priors" in capsys.readouterr().err
    assert main(["eval-denoiser", "--prior", "nope", "--testset", str(dev), "--sigma", "300"]) == 2


def test_cli_train_dev_set_and_config_errors_leave_no_run_folder(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="pnpleaves")
    dev = make_cache(tmp_path / "dev", n=2, size=40, seed=4)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(tiny_config(tmp_path, **{"train.eval_every": 2}).to_toml(), encoding="utf-8")
    assert main(["train", str(cfg_path), "--steps", "2", "--dev", str(tmp_path / "missing")]) == 2
    assert "--dev" in capsys.readouterr().err and not (tmp_path / "run").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(tiny_config(tmp_path, **{"dev.folder": str(tmp_path / "missing")}).to_toml(), encoding="utf-8")
    assert main(["train", str(bad), "--steps", "2"]) == 2
    assert 'dev.folder = ""' in capsys.readouterr().err and not (tmp_path / "run").exists()
    assert main(["train", str(cfg_path), "--steps", "-1"]) == 2
    assert main(["train", str(cfg_path), "--steps", "2", "--dev", str(dev)]) == 0
    assert "dev PSNR: sigma 15" in capsys.readouterr().out
    assert "dev PSNR" in (tmp_path / "run" / "train.log").read_text()


def test_cli_export(tmp_path, capsys):
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(tiny_config(tmp_path).to_toml(), encoding="utf-8")
    assert main(["train", str(cfg_path), "--steps", "2"]) == 0
    run, wdir, reg = str(tmp_path / "run"), str(tmp_path / "w"), tmp_path / "reg.toml"
    assert main(["export", run, "--name", "bad name", "--weights-dir", wdir]) == 2
    assert "only letters, digits" in capsys.readouterr().err
    assert main(["export", run, "--name", "tiny-e", "--weights-dir", wdir, "--update-registry"]) == 2
    assert "--registry PATH" in capsys.readouterr().err and not (tmp_path / "w").exists()
    assert main(["export", run, "--name", "tiny-e", "--weights-dir", wdir, "--registry", str(reg),
                 "--update-registry"]) == 0
    assert capsys.readouterr().out.startswith("[tiny-e]")
    assert (tmp_path / "w" / "tiny-e.safetensors").is_file() and list(read_registry(reg)) == ["tiny-e"]
