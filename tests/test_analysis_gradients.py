"""Tests for pnpleaves.analysis.gradients: gradient histograms and the KL/JS divergences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnpleaves.analysis import gradient_histogram, js_divergence, kl_divergence
from pnpleaves.errors import InputError


# ----------------------------------------------------------------------------------- gradients
def test_gradient_histogram_of_ramps_and_constants():
    y, x = np.mgrid[0:20, 0:30]
    ramp = 0.01 * x + 0.02 * y + 0.05  # |grad| = sqrt(0.01^2 + 0.02^2) = 0.02236 everywhere
    p, edges = gradient_histogram(ramp, bins=100)
    assert p.sum() == pytest.approx(1.0)
    assert p[2] == pytest.approx(1.0)  # bin [0.02, 0.03)
    p, _ = gradient_histogram(np.full((9, 9), 0.4), bins=10)
    assert p[0] == 1.0 and p[1:].sum() == 0.0
    # magnitudes above max_gradient go to the last bin: a checkerboard has |grad| = sqrt(2)
    checker = (np.indices((8, 8)).sum(0) % 2).astype(float)
    p, _ = gradient_histogram(checker, bins=5, max_gradient=1.0)
    assert p[-1] == pytest.approx(1.0)


# --------------------------------------------------------------------------------- divergences
def test_kl_properties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.random(12), rng.random(12)
        assert kl_divergence(p, p) == 0.0
        assert kl_divergence(p, q) >= 0.0
    # closed form without smoothing
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence([1, 1], [1, 3], eps=0.0) == pytest.approx(expected, rel=1e-12)
    assert kl_divergence([1, 3], [1, 1], eps=0.0) != pytest.approx(expected)  # not symmetric
    # smoothing keeps an empty bin of q finite; without it the divergence is infinite
    assert math.isfinite(kl_divergence([0.5, 0.5], [1.0, 0.0]))
    assert kl_divergence([0.5, 0.5], [1.0, 0.0], eps=0.0) == math.inf


def test_js_properties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.random(10) ** 3, rng.random(10)
        assert js_divergence(p, q) == js_divergence(q, p)
        assert 0.0 < js_divergence(p, q) <= math.log(2)
        assert js_divergence(p, p) == 0.0
    assert js_divergence([1, 0, 0], [0, 0, 2]) == pytest.approx(math.log(2), abs=1e-15)


def test_divergence_errors():
    with pytest.raises(InputError, match="p and q must have the same number of bins; got 2 and 3"):
        kl_divergence([1, 1], [1, 1, 1])
    with pytest.raises(InputError, match="q must hold finite non-negative values"):
        js_divergence([1, 1], [1, -1])
    with pytest.raises(InputError, match="p must have a positive sum"):
        kl_divergence([0, 0], [1, 1])
    with pytest.raises(InputError, match="eps must be a finite number >= 0; got -1"):
        kl_divergence([1, 1], [1, 1], eps=-1)


