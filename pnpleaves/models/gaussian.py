"""Stationary Gaussian image models: the fitted-Gaussian start, and an exact MMSE denoiser.

A :class:`GaussianFit` is the Gaussian :math:`\\mathcal N(\\mu, \\Sigma)` whose colour channels are
decorrelated by an orthonormal :math:`C \\times C` basis :math:`U` and whose decorrelated channels
:math:`w_k = (U^\\top (x - \\mu))_k` are stationary with a circulant covariance, i.e. diagonal in the
orthonormal 2-D DFT :math:`F` with mode variances :math:`P_k(\\omega)` (the power spectrum):

.. math::

    x = \\mu + U\\, F^{-1}\\big(\\sqrt{P_k(\\omega)}\\, F w\\big), \\qquad w \\sim \\mathcal N(0, I).

It is both

- the **fitted-Gaussian start** of the samplers: :math:`\\mathcal N(\\mu, \\Sigma + \\sigma_{max}^2 I)`, which
  is :math:`p_{\\sigma_{max}}` to second order (see ``notes/samplers.md`` §7; also Wang & Vastola,
  arXiv:2311.10892), so the coarse modes that a small trained noise range cannot randomise start with
  the right contrast and colour variety;
- a prior whose MMSE denoiser is known in closed form (:class:`GaussianDenoiser`, the Wiener filter
  :math:`D(x, \\sigma) = \\mu + \\Sigma(\\Sigma + \\sigma^2 I)^{-1}(x - \\mu)`), used to test the samplers
  against exact means and variances, and for teaching.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from deepinv.models import Denoiser

from pnpleaves.errors import InputError, InputTypeError
from pnpleaves._checks import check_number, check_size
from pnpleaves.models.sigma import sigma_per_image

__all__ = ["GaussianDenoiser", "GaussianFit"]


def _symmetrise(p: torch.Tensor) -> torch.Tensor:
    """Average ``p(omega)`` with ``p(-omega)``: the covariance of a real field is symmetric."""
    flipped = torch.roll(torch.flip(p, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))
    return 0.5 * (p + flipped)


def _radial_bins(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Integer ring index of every DFT frequency (ring 0 holds only the DC term)."""
    fy = torch.fft.fftfreq(h, device=device, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, device=device, dtype=torch.float64)[None, :]
    return torch.round(torch.sqrt(fy**2 + fx**2) * max(h, w)).long()


