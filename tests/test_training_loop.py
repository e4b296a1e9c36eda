"""pnpleaves.training.loop: the train loop, exact resume, signals, the run folder, the dev evaluation, DDP."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from pnpleaves.errors import InputError
from pnpleaves.models import build_model
from pnpleaves.priors import load_prior
from pnpleaves.training import loop
from pnpleaves.training.config import DATA_ENV, load_config
from pnpleaves.training.export import export_run
from pnpleaves.training.loop import learning_rate, train
from training_fixtures import TINY_NET, make_cache, read_state, tiny_config


def test_learning_rate_schedule(tmp_path):
    cfg = tiny_config(tmp_path, **{"optim.lr": 1e-4, "optim.warmup_steps": 4, "optim.halve_every": 10,
                                   "optim.lr_min": 1e-5})
    lrs = [learning_rate(t, cfg) for t in range(60)]
    assert lrs[:4] == pytest.approx([2.5e-5, 5e-5, 7.5e-5, 1e-4])
    assert lrs[9] == 1e-4 and lrs[10] == 5e-5 and lrs[20] == 2.5e-5 and lrs[30] == 1.25e-5
    assert lrs[40] == 1e-5 and lrs[59] == 1e-5  # floor
    assert learning_rate(10**6, tiny_config(tmp_path, **{"optim.halve_every": 0})) == 1e-3


def test_tiny_model_loss_falls(tmp_path):
    cache = make_cache(tmp_path / "cache")
    cfg = tiny_config(tmp_path, **{"data.source": "cache", "data.cache_dir": str(cache), "data.batch_size": 8,
                                   "optim.lr": 2e-3, "optim.warmup_steps": 0, "optim.halve_every": 0,
                                   "train.steps": 30, "train.checkpoint_every": 0})
    result = train(cfg)
    losses = result.losses
    assert len(losses) == 30 and result.step == 30 and not result.interrupted
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_resume_is_exact(tmp_path):
    straight = tiny_config(tmp_path, output_dir=str(tmp_path / "a"))
    train(straight)
    split = tiny_config(tmp_path, output_dir=str(tmp_path / "b"))
    first = train(split, steps=10)
    assert first.step == 10 and read_state(tmp_path / "b")["step"] == 10
    with pytest.raises(FileExistsError, match="pass --resume"):
        train(split)
    train(split, resume=True)  # back to train.steps = 20
    a, b = read_state(tmp_path / "a"), read_state(tmp_path / "b")
    assert a["step"] == b["step"] == 20
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
    # the log of the resumed run has the same steps as the straight one
    log_a = (tmp_path / "a" / "log.csv").read_text().splitlines()
    log_b = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in log_a] == [r.split(",")[0] for r in log_b]
    assert [r.split(",")[3] for r in log_a] == [r.split(",")[3] for r in log_b]  # same losses
    assert train(split, resume=True).step == 20  # nothing to do


def test_run_folder_contents_and_weights_match_the_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, **{"train.steps": 6})
    train(cfg)
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.toml", "curves.png", "log.csv",
                                                     "model.safetensors"]
    assert load_config(run / "config.toml") == cfg
    model = build_model("drunet", TINY_NET)
    model.load_state_dict(read_state(run)["model"])
    den = load_prior(run / "model.safetensors")
    x = torch.rand(1, 3, 37, 51, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(den(x, 0.1), model.eval()(x, 0.1))
    assert load_prior(run).sigma_range == (0.05, 0.2)  # a run folder works too


def test_errors_before_the_first_step_leave_no_run_folder(tmp_path):
    with pytest.raises(InputError, match="output_dir is empty"):
        train(tiny_config(tmp_path, output_dir=""))
    with pytest.raises(FileNotFoundError, match='dev.folder = ""'):
        train(tiny_config(tmp_path, **{"dev.folder": str(tmp_path / "nowhere")}))
    assert not (tmp_path / "run").exists()


def test_resume_with_another_architecture_is_refused(tmp_path):
    train(tiny_config(tmp_path, **{"train.steps": 2}))
    other = tiny_config(tmp_path, **{"model.kwargs": {"nc": [8, 16, 32, 64], "nb": 2}})
    with pytest.raises(InputError, match="resume with the run's own config.toml"):
        train(other, resume=True)


def test_sigterm_saves_a_checkpoint_and_resume_finishes_identically(tmp_path, monkeypatch):
    straight = tiny_config(tmp_path, output_dir=str(tmp_path / "a"), **{"train.checkpoint_every": 0})
    train(straight)
    real_lr = loop.learning_rate

    def lr_then_signal(step, cfg, warm_start=0):
        if step == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_lr(step, cfg, warm_start)

    cfg = tiny_config(tmp_path, output_dir=str(tmp_path / "b"), **{"train.checkpoint_every": 0})
    monkeypatch.setattr(loop, "learning_rate", lr_then_signal)
    result = train(cfg)
    monkeypatch.setattr(loop, "learning_rate", real_lr)
    assert result.interrupted and result.step == 8 and read_state(tmp_path / "b")["step"] == 8
    assert result.stop_signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    train(cfg, resume=True)
    a, b = read_state(tmp_path / "a"), read_state(tmp_path / "b")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_dev_evaluation_writes_csv_and_curves(tmp_path):
    dev = tmp_path / "dev"
    make_cache(dev, n=2, size=40, seed=3)
    (dev / "manifest.jsonl").unlink()
    cfg = tiny_config(tmp_path, **{"dev.folder": str(dev), "dev.crop": 32, "train.eval_every": 5,
                                   "train.steps": 10})
    result = train(cfg)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert rows[0] == "step,wall_time_s,lr,loss,steps_per_s,psnr_15,psnr_25,psnr_50"
    evals = [r.split(",") for r in rows[1:] if r.split(",")[5]]
    assert [int(r[0]) for r in evals] == [5, 10]
    assert set(result.dev_psnr) == set(cfg.dev.sigmas)
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000


def test_without_the_data_folder_training_skips_the_dev_evaluation(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(tmp_path, **{"dev.folder": "testsets/Kodak24", "train.eval_every": 2, "train.steps": 4})
    with caplog.at_level(logging.INFO, logger="pnpleaves"):
        result = train(cfg)
    assert result.step == 4 and not result.dev_psnr
    assert "the dev evaluation is skipped" in caplog.text and DATA_ENV in caplog.text
    assert (tmp_path / "run" / "log.csv").read_text().splitlines()[0] == "step,wall_time_s,lr,loss,steps_per_s"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pnpleaves"):
        train(tiny_config(tmp_path, output_dir=str(tmp_path / "r2"), **{"train.steps": 1}))
    assert "no dev set" in caplog.text


def test_continue_from_exported_weights(tmp_path):
    """Across sessions only the weights are kept: the run continues from them with the step counter,
    a fresh optimizer and a warm-up starting at that step."""
    cfg = tiny_config(tmp_path, **{"train.steps": 8, "optim.warmup_steps": 4})
    train(cfg)
    export_run(tmp_path / "run", "tiny-c", weights_dir=tmp_path / "w", dev_folder=[])
    later = tiny_config(tmp_path, output_dir=str(tmp_path / "later"), **{"train.steps": 12, "optim.warmup_steps": 4})
    result = train(later, init_from=tmp_path / "w" / "tiny-c.safetensors")
    assert result.step == 12 and len(result.losses) == 4
    state = read_state(tmp_path / "later")
    assert state["warm_start"] == 8 and state["wall_time_s"] > 0
    no_warmup = later.override(**{"optim.warmup_steps": 0})
    assert learning_rate(8, later, 8) == pytest.approx(learning_rate(8, no_warmup) / 4)  # warm-up restarts at 8
    assert learning_rate(12, later, 8) == learning_rate(12, no_warmup)
    with pytest.raises(InputError, match="Continue with the config"):
        other = tiny_config(tmp_path, output_dir=str(tmp_path / "x"), **{"model.kwargs": {"nc": [4, 8, 16, 32], "nb": 3}})
        train(other, init_from=tmp_path / "w" / "tiny-c.safetensors")
    assert not (tmp_path / "x").exists()


def test_continue_into_a_wider_network(tmp_path):
    """--widen embeds the narrow weights, and training reads the new channels; with restart_schedule the
    halvings count from the start step."""
    train(tiny_config(tmp_path, **{"train.steps": 6}))
    export_run(tmp_path / "run", "tiny-n", weights_dir=tmp_path / "w", dev_folder=[])
    narrow_file = tmp_path / "w" / "tiny-n.safetensors"
    wide_kwargs = dict(TINY_NET) | {"nc": [2 * c for c in TINY_NET["nc"]]}
    wide_cfg = tiny_config(tmp_path, output_dir=str(tmp_path / "wide"),
                           **{"model.kwargs": wide_kwargs, "train.steps": 6, "optim.restart_schedule": True})
    with pytest.raises(InputError, match="--widen"):
        train(wide_cfg, init_from=narrow_file)
    assert learning_rate(6, wide_cfg, 6) == learning_rate(0, wide_cfg, 0)  # full rate again at the start step
    assert learning_rate(6 + 7 + 3, wide_cfg, 6) == learning_rate(7 + 3, wide_cfg, 0)
    result = train(wide_cfg.override(**{"train.steps": 9}), init_from=narrow_file, widen=True)
    assert result.step == 9 and len(result.losses) == 3
    state_after = read_state(tmp_path / "wide")["model"]
    assert state_after["m_tail.weight"][:, TINY_NET["nc"][0]:].abs().sum() > 0  # training reads them


def test_real_generator_source_trains(tmp_path):
    live = tiny_config(tmp_path, **{"data.source": "generate", "data.generator": "dl", "data.image_size": 40,
                                    "data.options": {"alpha": 3.0, "r_min": 1.0, "r_max": 100.0},
                                    "train.steps": 2, "data.batch_size": 2})
    assert train(live).step == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~20 s on the shared 2-core machine (two interpreters importing torch)
def test_two_process_ddp_matches_one_process(tmp_path):
    """``torchrun --nproc_per_node 2 -m pnpleaves.cli train CONFIG`` (the README's command) reaches the
    weights of one process, and its log holds the mean loss over both processes."""
    cfg = tiny_config(tmp_path, output_dir=str(tmp_path / "ddp"), **{"train.steps": 4, "train.log_every": 2})
    path = tmp_path / "ddp.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "pnpleaves.cli", "train", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "ddp" / "train.log").is_file()
    single = tiny_config(tmp_path, output_dir=str(tmp_path / "one"), **{"train.steps": 4, "train.log_every": 2})
    train(single)
    a, b = read_state(tmp_path / "ddp"), read_state(tmp_path / "one")
    assert a["world_size"] == 2 and a["step"] == b["step"] == 4
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], atol=1e-6, rtol=1e-5)
    la = [float(r.split(",")[3]) for r in (tmp_path / "ddp" / "log.csv").read_text().splitlines()[1:]]
    lb = [float(r.split(",")[3]) for r in (tmp_path / "one" / "log.csv").read_text().splitlines()[1:]]
    assert la == pytest.approx(lb, rel=1e-4)
