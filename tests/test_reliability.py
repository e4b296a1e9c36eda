"""Issue 14 (reliability): damaged files, wrong scales, interrupted and concurrent jobs, outputs that are
what they say. Each test names the item of the issue it covers; each failed on the code before its fix."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from pnpleaves import pnp_deblur, pnp_denoise, pnp_inpaint, pnp_super_resolve
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.images import to_bchw
from pnpleaves.models import build_model
from pnpleaves.priors import CallableDenoiser, load_prior, write_weights
from pnpleaves.sampling import sample_posterior, sample_prior

TINY = {"in_channels": 3, "out_channels": 3, "nc": [8, 16, 32, 64], "nb": 1}


def _tiny_model(seed: int = 0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model("drunet", TINY)


def _flip_tail_bytes(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) - n, len(data)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _nan_prior(x, sigma):
    return torch.full_like(x, float("nan"))


# --------------------------------------------------------------------------- item 1: damaged weights


def test_item1_flipped_bytes_in_a_weights_file_are_refused_by_path(tmp_path):
    """Item 1: a .safetensors file with flipped tensor bytes loads by path today; now its stored sha256
    (written by write_weights) does not match and load_prior refuses it."""
    path = write_weights(tmp_path / "w.safetensors", _tiny_model(), "drunet", TINY)
    load_prior(path)  # intact: loads
    _flip_tail_bytes(path)
    with pytest.raises(InputError, match="damaged"):
        load_prior(path)


def test_item1_non_finite_weights_are_refused(tmp_path):
    """Item 1: weights holding NaN are refused at load time (finite weights always checked)."""
    model = _tiny_model()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = write_weights(tmp_path / "nan.safetensors", model, "drunet", TINY)
    with pytest.raises(InputError, match="NaN/Inf"):
        load_prior(path)


def test_item1_weights_file_is_mode_0644(tmp_path):
    """Item 1 (smaller): model.safetensors is readable by all (mode 0644), whatever the umask."""
    old = os.umask(0o077)
    try:
        path = write_weights(tmp_path / "m.safetensors", _tiny_model(), "drunet", TINY)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("call", ["denoise", "deblur", "inpaint", "sr"])
def test_item1_non_finite_restoration_output_names_the_prior(call):
    """Item 1: a prior that returns NaN gives an error naming the prior, not an all-NaN image."""
    img = np.full((16, 16, 3), 0.5, np.float32)
    prior = CallableDenoiser(_nan_prior)
    prior.name = "broken-prior"
    with pytest.raises(InputError, match="broken-prior"):
        if call == "denoise":
            pnp_denoise(img, sigma=0.1, prior=prior)
        elif call == "deblur":
            pnp_deblur(img, np.ones((3, 3)) / 9, sigma=0.01, prior=prior, n_iter=2)
        elif call == "inpaint":
            pnp_inpaint(img, np.ones((16, 16)), sigma=0.01, prior=prior, n_iter=2)
        else:
            pnp_super_resolve(img, 2, sigma=0.01, prior=prior, n_iter=2)


def test_item1_non_finite_sample_names_the_prior():
    """Item 1: sample_prior with a NaN-returning prior raises instead of returning NaN images."""
    prior = CallableDenoiser(_nan_prior)
    with pytest.raises(InputError, match="NaN/Inf"):
        sample_prior(prior, n=1, size=8, steps=2, init="white", clip=False)


def _denoising_physics():
    from deepinv.physics import Denoising, GaussianNoise

    return Denoising(GaussianNoise(sigma=0.05))


def _tiny_gaussian_prior():
    from pnpleaves.sampling import GaussianDenoiser, GaussianFit

    return GaussianDenoiser(GaussianFit.power_law(8))


@pytest.mark.parametrize("bad", ["nan", "255", "hwc"])
def test_item1_sample_posterior_validates_its_observation(bad):
    """Item 1 / smaller: sample_posterior checks y like pnp_*: NaN, a 0-255 float and a torch (H, W, C)
    observation are refused with a clear message (before: NaN, nonsense, or an error inside conv)."""
    y = torch.full((3, 8, 8), 0.5)
    if bad == "nan":
        y[0, 0, 0] = float("nan")
    elif bad == "255":
        y = y * 255
    else:
        y = torch.full((8, 8, 3), 0.5)
        y[0, 0, 0] = 0.4
    with pytest.raises(InputError, match={"nan": "finite", "255": "255", "hwc": "permute"}[bad]):
        sample_posterior(y, _denoising_physics(), _tiny_gaussian_prior(), n_samples=1, n_iter=2)


def test_smaller_sample_posterior_without_physics_says_so():
    """Smaller item: sample_posterior(physics=None) says it needs the physics, not a noise level."""
    with pytest.raises(InputTypeError, match="physics"):
        sample_posterior(torch.full((3, 8, 8), 0.5), None, _tiny_gaussian_prior(), n_samples=1, n_iter=2)


# --------------------------------------------------------------------------- item 8: scales and layouts


def test_item8_float_255_scale_is_refused():
    """Item 8: a float image on the 0-255 scale raises (before: clipped to white with a warning)."""
    with pytest.raises(InputError, match="Divide it by 255"):
        to_bchw(np.full((8, 8, 3), 128.0))
    with pytest.raises(InputError, match="65535"):
        to_bchw(np.full((8, 8, 3), 30000.0))


def test_item8_slightly_noisy_floats_are_kept_silently(recwarn):
    """Item 8: noisy data slightly outside [0, 1] is used as it is, without a warning (before: clipped,
    with a warning advising to divide by 255)."""
    img = np.linspace(-0.3, 1.3, 64, dtype=np.float32).reshape(8, 8)
    t, layout = to_bchw(img)
    assert float(t.min()) == pytest.approx(-0.3) and float(t.max()) == pytest.approx(1.3)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    out = layout.restore(t)
    assert out.min() == 0.0 and out.max() == 1.0  # the output is clipped


def test_item8_torch_hwc_tensor_says_permute():
    """Item 8: a torch (H, W, C) tensor gets an error that says to permute."""
    with pytest.raises(InputError, match=r"permute\(2, 0, 1\)"):
        to_bchw(torch.rand(16, 16, 3))


# --------------------------------------------------------------------------- smaller items (API)


def test_smaller_sr_scale_too_large_is_refused_before_allocating():
    """Smaller item: pnp_super_resolve(scale=1000) is refused before allocating (before: 25.6 GB)."""
    with pytest.raises(InputError, match="MP"):
        pnp_super_resolve(np.full((160, 160), 0.5), 1000, prior=CallableDenoiser(lambda x, s: x))


def test_smaller_bogus_schedule_key_is_a_user_error():
    """Smaller item: schedule={'bogus': 1} gives an InputError listing the keys (before: raw TypeError)."""
    with pytest.raises(InputError, match="bogus"):
        pnp_deblur(np.full((16, 16), 0.5), np.ones((3, 3)) / 9, sigma=0.01, schedule={"bogus": 1},
                   prior=CallableDenoiser(lambda x, s: x))


def test_smaller_sample_prior_grey_from_an_rgb_prior(tmp_path):
    """Smaller item: sample_prior(channels=1) with an RGB prior works (before: failed inside conv)."""
    path = write_weights(tmp_path / "w.safetensors", _tiny_model(), "drunet", TINY)
    x = sample_prior(str(path), n=1, size=8, steps=2, channels=1, init="white")
    assert x.shape == (1, 1, 8, 8)


def test_smaller_mask_of_grey_levels_is_not_called_all_zeros():
    """Smaller items: a mask of 0.3 everywhere is not called "all zeros", and a photograph-like mask warns."""
    with pytest.warns(UserWarning, match="photograph"), pytest.raises(InputError, match="no value reaches 0.5"):
        pnp_inpaint(np.full((16, 16), 0.5), np.full((16, 16), 0.3), sigma=0.01, prior=CallableDenoiser(lambda x, s: x))


def test_smaller_photograph_as_kernel_warns():
    """Smaller item: a photograph-sized kernel warns."""
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="photograph"):
        k = rng.random((150, 150))
        pnp_deblur(np.full((200, 200), 0.5), k / k.sum(), sigma=0.01, n_iter=1,
                   prior=CallableDenoiser(lambda x, s: x))


# --------------------------------------------------------------------------- item 2: 16-bit colour PNG


def _png16_with_filters(data: np.ndarray, kinds: list[int]) -> bytes:
    """A 16-bit colour PNG of ``data`` (uint16 (H, W, C)) whose rows use the given filter types."""
    import struct
    import zlib

    h, w, c = data.shape
    bpp = 2 * c
    orig = np.ascontiguousarray(data, dtype=">u2").view(np.uint8).reshape(h, w, bpp).astype(np.int32)
    pad = np.zeros((h + 1, w + 1, bpp), np.int32)
    pad[1:, 1:] = orig
    a, b, cc = pad[1:, :-1], pad[:-1, 1:], pad[:-1, :-1]
    p = a + b - cc
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, cc))
    preds = [np.zeros_like(a), a, b, (a + b) >> 1, paeth]
    rows = [np.concatenate([[k], ((orig[y] - preds[k][y]) & 0xFF).reshape(-1)]).astype(np.uint8)
            for y, k in enumerate(kinds)]

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(np.concatenate(rows).tobytes()))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_item2_png16_all_filters_decode_exactly(tmp_path, channels):
    """Item 2: every PNG row filter (None, Sub, Up, Average, Paeth) decodes bit-exactly."""
    from pnpleaves.io import read_image

    rng = np.random.default_rng(0)
    data = rng.integers(0, 65536, (10, 7, channels), dtype=np.uint16)
    path = tmp_path / "f.png"
    path.write_bytes(_png16_with_filters(data, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]))
    got = read_image(path)
    want = data[..., :3].astype(np.float32) / 65535
    np.testing.assert_array_equal(got, want)


def test_item2_png16_paeth_decoding_is_vectorised(tmp_path):
    """Item 2: a 1024x1024 16-bit RGB PNG with Paeth filters decodes in well under the per-byte loop's time
    (about 3 s before; now a few tenths of a second)."""
    import time

    from pnpleaves.io import read_image

    data = (np.random.default_rng(1).integers(0, 65536, (1024, 1024, 3))).astype(np.uint16)
    path = tmp_path / "p.png"
    path.write_bytes(_png16_with_filters(data, [4] * 1024))
    t0 = time.perf_counter()
    got = read_image(path)
    elapsed = time.perf_counter() - t0
    np.testing.assert_array_equal(got, data.astype(np.float32) / 65535)
    assert elapsed < 1.5, f"decoding took {elapsed:.2f} s"


# --------------------------------------------------------------------------- items 5 and 7: output paths, JPEG


@pytest.mark.parametrize("name", ["out.txt", "out.npy", "out"])
def test_item5_unknown_output_extension_is_refused(tmp_path, name):
    """Item 5: write_image refuses .txt/.npy/no extension (before: silently wrote a TIFF under that name)."""
    from pnpleaves.io import write_image

    with pytest.raises(InputError, match="must end with"):
        write_image(tmp_path / name, np.zeros((4, 4, 3)))
    assert not (tmp_path / name).exists()


def test_item5_check_output_path_refuses_folders_and_unwritable_places(tmp_path):
    """Item 5: a folder given as --out (even with overwrite) and an unwritable folder are refused up front."""
    from pnpleaves.io import check_output_path

    (tmp_path / "d.png").mkdir()
    with pytest.raises(IsADirectoryError):
        check_output_path(tmp_path / "d.png", overwrite=True)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(PermissionError):
            check_output_path(ro / "x.png")
    finally:
        ro.chmod(0o700)
    assert check_output_path(tmp_path / "new" / "sub" / "x.png") == tmp_path / "new" / "sub" / "x.png"


def _run_cli(argv):
    from pnpleaves.cli import main

    return main([str(a) for a in argv])


def _identity_prior(tmp_path) -> Path:
    """A weights file whose DRUNet is built with zero weights except... any tiny prior will do for the CLI."""
    return write_weights(tmp_path / "tiny.safetensors", _tiny_model(), "drunet", TINY)


def test_item5_cli_checks_the_output_before_any_work(tmp_path, capsys, monkeypatch):
    """Item 5: `denoise --out folder --overwrite` and `--out x.txt` fail before reading the image or the prior."""
    import pnpleaves.cli.restore as restore

    called = []
    monkeypatch.setattr(restore, "read_image", lambda *a, **k: called.append(1))
    (tmp_path / "dir.png").mkdir()
    assert _run_cli(["denoise", tmp_path / "in.png", "--out", tmp_path / "dir.png", "--overwrite"]) == 2
    assert _run_cli(["denoise", tmp_path / "in.png", "--out", tmp_path / "x.txt"]) == 2
    assert not called
    err = capsys.readouterr().err
    assert "is a folder" in err and "must end with" in err


def test_item2_cli_writes_16bit_colour_png_at_the_input_depth(tmp_path):
    """Item 2: a 16-bit colour PNG is restored into a 16-bit PNG (before: 8-bit, as Pillow reports uint8)."""
    from pnpleaves._png16 import png_bit_depth
    from pnpleaves.io import write_image

    src = write_image(tmp_path / "in.png", np.random.default_rng(0).random((12, 12, 3)), bit_depth=16)
    out = tmp_path / "out.png"
    assert _run_cli(["denoise", src, "--out", out, "--sigma", "5", "--prior", _identity_prior(tmp_path)]) == 0
    assert png_bit_depth(out) == 16


def test_item7_jpeg_quality_defaults_high_and_is_an_option(tmp_path):
    """Item 7: JPEG output defaults to quality 95 (before: fixed at 75) and --quality sets it."""
    from pnpleaves.io import read_image, write_image

    img = np.random.default_rng(0).random((64, 64, 3)) * 0.5 + 0.25
    write_image(tmp_path / "hi.jpg", img)
    write_image(tmp_path / "lo.jpg", img, quality=75)
    err = [float(np.abs(read_image(tmp_path / n) - img).mean()) for n in ("hi.jpg", "lo.jpg")]
    assert err[0] < err[1]
    src = write_image(tmp_path / "in.png", img)
    assert _run_cli(["denoise", src, "--out", tmp_path / "q.jpg", "--sigma", "5", "--quality", "60",
                     "--prior", _identity_prior(tmp_path)]) == 0


@pytest.mark.parametrize("device", ["gpu", "cuda:99"])
def test_smaller_bad_device_is_one_line(tmp_path, device, capsys):
    """Smaller item: --device gpu and a CUDA device that is not there give one line (before: raw traceback)."""
    src = tmp_path / "in.png"
    from pnpleaves.io import write_image

    write_image(src, np.full((8, 8, 3), 0.5))
    assert _run_cli(["denoise", src, "--out", tmp_path / "o.png", "--sigma", "5", "--device", device,
                     "--prior", _identity_prior(tmp_path)]) == 2
    assert "device" in capsys.readouterr().err


def test_smaller_folder_given_as_image_or_kernel_says_folder(tmp_path, capsys):
    """Smaller item: a folder given as the image or the kernel is called a folder (before: "does not exist")."""
    assert _run_cli(["deblur", tmp_path, "--kernel", tmp_path, "--out", tmp_path / "o.png"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_smaller_text_file_named_npy_does_not_suggest_allow_pickle(tmp_path, capsys):
    """Smaller item: a text file named .npy is reported as not a .npy file, without inviting allow_pickle."""
    from pnpleaves.cli.restore import read_kernel

    (tmp_path / "k.npy").write_text("hello")
    with pytest.raises(InputError) as info:
        read_kernel(tmp_path / "k.npy")
    assert "allow_pickle" not in str(info.value)


def test_smaller_empty_prior_name_is_not_folder_dot():
    """Smaller item: load_prior("") says the name is empty (before: talked of folder '.')."""
    with pytest.raises(InputError, match="empty string"):
        load_prior("")


# --------------------------------------------------------------------------- items 3 and 4: generate


def _dl():
    from pnpleaves.generators import make_config

    return make_config("dl", None)


def test_item3_temp_files_are_never_listed_and_cleaned_on_resume(tmp_path):
    """Item 3: the truncated hidden temp PNG of an interrupted run is not an image for list_images (so
    stats / eval-denoiser work on the folder) and is removed when the run resumes."""
    from pnpleaves.generators.writer import write_dataset
    from pnpleaves.io import list_images

    write_dataset(tmp_path, _dl(), n=2, size=16, seed=0)
    temp = tmp_path / ".dl_000000002.png.tmp4242.png"
    temp.write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    assert [p.name for p in list_images(tmp_path)] == ["dl_000000000.png", "dl_000000001.png"]
    counts = write_dataset(tmp_path, _dl(), n=3, size=16, seed=0)
    assert counts == {"written": 1, "skipped": 2}
    assert not temp.exists()


def test_item4_second_writer_is_refused_and_stale_lock_taken_over(tmp_path):
    """Item 4: a folder locked by a live process refuses a second writer with a clear message; the lock of
    a process that is gone is taken over; the lock is released after the run."""
    import socket
    import subprocess
    import sys

    from pnpleaves.errors import UserError
    from pnpleaves.generators.writer import LOCK, write_dataset

    lock = tmp_path / LOCK
    lock.write_text(f"{os.getppid()} {socket.gethostname()}\n")
    with pytest.raises(UserError, match="being written by another"):
        write_dataset(tmp_path, _dl(), n=1, size=16)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid} {socket.gethostname()}\n")
    assert write_dataset(tmp_path, _dl(), n=1, size=16)["written"] == 1
    assert not lock.exists()
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 1


def test_item4_cache_is_ordered_by_seed_and_counts_each_file_once(tmp_path):
    """Item 4: the training cache follows the seeds, not the manifest's completion order, and a manifest
    line written twice gives one image (before: duplicated, in completion order)."""
    import json

    from pnpleaves.generators.writer import write_dataset
    from pnpleaves.training.data import CacheImages

    write_dataset(tmp_path, _dl(), n=3, size=16, seed=0)
    manifest = tmp_path / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[2], lines[0], lines[1], lines[0]]) + "\n")  # workers' order + a duplicate
    cache = CacheImages(tmp_path, preload=False)
    assert [p.name for p in cache.files] == [json.loads(l)["file"] for l in lines]


def test_smaller_leaves_dataset_slices_and_bad_indices():
    """Smaller item: ds[0:2] gives a batch and ds[1.5] a TypeError that says why (before: odd errors)."""
    from pnpleaves.generators import LeavesDataset

    ds = LeavesDataset(3, 16, model="dl")
    assert ds[0:2].shape == (2, 3, 16, 16)
    assert torch.equal(ds[-1], ds[2])
    with pytest.raises(TypeError, match="integers or slices"):
        ds[1.5]


def test_smaller_generator_size_limit_before_allocating():
    """Smaller item: vibrant_leaves(20000) and 100000 are refused before allocating (before: > 12 GB, MemoryError)."""
    from pnpleaves.generators import vibrant_leaves

    for size in (20000, 100000):
        with pytest.raises(InputError, match="MP"):
            vibrant_leaves(size, seed=0)


# --------------------------------------------------------------------------- item 5 in every command; smaller CLI items


def test_item5_sample_checks_its_output_before_sampling(tmp_path, monkeypatch, capsys):
    """Item 5: `sample` refuses an existing --out before sampling (before: after the whole sampling)."""
    import pnpleaves.cli.sample as sample_cli

    monkeypatch.setattr(sample_cli, "sample_prior", lambda *a, **k: pytest.fail("sampled before checking --out"))
    (tmp_path / "s.png").write_bytes(b"x")
    assert _run_cli(["sample", "--prior", "x", "--out", tmp_path / "s.png"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_smaller_sample_sigma_max_is_on_the_0_255_scale(tmp_path, monkeypatch):
    """Smaller item: `sample --sigma-max` is on the 0-255 scale like every other --sigma (before: [0, 1])."""
    import pnpleaves.cli.sample as sample_cli

    seen = {}

    def fake(prior, **kw):
        seen.update(kw)
        return torch.zeros(kw["n"], 3, 4, 4)

    monkeypatch.setattr(sample_cli, "sample_prior", fake)
    assert _run_cli(["sample", "--prior", "x", "--n", "1", "--size", "4", "--sigma-max", "51",
                     "--out", tmp_path / "s.png"]) == 0
    assert seen["sigma_max"] == pytest.approx(0.2)
    assert _run_cli(["sample", "--prior", "x", "--sigma-max", "0.2", "--out", tmp_path / "t.png"]) == 2


def test_item5_demo_does_not_overwrite_silently(tmp_path, monkeypatch, capsys):
    """Item 5: `demo` refuses to replace its figure without --overwrite, before any work (before: silent)."""
    import pnpleaves.cli.demo as demo_cli

    monkeypatch.setattr(demo_cli, "run_demo", lambda *a, **k: pytest.fail("ran before checking the figure"))
    (tmp_path / "demo_deblur.png").write_bytes(b"x")
    assert _run_cli(["demo", "--out-dir", tmp_path]) == 2
    assert "already exists" in capsys.readouterr().err


def test_item5_eval_and_stats_check_outputs_first(tmp_path, capsys):
    """Item 5: eval-denoiser --csv and stats --plot refuse a bad output before any work."""
    from pnpleaves.io import write_image

    write_image(tmp_path / "a.png", np.full((8, 8, 3), 0.5))
    assert _run_cli(["eval-denoiser", "--prior", "x", "--testset", tmp_path, "--sigma", "25",
                     "--csv", tmp_path / "t.txt"]) == 2
    assert _run_cli(["stats", tmp_path, "--plot", tmp_path / "p.npy"]) == 2
    err = capsys.readouterr().err
    assert err.count("must end with") == 2


def test_smaller_non_utf8_config_is_named(tmp_path):
    """Smaller item: a non-UTF-8 config file is named in the error (before: a bare UnicodeDecodeError)."""
    from pnpleaves.training.config import TrainConfig

    p = tmp_path / "bad.toml"
    p.write_bytes(b'name = "\xff\xfe"\n')
    with pytest.raises(InputError, match="bad.toml.*UTF-8"):
        TrainConfig.from_toml(p)


def test_smaller_lanczos_kernel_lists_the_choices(tmp_path, capsys):
    """Smaller item: `super-resolve --kernel lanczos` lists bicubic/gaussian (before: "file does not exist")."""
    from pnpleaves.io import write_image

    src = write_image(tmp_path / "in.png", np.full((8, 8, 3), 0.5))
    assert _run_cli(["super-resolve", src, "--scale", "2", "--kernel", "lanczos", "--out", tmp_path / "o.png"]) == 2
    assert "'bicubic', 'gaussian'" in capsys.readouterr().err


# --------------------------------------------------------------------------- item 6: nothing outside the repository


def test_item6_shipped_configs_and_defaults_point_inside_the_repository():
    """Item 6: no shipped config, default or benchmark points outside the repository ("../shared/...")."""
    from pnpleaves.training.config import TrainConfig

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for sub in ("pnpleaves", "benchmarks"):
        for path in (root / sub).rglob("*"):
            if path.suffix in (".py", ".toml") and "../shared" in path.read_text(encoding="utf-8", errors="replace"):
                offenders.append(str(path.relative_to(root)))
    assert not offenders, offenders
    assert not TrainConfig().dev.folder
    for cfg in (root / "pnpleaves" / "configs").glob("*.toml"):
        assert not TrainConfig.from_toml(cfg).dev.folder.startswith("..")


def test_item3_resume_after_a_file_written_without_its_manifest_line(tmp_path):
    """Item 3: a run killed between a worker's file and the manifest line resumes (before: refused the
    folder as holding a foreign file)."""
    from pnpleaves.generators.writer import write_dataset

    write_dataset(tmp_path, _dl(), n=1, size=16, seed=0)
    lines = (tmp_path / "manifest.jsonl").read_text()
    (tmp_path / "manifest.jsonl").write_text("")  # the killed parent never wrote the line
    counts = write_dataset(tmp_path, _dl(), n=2, size=16, seed=0)
    assert counts == {"written": 2, "skipped": 0}
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 2
    assert lines
