r"""Denoiser geometry: the Jacobian :math:`J = \partial D(y, \sigma) / \partial y` at a given input.

A denoiser is a map :math:`\mathbb R^N \to \mathbb R^N`; near an input :math:`y` it acts as the
linear operator :math:`J(y)`. For the MMSE denoiser :math:`J = \mathrm{Cov}(x \mid y) / \sigma^2`
(Tweedie / Miyasawa): symmetric, eigenvalues in :math:`[0, 1]`. Four tools, all matrix-free (no
:math:`N \times N` matrix is ever formed):

* :func:`jacobian_trace`: :math:`\operatorname{tr} J`, the *effective degrees of freedom* of the
  denoiser at :math:`y` (the SURE divergence term), by Hutchinson's estimator with Rademacher probes
  :math:`v`: :math:`\operatorname{tr} J = \mathbb E\, v^\top J v`. Returns the estimate and its
  standard error. :math:`\operatorname{tr} J / N` near 1 means "keeps almost everything", near 0
  "projects on a small subspace" (Mohan et al., ICLR 2020, show it falls as :math:`\sigma` grows).
* :func:`jacobian_spectrum`: the top-k eigenvalues and eigenvectors of the symmetric part
  :math:`(J + J^\top)/2` by block Lanczos with full reorthogonalisation; the eigenvectors, shown as images,
  are the *adaptive basis* the denoiser projects on (Kadkhodaie, Guth, Simoncelli, Mallat, ICLR 2024:
  "geometry-adaptive harmonic representations"). Each Ritz pair comes with its residual and with how
  non-symmetric :math:`J` is along it.
* :func:`jacobian_symmetry`: :math:`\|J - J^\top\|_F / \|J\|_F` from random probe pairs
  :math:`(u, v)`: :math:`\mathbb E (u^\top J v - v^\top J u)^2 = \|J - J^\top\|_F^2` and
  :math:`\mathbb E \|J^\top u\|^2 = \|J\|_F^2`. Zero iff :math:`D` is locally a gradient field
  (the MMSE denoiser is: :math:`D = y + \sigma^2 \nabla \log p_\sigma`); this matters for the
  convergence theory of Plug-and-Play (Hurault et al., ICML 2022).
* :func:`local_homogeneity`: :math:`\|D(a y, a\sigma) - a D(y, \sigma)\| / \|a D(y, \sigma)\|` for
  several gains :math:`a`, and the local (Euler) form :math:`\frac{d}{da} D(ay, a\sigma)|_{a=1} = D(y, \sigma)`.
  Exact for bias-free networks (Mohan et al. 2020), for which a pure gain test of the contrast
  invariance is then trivial.

Derivatives: by autograd (vector-Jacobian products; Jacobian-vector products by forward mode,
falling back on double backward) when the denoiser is differentiable, else by central finite
differences (CBM3D, ``method="fd"``), :math:`Jv \approx (D(y + \epsilon v) - D(y - \epsilon v)) / 2\epsilon`.
The input ``y`` is the denoiser input itself (a noisy image: add the noise first); a batch is
treated as one input of dimension :math:`N = B\,C\,H\,W` (the trace adds up over images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_choice, check_number
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.priors import resolve_prior

__all__ = [
    "HomogeneityResult",
    "JacobianOperator",
    "SpectrumResult",
    "SymmetryEstimate",
    "TraceEstimate",
    "jacobian_spectrum",
    "jacobian_symmetry",
    "jacobian_trace",
    "local_homogeneity",
    "rademacher",
]

METHODS = ("auto", "autograd", "fd")


def rademacher(shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Independent +-1 entries with probability 1/2 each."""
    return torch.randint(0, 2, shape, generator=generator).to(dtype).mul_(2).sub_(1)


