"""DRUNetDenoiser's own forward: the same outputs as deepinv's on safe sizes, padding on the others."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from deepinv.models import DRUNet

from pnpleaves.errors import InputError
from pnpleaves.models import build_model

KW = {"nc": [8, 16, 16, 32], "nb": 2}
KW1 = {"nc": [8, 16, 16, 32], "nb": 1}


def _pair(kw=KW):
    ours = build_model("drunet", kw).eval()
    theirs = DRUNet(in_channels=3, out_channels=3, nc=kw["nc"], nb=kw["nb"], pretrained=None)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs.eval()


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (2, 3, 40, 48)])
@pytest.mark.parametrize("kw", [KW, KW1], ids=["nb2", "nb1"])
def test_inference_matches_deepinv_exactly_on_safe_sizes(shape, kw):
    """In-place additions sum the same numbers in the same order: bit-identical outputs."""
    ours, theirs = _pair(kw)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(ours(x, 0.1), theirs(x, 0.1))
    with torch.inference_mode():
        assert torch.equal(ours(x, 0.1), theirs(x, 0.1))


def test_other_sizes_are_the_crop_of_the_mirrored_input():
    ours, _ = _pair()
    x = torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        out = ours(x, 0.2)
        padded = F.pad(torch.cat([x, torch.full((1, 1, 37, 50), 0.2)], 1), (0, 6, 0, 3), mode="reflect")
        ref = ours.forward_unet(padded)[..., :37, :50]
    assert out.shape == x.shape
    assert torch.equal(out, ref)
    with torch.no_grad():  # tiny images are padded to 32 at least
        assert ours(torch.rand(1, 3, 5, 9), 0.1).shape == (1, 3, 5, 9)


def test_gradients_flow_as_in_deepinv():
    ours, theirs = _pair()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    ours(x, 0.1).sum().backward()
    g_ours = x.grad.clone()
    x.grad = None
    theirs(x, 0.1).sum().backward()
    assert torch.allclose(g_ours, x.grad, atol=1e-6)


def test_a_sigma_map_and_shape_errors():
    ours, _ = _pair()
    x = torch.rand(2, 3, 16, 24)
    with torch.no_grad():
        assert torch.allclose(ours(x, torch.tensor([0.1, 0.2])),
                              torch.cat([ours(x[:1], 0.1), ours(x[1:], 0.2)]), atol=1e-5)
    with pytest.raises(InputError, match=r"\(B, C, H, W\)"):
        ours(torch.rand(3, 16, 16), 0.1)
