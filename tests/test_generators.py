import json
import math

import numpy as np
import pytest
from scipy import ndimage, stats

import pnpleaves as pl
from pnpleaves.generators import colors, occlusion
from pnpleaves.generators.depth import blur
from pnpleaves.generators.writer import write_dataset

SMALL_VL = dict(r_min=3, r_max=60)
SMALL_DL = dict(r_min=1, r_max=60)


@pytest.mark.parametrize("fn,opts", [(pl.dead_leaves, SMALL_DL), (pl.vibrant_leaves, SMALL_VL)])
def test_seed_determinism(fn, opts):
    a = fn(48, seed=3, **opts)
    b = fn(48, seed=3, **opts)
    c = fn(48, seed=4, **opts)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fn,opts", [(pl.dead_leaves, SMALL_DL), (pl.vibrant_leaves, SMALL_VL)])
@pytest.mark.parametrize("size", [37, (37, 51), (51, 37), 1])
def test_shape_dtype_range(fn, opts, size):
    img = fn(size, seed=0, **opts)
    h, w = (size, size) if isinstance(size, int) else size
    assert img.shape == (h, w, 3) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0 and np.isfinite(img).all()


@pytest.mark.parametrize("color", ["uniform", "natural", "synthetic", "handcrafted"])
def test_color_laws_and_grayscale(color):
    img = pl.dead_leaves(40, seed=1, color=color, **SMALL_DL)
    assert img.std() > 0.01
    grey = pl.dead_leaves(40, seed=1, color=color, grayscale=True, **SMALL_DL)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_dead_leaves_covers_every_pixel():
    for seed in range(3):
        _, info = pl.dead_leaves((64, 80), seed=seed, r_min=1, r_max=200, return_info=True)
        assert info["uncovered"] == 0 and (info["label"] >= 0).all()


def test_vibrant_leaves_covers_every_pixel():
    _, info = pl.vibrant_leaves(64, seed=2, return_info=True, preset="no-depth", **SMALL_VL)
    assert (info["label"] >= 0).all()
    # with depth of field, the background is drawn only where the middle plane leaves it visible;
    # every pixel is covered by one of the two
    for seed in range(4):
        _, info = pl.vibrant_leaves(64, seed=seed, return_info=True, supersample=1, **SMALL_VL)
        assert ((info["label"] >= 0) | (info["middle_label"] >= 0) | info["foreground_opaque"]).all()
        assert (info["label"] == -2).any() or (info["middle_label"] < 0).all()


def _window_cdf(r, alpha, lo, hi, h, w):
    grid = np.geomspace(lo, hi, 20001)
    dens = grid ** (-alpha) * (w + 2 * grid) * (h + 2 * grid)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    return np.interp(r, grid, cdf / cdf[-1])


@pytest.mark.parametrize("alpha", [3.0, 2.0, 1.0, 4.5])
def test_radii_follow_the_power_law(alpha):
    rng = np.random.default_rng(0)
    r = occlusion.sample_power_law(rng, 20000, alpha, 2.0, 300.0)
    if abs(alpha - 1) < 1e-9:
        cdf = lambda x: np.log(x / 2.0) / np.log(150.0)  # noqa: E731
    else:
        cdf = lambda x: (x ** (1 - alpha) - 2.0 ** (1 - alpha)) / (300.0 ** (1 - alpha) - 2.0 ** (1 - alpha))  # noqa: E731
    assert stats.kstest(r, cdf).pvalue > 1e-3
    # the wrong exponent is rejected: the test can fail
    wrong = lambda x: (x ** (-1.5) - 2.0 ** (-1.5)) / (300.0 ** (-1.5) - 2.0 ** (-1.5))  # noqa: E731
    if alpha != 2.5:
        assert stats.kstest(r, wrong).pvalue < 1e-6
    # leaves that can meet a window: density r^-alpha (W + 2r)(H + 2r), sampled exactly
    rw = occlusion.sample_window_radii(rng, 20000, alpha, 2.0, 300.0, 40, 70)
    assert stats.kstest(rw, lambda x: _window_cdf(x, alpha, 2.0, 300.0, 40, 70)).pvalue > 1e-3


