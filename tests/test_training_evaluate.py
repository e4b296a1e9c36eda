"""pnpleaves.training.evaluate: PSNR / SSIM of a denoiser with reproducible noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from deepinv.models import Denoiser

from pnpleaves.errors import InputTypeError
from pnpleaves.metrics import psnr
from pnpleaves.training.evaluate import evaluate_denoiser, noisy_version
from training_fixtures import make_cache


class Ident(Denoiser):
    def forward(self, x, sigma=None):
        return x


def test_evaluate_identity_matches_a_direct_computation():
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
    plain = evaluate_denoiser(lambda x, s: x, images, [0.1, 0.2], seed=5, ssim=False)  # a plain callable
    assert [r["psnr"] for r in plain.rows] == [r["psnr"] for r in res.rows]
    with pytest.raises(ValueError, match="sigma must be"):
        evaluate_denoiser(Ident(), images, [25.0])


def test_a_folder_is_read_centre_cropped_and_the_mode_is_restored(tmp_path):
    folder = make_cache(tmp_path / "set", n=3, size=40)
    den = Ident().train()
    res = evaluate_denoiser(den, folder, [0.1], crop=32, max_images=2)
    assert [r["image"] for r in res.rows] == ["000", "001"] and den.training
    assert res.table["denoiser"][0.1]["ssim"] > 0


def test_names_and_paths_are_loaded_by_the_caller():
    with pytest.raises(InputTypeError, match="load_prior"):
        evaluate_denoiser("vl-drunet", [torch.rand(1, 3, 8, 8)], [0.1])


def test_evaluate_with_cbm3d_baseline():
    pytest.importorskip("bm3d")
    x = torch.from_numpy(np.kron(np.random.default_rng(0).random((4, 4, 3)), np.ones((8, 8, 1)))).float()
    images = [x.permute(2, 0, 1)[None].contiguous()]
    res = evaluate_denoiser(Ident(), images, [0.1], bm3d=True)
    assert res.methods == ["denoiser", "CBM3D"]
    assert res.table["CBM3D"][0.1]["psnr"] > res.table["denoiser"][0.1]["psnr"] + 3  # CBM3D denoises
