r"""The data term of deblurring with unknown boundaries: circular blur on a padded domain, observed in a window.

Real photographs are not periodic, and a circular blur model rings at the borders. With
``boundary="unknown"`` a blurred image is restored on a padded domain where the blur is circular and
only the window of the input is observed (Reeves, "Fast image restoration without boundary
artifacts", IEEE TIP 2005; Almeida & Figueiredo, "Deconvolving images with unknown boundaries using
the alternating direction method of multipliers", IEEE TIP 2013):

.. math:: f(x) = \tfrac12\|M(k \circledast x - y)\|^2, \qquad M = \text{indicator of the observed window.}

Its proximal step has no closed form; :class:`WindowedBlurL2` solves it by preconditioned conjugate
gradient in the Fourier domain. Treating the padded band as data instead (a periodic extension fed
to the closed-form circular prox) is not enough for camera-shake kernels; the comparison is in
``docs/results.md`` ("Measurements behind the defaults").
"""

from __future__ import annotations

import deepinv as dinv
import torch

from .kernels import psf2otf

__all__ = ["WindowedBlurL2", "observation_window"]


class WindowedBlurL2(dinv.optim.data_fidelity.L2):
    r""":math:`f(x) = \tfrac12\|M(k \circledast x - y)\|^2`: circular blur on the padded domain, observed
    only where the 0/1 window ``M`` is 1.

    The prox solves :math:`(\gamma A^\top M A + I)u = \gamma A^\top M y + x` by conjugate gradient in
    the Fourier domain, preconditioned by the exact circular prox :math:`(\gamma A^\top A + I)^{-1}`
    (diagonal there) and started from the circular prox with the unobserved data replaced by
    :math:`Ax`. One iteration costs two real FFTs; it stops when the preconditioned residual norm
    has dropped by ``tol`` or after ``max_iter`` iterations. With ``M = 1`` the start is
    already the exact prox of :class:`~deepinv.physics.BlurFFT`. The spectra, the window and
    :math:`\mathcal F(My)` are computed once, not at every step.

    :param kernel: ``(1, 1, kh, kw)`` kernel (the physics' filter).
    :param window: ``(1, 1, H, W)`` 0/1 window on the padded domain (:func:`observation_window`).
    """

    def __init__(self, kernel: torch.Tensor, window: torch.Tensor, *, max_iter: int = 6, tol: float = 1e-2):
        super().__init__(sigma=1.0)
        H, W = window.shape[-2:]
        self.shape = (H, W)
        self.window = window
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.otf = psf2otf(kernel, (H, W))
        wcols = torch.full((W // 2 + 1,), 2.0, dtype=window.dtype)
        wcols[0] = 1.0
        if W % 2 == 0:
            wcols[-1] = 1.0
        self.weights = (wcols / (H * W)).to(window.device)
        self._spectra_key: tuple | None = None
        self._data_key: tuple | None = None

    def _dot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Inner product of the real signals whose rfft2 are ``a`` and ``b``, per (batch, channel)."""
        return (self.weights * (a.conj() * b).real).sum(dim=(-2, -1), keepdim=True)

    def _spectra(self, x: torch.Tensor) -> None:
        """The OTF ``K``, ``conj(K)``, ``|K|^2`` and the window in ``x``'s precision and device (computed once)."""
        key = (x.dtype, x.device)
        if self._spectra_key == key:
            return
        K = self.otf.to(x.device)
        K = K.to(torch.complex128 if x.dtype == torch.float64 else torch.complex64)
        self._K, self._Kc, self._K2 = K, K.conj().resolve_conj(), K.real**2 + K.imag**2
        self._M = self.window.to(device=x.device, dtype=x.dtype)
        self._unobserved = 1.0 - self._M
        self._all_observed = bool((self._M > 0).all())
        self._spectra_key, self._data_key = key, None

    def _data(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``M y`` and its rfft2, computed once per measurement (the same ``y`` at every iteration)."""
        key = (id(y), y._version, y.dtype, y.device, y.data_ptr())
        if self._data_key != key:
            My = self._M * y
            self._My, self._FMy, self._data_key = My, torch.fft.rfft2(My), key
        return self._My, self._FMy

    def prox(self, x, y, physics=None, *args, gamma=1.0, **kwargs):  # noqa: D102
        self._spectra(x)
        g = self.norm * float(gamma)
        K, K2, M = self._K, self._K2, self._M
        gKc = g * self._Kc  # one product per step, not one per operator application
        My, FMy = self._data(y)
        fwd = lambda u: torch.fft.rfft2(u)  # noqa: E731
        inv = lambda U: torch.fft.irfft2(U, s=self.shape)  # noqa: E731
        pinv = (1.0 / (g * K2 + 1.0)).to(K.dtype)  # complex once: a real factor is converted at every product
        X = fwd(x)
        filled = torch.addcmul(My, self._unobserved, inv(K * X))  # M y + (1 - M) A x
        U = torch.addcmul(X, gKc, fwd(filled)).mul_(pinv)
        if self.max_iter <= 0 or self._all_observed:
            return inv(U)

        def op(V):
            return torch.addcmul(V, gKc, fwd(M * inv(K * V)))

        R = torch.addcmul(X, gKc, FMy).sub_(op(U))  # b - op(U), b = g K^H F(M y) + X
        Z = pinv * R
        D = Z
        rz = self._dot(R, Z)
        rz0 = rz.clone()
        eps = 1e-300 if x.dtype == torch.float64 else 1e-30
        self.last_iters = 0
        for _ in range(self.max_iter):
            if bool((rz <= (self.tol**2) * rz0).all()):
                break
            self.last_iters += 1
            AD = op(D)
            alpha = rz / self._dot(D, AD).clamp_min(eps)
            U.add_(alpha * D)
            R.sub_(alpha * AD)
            Z = pinv * R
            rz_new = self._dot(R, Z)
            D = Z + (rz_new / rz.clamp_min(eps)) * D
            rz = rz_new
        return inv(U)

    def grad(self, x, y, physics, *args, **kwargs):  # noqa: D102
        return self.norm * physics.A_adjoint(self.window * (physics.A(x) - y))


def observation_window(shape: torch.Size, crop: tuple[int, int, int, int], dtype: torch.dtype) -> torch.Tensor:
    """The ``(1, 1, H, W)`` 0/1 window of the padded domain ``shape[-2:]`` that is 1 on ``crop`` = (top, left, h, w)."""
    top, left, h, w = crop
    m = torch.zeros((1, 1, *shape[-2:]), dtype=dtype)
    m[..., top : top + h, left : left + w] = 1.0
    return m
