"""pnpleaves.training.finetune / surrogates and ``pnpleaves finetune``: two-stage fine-tuning on tiny images."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from pnpleaves.cli import finetune as finetune_cli
from pnpleaves.errors import InputError
from pnpleaves.io import write_image
from pnpleaves.models import build_model
from pnpleaves.priors import check_registry, load_prior, read_registry
from pnpleaves.priors.files import file_sha256, read_weights, write_weights
from pnpleaves.training.finetune import (
    DEFAULT_ADVERSARIAL_WEIGHT,
    FinetuneConfig,
    ParentPrior,
    export_finetuned,
    finetune,
    read_finetune_checkpoint,
)
from pnpleaves.training.surrogates import (
    NoiseLaw,
    apply_tiled,
    folder_digest,
    load_image_folder,
    make_batch,
    make_surrogates,
)
from training_fixtures import TINY_NET, make_cache

SIGMA = 20 / 255
#: a few steps of a tiny network on 32x32 patches
FAST = dict(steps=4, batch_size=4, patch_size=32, lr=1e-3, warmup_steps=0, log_every=1, checkpoint_every=0)


def tiny_prior_file(folder, seed: int = 0):
    """A randomly initialised tiny DRUNet written as a weights file with a card (the 'parent')."""
    torch.manual_seed(seed)
    net = build_model("drunet", TINY_NET)
    card = {"noise": {"sigma_range": [0.0, 0.2], "low_fraction": 0.1, "low_range": [0.0, 0.01]}}
    return write_weights(folder / "tiny-parent.safetensors", net, "drunet", dict(TINY_NET), sigma_range=(0.0, 0.2),
                         extra={"card": card})


def noisy_folder(folder, n: int = 3, size: int = 40, seed: int = 0):
    """Colour rectangles plus Gaussian noise (8-bit PNGs): the 'real degraded' images."""
    clean = make_cache(folder.parent / f"{folder.name}-clean", n=n, size=size, seed=seed)
    rng = np.random.default_rng(seed + 100)
    folder.mkdir(parents=True)
    for path in sorted(clean.glob("*.png")):
        from pnpleaves.io import read_image

        img = read_image(path)
        write_image(folder / path.name, np.clip(img + SIGMA * rng.standard_normal(img.shape), 0, 1))
    return folder


@pytest.fixture
def setup(tmp_path):
    prior = tiny_prior_file(tmp_path)
    deg = noisy_folder(tmp_path / "deg")
    clean = make_cache(tmp_path / "clean", n=2, size=40, seed=7)
    (clean / "manifest.jsonl").unlink()
    return prior, deg, clean


def _parent(prior_file) -> ParentPrior:
    return finetune_cli.load_parent(str(prior_file))


def test_surrogates_leave_the_inputs_untouched(setup, tmp_path):
    prior_file, deg, _ = setup
    parent = _parent(prior_file)
    images = load_image_folder(deg, channels=3, what="deg")
    copies = [x.clone() for x in images.images]
    net = parent.module.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = make_surrogates(net, images.images, [SIGMA] * len(images), ensemble=True)
    assert all(torch.equal(a, b) for a, b in zip(images.images, copies))
    assert net.training and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert all(o.shape == x.shape and 0 <= o.min() and o.max() <= 1 for o, x in zip(out, copies))
    assert not any(o.data_ptr() == x.data_ptr() for o, x in zip(out, images.images))
    # a whole fine-tuning leaves the parent module and the image files alone
    digest = folder_digest(images.files)
    finetune(parent, deg, sigma=SIGMA, out_dir=tmp_path / "run", config=FinetuneConfig(**FAST))
    assert folder_digest(images.files) == digest
    assert all(torch.equal(v, before[k]) for k, v in parent.module.state_dict().items())


def test_apply_tiled_matches_the_whole_image_for_a_local_denoiser():
    box = torch.nn.Conv2d(3, 3, 5, padding=2, bias=False, padding_mode="replicate")

    def den(x, sigma):
        return box(x)

    x = torch.rand(1, 3, 70, 53, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(apply_tiled(den, x, 0.1, tile=24, overlap=4), den(x, 0.1))
    with pytest.raises(InputError, match="twice the overlap"):
        apply_tiled(den, x, 0.1, tile=8, overlap=4)


def test_batches_are_pure_and_anchors_carry_their_known_noise_level():
    g = torch.Generator().manual_seed(0)
    deg = [torch.rand(3, 40, 48, generator=g) for _ in range(2)]
    sur = [x * 0.5 for x in deg]
    law = NoiseLaw(sigma_range=(0.1, 0.2))
    kwargs = dict(seed=3, stage=2, step=5, batch_size=6, patch_size=16, n_anchor=2, noise_law=law, clean=sur)
    a, b = make_batch(deg, sur, [0.01, 0.02], **kwargs), make_batch(deg, sur, [0.01, 0.02], **kwargs)
    assert torch.equal(a.noisy, b.noisy) and torch.equal(a.target, b.target) and torch.equal(a.clean, b.clean)
    assert a.n_real == 4 and a.clean.shape == (4, 3, 16, 16)
    assert all(min(abs(s - 0.01), abs(s - 0.02)) < 1e-7 for s in a.sigma[:4].tolist())  # real pairs: sigma_i
    assert torch.allclose(a.target[:4], a.noisy[:4] * 0.5)  # ... with their surrogate as target
    for j in (4, 5):  # anchors: target + sigma z, sigma drawn from the law
        s = float(a.sigma[j])
        assert 0.1 <= s <= 0.2
        assert (a.noisy[j] - a.target[j]).std().item() == pytest.approx(s, rel=0.2)
    other = make_batch(deg, sur, [0.01, 0.02], **(kwargs | {"step": 6}))
    assert not torch.equal(other.noisy, a.noisy)


def test_a_few_steps_change_the_weights_and_lower_the_stage2_loss(setup, tmp_path):
    prior_file, deg, _ = setup
    parent = _parent(prior_file)
    cfg = FinetuneConfig(**(FAST | {"steps": 25, "ensemble": True, "anchor_fraction": 0.25}))
    result = finetune(parent, deg, sigma=SIGMA, out_dir=tmp_path / "run", config=cfg)
    assert result.finished and result.steps_done == 25 and sorted(result.stage_weights) == [2]
    tuned = load_prior(result.stage_weights[2])
    changed = [k for k, v in tuned.state_dict().items() if not torch.equal(v, parent.module.state_dict()[k])]
    assert len(changed) == len(tuned.state_dict())
    # the stage-2 objective on the real pairs: |D(y_i, sigma_i) - surrogate_i| over the whole images
    sur = torch.load(tmp_path / "run" / "surrogates-stage2.pt", weights_only=True)["surrogates"]
    images = load_image_folder(deg, channels=3).images

    def objective(net):
        with torch.no_grad():
            return float(np.mean([(net(y[None], SIGMA)[0] - s).abs().mean() for y, s in zip(images, sur)]))

    assert objective(tuned) < 0.8 * objective(parent.module)
    card = read_finetune_checkpoint(tmp_path / "run")["stage_losses"]["2"]
    assert card["fidelity_last"] < card["fidelity_first"]


def test_resume_is_exact_across_a_stage_boundary(setup, tmp_path):
    prior_file, deg, clean = setup
    parent = _parent(prior_file)
    cfg = FinetuneConfig(**(FAST | {"stages": 3}))
    common = dict(sigma=SIGMA, clean=clean, config=cfg)
    finetune(parent, deg, out_dir=tmp_path / "a", **common)
    first = finetune(parent, deg, out_dir=tmp_path / "b", stop_after=3, **common)
    assert first.interrupted and not first.finished and (first.stage, first.step) == (2, 3)
    with pytest.raises(FileExistsError, match="pass --resume"):
        finetune(parent, deg, out_dir=tmp_path / "b", **common)
    second = finetune(parent, deg, out_dir=tmp_path / "b", stop_after=6, resume=True, **common)
    assert (second.stage, second.step) == (3, 2)
    last = finetune(parent, deg, out_dir=tmp_path / "b", resume=True, **common)
    assert last.finished and last.steps_done == 8
    a, b = read_finetune_checkpoint(tmp_path / "a"), read_finetune_checkpoint(tmp_path / "b")
    for part in ("model", "critic"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for opt in ("optimizer", "critic_optimizer"):
        for sa, sb in zip(a[opt]["state"].values(), b[opt]["state"].values()):
            assert torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
    assert a["stage_losses"] == b["stage_losses"] and a["stage_rows"] == b["stage_rows"]
    for k in (2, 3):
        sa = torch.load(tmp_path / "a" / f"surrogates-stage{k}.pt", weights_only=True)["surrogates"]
        sb = torch.load(tmp_path / "b" / f"surrogates-stage{k}.pt", weights_only=True)["surrogates"]
        assert all(torch.equal(x, y) for x, y in zip(sa, sb))
    cols = lambda run: [r.split(",")[:2] + r.split(",")[4:7] for r in (run / "log.csv").read_text().splitlines()]  # noqa: E731
    assert cols(tmp_path / "a") == cols(tmp_path / "b")
    # the same images under another folder name resume too; other inputs are refused
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in deg.iterdir():
        (moved / f.name).write_bytes(f.read_bytes())
    assert finetune(parent, moved, out_dir=tmp_path / "b", resume=True, **common).finished
    with pytest.raises(InputError, match="noise levels differ"):
        finetune(parent, deg, out_dir=tmp_path / "b", resume=True, **(common | {"sigma": 0.05}))


def _cli(argv):
    parser = argparse.ArgumentParser()
    finetune_cli.add_arguments(parser)
    return finetune_cli.run(parser.parse_args(argv))


def test_the_exported_prior_and_card_record_the_parent(setup, tmp_path, monkeypatch, capsys):
    prior_file, deg, clean = setup
    reg, wdir = tmp_path / "reg.toml", tmp_path / "w"
    argv = ["--prior", str(prior_file), "--degraded", str(deg), "--clean", str(clean), "--out", "tiny-cam",
            "--steps", "3", "--batch-size", "4", "--patch-size", "32", "--run-dir", str(tmp_path / "run"),
            "--weights-dir", str(wdir), "--registry", str(reg), "--threads", "1"]
    assert _cli(argv) == 0
    assert "estimated noise levels" in capsys.readouterr().out
    assert check_registry(reg) == []
    entry = read_registry(reg)["tiny-cam"]
    card = entry["card"]
    assert card["parent"]["name"] == "tiny-parent" and card["parent"]["sha256"] == file_sha256(prior_file)
    assert card["data"]["degraded"]["digest"] == folder_digest(sorted(deg.glob("*.png")))
    assert card["data"]["degraded"]["n_images"] == 3 and card["data"]["clean"]["n_images"] == 2
    assert card["noise"]["sigma_range"] == [0.0, 0.2] and card["noise"]["low_fraction"] == 0.1
    assert card["noise"]["surrogate_sigma"]["source"].startswith("estimated")
    assert card["train"]["weights"] == {"fidelity": 1.0, "adversarial": DEFAULT_ADVERSARIAL_WEIGHT} and card["train"]["steps"] == 3
    assert {"stage2/fidelity_last", "stage2/adversarial_last", "stage2/critic_last"} <= set(card["metrics"])
    assert entry["sha256"] == file_sha256(wdir / "tiny-cam.safetensors")
    monkeypatch.setenv("PNPLEAVES_WEIGHTS_DIR", str(wdir))
    den = load_prior("tiny-cam", registry=reg)
    assert den(torch.rand(1, 3, 24, 20), 0.1).shape == (1, 3, 24, 20)
    assert load_prior(wdir / "tiny-cam.safetensors").card["parent"]["name"] == "tiny-parent"  # card in the file
    assert read_weights(wdir / "tiny-cam.safetensors")[1]["name"] == "tiny-cam"
    # exporting twice is refused, an unfinished run cannot be exported
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_finetuned(tmp_path / "run", "tiny-cam", weights_dir=wdir)
    finetune(_parent(prior_file), deg, sigma=SIGMA, out_dir=tmp_path / "half", stop_after=1,
             config=FinetuneConfig(**FAST))
    with pytest.raises(InputError, match="finish it first"):
        export_finetuned(tmp_path / "half", "tiny-half", weights_dir=wdir)


@pytest.mark.parametrize("case", ["empty", "unreadable", "grey", "clean-empty", "unknown-prior", "adv-without-clean",
                                  "bad-name"])
def test_bad_inputs_give_clear_errors_and_write_nothing(setup, tmp_path, case):
    prior_file, deg, clean = setup
    argv = {"--prior": str(prior_file), "--degraded": str(deg), "--out": "tiny-cam", "--steps": "2",
            "--patch-size": "32", "--run-dir": str(tmp_path / "run"), "--weights-dir": str(tmp_path / "w"),
            "--registry": str(tmp_path / "w" / "reg.toml")}
    bad = tmp_path / "bad"
    bad.mkdir()
    if case == "empty":
        argv["--degraded"], error, match = str(bad), FileNotFoundError, "--degraded: expected image files"
    elif case == "unreadable":
        (deg / "zz.png").write_bytes(b"not a png")
        error, match = InputError, "could not read"
    elif case == "grey":
        write_image(bad / "g.png", np.full((40, 40), 0.5))
        argv["--degraded"], error, match = str(bad), InputError, "grey image but the prior denoises colour"
    elif case == "clean-empty":
        argv["--clean"], error, match = str(bad), FileNotFoundError, "--clean: expected image files"
    elif case == "unknown-prior":
        argv["--prior"], error, match = "no-such-prior", InputError, "unknown prior 'no-such-prior'"
    elif case == "adv-without-clean":
        argv["--adversarial-weight"], error, match = "0.01", InputError, "needs unpaired clean images"
    else:
        argv["--out"], error, match = "bad name!", InputError, "letters, digits"
    with pytest.raises(error, match=match):
        _cli([x for kv in argv.items() for x in kv])
    assert not (tmp_path / "run").exists() and not (tmp_path / "w").exists()


def test_library_checks(setup, tmp_path):
    prior_file, deg, _ = setup
    parent = _parent(prior_file)
    with pytest.raises(InputError, match="stages"):
        FinetuneConfig(stages=1)
    with pytest.raises(InputError, match="leaves no real pair"):
        FinetuneConfig(batch_size=2, anchor_fraction=1.0)
    with pytest.raises(InputError, match="smaller than the critic's smallest input 32"):
        FinetuneConfig(patch_size=16).resolved(has_clean=True)
    assert FinetuneConfig(patch_size=16).resolved(has_clean=False).adversarial_weight == 0.0
    with pytest.raises(InputError, match="one per degraded image"):
        finetune(parent, deg, sigma=[0.1, 0.1], out_dir=tmp_path / "run", config=FinetuneConfig(**FAST))
    with pytest.raises(InputError, match="smaller than the 64x64"):
        finetune(parent, deg, sigma=SIGMA, out_dir=tmp_path / "run")
    with pytest.raises(InputError, match="architecture"):
        finetune(build_model("drunet", TINY_NET), deg, sigma=SIGMA, out_dir=tmp_path / "run")
    with pytest.raises(InputError, match="do not fit"):
        finetune(parent.module, deg, sigma=SIGMA, out_dir=tmp_path / "run", arch="drunet",
                 arch_kwargs={"nc": [8, 16, 32, 64], "nb": 2}, config=FinetuneConfig(**FAST))
    assert not (tmp_path / "run").exists()