def _apply_filter(
    basis: torch.Tensor, spectrum: torch.Tensor, x: torch.Tensor, gain: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``U F^-1 diag(gain(P)) F U^T x`` with real FFTs (``P`` is symmetric, so the result is real)."""
    u = basis.to(x)
    w = x.shape[-1]
    g = gain(spectrum.to(x)[..., : w // 2 + 1])
    wdec = torch.einsum("ck,bchw->bkhw", u, x)
    wdec = torch.fft.irfft2(torch.fft.rfft2(wdec, norm="ortho") * g, s=x.shape[-2:], norm="ortho")
    return torch.einsum("ck,bkhw->bchw", u, wdec)


class GaussianFit:
    """A stationary Gaussian image model ``N(mean, Sigma)``, diagonal in (colour basis, Fourier).

    :param mean: channel means ``(C,)`` (or a full mean image ``(C, H, W)``).
    :param basis: orthonormal ``(C, C)`` matrix whose columns decorrelate the colours.
    :param spectrum: ``(C, H, W)`` variances of the orthonormal DFT coefficients of each decorrelated
        channel; symmetrised (``P(omega) = P(-omega)``) on construction.

    Build one with :meth:`from_images`, :meth:`power_law` or :meth:`white`.
    """

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, spectrum: torch.Tensor):
        spectrum = torch.as_tensor(spectrum)
        if spectrum.ndim != 3:
            raise InputError(f"spectrum must be (C, H, W); got shape {tuple(spectrum.shape)}.")
        c = spectrum.shape[0]
        basis = torch.as_tensor(basis, dtype=spectrum.dtype, device=spectrum.device)
        if basis.shape != (c, c):
            raise InputError(f"basis must be ({c}, {c}) for a spectrum with {c} channels; got {tuple(basis.shape)}.")
        eye = torch.eye(c, dtype=torch.float64, device=basis.device)
        gram = basis.double().T @ basis.double()
        if not torch.allclose(gram, eye, atol=1e-5):
            raise InputError(
                "basis must be orthonormal (basis.T @ basis = I); orthonormalise it, e.g. with torch.linalg.qr."
            )
        # remove rounding errors (e.g. after a float32 -> float64 cast): U (U^T U)^(-1/2)
        evals, evecs = torch.linalg.eigh(gram)
        basis = (basis.double() @ (evecs * evals.rsqrt()) @ evecs.T).to(spectrum.dtype)
        if bool((spectrum < 0).any()) or not bool(torch.isfinite(spectrum).all()):
            raise InputError("spectrum must hold finite variances >= 0.")
        mean = torch.as_tensor(mean, dtype=spectrum.dtype, device=spectrum.device)
        if mean.ndim == 0:
            mean = mean.expand(c)
        if mean.shape == (c,):
            mean = mean.reshape(c, 1, 1)
        if mean.ndim != 3 or mean.shape[0] != c or mean.shape[1:] not in ((1, 1), tuple(spectrum.shape[1:])):
            raise InputError(f"mean must be ({c},) or {tuple(spectrum.shape)}; got shape {tuple(mean.shape)}.")
        self.mean = mean
        self.basis = basis
        self.spectrum = _symmetrise(spectrum)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_images(cls, images: torch.Tensor, *, radial: bool = True) -> GaussianFit:
        """Fit channel means, the colour covariance and the mean power spectrum of ``images``.

        :param images: ``(B, C, H, W)`` training-like images; the fit has their size.
        :param radial: average the spectrum over rings of equal frequency (isotropic model; far less
            noisy with few images).
        """
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise InputError(f"images must be a (B, C, H, W) tensor; got {shape}.")
        if images.shape[0] < 2:
            raise InputError(f"need at least 2 images to fit the variance of the image mean; got {images.shape[0]}.")
        x = images.detach().to(torch.float64)
        b, c, h, w = x.shape
        mean = x.mean(dim=(0, 2, 3))
        flat = (x - mean.reshape(1, c, 1, 1)).permute(1, 0, 2, 3).reshape(c, -1)
        cov = flat @ flat.T / flat.shape[1]
        evals, evecs = torch.linalg.eigh(cov)
        basis = evecs.flip(1)  # decreasing variance
        signs = torch.sign(basis[basis.abs().argmax(dim=0), torch.arange(c)])
        basis = basis * torch.where(signs == 0, torch.ones_like(signs), signs)
        wdec = torch.einsum("ck,bchw->bkhw", basis, x - mean.reshape(1, c, 1, 1))
        power = torch.fft.fft2(wdec, norm="ortho").abs().pow(2).mean(dim=0)  # (C, H, W)
        if radial:
            bins = _radial_bins(h, w, x.device).reshape(-1)
            nb = int(bins.max()) + 1
            sums = torch.zeros(c, nb, dtype=torch.float64).index_add_(1, bins, power.reshape(c, -1))
            ones = torch.ones_like(bins, dtype=torch.float64)
            counts = torch.zeros(nb, dtype=torch.float64).index_add_(0, bins, ones)
            power = (sums / counts.clamp(min=1))[:, bins].reshape(c, h, w)
        dtype = images.dtype if images.dtype.is_floating_point else torch.float32
        return cls(mean.to(dtype), basis.to(dtype), power.to(dtype))

    @classmethod
    def power_law(
        cls,
        size: int | tuple[int, int],
        channels: int = 3,
        *,
        mean: float = 0.5,
        std: float = 0.25,
        colour_corr: float = 0.8,
        mean_std: float = 0.075,
        exponent: float = 2.0,
    ) -> GaussianFit:
        """A generic natural-image model: ``P(f) ∝ (f^2 + f_0^2)^(-exponent/2)``, ``f_0`` = 1 / size.

        Channel std ``std``, pairwise colour correlation ``colour_corr``, and the std of the image mean
        ``mean_std`` (dead leaves: 0.083 at 64², 0.064 at 256²; ``notes/samplers.md`` §7). Used as the
        start when a denoiser carries no training data description.
        """
        h, w = check_size(size)
        c = int(check_number(channels, "channels", low=1, integer=True))
        std = check_number(std, "std", low=0.0, low_inclusive=False)
        mean_std = check_number(mean_std, "mean_std", low=0.0, high=std)
        rho = check_number(colour_corr, "colour_corr", low=-1.0 / max(c - 1, 1), high=1.0)
        exponent = check_number(exponent, "exponent", low=0.0)
        cov = std**2 * ((1 - rho) * torch.eye(c, dtype=torch.float64) + rho * torch.ones(c, c, dtype=torch.float64))
        evals, evecs = torch.linalg.eigh(cov)
        evals, basis = evals.flip(0).clamp(min=0), evecs.flip(1)
        signs = torch.sign(basis[basis.abs().argmax(dim=0), torch.arange(c)])
        basis = basis * torch.where(signs == 0, torch.ones_like(signs), signs)
        fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
        fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
        f0 = 1.0 / max(h, w)
        shape = (fy**2 + fx**2 + f0**2) ** (-exponent / 2)
        shape[0, 0] = 0.0
        n = h * w
        frac = (mean_std / std) ** 2
        ac = shape / shape.sum() * n  # (1/N) sum over non-DC modes = 1
        spectrum = evals.reshape(c, 1, 1) * ((1 - frac) * ac).unsqueeze(0).repeat(c, 1, 1)
        spectrum[:, 0, 0] = evals * frac * n
        return cls(torch.full((c,), float(mean), dtype=torch.float32), basis.float(), spectrum.float())

    @classmethod
    def white(cls, shape: tuple[int, int, int], *, mean: float = 0.5, var: float = 0.05) -> GaussianFit:
        """Independent pixels ``N(mean, var)``: a diagonal covariance ``var * I`` on ``shape = (C, H, W)``."""
        c, h, w = (int(v) for v in shape)
        var = check_number(var, "var", low=0.0)
        return cls(torch.full((c,), float(mean)), torch.eye(c), torch.full((c, h, w), float(var)))

    # ------------------------------------------------------------------ properties

    @property
    def shape(self) -> tuple[int, int, int]:
        """Image shape ``(C, H, W)`` of the model."""
        return tuple(self.spectrum.shape)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> GaussianFit:
        """A copy on ``device`` with ``dtype``."""
        return GaussianFit(
            self.mean.to(device=device, dtype=dtype),
            self.basis.to(device=device, dtype=dtype),
            self.spectrum.to(device=device, dtype=dtype),
        )

    def pixel_variance(self) -> torch.Tensor:
        """Marginal variance of each channel's pixels, ``(C,)`` (the same at every pixel)."""
        return (self.basis**2) @ self.spectrum.mean(dim=(1, 2))

    # ------------------------------------------------------------------ operators

    def check_images(self, x: torch.Tensor, name: str = "x") -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(
                f"{name} must be (B, {', '.join(map(str, self.shape))}) to match this Gaussian model; got {got}. "
                "Fit or build the model at the image size you use."
            )

    def filter(self, x: torch.Tensor, gain: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Apply the operator ``U F^-1 diag(gain(P)) F U^T`` to ``x`` ``(B, C, H, W)`` (no mean shift)."""
        return _apply_filter(self.basis, self.spectrum, x, gain)

    def sample(
        self,
        n: int,
        *,
        sigma: float = 0.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """``n`` draws from ``N(mean, Sigma + sigma^2 I)`` ``(n, C, H, W)``, with a local generator."""
        n = int(check_number(n, "n", low=1, integer=True))
        sigma = check_number(sigma, "sigma", low=0.0)
        device = torch.device(device) if device is not None else (generator.device if generator is not None else None)
        z = torch.randn((n, *self.shape), generator=generator, device=device, dtype=dtype)
        return self.mean.to(z) + self.filter(z, lambda p: torch.sqrt(p + sigma**2))

    def dense_covariance(self) -> torch.Tensor:
        """The covariance as a dense ``(d, d)`` float64 matrix, ``d = C*H*W`` (small images only)."""
        d = math.prod(self.shape)
        if d > 4096:
            raise InputError(f"dense_covariance is for small models (C*H*W <= 4096); this one has {d} entries.")
        eye = torch.eye(d, dtype=torch.float64).reshape(d, *self.shape)
        return self.to(dtype=torch.float64).filter(eye, lambda p: p).reshape(d, d)

    def __repr__(self) -> str:
        c, h, w = self.shape
        return f"GaussianFit(channels={c}, size=({h}, {w}), pixel_std={self.pixel_variance().sqrt().tolist()})"


class GaussianDenoiser(Denoiser):
    """Exact MMSE denoiser of a Gaussian prior (the Wiener filter), as a deepinv ``Denoiser``.

    .. math::

        D(x, \\sigma) = \\mu + \\Sigma (\\Sigma + \\sigma^2 I)^{-1} (x - \\mu),
        \\qquad \\frac{D(x,\\sigma) - x}{\\sigma^2} = -(\\Sigma + \\sigma^2 I)^{-1}(x - \\mu),

    computed in the model's (colour basis, Fourier) eigenbasis. Works only at the model's size.

    :param fit: the prior, a :class:`GaussianFit`.
    :param sigma_range: the range reported to the samplers as if it were a training card (any
        ``sigma >= 0`` is exact).

    >>> import torch
    >>> den = GaussianDenoiser(GaussianFit.white((1, 2, 2), mean=0.0, var=1.0))
    >>> round(den(torch.ones(1, 1, 2, 2), 1.0)[0, 0, 0, 0].item(), 6)   # var / (var + sigma^2)
    0.5
    """

    def __init__(self, fit: GaussianFit, *, sigma_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__()
        if not isinstance(fit, GaussianFit):
            raise InputTypeError(f"fit must be a GaussianFit; got {type(fit).__name__}.")
        self.register_buffer("_mean", fit.mean.clone())
        self.register_buffer("_basis", fit.basis.clone())
        self.register_buffer("_spectrum", fit.spectrum.clone())
        self.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
        self.name = "gaussian"

    @property
    def gaussian_fit(self) -> GaussianFit:
        """The prior itself (the samplers use it as the exact fitted-Gaussian start)."""
        return GaussianFit(self._mean, self._basis, self._spectrum)

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != tuple(self._spectrum.shape):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(
                f"x must be (B, {', '.join(map(str, self._spectrum.shape))}) to match this Gaussian prior; got {got}."
            )

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        self._check(x)
        s2 = sigma_per_image(sigma, x) ** 2  # (B,1,1,1)
        mean = self._mean.to(x)
        return mean + _apply_filter(self._basis, self._spectrum, x - mean, lambda p: p / (p + s2))

    def score(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """Exact score ``-(Sigma + sigma^2 I)^-1 (x - mean)`` of ``p_sigma`` (needs ``Sigma + sigma^2 I`` > 0)."""
        self._check(x)
        s2 = sigma_per_image(sigma, x) ** 2
        return -_apply_filter(self._basis, self._spectrum, x - self._mean.to(x), lambda p: 1.0 / (p + s2))