def test_dead_leaves_radii_in_the_image():
    _, info = pl.dead_leaves(64, seed=0, alpha=3.0, r_min=1, r_max=100, return_info=True)
    r = info["radii"]
    assert r.min() >= 1 and r.max() <= 100
    assert stats.kstest(r, lambda x: _window_cdf(x, 3.0, 1.0, 100.0, 64, 64)).pvalue > 1e-3


def test_front_to_back_equals_painter_algorithm():
    """Drawing front to back onto uncovered pixels = painting back to front (the definition)."""
    rng = np.random.default_rng(5)
    h, w = 37, 51
    r = occlusion.sample_window_radii(rng, 400, 3.0, 1.0, 30.0, h, w)
    cx, cy = rng.uniform(-r, w + r), rng.uniform(-r, h + r)
    canvas = occlusion.Canvas(h, w)
    canvas.add_leaves(cx, cy, r, None, h * w)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    painted = np.full((h, w), -1)
    for k in range(canvas.n_leaves - 1, -1, -1):
        painted[(xx - cx[k]) ** 2 + (yy - cy[k]) ** 2 <= r[k] ** 2] = k
    assert np.array_equal(canvas.label_map(), painted)
    # and the generic shape path (a test function) agrees with the exact disk spans
    other = occlusion.Canvas(h, w)
    other.add_leaves(cx, cy, r, lambda k, dx, dy: dx * dx + dy * dy <= r[k] ** 2, h * w)
    assert np.array_equal(other.label, canvas.label)


def test_partial_coverage_stops_at_the_exact_leaf():
    rng = np.random.default_rng(1)
    h, w = 40, 40
    r = occlusion.sample_window_radii(rng, 200, 3.0, 2.0, 20.0, h, w)
    cx, cy = rng.uniform(-r, w + r), rng.uniform(-r, h + r)
    canvas = occlusion.Canvas(h, w)
    target = 800
    used = canvas.add_leaves(cx, cy, r, None, target)
    assert canvas.covered >= target
    before = occlusion.Canvas(h, w)
    before.add_leaves(cx[: used - 1], cy[: used - 1], r[: used - 1], None, h * w)
    assert before.covered < target


def _texture_counts(preset):
    counts = {}
    for seed in range(3):
        _, info = pl.vibrant_leaves(96, seed=seed, preset=preset, return_info=True, r_min=4, r_max=120, flat_below=8)
        for k, v in info["textures"].items():
            counts[k] = counts.get(k, 0) + v
        counts.setdefault("planes", set()).update(info["planes"])
        counts.setdefault("blur", []).append(info["blur"])
    return counts


def test_ablation_presets_remove_what_they_claim():
    full = _texture_counts("vl")
    assert full["periodic"] > 0 and full["micro"] > 0 and full["mix"] > 0 and full["perspective"] > 0
    assert full["planes"] == {"background", "middle", "foreground"}
    no_depth = _texture_counts("no-depth")
    assert no_depth["planes"] == {"background"} and no_depth["perspective"] == 0
    assert all(b == (0.0, 0.0) for b in no_depth["blur"])
    no_micro = _texture_counts("no-micro")
    assert no_micro["micro"] == 0 and no_micro["mix"] == 0 and no_micro["periodic"] > 0
    no_periodic = _texture_counts("no-periodic")
    assert no_periodic["periodic"] == 0 and no_periodic["mix"] == 0 and no_periodic["warp"] == 0
    assert no_periodic["micro"] > 0
    none = _texture_counts("no-textures")
    assert none["periodic"] == none["micro"] == none["mix"] == 0 and none["gradient"] > 0


