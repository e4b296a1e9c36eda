"""Data-dependent checks on the tiny committed fixtures (tests/data/): they run in CI.

The crops were cut from the shared dev sets (Kodak24 kodim04 at (180, 200), kodim15 at (100, 220),
kodim23 at (120, 250), Set5 butterfly at (60, 60); 96x96).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pnpleaves as pl
from pnpleaves.io import list_images, read_image
from pnpleaves.metrics import psnr
from pnpleaves.restoration import degrade_blur, wiener_deblur

DATA = Path(__file__).parent / "data"


def test_fixture_set_is_small_and_readable():
    files = list_images(DATA / "images")
    assert len(files) == 4
    assert sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file()) < 1_000_000
    for p in files:
        img = read_image(p, channels=3)
        assert img.shape == (96, 96, 3) and img.dtype == np.float32 and 0 <= img.min() < img.max() <= 1


@pytest.mark.parametrize("name", ["vl-drunet", "dl-drunet"])
def test_shipped_priors_denoise_the_fixture_crops(name):
    """Each shipped prior gains more than 6 dB over the noisy input at sigma 25 on every crop."""
    for i, p in enumerate(list_images(DATA / "images")):
        x = read_image(p, channels=3)
        y = np.clip(x + 25 / 255 * np.random.default_rng(i).standard_normal(x.shape).astype(np.float32), 0, 1)
        out = pl.pnp_denoise(y, sigma=25 / 255, prior=name)
        assert psnr(out, x) > psnr(y, x) + 6.0, p.name


def test_pnp_deblur_beats_wiener_on_a_fixture_crop():
    x = read_image(DATA / "images" / "kodim23_96.png", channels=3)
    kernel = np.load(DATA / "levin09_k2.npy")
    y = degrade_blur(x, kernel, 2.55 / 255, seed=0, clip=True)
    restored = pl.pnp_deblur(y, kernel, sigma=2.55 / 255, prior="vl-drunet")
    wiener = wiener_deblur(y, kernel, sigma=2.55 / 255)
    assert psnr(restored, x, border=8) > psnr(wiener, x, border=8) + 1.0


def test_vl_prior_beats_the_dead_leaves_control_on_the_fixture_crops():
    """The central claim of the project, on photographs: VibrantLeaves > Dead Leaves (mean, sigma 25)."""
    gains = {}
    for name in ("vl-drunet", "dl-drunet"):
        values = []
        for i, p in enumerate(list_images(DATA / "images")):
            x = read_image(p, channels=3)
            y = np.clip(x + 25 / 255 * np.random.default_rng(i).standard_normal(x.shape).astype(np.float32), 0, 1)
            values.append(psnr(pl.pnp_denoise(y, sigma=25 / 255, prior=name), x))
        gains[name] = float(np.mean(values))
    assert gains["vl-drunet"] > gains["dl-drunet"] + 0.3, gains
