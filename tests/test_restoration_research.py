"""The research scripts of restoration: research/sr_probe.py, research/tune_schedule.py,
research/noise_estimator_error.py, research/lambda_rule.py (on tiny data folders made in tmp_path)."""

import warnings

import numpy as np
import pytest
import torch
from deepinv.models import Denoiser

from pnpleaves import pnp_super_resolve
from test_restoration_benchmark import load_script, make_data_folder


class SmoothShift(Denoiser):
    """Not equivariant, and its strength follows sigma: averages the image with its one-pixel roll."""

    def forward(self, x, sigma, **kwargs):
        w = float(sigma) / (float(sigma) + 0.05)
        return (1 - w) * x + w * 0.5 * (x + torch.roll(x, 1, dims=-2))


@pytest.fixture(scope="module")
def tune():
    return load_script("research/tune_schedule.py")


@pytest.fixture(scope="module")
def sr_probe():
    return load_script("research/sr_probe.py")


@pytest.fixture(scope="module")
def kodak(tmp_path_factory):
    """13 images of 256x256 in testsets/Kodak24: the tuning cases are images 13-24."""
    return make_data_folder(tmp_path_factory.mktemp("data"), {"Kodak24": (13, 256)})


def test_sr_probe_default_variant_is_the_api_and_renoising_is_seeded(sr_probe):
    x = np.random.default_rng(0).random((37, 44, 3))
    y = x.reshape(37, 11, 4, 3)[:36].reshape(9, 4, 11, 4, 3).mean(axis=(1, 3))  # any 9x11 low-res image
    case = {"y": y, "scale": 4}
    den = SmoothShift()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sigma=0 is below the floor of the schedule
        api = pnp_super_resolve(y, 4, prior=den, sigma=0.0)
    np.testing.assert_allclose(sr_probe.run_variant(case, den, sr_probe.Variant()), api, atol=1e-6)
    assert not np.allclose(sr_probe.run_variant(case, den, sr_probe.Variant(sigma_scale=1.4)), api, atol=1e-3)
    noisy = sr_probe.Variant(renoise=1.0, draws=2)
    a, b = sr_probe.run_variant(case, den, noisy, seed=1), sr_probe.run_variant(case, den, noisy, seed=1)
    assert np.array_equal(a, b) and not np.allclose(a, sr_probe.run_variant(case, den, noisy, seed=2), atol=1e-4)


def test_sr_probe_runs_the_chosen_variants_on_the_tuning_cases(sr_probe, kodak):
    chosen = {k: sr_probe.VARIANTS[k] for k in ("iter4", "default")}
    res = sr_probe.probe(SmoothShift(), chosen, data=kodak, scale=4, n_images=1)
    assert [r["variant"] for r in res] == ["(bicubic)", "(data step of the truth)", "iter4", "default"]
    assert len(res[2]["per_image"]) == 1 and all(15 < r["psnr"] < 40 for r in res[2:])
    assert res[2]["psnr"] != res[3]["psnr"]
    assert res[1]["psnr"] > res[0]["psnr"] + 10  # the data step of the truth: the forward model matches the data


def test_dev_cases_of_each_problem(tune, kodak):
    deblur = tune.dev_cases("deblur", kodak, 1)
    assert [c["sigma"] * 255 for c in deblur] == pytest.approx([2.55, 7.65])
    assert all(c["y"].shape == (256, 256, 3) and c["y"].dtype == np.float32 for c in deblur)
    assert np.array_equal(deblur[0]["kernel"], deblur[1]["kernel"])  # image 13: Levin kernel 1
    sr = tune.dev_cases("sr", kodak, 1)
    assert [c["y"].shape for c in sr] == [(128, 128, 3), (64, 64, 3)] and [c["border"] for c in sr] == [2, 4]
    inpaint = tune.dev_cases("inpaint", kodak, 1)
    assert len(inpaint) == 3 and inpaint[2]["mask"].sum() == 256 * 256 - 128 * 128
    assert tune.parse_grid(["lam=0.1,0.2", "n_iter=4"]) == {"lam": [0.1, 0.2], "n_iter": [4]}
    with pytest.raises(ValueError, match="grid items look like"):
        tune.parse_grid(["lam"])


@pytest.mark.filterwarnings("ignore:img is expected in:UserWarning")  # noisy data slightly outside [0, 1]
def test_tune_schedule_ranks_the_grid(tune, kodak):
    res = tune.tune_schedule(SmoothShift(), "deblur", grid={"n_iter": [1, 2]}, data=kodak, n_images=1)
    assert len(res) == 2 and res[0]["psnr"] >= res[1]["psnr"]
    assert {r["params"]["n_iter"] for r in res} == {1, 2} and res[0]["ensemble"] == "cycle"
    with pytest.raises(ValueError, match="grid keys must be ScheduleParams fields"):
        tune.tune_schedule(SmoothShift(), "deblur", grid={"steps": [1]}, data=kodak)


def test_noise_estimator_error_table(tmp_path):
    script = load_script("research/noise_estimator_error.py")
    root = make_data_folder(tmp_path, {s: (1, 48) for s in ("Set3C", "Set5", "Set14", "Kodak24")}, kernels=True)
    table = script.measure(root)
    assert sorted(table) == ["mad, blurred", "mad, clean", "pca, blurred", "pca, clean"]
    assert all(sorted(row) == list(script.LEVELS) and all(np.isfinite(list(row.values()))) for row in table.values())


def test_lambda_rule_table_resumes_from_its_cache(tmp_path, kodak):
    script = load_script("research/lambda_rule.py")
    make_data_folder(kodak, {"Set3C": (1, 32)})
    cases = script.build_cases(kodak)
    assert [c["protocol"] for c in cases].count("motion") == 2 and sum(c["protocol"] == "anchors" for c in cases) == 2
    cases = [c for c in cases if c["protocol"] in ("motion", "anchors")]
    cache = script.Cache(tmp_path / "cache.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the smoother is not a trained prior
        script.run(cases, SmoothShift(), cache, (0.1, 0.23))
    assert len(cache.data) == 3 * len(cases)
    again = script.Cache(tmp_path / "cache.json")
    assert again.data == cache.data
    script.run(cases, None, again, (0.1, 0.23))  # nothing left to run: the prior is never used
    table = script.table(cases, again, (0.1, 0.23))
    assert "| motion dev 2.55 | 1 |" in table and "worst test cell" in table


@pytest.mark.parametrize("path", ["research/tune_schedule.py", "research/sr_probe.py",
                                  "research/noise_estimator_error.py", "research/lambda_rule.py"])
def test_research_scripts_need_a_data_folder(path, monkeypatch, capsys):
    monkeypatch.delenv("PNPLEAVES_DATA", raising=False)
    argv = ["--prior", "x", "--problem", "sr"] if "tune" in path else []
    with pytest.raises(SystemExit) as exc:
        load_script(path).main(argv)
    assert exc.value.code == 2 and "PNPLEAVES_DATA" in capsys.readouterr().err
