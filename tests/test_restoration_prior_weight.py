"""pnpleaves.restoration.prior_weight: the prior weight of PnP-HQS deblurring from the kernel and the noise.

Closed forms (the identity kernel, the 1/4 bound), orderings (motion > Gaussian of the same support,
narrow > wide Gaussian), noise dependence, determinism and invariances, the kernel checks, and how
``pnp_deblur`` uses the rule (only for HQS without a given ``lam``).
"""

import math
import warnings

import deepinv as dinv
import numpy as np
import pytest
import torch

from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.restoration import ScheduleParams, fspecial_gaussian, levin_kernel, pnp_deblur
from pnpleaves.restoration.kernels import LEVIN_SIZES
from pnpleaves.restoration.prior_weight import (
    LAM_SAFE,
    LAM_WELL_POSED,
    SIGMA_REF,
    deblur_lambda,
    ill_posedness,
    transfer_magnitude,
)
from pnpleaves.restoration.schedules import default_params

DELTA = np.ones((1, 1))
LEVELS = [0.0, 1 / 255, 2.55 / 255, 5 / 255, 7.65 / 255, 15 / 255, 25 / 255, 50 / 255]


def _disk(radius):
    u = np.arange(-radius, radius + 1)
    d = (u[:, None] ** 2 + u[None, :] ** 2 <= radius**2).astype(float)
    return d / d.sum()


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("sigma", LEVELS)
def test_identity_kernel_is_the_well_posed_limit(sigma):
    """The data step of the identity kernel never hands the denoiser more noise than its level: m = 0 and
    lam = LAM_WELL_POSED * sqrt(max(sigma, floor) / SIGMA_REF), the smallest weight at that noise."""
    assert ill_posedness(DELTA, sigma) == 0.0
    floor = default_params("deblur", "hqs").sigma_floor
    expected = min(LAM_SAFE, LAM_WELL_POSED * math.sqrt(max(sigma, floor) / SIGMA_REF))
    assert deblur_lambda(DELTA, sigma) == pytest.approx(expected, rel=1e-12)
    others = [fspecial_gaussian(25, 1.6), fspecial_gaussian(25, 3.0), levin_kernel(3), _disk(5), np.ones((3, 3)) / 9]
    assert all(deblur_lambda(k, sigma) >= deblur_lambda(DELTA, sigma) for k in others)


def test_weight_never_exceeds_the_safe_bound():
    """Above 1/4 no frequency is in danger (t / (1 + t)^2 <= 1/4), so the rule never goes there."""
    kernels = [levin_kernel(i) for i in range(1, 9)] + [fspecial_gaussian(25, 0.5), np.ones((3, 1)) / 3]
    for k in kernels:
        for sigma in LEVELS + [0.5, 1.0]:
            assert LAM_WELL_POSED <= deblur_lambda(k, sigma) <= LAM_SAFE


def test_ill_posedness_is_a_share_of_the_spectrum():
    for k in [levin_kernel(1), fspecial_gaussian(25, 2.0), _disk(3)]:
        m = ill_posedness(k, 2.55 / 255)
        assert 0.0 < m < 1.0


def test_transfer_magnitude_closed_forms():
    """|K| of the identity is 1; of the two-tap average [1/2, 1/2] it is |cos(pi f)|."""
    assert np.allclose(transfer_magnitude(DELTA), 1.0)
    mag = transfer_magnitude(np.array([[0.5, 0.5]]), size=64)
    f = np.fft.fftfreq(64)
    assert np.allclose(mag, np.abs(np.cos(np.pi * f))[None, :].repeat(64, 0))
    assert transfer_magnitude(np.ones((3, 3)) / 9).shape == (256, 256)
    with pytest.warns(UserWarning, match="larger than any usual"):
        assert transfer_magnitude(np.ones((200, 3)) / 600).shape == (400, 400)


# --------------------------------------------------------------------------- orderings