def _as_input(x: Any) -> torch.Tensor:
    """A denoiser input as a float ``(B, C, H, W)`` tensor (values are not clipped: noisy images leave [0, 1])."""
    if isinstance(x, np.ndarray):
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3:
            raise InputError(f"x as a NumPy array must be (H, W) or (H, W, C); got shape {arr.shape}.")
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
    if isinstance(x, torch.Tensor):
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise InputError(f"x must be a (C, H, W) or (B, C, H, W) tensor; got shape {tuple(x.shape)}.")
        if not x.is_floating_point():
            x = x.float()
        return x.detach()
    raise InputTypeError(f"x must be a NumPy array or a torch tensor; got {type(x).__name__}.")


class JacobianOperator:
    r"""The Jacobian of ``den(., sigma)`` at ``y`` as a matrix-free operator: :meth:`jvp` (:math:`Jv`)
    and :meth:`vjp` (:math:`J^\top u`) on tensors shaped like ``y``.

    :param method: ``"autograd"``, ``"fd"`` (central finite differences, :meth:`vjp` unavailable) or
        ``"auto"`` (autograd when the output depends differentiably on ``y``, else finite differences).
    :param eps: finite-difference step (default ``1e-3``, on the [0, 1] image scale).
    """

    def __init__(self, den: Any, y: torch.Tensor, sigma: float, *, method: str = "auto", eps: float = 1e-3):
        method = check_choice(method, "method", METHODS)
        self.den, self.sigma, self.eps = den, float(sigma), float(eps)
        self.y = y.detach()
        self.shape = tuple(self.y.shape)
        self.dim = int(self.y.numel())
        self.method = "fd"
        self._out: torch.Tensor | None = None
        if method in ("auto", "autograd"):
            y_req = self.y.clone().requires_grad_(True)
            with torch.enable_grad():
                out = den(y_req, self.sigma)
            if out.requires_grad:
                self.method, self._y_req, self._out = "autograd", y_req, out
            elif method == "autograd":
                raise InputError("the denoiser's output does not depend differentiably on its input (no autograd "
                                 "graph); use method='fd' (finite differences).")
            self.output = out.detach()
        else:
            with torch.no_grad():
                self.output = den(self.y, self.sigma)
        self._u: torch.Tensor | None = None
        self._g: torch.Tensor | None = None

    @property
    def differentiable(self) -> bool:
        """True when :meth:`vjp` is available (autograd)."""
        return self.method == "autograd"

    def vjp(self, u: torch.Tensor) -> torch.Tensor:
        r""":math:`J^\top u` (autograd only)."""
        if self._out is None:
            raise InputError("J^T u needs a differentiable denoiser (autograd); this one is handled by finite "
                             "differences.")
        return torch.autograd.grad(self._out, self._y_req, u.to(self._out), retain_graph=True)[0].detach()

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        r""":math:`J v`: forward mode (else double backward) with autograd, central differences otherwise."""
        v = v.to(self.y)
        if self.method == "fd":
            with torch.no_grad():
                plus = self.den(self.y + self.eps * v, self.sigma)
                minus = self.den(self.y - self.eps * v, self.sigma)
            return (plus - minus) / (2 * self.eps)
        try:
            _, out = torch.func.jvp(lambda t: self.den(t, self.sigma), (self.y,), (v,))
            return out.detach()
        except (RuntimeError, NotImplementedError, TypeError):
            pass
        if self._g is None:  # J^T u with a graph in u: d/du <J^T u, v> = J v
            self._u = torch.zeros_like(self._out, requires_grad=True)
            with torch.enable_grad():
                self._g = torch.autograd.grad(self._out, self._y_req, self._u, create_graph=True)[0]
        return torch.autograd.grad(self._g, self._u, v, retain_graph=True)[0].detach()

    def symmetric_part(self, v: torch.Tensor) -> torch.Tensor:
        r""":math:`\tfrac12 (J + J^\top) v`."""
        return 0.5 * (self.jvp(v) + self.vjp(v))


def _operator(prior: Any, x: Any, sigma: float, method: str, device: Any, eps: float = 1e-3) -> JacobianOperator:
    sigma = check_number(sigma, "sigma", low=0.0)
    den, _ = resolve_prior(prior, device)
    y = _as_input(x).to(device or "cpu")
    return JacobianOperator(den, y, sigma, method=method, eps=eps)