def test_no_textures_leaves_are_smooth():
    """Without textures every visible leaf is flat or a smooth gradient: tiny Laplacian inside leaves."""
    img, info = pl.vibrant_leaves(96, seed=0, preset="no-textures", depth=False, supersample=1,
                                  return_info=True, r_min=4, r_max=120)
    tex, info_t = pl.vibrant_leaves(96, seed=0, preset="vl", depth=False, supersample=1,
                                    return_info=True, r_min=4, r_max=120)

    def interior_roughness(im, label):
        lap = np.abs(ndimage.laplace(im.mean(-1)))
        inner = ndimage.minimum_filter(label, 3) == ndimage.maximum_filter(label, 3)
        return lap[inner].mean()

    assert interior_roughness(img, info["label"]) < 0.01
    assert interior_roughness(tex, info_t["label"]) > 2 * interior_roughness(img, info["label"])


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(alpha=float("nan")), "alpha"),
        (dict(alpha=float("inf")), "alpha"),
        (dict(r_min=0), "r_min"),
        (dict(r_min=-1), "r_min"),
        (dict(r_min=50, r_max=50), "r_min"),
        (dict(r_min=60, r_max=50), "r_min"),
        (dict(color="sepia"), "color"),
    ],
)
@pytest.mark.parametrize("fn", [pl.dead_leaves, pl.vibrant_leaves])
def test_bad_parameters_raise_clear_errors(fn, kwargs, name):
    with pytest.raises(ValueError) as exc:
        fn(32, seed=0, **kwargs)
    msg = str(exc.value)
    assert name in msg and "got" in msg


@pytest.mark.parametrize("size", [0, -3, (10, 0)])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size must be an integer >= 1; got"):
        pl.vibrant_leaves(size, seed=0)


def test_unknown_preset_and_option():
    with pytest.raises(ValueError, match="preset must be one of .*'no-depth'.*got 'no-leaves'"):
        pl.vibrant_leaves(32, seed=0, preset="no-leaves")
    with pytest.raises(TypeError, match="unknown option"):
        pl.dead_leaves(32, seed=0, radius=3)


def test_lab_round_trip():
    rgb = np.random.default_rng(0).random((1000, 3), dtype=np.float32)
    assert np.abs(colors.lab_to_rgb(colors.rgb_to_lab(rgb)) - rgb).max() < 1e-4
    white = colors.rgb_to_lab(np.ones(3, np.float32))
    assert abs(white[0] - 100) < 1e-3 and abs(white[1]) < 1e-2 and abs(white[2]) < 1e-2


def test_natural_colors_follow_the_photographs():
    rng = np.random.default_rng(0)
    law = colors.ColorLaw("natural", rng)
    sample = law.sample(20000)
    # the photo's own pixel mean, to within the histogram quantisation
    from PIL import Image
    import skimage.data
    from pathlib import Path

    path = Path(skimage.data.__file__).parent / colors.DEFAULT_PHOTOS[law.photo]
    photo = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    assert np.abs(sample.mean(0) - photo.reshape(-1, 3).mean(0)).max() < 0.02


def test_synthetic_color_law_statistics():
    rng = np.random.default_rng(0)
    rgb = colors.ColorLaw("synthetic", rng).sample(20000)
    assert rgb.min() >= 0 and rgb.max() <= 1
    lab = colors.rgb_to_lab(rgb)
    table = colors.SYNTHETIC_COLOR_MODEL
    w = table[:, 0] / table[:, 0].sum()
    mean_a = (w * table[:, 1]).sum()
    assert abs(lab[:, 1].mean() - mean_a) < 2.0  # clipping to the gamut moves it a little


def test_blur_matches_scipy_and_preserves_mean():
    x = np.random.default_rng(0).random((37, 51, 3)).astype(np.float32)
    for sigma in (0.7, 2.5):
        ref = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="reflect", truncate=3.0)
        assert np.abs(blur(x, sigma, "gaussian") - ref).max() < 1e-5
    assert np.array_equal(blur(x, 0.0, "gaussian"), x)
    lens = blur(np.ones((20, 20, 1), np.float32), 3.0, "lens")
    assert np.allclose(lens, 1.0, atol=1e-5)


def test_leaves_dataset_is_independent_of_workers():
    import torch

    ds = pl.LeavesDataset(4, 32, model="vl", seed=7, **SMALL_VL)
    single = torch.stack([ds[i] for i in range(4)])
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    multi = torch.cat(list(loader))
    assert torch.equal(single, multi)
    assert np.array_equal(ds[2].numpy().transpose(1, 2, 0), pl.vibrant_leaves(32, seed=9, **SMALL_VL))
    with pytest.raises(IndexError):
        ds[4]


