"""pnpleaves.restoration.padding: periodic and mirror extensions, padded sizes."""

import numpy as np
import torch

from pnpleaves.restoration.padding import SIZE_MULTIPLE, padded_length, periodic_pad, plan_padding, reflect_pad


def test_periodic_pad_keeps_image_and_is_smooth_across_the_seam():
    y = torch.rand(1, 2, 17, 19, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = periodic_pad(y, (5, 6), (7, 9))
    assert p.shape == (1, 2, 29, 34)
    assert torch.equal(p[..., 5:22, 6:25], y)
    # a ramp wraps around with a jump of 1; its periodic extension has no jump above 0.2
    ramp = torch.linspace(0, 1, 40, dtype=torch.float64)[None, None, None, :].expand(1, 1, 8, 40)
    assert float((torch.roll(ramp, 1, -1) - ramp).abs().max()) == 1.0
    ext = periodic_pad(ramp, (0, 6), (0, 6))
    assert float((torch.roll(ext, 1, -1) - ext).abs().max()) < 0.2
    # wider than the image works (mirror index wraps)
    assert periodic_pad(y, (40, 3), (41, 2)).shape == (1, 2, 98, 24)


def test_reflect_pad_is_numpy_reflect_of_any_width():
    x = torch.arange(5 * 4, dtype=torch.float64).reshape(1, 1, 5, 4)
    out = reflect_pad(x, (2, 1), (3, 2))
    ref = np.pad(x[0, 0].numpy(), ((2, 3), (1, 2)), mode="reflect")
    assert np.array_equal(out[0, 0].numpy(), ref)
    assert reflect_pad(x, (9, 0), (11, 0)).shape == (1, 1, 25, 4)  # wider than the image


def test_plan_padding_gives_smooth_multiples_with_the_margin():
    for h, w, margin in ((37, 51, 12), (256, 256, 8), (3, 500, 0)):
        (bh, bw), (ah, aw) = plan_padding(h, w, margin, SIZE_MULTIPLE)
        assert min(bh, bw, ah, aw) >= margin and 0 <= ah - bh <= 1 and 0 <= aw - bw <= 1
        assert h + bh + ah == padded_length(h, margin, SIZE_MULTIPLE)
        assert w + bw + aw == padded_length(w, margin, SIZE_MULTIPLE)
    assert padded_length(100, 0, 16) == 128  # 112 = 16 * 7 has the prime factor 7
    assert padded_length(150, 10, 16) == 192  # 176 = 16 * 11 is not smooth either
