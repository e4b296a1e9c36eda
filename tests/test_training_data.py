"""pnpleaves.training.data: the batch stream is a pure function of (seed, step), whatever the workers."""

from __future__ import annotations

import pytest
import torch

from pnpleaves.io import read_image
from pnpleaves.training import data as data_module
from pnpleaves.training.data import NoisyPatchBatches, augment_dihedral, make_loader
from training_fixtures import make_cache, tiny_config


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

    monkeypatch.setattr(data_module, "LeavesDataset", StubLeaves)
    cfg = tiny_config(tmp_path, **{"data.source": "generate", "data.generator": "dl", "data.image_size": 32,
                                   "data.options": {"alpha": 3.0}, "data.augment": False})
    ds = NoisyPatchBatches(cfg, 3)
    assert calls[0][1:] == (32, "dl", 0, None, {"alpha": 3.0})
    batch = ds[2]
    # sample j of step t is image t * batch_size + j (image_size == patch_size: no crop)
    for j in range(4):
        assert torch.equal(batch["clean"][j], StubLeaves(1, 32)[2 * 4 + j])


def test_real_generator_source(tmp_path):
    cfg = tiny_config(tmp_path, **{"data.source": "generate", "data.generator": "dl", "data.image_size": 40,
                                   "data.options": {"alpha": 3.0, "r_min": 1.0, "r_max": 100.0},
                                   "data.batch_size": 2})
    batch = NoisyPatchBatches(cfg, 1)[0]
    assert batch["clean"].shape == (2, 3, 32, 32) and 0 <= batch["clean"].min() and batch["clean"].max() <= 1


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
