"""pnpleaves.restoration.schedules: DPIR-like schedules, pure functions."""

import math

import numpy as np
import pytest
from deepinv.optim.dpir import get_DPIR_params

from pnpleaves.restoration.schedules import DEFAULTS, ScheduleParams, default_params, make_schedule


def test_dpir_schedule_matches_deepinv():
    for sigma in (0.01, 0.03, 7.65 / 255):
        sig_ref, step_ref, n = get_DPIR_params(sigma)
        s = make_schedule(sigma, ScheduleParams(n_iter=n, sigma_min=1e-6))
        assert np.allclose(s.sigmas, sig_ref.numpy(), rtol=1e-5)
        assert np.allclose(s.stepsizes, step_ref.numpy(), rtol=1e-4)


def test_schedule_clips_into_the_prior_range_and_is_pure():
    s = make_schedule(0.0, ScheduleParams(n_iter=5, sigma_start=0.3), sigma_range=(2 / 255, 0.2))
    assert max(s.sigmas) <= 0.2 and min(s.sigmas) >= 2 / 255 - 1e-15
    assert list(s.sigmas) == sorted(s.sigmas, reverse=True)
    assert make_schedule(0.02, default_params("deblur", "hqs")) == make_schedule(0.02, default_params("deblur", "hqs"))
    assert make_schedule(0.02, n_iter=1).n_iter == 1
    assert set(DEFAULTS) == {(p, m) for p in ("deblur", "sr", "inpaint") for m in ("hqs", "admm")}
    with pytest.raises(ValueError, match="method must be one of 'hqs', 'admm'"):
        default_params("deblur", "pgd")
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        make_schedule(-0.1)
    with pytest.raises(ValueError, match="n_iter must be an integer >= 1"):
        ScheduleParams(n_iter=0)



def test_schedule_is_geometric_with_a_constant_ratio():
    """sigma_k log-spaced from sigma_start to max(sigma, sigma_min); sigma_k^2 / gamma_k = lam max(sigma, floor)^2."""
    params = ScheduleParams(n_iter=6, sigma_start=0.2, lam=0.3, sigma_min=0.01, sigma_floor=0.02)
    s = make_schedule(0.03, params)
    assert s.n_iter == 6 and math.isclose(s.sigmas[0], 0.2) and math.isclose(s.sigmas[-1], 0.03)
    ratios = np.diff(np.log(s.sigmas))
    assert np.allclose(ratios, ratios[0])
    assert np.allclose([a * a / g for a, g in zip(s.sigmas, s.stepsizes)], 0.3 * 0.03**2)
    assert make_schedule(0.03, {"n_iter": 3}).n_iter == 3  # a dict overrides the defaults
    assert s.params is params and s.beta == params.beta
