r"""A small patch discriminator and the two GAN losses it is trained with.

:class:`PatchDiscriminator` is a PatchGAN critic (Isola et al., *Image-to-Image Translation with
Conditional Adversarial Networks*, CVPR 2017): a few strided convolutions give one logit per
overlapping receptive field (54x54 pixels with the defaults), so it judges local texture and
noise, not global layout. Every convolution is spectrally normalised (Miyato et al., *Spectral
Normalization for Generative Adversarial Networks*, ICLR 2018), which bounds the critic's Lipschitz
constant and keeps short adversarial fine-tunings stable without a gradient penalty. The power
iteration's vectors are buffers of the module, so a saved ``state_dict`` restores the critic exactly.

The losses (``kind``):

- ``"nonsaturating"`` (Goodfellow et al., NeurIPS 2014, the form used in practice): the critic
  minimises :math:`\mathrm{softplus}(-D(x)) + \mathrm{softplus}(D(\hat x))` (binary cross-entropy with
  real = 1), the generator minimises :math:`\mathrm{softplus}(-D(\hat x))`;
- ``"hinge"`` (Lim & Ye 2017; Miyato et al. 2018): the critic minimises
  :math:`\max(0, 1 - D(x)) + \max(0, 1 + D(\hat x))`, the generator :math:`-D(\hat x)`.

All losses are means over the logit map and the batch. Used by the adversarial term of two-stage
fine-tuning (:mod:`pnpleaves.training.finetune`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import relu, softplus
from torch.nn.utils.parametrizations import spectral_norm

from pnpleaves._checks import check_choice, check_number

__all__ = ["ADVERSARIAL_LOSSES", "PatchDiscriminator", "discriminator_loss", "generator_loss"]

#: the adversarial losses :func:`discriminator_loss` and :func:`generator_loss` know
ADVERSARIAL_LOSSES = ("nonsaturating", "hinge")


class PatchDiscriminator(nn.Module):
    """PatchGAN critic with spectral normalisation: ``(B, C, H, W)`` images in [0, 1] to
    ``(B, 1, h, w)`` logits (real > 0).

    :param in_channels: image channels (3 for colour).
    :param width: channels of the first convolution, doubled at each further level.
    :param n_layers: number of stride-2 convolutions (each halves the size); a stride-1 convolution
        and the 1-channel output convolution follow. Inputs must be at least ``2**n_layers * 4`` pixels
        on a side (32 with the defaults).
    :param spectral: spectrally normalise every convolution (default; turn off only to compare).
    """

    def __init__(self, in_channels: int = 3, width: int = 32, n_layers: int = 3, spectral: bool = True):
        super().__init__()
        self.in_channels = int(check_number(in_channels, "in_channels", low=1, integer=True))
        width = int(check_number(width, "width", low=1, integer=True))
        self.n_layers = int(check_number(n_layers, "n_layers", low=1, high=6, integer=True))
        norm = spectral_norm if spectral else (lambda m: m)
        layers: list[nn.Module] = []
        c_in = self.in_channels
        for i in range(self.n_layers):
            c_out = width * 2 ** min(i, 3)
            layers += [norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        layers += [norm(nn.Conv2d(c_in, c_in, 3, padding=1)), nn.LeakyReLU(0.2),
                   norm(nn.Conv2d(c_in, 1, 3, padding=1))]
        self.body = nn.Sequential(*layers)

    @property
    def min_size(self) -> int:
        """The smallest input side the critic takes."""
        return 4 * 2**self.n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.body(2.0 * x - 1.0)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """The critic's loss on logits of real (clean) and fake (restored) images (see the module doc)."""
    check_choice(kind, "kind", ADVERSARIAL_LOSSES)
    if kind == "hinge":
        return relu(1.0 - real_logits).mean() + relu(1.0 + fake_logits).mean()
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """The generator's adversarial loss on the critic's logits of its outputs (see the module doc)."""
    check_choice(kind, "kind", ADVERSARIAL_LOSSES)
    if kind == "hinge":
        return -fake_logits.mean()
    return softplus(-fake_logits).mean()
