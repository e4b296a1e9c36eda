"""pnpleaves.training.widen: a narrow network embedded in a wider one computes the same function."""

from __future__ import annotations

import pytest
import torch

from pnpleaves.models import build_model
from pnpleaves.training.widen import widen_into
from training_fixtures import TINY_NET


def test_widening_drunet_keeps_the_function_and_the_new_channels_are_live():
    narrow = build_model("drunet", dict(TINY_NET))
    wide_kwargs = dict(TINY_NET) | {"nc": [2 * c for c in TINY_NET["nc"]]}
    torch.manual_seed(3)
    wide = widen_into(build_model("drunet", wide_kwargs), narrow.state_dict())
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        torch.testing.assert_close(wide(x, 0.1), narrow(x, 0.1), atol=1e-6, rtol=0)
    assert wide.m_head.weight[TINY_NET["nc"][0]:].abs().sum() > 0  # the new channels are not dead
    assert wide.m_tail.weight[:, TINY_NET["nc"][0]:].abs().sum() == 0  # ... and not read yet


def test_widening_dncnn_keeps_the_function_with_biases():
    narrow = build_model("dncnn", {"depth": 4, "nf": 8, "bias": True})
    for p in narrow.parameters():  # DnCNN starts with a near-zero last layer: make the test meaningful
        torch.nn.init.normal_(p, std=0.2)
    wide = widen_into(build_model("dncnn", {"depth": 4, "nf": 13, "bias": True}), narrow.state_dict())
    x = torch.rand(1, 3, 17, 23)
    with torch.no_grad():
        assert (narrow(x, 0.1) - x).abs().max() > 1e-2
        torch.testing.assert_close(wide(x, 0.1), narrow(x, 0.1), atol=1e-6, rtol=0)


def test_widening_refuses_narrower_or_other_layers():
    wide = build_model("drunet", dict(TINY_NET))
    narrower_target = build_model("drunet", dict(TINY_NET) | {"nc": [c + 1 for c in TINY_NET["nc"]]})
    with pytest.raises(ValueError, match="at least the narrow"):
        widen_into(wide, narrower_target.state_dict())
    deeper = build_model("drunet", dict(TINY_NET) | {"nb": TINY_NET["nb"] + 1})
    with pytest.raises(ValueError, match="same layers"):
        widen_into(wide, deeper.state_dict())
