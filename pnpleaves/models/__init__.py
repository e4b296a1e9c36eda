"""Denoisers as deepinv :class:`~deepinv.models.Denoiser` modules: trainable networks by name, the exact
MMSE denoiser of a Gaussian image model, the optional CBM3D, and wrappers that change how a denoiser is
applied (channel adaptation, dihedral self-ensemble)."""

from pnpleaves.models.bm3d import BM3DDenoiser, bm3d_available
from pnpleaves.models.discriminator import PatchDiscriminator
from pnpleaves.models.ffdnet import FFDNet
from pnpleaves.models.gaussian import GaussianDenoiser, GaussianFit
from pnpleaves.models.networks import ARCHITECTURES, DnCNN, DRUNetDenoiser, build_model, count_parameters, register_architecture
from pnpleaves.models.wrappers import ChannelAdapter, DihedralCycle, adapt_denoiser, denoiser_channels

__all__ = [
    "ARCHITECTURES",
    "BM3DDenoiser",
    "ChannelAdapter",
    "DRUNetDenoiser",
    "DihedralCycle",
    "DnCNN",
    "FFDNet",
    "GaussianDenoiser",
    "GaussianFit",
    "PatchDiscriminator",
    "adapt_denoiser",
    "bm3d_available",
    "build_model",
    "count_parameters",
    "denoiser_channels",
    "register_architecture",
]