def test_write_dataset_resumes_and_refuses_other_datasets(tmp_path):
    from pnpleaves.generators import make_config, read_manifest

    cfg = make_config("dl", r_min=2, r_max=40)
    counts = write_dataset(tmp_path, cfg, n=3, size=24, seed=5)
    assert counts == {"written": 3, "skipped": 0}
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    mtimes = {p: (tmp_path / p).stat().st_mtime_ns for p in files}
    counts = write_dataset(tmp_path, cfg, n=5, size=24, seed=5, workers=2)
    assert counts == {"written": 2, "skipped": 3}
    assert all((tmp_path / p).stat().st_mtime_ns == t for p, t in mtimes.items())  # not rewritten
    entries = read_manifest(tmp_path)
    assert sorted(e["seed"] for e in entries) == [5, 6, 7, 8, 9]
    img = pl.io.read_image(tmp_path / entries[0]["file"]) if hasattr(pl, "io") else None
    from pnpleaves.io import read_image

    img = read_image(tmp_path / "dl_000000006.png")
    ref = pl.dead_leaves(24, seed=6, r_min=2, r_max=40)
    assert np.abs(img - ref).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(FileExistsError, match="different dataset"):
        write_dataset(tmp_path, make_config("dl", r_min=3, r_max=40), n=2, size=24, seed=5)
    with pytest.raises(FileExistsError, match="different dataset"):
        write_dataset(tmp_path, cfg, n=2, size=32, seed=5)
    (tmp_path / "dl_000000010.png").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="not in the manifest"):
        write_dataset(tmp_path, cfg, n=6, size=24, seed=5)
    assert (tmp_path / "dl_000000010.png").read_bytes() == b"mine"
    assert json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])["config"]["model"] == "dl"


def test_generate_cli(tmp_path, capsys):
    from pnpleaves.cli import main

    out = tmp_path / "set"
    assert main(["generate", "--model", "vl", "--n", "2", "--size", "40", "--out", str(out), "--preset", "no-depth",
                 "--option", "r_min=4"]) == 0
    assert len(list(out.glob("*.png"))) == 2
    assert main(["generate", "--model", "dl", "--n", "2", "--size", "40", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different dataset" in err and "Traceback" not in err
    assert main(["generate", "--model", "vl", "--n", "2", "--size", "40", "--out", str(tmp_path / "x"),
                 "--option", "alpha=-1"]) == 2
    assert "alpha must be" in capsys.readouterr().err
    # the Dead Leaves presets are accepted for --model dl, and a preset of the other model is refused
    dl_out = tmp_path / "dl"
    assert main(["generate", "--model", "dl", "--preset", "dl-mix", "--n", "1", "--size", "40", "--out", str(dl_out)]) == 0
    first = json.loads((dl_out / "manifest.jsonl").read_text().splitlines()[0])["config"]
    assert first["r_min_choices"] == [1, 16]
    assert main(["generate", "--model", "dl", "--preset", "vl-r2", "--n", "1", "--size", "40",
                 "--out", str(tmp_path / "y")]) == 2
    assert "Dead Leaves presets" in capsys.readouterr().err


def test_import_is_light():
    import subprocess
    import sys

    code = "import pnpleaves, sys; pnpleaves.vibrant_leaves(16, seed=0, r_min=2, r_max=20); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("blur_kind", ["gaussian", "lens"])
def test_hidden_leaves_are_skipped_without_changing_the_image(blur_kind):
    """Culling (never drawing or texturing what the planes in front hide) changes no pixel."""
    from pnpleaves.generators.config import make_config
    from pnpleaves.generators.vibrant_leaves import Renderer

    cfg = make_config("vl", r_min=3, r_max=80, blur=blur_kind)
    for seed in range(3):
        fast, info_fast = Renderer(64, 72, cfg, seed).render()
        full, info_full = Renderer(64, 72, cfg, seed, cull=False).render()
        assert np.abs(fast - full).max() < 1e-4
        assert info_fast["planes"]["background"] <= info_full["planes"]["background"]
