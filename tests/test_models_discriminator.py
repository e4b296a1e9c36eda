"""pnpleaves.models.discriminator: the patch critic (shape, spectral norm, exact state) and the GAN losses."""

from __future__ import annotations

import math

import pytest
import torch

from pnpleaves.errors import InputError
from pnpleaves.models.discriminator import PatchDiscriminator, discriminator_loss, generator_loss


def _critic(seed: int = 0, **kwargs) -> PatchDiscriminator:
    torch.manual_seed(seed)
    return PatchDiscriminator(**kwargs)


def test_one_logit_per_patch():
    d = _critic(width=8)
    x = torch.rand(2, 3, 64, 48)
    assert d(x).shape == (2, 1, 8, 6)
    assert d.min_size == 32
    assert _critic(width=8, n_layers=2)(x).shape == (2, 1, 16, 12)
    with pytest.raises(InputError, match="n_layers"):
        PatchDiscriminator(n_layers=0)


def test_spectral_norm_bounds_every_convolution():
    d = _critic(width=8).train()
    x = torch.rand(4, 3, 32, 32)
    for _ in range(30):  # each training forward runs one power iteration
        d(x)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5
    for conv in convs:
        top = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert top == pytest.approx(1.0, abs=0.05)
    plain = PatchDiscriminator(width=8, spectral=False)
    assert not any("parametrizations" in k for k in plain.state_dict())


def test_a_restored_state_gives_the_same_critic():
    a = _critic(width=8).train()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        a(x)
    b = _critic(seed=5, width=8).train()
    b.load_state_dict(a.state_dict())  # includes the power iteration's vectors
    assert torch.equal(a(x), b(x))
    assert torch.equal(a(x), b(x))  # and the next iteration too


def test_losses():
    big = torch.full((2, 1, 4, 4), 30.0)
    assert discriminator_loss(big, -big).item() == pytest.approx(0.0, abs=1e-9)
    assert generator_loss(big).item() == pytest.approx(0.0, abs=1e-9)
    zero = torch.zeros(2, 1, 4, 4)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zero).item() == pytest.approx(math.log(2))
    assert discriminator_loss(zero, zero, "hinge").item() == pytest.approx(2.0)
    assert discriminator_loss(big, -big, "hinge").item() == 0.0
    assert generator_loss(big, "hinge").item() == -30.0
    with pytest.raises(InputError, match="kind"):
        generator_loss(zero, "wasserstein")


def test_the_generator_gets_gradients_through_the_critic():
    d = _critic(width=8)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    generator_loss(d(x)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