@pytest.mark.parametrize("sigma", [2.55 / 255, 7.65 / 255])
def test_motion_kernel_gets_more_weight_than_a_gaussian_of_the_same_support(sigma):
    """Each Levin kernel against the Gaussian filling the same square (std = side / 6)."""
    for i, n in enumerate(LEVIN_SIZES, start=1):
        assert deblur_lambda(levin_kernel(i), sigma) > deblur_lambda(fspecial_gaussian(n, n / 6), sigma) + 0.05


def test_the_anchor_gaussians_and_the_motion_kernels():
    """The measured regimes (docs/restoration.md): about 0.1 for the anchors' Gaussians, near 1/4 for
    Levin's kernels, at noise 2.55/255."""
    s = 2.55 / 255
    assert 0.08 <= deblur_lambda(fspecial_gaussian(25, 2.0), s) < deblur_lambda(fspecial_gaussian(25, 1.6), s) <= 0.11
    assert all(0.22 <= deblur_lambda(levin_kernel(i), s) <= 0.25 for i in range(1, 9))


def test_wider_gaussian_is_less_ill_posed():
    """A wider Gaussian's transition annulus is thinner (its area falls as 1/std^2)."""
    ms = [ill_posedness(fspecial_gaussian(31, s), 2.55 / 255) for s in (1.0, 1.6, 2.0, 3.0, 4.0)]
    assert all(a > b for a, b in zip(ms, ms[1:]))


@pytest.mark.parametrize("kernel", [DELTA, fspecial_gaussian(25, 1.0), fspecial_gaussian(25, 1.6),
                                    fspecial_gaussian(25, 2.0), fspecial_gaussian(25, 3.0)],
                         ids=["delta", "g1.0", "g1.6", "g2.0", "g3.0"])
def test_weight_grows_with_the_noise_for_smooth_kernels(kernel):
    lams = [deblur_lambda(kernel, s) for s in LEVELS]
    assert all(a <= b for a, b in zip(lams, lams[1:]))
    assert lams[-1] > lams[2]


def test_below_the_step_floor_the_weight_is_that_of_the_floor():
    floor = default_params("deblur", "hqs").sigma_floor
    for k in [levin_kernel(2), fspecial_gaussian(25, 1.6)]:
        assert deblur_lambda(k, 0.0) == deblur_lambda(k, floor / 3) == deblur_lambda(k, floor)


def test_large_noise_tends_to_the_safe_bound():
    for k in [DELTA, fspecial_gaussian(25, 2.0), levin_kernel(7), _disk(5)]:
        assert deblur_lambda(k, 50 / 255) > 0.2


# --------------------------------------------------------------------------- determinism and invariances


def test_deterministic_and_invariant_to_what_does_not_change_the_spectrum():
    k = levin_kernel(4)
    s = 7.65 / 255
    lam = deblur_lambda(k, s)
    assert deblur_lambda(k, s) == lam
    assert deblur_lambda(torch.from_numpy(k), s) == lam
    assert deblur_lambda(k.T.copy(), s) == pytest.approx(lam, abs=1e-12)  # the grid maps onto itself
    assert deblur_lambda(k[::-1, ::-1].copy(), s) == pytest.approx(lam, abs=1e-12)
    padded = np.pad(k, 3)  # a shift of the kernel only changes the phase
    assert deblur_lambda(padded, s) == pytest.approx(lam, abs=1e-12)
    with pytest.warns(UserWarning, match="normalised"):
        assert deblur_lambda(3 * k, s) == pytest.approx(lam, abs=1e-12)


def test_schedule_levels_are_followed():
    """The measure follows the schedule that will run: more iterations change it, lam does not."""
    k = levin_kernel(5)
    s = 2.55 / 255
    base = default_params("deblur", "hqs")
    assert deblur_lambda(k, s, ScheduleParams(n_iter=8, sigma_start=65 / 255, lam=0.9)) == deblur_lambda(k, s, base)
    assert ill_posedness(k, s, n_iter=16) != ill_posedness(k, s)


