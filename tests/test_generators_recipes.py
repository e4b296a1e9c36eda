"""The data recipes of issue 18: presets, the reference-faithful textures and depth blur, colour
sources, the parametric patch law, and the bit-for-bit ``pnpleaves-0.1`` preset."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from scipy import ndimage

import pnpleaves as pl
from pnpleaves.generators import DL_PRESETS, PRESETS, colors, config_from_dict, config_to_dict, make_config
from pnpleaves.generators.depth import blur, gaussian_half_width
from pnpleaves.generators.textures import field_side, micro_fields


def _u8_hash(img: np.ndarray) -> str:
    q = np.round(img.astype(np.float64) * 255).astype(np.uint8)
    return hashlib.sha256(q.tobytes()).hexdigest()[:20]


#: 64x64 images of pnpleaves 0.1 (commit 64faaa9, before the recipe work), 8-bit quantised.
OLD_VL = {
    ("vl", 0): "08afd577df13464ea9b1", ("vl", 7): "c543125c0a4f25b5e5bf",
    ("no-depth", 0): "b07ffbd4e7b914a66578", ("no-depth", 7): "dedc7d5f9ed71fbc2dad",
    ("no-textures", 0): "a998294921c3acb428d8", ("no-textures", 7): "8e2af1a82e06851a6124",
    ("synthetic", 0): "68c079d06bb3c4fb2fcc", ("synthetic", 7): "aed46d2d3bb80a2518a4",
    ("uniform-lens", 0): "943b3769976bee8344db", ("uniform-lens", 7): "9ae49a43c17aa1eb9157",
}
OLD_VL_OPTIONS = {"vl": {}, "no-depth": {"depth": False},
                  "no-textures": {"micro_textures": False, "periodic_textures": False},
                  "synthetic": {"color": "synthetic"}, "uniform-lens": {"color": "uniform", "blur": "lens"}}
OLD_DL = {0: "624805bed30e0bd21e60", 7: "d81539c451d9448223ff"}


@pytest.mark.parametrize("case,seed", sorted(OLD_VL))
def test_pnpleaves_0_1_preset_reproduces_the_old_vibrant_leaves(case, seed):
    img = pl.vibrant_leaves(64, seed=seed, preset="pnpleaves-0.1", **OLD_VL_OPTIONS[case])
    assert _u8_hash(img) == OLD_VL[(case, seed)]


@pytest.mark.parametrize("seed", sorted(OLD_DL))
def test_pnpleaves_0_1_preset_reproduces_the_old_dead_leaves(seed):
    assert _u8_hash(pl.dead_leaves(64, seed=seed, preset="pnpleaves-0.1")) == OLD_DL[seed]


def test_old_default_values_are_kept_in_the_preset():
    old = make_config("vl", "pnpleaves-0.1")
    assert (old.r_min, old.r_max, old.micro_model, old.periodic_profile, old.photos_per_image) == \
        (10.0, 500.0, "two-color", "centred", 1)
    dl = make_config("dl", "pnpleaves-0.1")
    assert (dl.r_min, dl.r_max, dl.r_min_choices, dl.supersample) == (10.0, 500.0, (), 1)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_vl_preset_is_deterministic_and_in_range(preset):
    a = pl.vibrant_leaves(48, seed=5, preset=preset)
    b = pl.vibrant_leaves(48, seed=5, preset=preset)
    c = pl.vibrant_leaves(48, seed=6, preset=preset)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == (48, 48, 3)
    assert a.min() >= 0 and a.max() <= 1 and np.isfinite(a).all() and a.std() > 0.01


@pytest.mark.parametrize("preset", sorted(DL_PRESETS))
def test_every_dl_preset_is_deterministic_and_in_range(preset):
    a = pl.dead_leaves(48, seed=5, preset=preset)
    assert np.array_equal(a, pl.dead_leaves(48, seed=5, preset=preset))
    assert not np.array_equal(a, pl.dead_leaves(48, seed=6, preset=preset))
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


def test_default_recipe_is_the_vl_r2_preset():
    assert make_config("vl") == make_config("vl", "vl-r2")
    cfg = make_config("vl")
    assert cfg.micro_model == "patch" and cfg.periodic_profile == "reference" and cfg.blur_shared


def test_synthetic_colour_law_never_reads_a_photograph(monkeypatch):
    def no_photo(*args, **kwargs):
        raise AssertionError("a photograph was read")

    for name in ("_load_photo", "natural_photos", "natural_histograms", "source_paths"):
        monkeypatch.setattr(colors, name, no_photo)
    img = pl.vibrant_leaves(96, seed=3, preset="vl-r2-synthetic")
    assert img.std() > 0.02
    cfg = make_config("vl", "vl-r2-synthetic")
    for kind in ("micro", "mix"):  # micro-textures take their local statistics from the patch law
        opts = dict(texture_weights={"micro": (0, 1, 0), "mix": (0, 0, 1)}[kind], flat_below=0.0, depth=False)
        assert pl.vibrant_leaves(48, seed=1, config=make_config("vl", "vl-r2-synthetic", **opts)).std() > 0.01
    pl.dead_leaves(48, seed=0, color="synthetic", r_min=2, r_max=60)
    assert cfg.color == "synthetic"
    with pytest.raises(AssertionError, match="photograph was read"):
        pl.vibrant_leaves(32, seed=0, r_min=4, r_max=40)


def _forbid_photographs(monkeypatch):
    def no_photo(*args, **kwargs):
        raise AssertionError("a photograph was read")

    for name in ("_load_photo", "natural_photos", "natural_histograms", "source_paths"):
        monkeypatch.setattr(colors, name, no_photo)


def test_parametric_laws_count_their_numbers():
    """What "synthetic" means: 106 numbers (90 free) fitted on photographs; "handcrafted": 8 set by hand."""
    assert colors.SYNTHETIC_COLOR_MODEL.size + colors.SYNTHETIC_PATCH_MODEL.size == 106
    assert np.isclose(colors.SYNTHETIC_COLOR_MODEL[:, 0].sum(), 1.0, atol=1e-4)  # the weights: one is not free
    cov = colors.SYNTHETIC_PATCH_MODEL[1:]
    assert np.allclose(cov, cov.T)  # 21 of its 36 entries are free
    assert (colors.SYNTHETIC_COLOR_MODEL.size - 1) + (6 + 21) == 90
    law = colors.HANDCRAFTED_LAW
    assert law.n_parameters == 8 and all(isinstance(v, float) for v in dataclasses.astuple(law))


def test_handcrafted_colour_law_is_seeded_and_in_range(monkeypatch):
    _forbid_photographs(monkeypatch)
    a = colors.ColorLaw("handcrafted", np.random.default_rng(4)).sample(5000)
    b = colors.ColorLaw("handcrafted", np.random.default_rng(4)).sample(5000)
    c = colors.ColorLaw("handcrafted", np.random.default_rng(5)).sample(5000)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (5000, 3) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    lab = colors.HANDCRAFTED_LAW.sample_lab(np.random.default_rng(0), 40_000)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    assert abs(lab[:, 0].mean() - 100 * 2 / 4.5) < 0.5 and abs(chroma.mean() - 20) < 0.5
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360
    assert 0.55 < np.mean(np.abs(hue - 60) < 60) < 0.75  # the warm lobe (~0.5 x 0.91) plus a third of the rest
    rng = np.random.default_rng(1)
    for _ in range(100):
        mean, chol = colors.ColorLaw("handcrafted", rng).patch(rng)
        cov = chol @ chol.T
        assert np.all(np.linalg.eigvalsh(cov) > 0) and 0 <= mean[0] <= 100
        assert np.isclose(cov[1, 1], cov[2, 2]) and np.isclose(cov[1, 1], 0.25 * cov[0, 0], rtol=1e-3)


def test_handcrafted_colour_law_never_reads_a_photograph(monkeypatch):
    _forbid_photographs(monkeypatch)
    a = pl.vibrant_leaves(64, seed=3, preset="vl-r2-handcrafted")
    assert np.array_equal(a, pl.vibrant_leaves(64, seed=3, preset="vl-r2-handcrafted"))
    assert a.std() > 0.02 and a.min() >= 0 and a.max() <= 1
    for kind in ("micro", "mix"):  # micro-textures take their local statistics from the hand-set patch law
        opts = dict(texture_weights={"micro": (0, 1, 0), "mix": (0, 0, 1)}[kind], flat_below=0.0, depth=False)
        assert pl.vibrant_leaves(48, seed=1, config=make_config("vl", "vl-r2-handcrafted", **opts)).std() > 0.01
    assert pl.vibrant_leaves(48, seed=1, preset="vl-r2-handcrafted", micro_model="two-color").std() > 0.01
    assert pl.dead_leaves(48, seed=0, color="handcrafted", r_min=2, r_max=60).std() > 0.01
    with pytest.raises(AssertionError, match="photograph was read"):
        pl.vibrant_leaves(32, seed=0, r_min=4, r_max=40)


def test_handcrafted_preset_round_trips_and_differs_from_vl_r2_by_its_colours_only():
    cfg = make_config("vl", "vl-r2-handcrafted")
    assert cfg.color == "handcrafted"
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg
    assert cfg == dataclasses.replace(make_config("vl", "vl-r2-synthetic"), color="handcrafted")
    differ = {k for k, v in config_to_dict(cfg).items() if config_to_dict(make_config("vl", "vl-r2"))[k] != v}
    assert differ == {"color"}


def test_handcrafted_cli_dataset_round_trip(tmp_path):
    from pnpleaves.cli import main

    out = tmp_path / "hc"
    assert main(["generate", "--model", "vl", "--preset", "vl-r2-handcrafted", "--n", "2", "--size", "32",
                 "--out", str(out), "--seed", "7"]) == 0
    first = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert first["config"]["color"] == "handcrafted"
    assert config_from_dict(first["config"]) == make_config("vl", "vl-r2-handcrafted")
    assert main(["generate", "--model", "dl", "--color", "handcrafted", "--n", "1", "--size", "32",
                 "--out", str(tmp_path / "dl")]) == 0


def test_synthetic_patch_law_gives_valid_covariances():
    rng = np.random.default_rng(0)
    stds = []
    for _ in range(200):
        mean, chol = colors._sample_synthetic_patch(rng)
        cov = chol @ chol.T
        assert np.all(np.linalg.eigvalsh(cov) > 0) and 0 <= mean[0] <= 100
        stds.append(np.sqrt(np.diag(cov)))
    # the fitted law: median L* std of a 50x50 photo patch exp(1.94) ~ 7
    assert 4 < np.median(np.array(stds)[:, 0]) < 12


def test_natural_patch_statistics_follow_the_photograph():
    rng = np.random.default_rng(1)
    law = colors.ColorLaw("natural", rng, photos_per_image=1)
    mean, chol = law.patch(rng)
    assert mean.shape == (3,) and chol.shape == (3, 3) and np.allclose(np.triu(chol, 1), 0)
    assert 0 <= mean[0] <= 100


def test_photo_mixture_draws_from_several_photographs():
    rng = np.random.default_rng(0)
    one = colors.ColorLaw("natural", np.random.default_rng(0), photos_per_image=1)
    assert one.photos.tolist() == [one.photo]
    law = colors.ColorLaw("natural", rng, photos_per_image=3)
    assert len(set(law.photos.tolist())) == 3
    assert len(colors.natural_histograms(None)) // 2 == len(colors.SKIMAGE_PHOTOS)
    assert len(colors.natural_histograms("skimage-classic")) // 2 == 5
    sample = law.sample(3000)
    assert sample.shape == (3000, 3) and 0 <= sample.min() and sample.max() <= 1


@pytest.mark.parametrize("slope", [0.8, 1.6])
def test_micro_fields_have_the_requested_spectrum(slope):
    f = micro_fields(np.random.default_rng(0), 256, slope, "isotropic", n=4)
    assert np.allclose(f.mean(axis=(1, 2)), 0, atol=1e-4) and np.allclose(f.std(axis=(1, 2)), 1, atol=1e-4)
    amp = np.abs(np.fft.fft2(f)).mean(0)
    fy, fx = np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij")
    r = np.hypot(fx, fy)
    ring = lambda lo, hi: amp[(r >= lo) & (r < hi)].mean()  # noqa: E731
    measured = np.log(ring(0.04, 0.05) / ring(0.32, 0.4)) / np.log(0.36 / 0.045)
    assert abs(measured - slope) < 0.1
    aniso = micro_fields(np.random.default_rng(0), 128, 1.0, "anisotropic", n=16)
    amp_a = np.abs(np.fft.fft2(aniso)).mean(0)
    # 1 / (|fx| + |fy|): along an axis twice the amplitude on the diagonal at the same |fx|
    assert amp_a[0, 10:30].mean() > 1.6 * amp_a[10:30, 10:30].diagonal().mean()


def test_field_sides_cover_the_leaf():
    for extent in (0.0, 5.0, 20.0, 45.0, 100.0, 300.0):
        side = field_side(extent, 10_000)
        assert side >= 2 * extent + 60 and side <= 1.5 * (2 * extent + 60) + 64
    assert field_side(1e6, 512) == 512


def _texture_only(preset, kind, seed, size=64):
    weights = {"micro": (0, 1, 0), "periodic": (1, 0, 0)}[kind]
    return pl.vibrant_leaves(size, seed=seed, preset=preset, r_min=4 * size, r_max=4 * size + 1,
                             shape_weights=(1, 0, 0), flat_below=0.0, p_gradient=0.0, texture_weights=weights,
                             depth=False, supersample=1, photos_per_image=1, color_source="skimage-classic")


def test_micro_textures_have_the_reference_contrast():
    """Issue 18: pnpleaves 0.1's micro-textures had about half the local contrast of the reference's."""

    def local_std(img):
        g = img @ np.array([0.299, 0.587, 0.114], np.float32) * 255
        return np.sqrt(np.maximum(ndimage.uniform_filter(g * g, 8) - ndimage.uniform_filter(g, 8) ** 2, 0)).mean()

    new = np.mean([local_std(_texture_only("vl", "micro", s)) for s in range(12)])
    old = np.mean([local_std(_texture_only("pnpleaves-0.1", "micro", s)) for s in range(12)])
    assert new > 1.3 * old


def test_reference_sinusoid_profile_jumps_at_the_plateau():
    from pnpleaves.generators.textures import reference_profile

    w = np.linspace(0, 1, 1001)
    out = reference_profile(w, 0.5, 1.0)
    assert out[0] == 0 and out[-1] == pytest.approx(1.0)
    assert out[501] - out[500] > 0.3  # the jump to 1 above the plateau: a sharp edge
    assert np.all(np.diff(out[:500]) > 0)


def test_blur_truncation_is_the_reference_kernel():
    assert gaussian_half_width(4.0, 5.0) == 5 and gaussian_half_width(4.0) == 12
    x = np.random.default_rng(0).random((40, 40, 1)).astype(np.float32)
    k1 = np.exp(-np.arange(-5, 6) ** 2 / (2 * 4.0**2))
    k1 /= k1.sum()
    ref = ndimage.correlate1d(ndimage.correlate1d(x, k1, axis=0, mode="reflect"), k1, axis=1, mode="reflect")
    assert np.abs(blur(x, 4.0, "gaussian", truncate=5.0) - ref).max() < 1e-5


def test_shared_blur_and_extent_options():
    _, info = pl.vibrant_leaves(64, seed=3, return_info=True, r_min=3, r_max=60)
    assert info["blur"][0] == info["blur"][1]
    _, info = pl.vibrant_leaves(64, seed=3, return_info=True, r_min=3, r_max=60, blur_shared=False)
    assert info["blur"][0] != info["blur"][1]
    img = pl.vibrant_leaves(64, seed=3, r_min=3, r_max=60, shape_extent=1.5, freeform_radial="radius")
    assert img.min() >= 0 and img.max() <= 1


def test_dead_leaves_r_min_mixture_and_supersampling():
    seen = set()
    for seed in range(12):
        _, info = pl.dead_leaves(48, seed=seed, preset="dl-mix", return_info=True)
        seen.add(float(info["radii"].min() >= 16))
    assert seen == {0.0, 1.0}  # some images draw r_min = 1, others r_min = 16
    assert make_config("dl", "dl-mix", r_min=3).r_min_choices == ()  # an explicit r_min wins
    hard = pl.dead_leaves(48, seed=2, r_min=2, r_max=60)
    soft, info = pl.dead_leaves(48, seed=2, r_min=2, r_max=60, supersample=2, return_info=True)
    assert info["label"].shape == (48, 48)
    n_hard = len(np.unique(hard.reshape(-1, 3), axis=0))
    n_soft = len(np.unique(soft.reshape(-1, 3), axis=0))
    assert n_soft > n_hard  # edge pixels average their sub-pixels


def test_named_colour_sources_and_errors():
    assert colors.source_paths("skimage-classic")[0].name == "astronaut.png"
    with pytest.raises(ValueError, match="micro_model"):
        make_config("vl", micro_model="bumpy")
    with pytest.raises(ValueError, match="photos_per_image"):
        make_config("vl", photos_per_image=0)
    with pytest.raises(ValueError, match="preset must be one of"):
        make_config("dl", "vl-r2")