# ------------------------------------------------------------------------------------------ trace
@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson estimate of :math:`\\operatorname{tr} J`."""

    trace: float  #: the estimate (mean of the probe values)
    stderr: float  #: its standard error (sample standard deviation / sqrt(n_probes))
    dim: int  #: N, the input dimension (B C H W)
    n_probes: int
    method: str  #: "autograd" or "fd"
    samples: np.ndarray = field(repr=False)  #: v^T J v of each probe

    @property
    def per_pixel(self) -> float:
        """:math:`\\operatorname{tr} J / N`: the effective degrees of freedom per input value."""
        return self.trace / self.dim

    @property
    def per_pixel_stderr(self) -> float:
        return self.stderr / self.dim


def jacobian_trace(prior: Any, x: Any, sigma: float, *, n_probes: int = 8, seed: int = 0, method: str = "auto",
                   device: Any = None) -> TraceEstimate:
    r"""Hutchinson estimate of :math:`\operatorname{tr} \partial D(y, \sigma)/\partial y` at ``y = x``.

    With Rademacher probes :math:`v_i`, :math:`\widehat{\operatorname{tr}} = \frac1n \sum_i v_i^\top J v_i`;
    its variance is :math:`\frac1n \sum_{i \ne j} (J_{ij}^2 + J_{ij} J_{ji})` (for a symmetric :math:`J`,
    :math:`\frac2n(\|J\|_F^2 - \sum_i J_{ii}^2)`), estimated by the sample variance of the probe values.

    :param prior: a name, a path, a deepinv Denoiser or a callable ``D(x, sigma)``.
    :param x: the denoiser input (a noisy image), ``(C, H, W)`` / ``(B, C, H, W)`` tensor or ``(H, W[, C])`` array.
    :param sigma: the noise level handed to the denoiser ([0, 1] scale).
    :param n_probes: number of probes (>= 2, for the standard error).
    :param seed: the probes' seed.
    :param method: ``"auto"``, ``"autograd"`` or ``"fd"`` (see :class:`JacobianOperator`).
    """
    n_probes = check_number(n_probes, "n_probes", low=2, integer=True, hint="Use e.g. n_probes=8.")
    op = _operator(prior, x, sigma, method, device)
    g = torch.Generator().manual_seed(int(seed))
    samples = []
    for _ in range(n_probes):
        v = rademacher(op.shape, g).to(op.y)
        jv = op.vjp(v) if op.differentiable else op.jvp(v)
        samples.append(float((v.double() * jv.double()).sum()))
    s = np.asarray(samples)
    return TraceEstimate(trace=float(s.mean()), stderr=float(s.std(ddof=1) / math.sqrt(n_probes)), dim=op.dim,
                         n_probes=n_probes, method=op.method, samples=s)


# --------------------------------------------------------------------------------------- symmetry
@dataclass(frozen=True)
class SymmetryEstimate:
    r"""Random-probe estimate of :math:`\|J - J^\top\|_F / \|J\|_F`."""

    ratio: float  #: sqrt(mean asymmetry^2 / mean ||J u||^2)
    asym_fro2: float  #: estimate of ||J - J^T||_F^2
    fro2: float  #: estimate of ||J||_F^2
    n_probes: int
    method: str


def jacobian_symmetry(prior: Any, x: Any, sigma: float, *, n_probes: int = 8, seed: int = 0, method: str = "auto",
                      device: Any = None) -> SymmetryEstimate:
    r""":math:`\|J - J^\top\|_F / \|J\|_F` at ``y = x`` from ``n_probes`` independent Rademacher pairs :math:`(u, v)`.

    :math:`u^\top J v - v^\top J u = u^\top (J - J^\top) v` has second moment :math:`\|J - J^\top\|_F^2`,
    and :math:`\|J^\top u\|^2` (autograd) or :math:`\|J u\|^2` (finite differences) has mean
    :math:`\|J\|_F^2`. Zero (to rounding) for a symmetric :math:`J`; :math:`\sqrt 2` for an antisymmetric one.
    Arguments as in :func:`jacobian_trace`.
    """
    n_probes = check_number(n_probes, "n_probes", low=1, integer=True)
    op = _operator(prior, x, sigma, method, device)
    g = torch.Generator().manual_seed(int(seed))
    asym, norms = [], []
    for _ in range(n_probes):
        u = rademacher(op.shape, g).to(op.y).double()
        v = rademacher(op.shape, g).to(op.y).double()
        if op.differentiable:
            jtu, jtv = op.vjp(u).double(), op.vjp(v).double()
            asym.append(float((jtu * v).sum() - (jtv * u).sum()))  # u^T J v - v^T J u
            norms += [float((jtu**2).sum()), float((jtv**2).sum())]
        else:
            ju, jv = op.jvp(u).double(), op.jvp(v).double()
            asym.append(float((u * jv).sum() - (v * ju).sum()))
            norms += [float((ju**2).sum()), float((jv**2).sum())]
    a2, f2 = float(np.mean(np.square(asym))), float(np.mean(norms))
    return SymmetryEstimate(ratio=math.sqrt(a2 / f2) if f2 > 0 else 0.0, asym_fro2=a2, fro2=f2, n_probes=n_probes,
                            method=op.method)


# --------------------------------------------------------------------------------------- spectrum
@dataclass(frozen=True)
class SpectrumResult:
    r"""Top eigenpairs of :math:`(J + J^\top)/2` (largest eigenvalues first)."""

    eigenvalues: np.ndarray  #: (k,)
    eigenvectors: torch.Tensor = field(repr=False)  #: (k, *y.shape[1:]) for a single image, unit norm
    residuals: np.ndarray  #: ||S v - lambda v|| of each Ritz pair (S the symmetric part)
    asymmetry: np.ndarray  #: ||J v - J^T v|| / ||J v + J^T v|| along each eigenvector
    n_iter: int  #: size of the Krylov basis (applications of the symmetric part)


def jacobian_spectrum(prior: Any, x: Any, sigma: float, k: int = 8, *, n_iter: int | None = None, block: int = 2,
                      seed: int = 0, device: Any = None) -> SpectrumResult:
    r"""The ``k`` largest eigenvalues and their eigenvectors of the symmetrised Jacobian at ``y = x``.

    Block Lanczos (a block Krylov basis :math:`[Q, SQ, S^2Q, \dots]` of :math:`S = (J + J^\top)/2`,
    ``block`` random start vectors, full reorthogonalisation), then Rayleigh-Ritz on the basis with
    the exact :math:`Q^\top S Q`. A block, unlike single-vector Lanczos, resolves eigenvalues of
    multiplicity up to ``block`` (frequent for images with symmetries). ``n_iter`` is the basis size,
    i.e. the number of applications of :math:`S` (one JVP and one VJP each), default
    ``min(N, max(6k, 60))``; ``n_iter = N`` is exact up to rounding. Needs a differentiable
    denoiser. Use a small crop: the basis is kept in memory (``n_iter`` vectors of size :math:`N`).
    """
    k = check_number(k, "k", low=1, integer=True)
    block = check_number(block, "block", low=1, integer=True)
    op = _operator(prior, x, sigma, "autograd", device)
    n = op.dim
    if k > n:
        raise InputError(f"k ({k}) must not exceed the input dimension ({n}).")
    m = min(n, max(6 * k, 60)) if n_iter is None else check_number(n_iter, "n_iter", low=k, integer=True)
    m = min(m, n)
    b = min(block, m)
    shape = op.shape
    g = torch.Generator().manual_seed(int(seed))
    q, _ = torch.linalg.qr(torch.randn(n, b, generator=g, dtype=torch.float64))
    basis: list[torch.Tensor] = []  # columns of Q, by block
    images: list[torch.Tensor] = []  # S applied to them
    size = 0

    def apply(cols: torch.Tensor) -> torch.Tensor:
        return torch.stack([op.symmetric_part(c.reshape(shape).to(op.y.dtype)).double().reshape(-1)
                            for c in cols.T], dim=1)

    while q.shape[1] and size < m:
        q = q[:, : m - size]
        w = apply(q)
        basis.append(q)
        images.append(w)
        size += q.shape[1]
        if size >= m:
            break
        qs = torch.cat(basis, dim=1)
        r = w - qs @ (qs.T @ w)
        r = r - qs @ (qs.T @ r)  # twice is enough
        q, tri = torch.linalg.qr(r)
        keep = tri.diagonal().abs() > 1e-10 * max(1.0, float(w.norm()))  # drop directions the basis already spans
        q = q[:, keep]
    qs, ws = torch.cat(basis, dim=1), torch.cat(images, dim=1)
    t = qs.T @ ws
    evals, evecs = np.linalg.eigh(0.5 * (t + t.T).numpy())
    order = np.argsort(evals)[::-1][: min(k, evals.size)]
    vecs = (qs @ torch.from_numpy(evecs[:, order].copy())).T  # (k, n)
    vecs = vecs / vecs.norm(dim=1, keepdim=True)
    residuals, asym = [], []
    for lam, v in zip(evals[order], vecs):
        vt = v.reshape(shape).to(op.y.dtype)
        jv, jtv = op.jvp(vt).double().reshape(-1), op.vjp(vt).double().reshape(-1)
        residuals.append(float((0.5 * (jv + jtv) - lam * v).norm()))
        asym.append(float((jv - jtv).norm() / max(float((jv + jtv).norm()), 1e-30)))
    out_shape = shape[1:] if shape[0] == 1 else shape
    return SpectrumResult(eigenvalues=evals[order].copy(), eigenvectors=vecs.reshape(len(order), *out_shape).float(),
                          residuals=np.asarray(residuals), asymmetry=np.asarray(asym), n_iter=size)


# ------------------------------------------------------------------------------------ homogeneity
@dataclass(frozen=True)
class HomogeneityResult:
    r"""Relative errors :math:`\|D(ay, a\sigma) - aD(y, \sigma)\| / \|aD(y, \sigma)\|` per gain, and the local form."""

    scales: tuple[float, ...]
    errors: tuple[float, ...]
    euler_residual: float  #: ||d/da D(ay, a sigma)|_{a=1} - D(y, sigma)|| / ||D(y, sigma)||
    scale_sigma: bool


def local_homogeneity(prior: Any, x: Any, sigma: float, *, scales: tuple[float, ...] = (0.5, 0.8, 1.25, 2.0),
                      scale_sigma: bool = True, step: float = 1e-3, device: Any = None) -> HomogeneityResult:
    r"""How far ``D`` is from positively homogeneous of degree 1 around ``y = x``.

    :param scales: the gains :math:`a`.
    :param scale_sigma: hand :math:`a\sigma` to the denoiser with :math:`a y` (the noise of :math:`ay`
        is :math:`a\sigma`: the relation a bias-free non-blind network satisfies exactly); ``False``
        keeps :math:`\sigma` (the blind form of Mohan et al. 2020).
    :param step: the finite-difference step of the local (Euler) form, a central difference in :math:`a`.
    """
    sigma = check_number(sigma, "sigma", low=0.0)
    den, _ = resolve_prior(prior, device)
    y = _as_input(x).to(device or "cpu")
    scales = tuple(check_number(a, "scales[i]", low=0.0, low_inclusive=False) for a in scales)

    def d(a: float) -> torch.Tensor:
        with torch.no_grad():
            return den(a * y, a * sigma if scale_sigma else sigma).double()

    base = d(1.0)
    errors = []
    for a in scales:
        ref = a * base
        errors.append(float((d(a) - ref).norm() / max(float(ref.norm()), 1e-30)))
    deriv = (d(1.0 + step) - d(1.0 - step)) / (2 * step)
    euler = float((deriv - base).norm() / max(float(base.norm()), 1e-30))
    return HomogeneityResult(scales=scales, errors=tuple(errors), euler_residual=euler, scale_sigma=scale_sigma)