# --------------------------------------------------------------------------- errors: those of pnp_deblur


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (-np.ones((3, 3)), InputError, ">= 0"),
        (np.full((3, 3), np.nan), InputError, "finite"),
        (np.zeros((3, 3)), InputError, "positive sum"),
        (np.ones((2, 3, 3)), InputError, "2-D array"),
        ("gaussian", InputTypeError, "2-D array of numbers"),
    ],
)
def test_bad_kernels_raise_the_messages_of_pnp_deblur(bad, error, match):
    with pytest.raises(error, match=match) as from_rule:
        deblur_lambda(bad, 0.01)
    with pytest.raises(error, match=match) as from_api:
        pnp_deblur(np.zeros((16, 16)), bad, prior=lambda x, s: x, sigma=0.01)
    assert str(from_rule.value) == str(from_api.value)


def test_bad_noise_levels():
    with pytest.raises(InputError, match="sigma"):
        deblur_lambda(DELTA, -0.1)
    with pytest.raises(InputError, match="sigma"):
        ill_posedness(DELTA, float("nan"))


# --------------------------------------------------------------------------- pnp_deblur


@pytest.fixture(scope="module")
def den():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return dinv.models.DRUNet(in_channels=3, out_channels=3, nc=(8, 16, 32, 64), nb=1, pretrained=None).eval()


@pytest.fixture(scope="module")
def blurred():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:40]
    img = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    return np.clip(np.stack([img, img**2, 1 - img], -1) + 0.02 * rng.standard_normal((32, 40, 3)), 0, 1)


K = fspecial_gaussian(9, 1.6)


def test_pnp_deblur_takes_lam_from_the_kernel(den, blurred):
    s = 0.02
    lam = deblur_lambda(K, s, n_iter=2)
    auto = pnp_deblur(blurred, K, prior=den, sigma=s, n_iter=2)
    assert np.array_equal(auto, pnp_deblur(blurred, K, prior=den, sigma=s, n_iter=2, schedule={"lam": lam}))
    assert not np.array_equal(auto, pnp_deblur(blurred, K, prior=den, sigma=s, n_iter=2, schedule={"lam": 0.23}))
    # a dict without lam keeps the rule, with its other overrides
    a = pnp_deblur(blurred, K, prior=den, sigma=s, schedule={"n_iter": 2, "sigma_start": 0.2})
    lam2 = deblur_lambda(K, s, ScheduleParams(n_iter=2, sigma_start=0.2))
    assert np.array_equal(a, pnp_deblur(blurred, K, prior=den, sigma=s, schedule={"n_iter": 2, "sigma_start": 0.2,
                                                                                 "lam": lam2}))


def test_pnp_deblur_per_image_noise_level(den, blurred):
    """Each image of a batch gets the weight of its own (estimated) noise level."""
    t = torch.from_numpy(blurred.transpose(2, 0, 1).copy()).float()[None]
    noisy = t + 0.05 * torch.randn(t.shape, generator=torch.Generator().manual_seed(1))
    batch = pnp_deblur(torch.cat([t, noisy]), K, prior=den, n_iter=2)
    assert torch.equal(batch[:1], pnp_deblur(t, K, prior=den, n_iter=2))
    assert torch.equal(batch[1:], pnp_deblur(noisy, K, prior=den, n_iter=2))


def test_explicit_lam_and_admm_work_as_before(den, blurred):
    s = 0.02
    fixed = pnp_deblur(blurred, K, prior=den, sigma=s, n_iter=2, schedule={"lam": 0.23})
    params = ScheduleParams(n_iter=8, sigma_start=65 / 255, lam=0.23)  # the HQS defaults, given explicitly
    assert np.array_equal(fixed, pnp_deblur(blurred, K, prior=den, sigma=s, n_iter=2, schedule=params))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        admm = pnp_deblur(blurred, K, prior=den, sigma=s, n_iter=2, method="admm")
    assert np.array_equal(admm, pnp_deblur(blurred, K, prior=den, sigma=s, n_iter=2, method="admm",
                                           schedule={"lam": 0.23}))
