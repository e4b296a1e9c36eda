"""FFDNet: the polyphase layout of the reference weights, odd sizes, batch-norm folding, loading."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pnpleaves.errors import InputError
from pnpleaves.models import FFDNet, build_model, count_parameters
from pnpleaves.models.ffdnet import REFERENCE_PREFIX


class _Pick(torch.nn.Module):
    """A stand-in body returning chosen input channels."""

    def __init__(self, channels):
        super().__init__()
        self.channels = channels

    def forward(self, inp):
        return inp[:, self.channels]


def _randomise_batch_norms(model: FFDNet, seed: int = 0) -> FFDNet:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return model.eval()


def test_polyphase_layout_is_the_reference_one():
    """Channel 4c + k holds pixel offset k = (0,0), (0,1), (1,0), (1,1) of colour c (the reference layout)."""
    y = torch.rand(2, 3, 6, 8)
    down = F.pixel_unshuffle(y, 2)
    for c in range(3):
        for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            assert torch.equal(down[:, 4 * c + k], y[:, c, i::2, j::2])


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 7, 9), (1, 1, 5, 4)])
def test_residual_is_subtracted_in_the_image_layout(shape):
    """With a body that returns the polyphase input, the predicted noise is y itself, so D(y) = 0;
    with a body that returns the sigma map (colour c in all four phases), D(y) = y - sigma; odd sides included."""
    c = shape[1]
    model = FFDNet(in_channels=c, features=8, depth=3).eval()
    y = torch.rand(shape)
    model.body = _Pick(list(range(c, 5 * c)))
    assert torch.allclose(model(y, 0.1), torch.zeros_like(y), atol=1e-7)
    model.body = _Pick([ch for ch in range(c) for _ in range(4)])
    assert torch.allclose(model(y, 0.1), y - 0.1, atol=1e-7)


def test_a_constant_sigma_map_equals_the_scalar():
    model = FFDNet(features=8, depth=4).eval()
    y = torch.rand(2, 3, 9, 10)
    with torch.no_grad():
        a = model(y, 0.2)
        b = model(y, torch.full((2, 1, 9, 10), 0.2))
    assert torch.allclose(a, b, atol=1e-6)


def test_folding_batch_norm_keeps_the_outputs():
    model = _randomise_batch_norms(FFDNet(features=16, depth=5))
    y = torch.rand(1, 3, 11, 12)
    with torch.no_grad():
        before = model(y, 0.1)
        after = model.fold_batch_norm()(y, 0.1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert torch.allclose(before, after, atol=1e-5)


def test_reference_state_dict_round_trip():
    """A state dict in the authors' DataParallel layout loads with the right size and the same function."""
    src = _randomise_batch_norms(FFDNet(features=16, depth=6), seed=1)
    state = {REFERENCE_PREFIX + k: v for k, v in src.body.state_dict().items()}
    model = FFDNet.from_reference_state_dict(state, fold=True)
    assert (model.in_channels, len([m for m in model.body if isinstance(m, torch.nn.Conv2d)])) == (3, 6)
    y = torch.rand(1, 3, 10, 14)
    with torch.no_grad():
        assert torch.allclose(model(y, 0.05), src(y, 0.05), atol=1e-5)


def test_reference_state_dict_errors_say_what_was_expected():
    with pytest.raises(InputError, match="reference layout"):
        FFDNet.from_reference_state_dict({"conv.weight": torch.zeros(1)})
    src = FFDNet(features=8, depth=4)
    state = {REFERENCE_PREFIX + k: v for k, v in src.body.state_dict().items() if not k.startswith("3.")}
    with pytest.raises(InputError, match="does not match"):
        FFDNet.from_reference_state_dict(state)


def test_paper_colour_size_and_registry():
    model = build_model("ffdnet", {"in_channels": 3, "features": 96, "depth": 12})
    assert count_parameters(model) == 854_688  # the reference file's parameter count (BN affine included)
    with pytest.raises(InputError, match="in_channels"):
        FFDNet(in_channels=2)
    with pytest.raises(InputError, match="expects a"):
        FFDNet(in_channels=1)(torch.rand(1, 3, 8, 8), 0.1)


def test_a_new_network_starts_close_to_the_identity():
    """The last layer starts small, so an untrained FFDNet returns its input up to a small residual."""
    y = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert (FFDNet(features=16, depth=5).eval()(y, 0.1) - y).abs().max() < 0.05
