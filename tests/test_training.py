"""Denoiser training: configs, data stream, train loop, resume, signals, DDP, evaluation, export, CLI."""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from pnpleaves.io import write_image
from pnpleaves.priors import check_registry, load_prior, read_registry
from pnpleaves.training import train as train_module
from pnpleaves.models import build_model, count_parameters
from pnpleaves.training.config import TrainConfig, dumps_toml, load_config
from pnpleaves.training.data import NoisyPatchBatches, augment_dihedral, make_loader
from pnpleaves.metrics import psnr
from pnpleaves.training.evaluate import evaluate_denoiser, noisy_version
from pnpleaves.training.train import learning_rate, train

CONFIGS = Path(__file__).resolve().parents[1] / "pnpleaves" / "configs"
TINY_NET = {"nc": [8, 16, 32, 64], "nb": 1}


def make_cache(folder: Path, n: int = 4, size: int = 64, seed: int = 0) -> Path:
    """Piecewise-constant colour images (random rectangles) plus a manifest, like `pnpleaves generate`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            img = np.zeros((size, size, 3), np.float32) + rng.random(3, dtype=np.float32)
            for _ in range(30):
                y, x = rng.integers(0, size, 2)
                h, w = rng.integers(4, 24, 2)
                img[y : y + h, x : x + w] = rng.random(3, dtype=np.float32)
            write_image(folder / f"{i:03d}.png", img)
            f.write(json.dumps({"file": f"{i:03d}.png", "seed": i, "config": {"model": "test"}}) + "\n")
    return folder


def tiny_config(tmp_path: Path, **overrides) -> TrainConfig:
    data = {
        "name": "tiny-test",
        "output_dir": str(tmp_path / "run"),
        "model": {"arch": "drunet", "kwargs": dict(TINY_NET)},
        "data": {"source": "random", "patch_size": 32, "batch_size": 4},
        "noise": {"sigma_range": [0.05, 0.2]},
        "optim": {"lr": 1e-3, "warmup_steps": 3, "halve_every": 7},
        "train": {"steps": 20, "log_every": 5, "eval_every": 0, "checkpoint_every": 5, "threads": 1,
                  "device": "cpu"},
        "dev": {"folder": ""},
    }
    return TrainConfig.from_dict(data).override(**overrides)


def read_state(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------- config


def test_config_round_trips_through_toml(tmp_path):
    cfg = tiny_config(tmp_path, **{"data.options": {"alpha": 3.0}, "noise.blind": True})
    text = cfg.to_toml()
    again = TrainConfig.from_dict(tomllib.loads(text))
    assert again == cfg
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path) == cfg


@pytest.mark.parametrize("name", ["tiny", "vl-drunet", "dl-drunet"])
def test_shipped_configs_parse_and_build(name):
    cfg = load_config(CONFIGS / f"{name}.toml")
    model = build_model(cfg.model.arch, cfg.model.kwargs)
    assert cfg.name == name and count_parameters(model) > 0
    if name != "tiny":
        assert cfg.noise.sigma_range[0] == 0 and cfg.noise.sigma_range[1] >= 75 / 255 - 1e-9
        assert cfg.data.generator == name[:2] and cfg.data.options.get("color", "natural") == "natural"
        assert cfg.data.permute_channels and cfg.data.augment


@pytest.mark.parametrize("name", ["l2", "nc24", "batch32", "noclip", "lr2e-4"])
def test_probe_configs_change_one_setting_of_the_base_probe(name):
    """Each training-efficiency probe differs from probes/base.toml in the setting it names only."""
    base, probe = (load_config(CONFIGS / "probes" / f"{n}.toml").to_dict() for n in ("base", name))
    changed = {(sec, key) for sec in base if isinstance(base[sec], dict)
               for key in base[sec] if base[sec][key] != probe[sec][key]}
    expected = {"l2": {("optim", "loss")}, "nc24": {("model", "kwargs")},
                "batch32": {("data", "batch_size"), ("train", "eval_every")}, "noclip": {("optim", "grad_clip")}, "lr2e-4": {("optim", "lr")}}
    assert changed == expected[name]


def test_the_two_priors_differ_only_by_their_generator():
    """dl-drunet is the control of vl-drunet: same net, noise, optimisation, budget and evaluation."""
    vl, dl = (load_config(CONFIGS / f"{n}.toml").to_dict() for n in ("vl-drunet", "dl-drunet"))
    for section in ("model", "noise", "optim", "train", "dev"):
        assert vl[section] == dl[section], section
    differ = {k for k in vl["data"] if vl["data"][k] != dl["data"][k]}
    assert differ == {"generator", "cache_dir", "options"}


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lr_max'\] in \[optim\]; allowed:"):
        TrainConfig.from_dict({"optim": {"lr_max": 1.0}})
    with pytest.raises(ValueError, match="unknown config key 'optimiser'"):
        TrainConfig.from_dict({"optimiser": {}})
    with pytest.raises(ValueError, match="data.source must be one of"):
        TrainConfig.from_dict({"data": {"source": "web"}})
    with pytest.raises(ValueError, match="noise.sigma_range must satisfy lo <= hi"):
        TrainConfig.from_dict({"noise": {"sigma_range": [0.3, 0.1]}})
    with pytest.raises(ValueError, match="needs data.cache_dir"):
        TrainConfig.from_dict({"data": {"source": "cache"}})
    with pytest.raises(ValueError, match="model.arch must be one of"):
        TrainConfig.from_dict({"model": {"arch": "unet"}})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


def test_toml_writer_nested_tables():
    data = {"a-b": {"x": 1, "kw": {"nc": [1, 2]}, "card": {"f": 1.5e-7, "d": {"s": "q\"z", "o": {"k": True}}}}}
    assert tomllib.loads(dumps_toml(data)) == data


def test_learning_rate_schedule(tmp_path):
    cfg = tiny_config(tmp_path, **{"optim.lr": 1e-4, "optim.warmup_steps": 4, "optim.halve_every": 10,
                                   "optim.lr_min": 1e-5})
    lrs = [learning_rate(t, cfg) for t in range(60)]
    assert lrs[:4] == pytest.approx([2.5e-5, 5e-5, 7.5e-5, 1e-4])
    assert lrs[9] == 1e-4 and lrs[10] == 5e-5 and lrs[20] == 2.5e-5 and lrs[30] == 1.25e-5
    assert lrs[40] == 1e-5 and lrs[59] == 1e-5  # floor
    assert learning_rate(10**6, tiny_config(tmp_path, **{"optim.halve_every": 0})) == 1e-3


# --------------------------------------------------------------------------- data


def test_batches_are_a_pure_function_of_seed_and_step(tmp_path):
    cfg = tiny_config(tmp_path)
    a, b = NoisyPatchBatches(cfg, 10), NoisyPatchBatches(cfg, 10)
    for t in (0, 7):
        for key in ("clean", "noisy", "sigma"):
            assert torch.equal(a[t][key], b[t][key])
    assert not torch.equal(a[0]["clean"], a[1]["clean"])
    other = NoisyPatchBatches(cfg.override(seed=1), 10)
    assert not torch.equal(a[0]["clean"], other[0]["clean"])
    batch = a[3]
    assert batch["clean"].shape == (4, 3, 32, 32) and batch["sigma"].shape == (4,)
    assert ((batch["sigma"] >= 0.05) & (batch["sigma"] <= 0.2)).all()
    # the noise is Gaussian with the per-image sigma
    big = NoisyPatchBatches(tiny_config(tmp_path, **{"data.patch_size": 128}), 1)[0]
    std = (big["noisy"] - big["clean"]).flatten(1).std(1)
    torch.testing.assert_close(std, big["sigma"], rtol=0.03, atol=0)


def test_rank_slices_make_up_the_single_process_batch(tmp_path):
    cfg = tiny_config(tmp_path)
    whole = NoisyPatchBatches(cfg, 5)[4]
    parts = [NoisyPatchBatches(cfg, 5, rank=r, world_size=2)[4] for r in range(2)]
    for key in ("clean", "noisy", "sigma"):
        assert torch.equal(torch.cat([p[key] for p in parts]), whole[key])
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        NoisyPatchBatches(cfg, 5, world_size=3)


def test_workers_do_not_change_the_stream(tmp_path):
    cfg = tiny_config(tmp_path)
    ref = [b["noisy"] for b in make_loader(cfg, 2, 6)]
    par = [b["noisy"] for b in make_loader(cfg.override(**{"data.workers": 2}), 2, 6)]
    assert len(ref) == 4 and all(torch.equal(x, y) for x, y in zip(ref, par))
    assert torch.equal(ref[0], NoisyPatchBatches(cfg, 6)[2]["noisy"])


def test_dihedral_augmentation_gives_the_8_symmetries():
    x = torch.arange(2 * 3 * 3, dtype=torch.float32).view(2, 3, 3)
    outs = [augment_dihedral(x, k) for k in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    assert all(sorted(o.flatten().tolist()) == sorted(x.flatten().tolist()) for o in outs)
    assert torch.equal(outs[0], x)


def test_cache_source_crops_the_cached_images(tmp_path):
    cache = make_cache(tmp_path / "cache", n=2, size=48)
    cfg = tiny_config(tmp_path, **{"data.source": "cache", "data.cache_dir": str(cache), "data.augment": False})
    batch = NoisyPatchBatches(cfg, 3)[1]
    from pnpleaves.io import read_image

    images = [torch.from_numpy(read_image(p)).permute(2, 0, 1) for p in sorted(cache.glob("*.png"))]
    for patch in batch["clean"]:
        found = any(
            torch.equal(img[:, i : i + 32, j : j + 32], patch)
            for img in images for i in range(17) for j in range(17)
        )
        assert found
    (cache / "001.png").unlink()
    with pytest.raises(FileNotFoundError, match="listed in .*manifest.jsonl. are missing"):
        NoisyPatchBatches(cfg, 3)
    too_big = tiny_config(tmp_path, **{"data.source": "cache", "data.cache_dir": str(make_cache(tmp_path / "c2", 1, 16))})
    with pytest.raises(ValueError, match="smaller than the patch size 32"):
        NoisyPatchBatches(too_big, 1)[0]


def test_generate_source_draws_fresh_images_from_leaves_dataset(tmp_path, monkeypatch):
    calls = []

    class StubLeaves:
        def __init__(self, n, size=128, *, model="vl", seed=0, preset=None, **options):
            calls.append((n, size, model, seed, preset, options))
            self.size = size

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(int(i) % (2**62))
            return torch.rand(3, self.size, self.size, generator=g)

    generators = importlib.import_module("pnpleaves.generators")
    monkeypatch.setattr(generators, "LeavesDataset", StubLeaves, raising=False)
    cfg = tiny_config(tmp_path, **{"data.source": "generate", "data.generator": "dl", "data.image_size": 32,
                                   "data.options": {"alpha": 3.0}, "data.augment": False})
    ds = NoisyPatchBatches(cfg, 3)
    assert calls[0][1:] == (32, "dl", 0, None, {"alpha": 3.0})
    batch = ds[2]
    # sample j of step t is image t * batch_size + j (image_size == patch_size: no crop)
    for j in range(4):
        assert torch.equal(batch["clean"][j], StubLeaves(1, 32)[2 * 4 + j])


# --------------------------------------------------------------------------- train loop


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


def test_resume_with_another_architecture_is_refused(tmp_path):
    train(tiny_config(tmp_path, **{"train.steps": 2}))
    other = tiny_config(tmp_path, **{"model.kwargs": {"nc": [8, 16, 32, 64], "nb": 2}})
    with pytest.raises(ValueError, match="resume with the run's own config.toml"):
        train(other, resume=True)


def test_sigterm_saves_a_checkpoint_and_resume_finishes_identically(tmp_path, monkeypatch):
    straight = tiny_config(tmp_path, output_dir=str(tmp_path / "a"), **{"train.checkpoint_every": 0})
    train(straight)
    real_lr = train_module.learning_rate

    def lr_then_signal(step, cfg, warm_start=0):
        if step == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_lr(step, cfg, warm_start)

    cfg = tiny_config(tmp_path, output_dir=str(tmp_path / "b"), **{"train.checkpoint_every": 0})
    monkeypatch.setattr(train_module, "learning_rate", lr_then_signal)
    result = train(cfg)
    monkeypatch.setattr(train_module, "learning_rate", real_lr)
    assert result.interrupted and result.step == 8 and read_state(tmp_path / "b")["step"] == 8
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
    missing = tiny_config(tmp_path, output_dir=str(tmp_path / "r2"), **{"dev.folder": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match='dev.folder = ""'):
        train(missing)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~16 s on the shared 2-core machine (two interpreters importing torch)
def test_two_process_ddp_matches_one_process(tmp_path):
    cfg = tiny_config(tmp_path, output_dir=str(tmp_path / "ddp"), **{"train.steps": 4, "train.log_every": 2})
    path = tmp_path / "ddp.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "pnpleaves.training.train", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = tiny_config(tmp_path, output_dir=str(tmp_path / "one"), **{"train.steps": 4, "train.log_every": 2})
    train(single)
    a, b = read_state(tmp_path / "ddp"), read_state(tmp_path / "one")
    assert a["world_size"] == 2 and a["step"] == b["step"] == 4
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], atol=1e-6, rtol=1e-5)
    # the logged loss is the mean over both processes
    la = [float(r.split(",")[3]) for r in (tmp_path / "ddp" / "log.csv").read_text().splitlines()[1:]]
    lb = [float(r.split(",")[3]) for r in (tmp_path / "one" / "log.csv").read_text().splitlines()[1:]]
    assert la == pytest.approx(lb, rel=1e-4)


# --------------------------------------------------------------------------- evaluation, export, CLI


def test_evaluate_identity_matches_a_direct_computation(tmp_path):
    from deepinv.models import Denoiser

    class Ident(Denoiser):
        def forward(self, x, sigma=None):
            return x

    images = [torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    res = evaluate_denoiser(Ident(), images, [0.1, 0.2], seed=5, ssim=False)
    for s in (0.1, 0.2):
        direct = np.mean([float(psnr(noisy_version(x, s, 5, k), x)[0]) for k, x in enumerate(images)])
        assert res.table["denoiser"][s]["psnr"] == pytest.approx(direct, abs=1e-9)
        mse = np.mean([float(((noisy_version(x, s, 5, k).clamp(0, 1) - x) ** 2).mean()) for k, x in enumerate(images)])
        assert res.table["denoiser"][s]["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=0.2)
    again = evaluate_denoiser(Ident(), images, [0.1, 0.2], seed=5, ssim=False)
    assert [r["psnr"] for r in again.rows] == [r["psnr"] for r in res.rows]
    assert "sigma" in res.format(with_ssim=False)
    with pytest.raises(ValueError, match="sigma must be"):
        evaluate_denoiser(Ident(), images, [25.0])


def test_evaluate_with_cbm3d_baseline():
    pytest.importorskip("bm3d")
    from deepinv.models import Denoiser

    class Ident(Denoiser):
        def forward(self, x, sigma=None):
            return x

    x = torch.from_numpy(np.kron(np.random.default_rng(0).random((4, 4, 3)), np.ones((8, 8, 1)))).float()
    images = [x.permute(2, 0, 1)[None].contiguous()]
    res = evaluate_denoiser(Ident(), images, [0.1], bm3d=True)
    assert res.methods == ["denoiser", "CBM3D"]
    assert res.table["CBM3D"][0.1]["psnr"] > res.table["denoiser"][0.1]["psnr"] + 3  # CBM3D denoises


def test_export_writes_fp16_weights_and_a_valid_registry_entry(tmp_path, monkeypatch):
    from pnpleaves.training.export import export_run, main

    dev = make_cache(tmp_path / "dev", n=2, size=40, seed=4)
    cfg = tiny_config(tmp_path, **{"train.steps": 4, "dev.folder": str(dev)})
    train(cfg)
    reg = tmp_path / "weights.toml"
    reg.write_text("# test registry\n", encoding="utf-8")
    wdir = tmp_path / "weights"
    entry, block = export_run(tmp_path / "run", "tiny-x", weights_dir=wdir, registry=reg, update=True)
    assert tomllib.loads(block)["tiny-x"] == entry
    assert reg.read_text().startswith("# test registry")
    assert check_registry(reg) == []
    card = read_registry(reg)["tiny-x"]["card"]
    assert card["train"]["steps"] == 4 and card["noise"]["sigma_range"] == [0.05, 0.2]
    assert card["num_params"] == count_parameters(build_model("drunet", TINY_NET))
    assert sorted(card["metrics"]) == [f"dev/sigma={s}/{m}" for s in (15, 25, 50) for m in ("psnr", "ssim")]
    fp32 = (tmp_path / "run" / "model.safetensors").stat().st_size
    assert (wdir / "tiny-x.safetensors").stat().st_size < 0.6 * fp32
    monkeypatch.setenv("PNPLEAVES_WEIGHTS_DIR", str(wdir))
    den = load_prior("tiny-x", registry=reg)
    assert den(torch.rand(1, 3, 37, 51), 0.1).shape == (1, 3, 37, 51)
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_run(tmp_path / "run", "tiny-x", weights_dir=wdir, registry=reg)
    assert main([str(tmp_path / "run"), "--name", "bad name", "--weights-dir", str(wdir)]) == 2
    # an export that fails half-way leaves the shipped file (and so the registry checksum) untouched
    before = (wdir / "tiny-x.safetensors").read_bytes()
    inode = (wdir / "tiny-x.safetensors").stat().st_ino  # a replaced file would get a new inode
    import pnpleaves.training.export as export_module

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(export_module, "time_denoiser", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        export_run(tmp_path / "run", "tiny-x", weights_dir=wdir, registry=reg, update=True, overwrite=True)
    assert (wdir / "tiny-x.safetensors").read_bytes() == before and check_registry(reg) == []
    assert (wdir / "tiny-x.safetensors").stat().st_ino == inode
    assert sorted(p.name for p in wdir.iterdir()) == ["tiny-x.safetensors"]


def test_cli_train_and_eval_denoiser(tmp_path, capsys):
    from pnpleaves.cli import main

    dev = make_cache(tmp_path / "dev", n=2, size=40, seed=4)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(tiny_config(tmp_path).to_toml(), encoding="utf-8")
    assert main(["train", str(cfg_path), "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "finished at step 3" in out and (tmp_path / "run" / "train.log").is_file()
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


def test_bench_denoiser_smoke(tmp_path, capsys):
    import argparse

    from pnpleaves.training import bench

    cache = make_cache(tmp_path / "cache", n=2, size=48)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(tiny_config(tmp_path).to_toml(), encoding="utf-8")
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--size", "48", "--nets", "8,16,32,64:1", "--threads", "1", "--repeats", "1",
                              "--config", str(cfg_path), "--cache", str(cache), "--train-steps", "2"])
    assert bench.run(args) == 0
    out = capsys.readouterr().out
    assert "random tensors" in out and "cached images" in out and "8,16,32,64" in out


def test_real_generator_sources_and_card(tmp_path, capsys):
    generators = pytest.importorskip("pnpleaves.generators")
    if not hasattr(generators, "LeavesDataset"):
        pytest.skip("pnpleaves.generators.LeavesDataset not available")
    from pnpleaves.cli import main
    from pnpleaves.training.export import export_run

    opts = {"alpha": 3.0, "r_min": 1.0, "r_max": 100.0}
    live = tiny_config(tmp_path, output_dir=str(tmp_path / "live"),
                       **{"data.source": "generate", "data.generator": "dl", "data.image_size": 40,
                          "data.options": opts, "train.steps": 2, "data.batch_size": 2})
    batch = NoisyPatchBatches(live, 1)[0]
    assert batch["clean"].shape == (2, 3, 32, 32) and 0 <= batch["clean"].min() and batch["clean"].max() <= 1
    assert train(live).step == 2
    out = tmp_path / "gen"
    assert main(["generate", "--model", "dl", "--n", "2", "--size", "40", "--out", str(out)]) == 0
    cached = tiny_config(tmp_path, output_dir=str(tmp_path / "cached"),
                         **{"data.source": "cache", "data.cache_dir": str(out), "train.steps": 2})
    train(cached)
    entry, _ = export_run(tmp_path / "cached", "gen-test", weights_dir=tmp_path / "w")
    assert entry["card"]["data"]["generator_config"]["model"] == "dl"
    entry, _ = export_run(tmp_path / "live", "live-test", weights_dir=tmp_path / "w")
    assert entry["card"]["data"]["generator_config"]["r_max"] == 100.0
    capsys.readouterr()


def test_continue_from_exported_weights(tmp_path):
    """Across sessions only the weights are kept: the run continues from them with the step counter,
    a fresh optimizer and a warm-up starting at that step."""
    from pnpleaves.training.export import export_run
    from pnpleaves.training.train import learning_rate

    cfg = tiny_config(tmp_path, **{"train.steps": 8, "optim.warmup_steps": 4})
    train(cfg)
    entry, _ = export_run(tmp_path / "run", "tiny-c", weights_dir=tmp_path / "w", dev_folder=[])
    later = tiny_config(tmp_path, output_dir=str(tmp_path / "later"), **{"train.steps": 12, "optim.warmup_steps": 4})
    result = train(later, init_from=tmp_path / "w" / "tiny-c.safetensors")
    assert result.step == 12 and len(result.losses) == 4
    state = read_state(tmp_path / "later")
    assert state["warm_start"] == 8 and state["wall_time_s"] > 0
    no_warmup = later.override(**{"optim.warmup_steps": 0})
    assert learning_rate(8, later, 8) == pytest.approx(learning_rate(8, no_warmup) / 4)  # warm-up restarts at 8
    assert learning_rate(12, later, 8) == learning_rate(12, no_warmup)
    with pytest.raises(ValueError, match="Continue with the config"):
        other = tiny_config(tmp_path, output_dir=str(tmp_path / "x"), **{"model.kwargs": {"nc": [4, 8, 16, 32], "nb": 3}})
        train(other, init_from=tmp_path / "w" / "tiny-c.safetensors")


def test_continue_into_a_wider_network(tmp_path):
    """--widen embeds the narrow weights so that the wide network starts from the same function;
    with restart_schedule the halvings count from the start step."""
    from pnpleaves.priors import read_weights
    from pnpleaves.models import build_model
    from pnpleaves.training.export import export_run
    from pnpleaves.training.train import learning_rate

    train(tiny_config(tmp_path, **{"train.steps": 6}))
    export_run(tmp_path / "run", "tiny-n", weights_dir=tmp_path / "w", dev_folder=[])
    narrow_file = tmp_path / "w" / "tiny-n.safetensors"
    wide_kwargs = dict(TINY_NET) | {"nc": [2 * c for c in TINY_NET["nc"]]}
    wide_cfg = tiny_config(tmp_path, output_dir=str(tmp_path / "wide"),
                           **{"model.kwargs": wide_kwargs, "train.steps": 6, "optim.restart_schedule": True})
    with pytest.raises(ValueError, match="--widen"):
        train(wide_cfg, init_from=narrow_file)
    assert learning_rate(6, wide_cfg, 6) == learning_rate(0, wide_cfg, 0)  # full rate again at the start step
    assert learning_rate(6 + 7 + 3, wide_cfg, 6) == learning_rate(7 + 3, wide_cfg, 0)

    # the widened network (before any step) computes what the narrow one did
    state, _ = read_weights(narrow_file)
    narrow = build_model("drunet", dict(TINY_NET))
    narrow.load_state_dict({k: v.float() for k, v in state.items()})
    from pnpleaves.training.widen import widen_into

    torch.manual_seed(3)
    wide = widen_into(build_model("drunet", wide_kwargs), state)
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        torch.testing.assert_close(wide(x, 0.1), narrow(x, 0.1), atol=1e-6, rtol=0)
    assert wide.m_head.weight[TINY_NET["nc"][0]:].abs().sum() > 0  # the new channels are not dead
    assert wide.m_tail.weight[:, TINY_NET["nc"][0]:].abs().sum() == 0  # ... and not read yet

    result = train(wide_cfg.override(**{"train.steps": 9}), init_from=narrow_file, widen=True)
    assert result.step == 9 and len(result.losses) == 3
    state_after = read_state(tmp_path / "wide")["model"]
    assert state_after["m_tail.weight"][:, TINY_NET["nc"][0]:].abs().sum() > 0  # training reads them


def test_widening_dncnn_keeps_the_function_with_biases():
    from pnpleaves.models import build_model
    from pnpleaves.training.widen import widen_into

    narrow = build_model("dncnn", {"depth": 4, "nf": 8, "bias": True})
    for p in narrow.parameters():  # DnCNN starts with a near-zero last layer: make the test meaningful
        torch.nn.init.normal_(p, std=0.2)
    wide = widen_into(build_model("dncnn", {"depth": 4, "nf": 13, "bias": True}), narrow.state_dict())
    x = torch.rand(1, 3, 17, 23)
    with torch.no_grad():
        assert (narrow(x, 0.1) - x).abs().max() > 1e-2
        torch.testing.assert_close(wide(x, 0.1), narrow(x, 0.1), atol=1e-6, rtol=0)


def test_widening_refuses_narrower_or_other_layers():
    from pnpleaves.models import build_model
    from pnpleaves.training.widen import widen_into

    wide = build_model("drunet", dict(TINY_NET))
    narrower_target = build_model("drunet", dict(TINY_NET) | {"nc": [c + 1 for c in TINY_NET["nc"]]})
    with pytest.raises(ValueError, match="at least the narrow"):
        widen_into(wide, narrower_target.state_dict())
    deeper = build_model("drunet", dict(TINY_NET) | {"nb": TINY_NET["nb"] + 1})
    with pytest.raises(ValueError, match="same layers"):
        widen_into(wide, deeper.state_dict())


def test_channel_permutation_augmentation(tmp_path):
    cache = make_cache(tmp_path / "cache")
    base = {"data.source": "cache", "data.cache_dir": str(cache), "data.augment": False}
    plain = NoisyPatchBatches(tiny_config(tmp_path, **base), 4)
    perm = NoisyPatchBatches(tiny_config(tmp_path, **base, **{"data.permute_channels": True}), 4)
    a, b = plain[3]["clean"], perm[3]["clean"]
    # same pixels, channels reordered per sample; some sample is actually permuted
    assert torch.equal(a.sort(dim=1).values, b.sort(dim=1).values)
    assert any(not torch.equal(a[j], b[j]) for j in range(len(a)))


def test_low_noise_mixture(tmp_path):
    """A share ``low_fraction`` of the patches draws sigma from ``low_range``; 0 keeps the plain stream."""
    cfg = tiny_config(tmp_path, **{"data.batch_size": 64, "noise.sigma_range": [0.0, 0.3]})
    plain = NoisyPatchBatches(cfg, 8)
    mixed = NoisyPatchBatches(cfg.override(**{"noise.low_fraction": 0.25, "noise.low_range": [0.0, 0.01]}), 8)
    sig = torch.cat([mixed[t]["sigma"] for t in range(8)])
    low = float((sig <= 0.01).float().mean())
    # expected share: 0.25 + 0.75 * (0.01 / 0.3) = 0.275; 512 draws give a std of about 0.02
    assert 0.2 < low < 0.35
    assert float(sig.max()) <= 0.3
    # clean patches are the same stream; only sigmas (and so the noisy patches) change
    assert torch.equal(plain[5]["clean"], mixed[5]["clean"])
    # the default (low_fraction 0) does not consume extra random numbers: old runs stay identical
    assert torch.equal(NoisyPatchBatches(cfg.override(**{"noise.low_range": [0.0, 0.05]}), 8)[5]["noisy"],
                       plain[5]["noisy"])
    with pytest.raises(ValueError, match="low_fraction"):
        tiny_config(tmp_path, **{"noise.low_fraction": 1.5})


def _write_log(path, rows):
    cols = ["step", "wall_time_s", "lr", "loss", "steps_per_s", "psnr_15", "psnr_25", "psnr_50"]
    lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_dev_rate_is_the_least_squares_slope_per_hour(tmp_path, capsys):
    from pnpleaves.training.progress import dev_curve, dev_rate, main

    rows = [{"step": 100 * k, "wall_time_s": 60.0 * k, "loss": 0.1} for k in range(1, 40)]  # loss-only rows
    wobble = [0.02, -0.02, 0.02, -0.02, 0.02, -0.02]
    for k, w in enumerate(wobble):  # 30.0 dB at 0 h, +0.04 dB per hour, +-0.02 wobble, one eval per 30 min
        rows.append({"step": 1000 * (k + 1), "wall_time_s": 1800.0 * k, "psnr_25": 30.0 + 0.02 * k + w})
    _write_log(tmp_path / "log.csv", rows)
    pts = dev_curve(tmp_path, 25)
    assert [p[0] for p in pts] == [1000, 2000, 3000, 4000, 5000, 6000] and pts[1][1] == 0.5
    t = np.array([p[1] for p in pts])
    ref = np.sum((t - t.mean()) * (np.array([p[2] for p in pts]) - np.mean([p[2] for p in pts]))) / np.sum(
        (t - t.mean()) ** 2)
    r = dev_rate(pts)
    assert abs(r.rate_db_per_hour - ref) < 1e-9 and r.n_points == 6 and abs(r.hours - 2.5) < 1e-12
    assert dev_rate(pts, since_step=3000).first[0] == 3000
    assert dev_rate(pts, last_hours=1.0).n_points == 3
    assert main([str(tmp_path), "--threshold", "0.05"]) == 0
    out = capsys.readouterr().out
    assert f"{ref:+.3f} dB per hour" in out and "below the stop rule" in out
    with pytest.raises(ValueError, match="at least 3 dev evaluations"):
        dev_rate(pts, since_step=5000)
    with pytest.raises(ValueError, match="no dev PSNR at sigma 30; it has sigma 15, 25, 50"):
        dev_curve(tmp_path, 30)
    with pytest.raises(FileNotFoundError, match="no training log"):
        dev_curve(tmp_path / "missing")
