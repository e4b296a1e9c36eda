"""pnpleaves.training.checkpoint: run files, and the three ways a run starts."""

from __future__ import annotations

import pytest
import torch

from pnpleaves.priors import load_prior
from pnpleaves.training.checkpoint import StartState, model_from_weights, read_checkpoint, restore_checkpoint
from pnpleaves.training.export import export_run
from pnpleaves.training.loop import train
from training_fixtures import tiny_config


def test_read_checkpoint_takes_a_run_folder_or_its_file(tmp_path):
    train(tiny_config(tmp_path, **{"train.steps": 2}))
    ckpt, path = read_checkpoint(tmp_path / "run")
    assert path == tmp_path / "run" / "checkpoint.pt" and ckpt["step"] == 2
    assert read_checkpoint(path)[0]["step"] == 2
    with pytest.raises(FileNotFoundError, match="no training checkpoint"):
        read_checkpoint(tmp_path / "elsewhere")
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint written by"):
        read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pnpleaves training checkpoint"):
        restore_checkpoint(tmp_path / "other.pt", tiny_config(tmp_path), torch.nn.Linear(1, 1), None)
    assert StartState() == StartState(step=0, wall_time_s=0.0, warm_start=0)


def test_model_from_weights_is_the_prior_users_load(tmp_path):
    train(tiny_config(tmp_path, **{"train.steps": 2}))
    export_run(tmp_path / "run", "tiny-w", weights_dir=tmp_path / "w", dev_folder=[])
    model, info = model_from_weights(tmp_path / "w" / "tiny-w.safetensors")
    den = load_prior(tmp_path / "w" / "tiny-w.safetensors")
    assert info["step"] == 2 and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x, 0.1), den(x, 0.1))
