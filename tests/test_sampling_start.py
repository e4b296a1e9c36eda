"""pnpleaves.sampling.start: the samplers' starting points (white noise, or a Gaussian fitted to the
prior's training generator)."""

import math

import pytest
import torch

from pnpleaves.sampling import GaussianDenoiser, GaussianFit
from pnpleaves.sampling.start import draw_start, fit_from_card, resolve_fit


def test_draw_start_white_and_errors():
    den = GaussianDenoiser(GaussianFit.white((3, 8, 8)))
    g = torch.Generator().manual_seed(0)
    x = draw_start("white", den, 500, (8, 8), 3, 0.2, g, torch.device("cpu"))
    assert abs(float(x.mean()) - 0.5) < 5 * 0.2 / math.sqrt(x.numel())
    assert abs(float(x.var()) / 0.04 - 1) < 5 * math.sqrt(2 / x.numel())
    with pytest.raises(ValueError, match="init must be one of"):
        draw_start("grey", den, 1, (8, 8), 3, 0.2, g, torch.device("cpu"))
    with pytest.raises(TypeError, match="init must be"):
        draw_start(3, den, 1, (8, 8), 3, 0.2, g, torch.device("cpu"))
    with pytest.raises(ValueError, match="shape"):
        draw_start("gaussian-fit", den, 1, (9, 8), 3, 0.2, g, torch.device("cpu"))


def test_fit_from_card_without_generator_info_is_none():
    assert fit_from_card({}, (8, 8)) is None
    assert fit_from_card({"data": {"source": "random"}}, (8, 8)) is None


def test_fit_from_card_uses_the_training_generator():
    card = {"data": {"generator": "dl", "preset": "", "options": {"color": "uniform", "r_min": 2.0, "r_max": 50.0}}}
    fit = fit_from_card(card, (16, 12))
    assert fit is not None and fit.shape == (3, 16, 12)
    assert 0.3 < float(fit.mean.mean()) < 0.7
    assert fit_from_card(card, (16, 12)) is fit  # cached for the session

    class Carded(torch.nn.Module):
        pass

    den = Carded()
    den.card = card
    assert resolve_fit(den, (16, 12), 3) is fit
    den.card = {}
    generic = resolve_fit(den, (16, 12), 3)  # no description: the generic power-law model
    assert torch.allclose(generic.pixel_variance(), GaussianFit.power_law((16, 12)).pixel_variance())
    exact = GaussianDenoiser(GaussianFit.white((3, 16, 12)))
    assert resolve_fit(exact, (16, 12), 3).shape == (3, 16, 12)
    with pytest.raises(ValueError, match="sample at the model's size"):
        resolve_fit(exact, (8, 8), 3)
