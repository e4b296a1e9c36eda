r"""Does a learned denoiser inherit the invariances of its training images? The noise-matched test.

The protocol of the VibrantLeaves talk ("find variances :math:`\sigma_1, \sigma_2` so that
performances match; test both models while varying the distortion; report the PSNR gap"):

1. **Matching** (``match=True``, :func:`match_noise`). The reference prior is scored at the nominal
   ``sigma`` on the undistorted images: :math:`\mathrm{PSNR}^\star`. By default the reference is
   the prior that scores *lowest* there: every other prior can then reach its score by taking more
   noise (a weak prior may never reach a strong one's score: a Dead Leaves prior that smooths
   texture away stays below it even at :math:`\sigma \to 0`). Every other prior gets the input
   noise level :math:`\sigma_p` at which it scores the same,
   :math:`\mathrm{PSNR}_p(\sigma_p) = \mathrm{PSNR}^\star`, found by bisection on
   :math:`\log\sigma` (PSNR falls with :math:`\sigma`). The noise is added at :math:`\sigma_p` and
   :math:`\sigma_p` is handed to the denoiser. So a prior that is simply better everywhere does not
   look "more robust": all start from the same quality.
2. **Distortion.** Each clean image :math:`x` becomes :math:`T_\ell x` at each level :math:`\ell`
   (:mod:`~pnpleaves.analysis.distortions`), noise :math:`\sigma_p z` is added, the prior denoises,
   and :math:`\Delta_p(\ell) = \mathrm{PSNR}_p(T_\ell) - \mathrm{PSNR}_p(\text{undistorted})`.
3. **Gap.** :math:`\Delta_p(\ell) - \Delta_{\mathrm{ref}}(\ell)`: positive when prior :math:`p` copes
   with the distortion better than the reference.

Noise: every prior sees the same standard noise :math:`z_k` for image :math:`k`
(:func:`~pnpleaves.analysis.noisy_trials.seeded_noise`); a distortion that keeps the size reuses it,
an exact pixel permutation (flip, quarter turn) permutes it along with the image, and one that
changes the size draws a new seeded pattern, again shared by all priors.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_number
from pnpleaves.analysis.distortions import Distortion, distort, get_distortion
from pnpleaves.analysis.image_sources import ImageSource, colour_images
from pnpleaves.analysis.noisy_trials import as_batches, denoise, mean_psnr, named_priors, seeded_noise
from pnpleaves.errors import InputError
from pnpleaves.images import to_tensor
from pnpleaves.metrics import psnr

__all__ = ["InvarianceResult", "invariance", "match_noise"]


def match_noise(priors: dict[str, Any], images: list[torch.Tensor], sigma: float, *, reference: str | None = None,
                seed: int = 0, tol: float = 0.005, max_iter: int = 40,
                bracket: float = 16.0) -> tuple[dict[str, float], float]:
    r"""Each prior's noise level at which it scores the reference's PSNR at ``sigma``.

    :param priors: label -> denoiser (see :func:`~pnpleaves.analysis.noisy_trials.named_priors`).
    :param images: clean ``(1, C, H, W)`` tensors.
    :param reference: the label of the reference prior, which keeps ``sigma`` (default: the prior
        with the lowest PSNR at ``sigma``, so that the others can always be matched).
    :param tol: stop when the PSNR is within ``tol`` dB of the target.
    :param bracket: search ``[sigma / bracket, sigma * bracket]``.
    :return: ``({label: sigma_p}, target PSNR)``.
    """
    sigma = check_number(sigma, "sigma", low=0.0, low_inclusive=False)
    noises = [seeded_noise(x.shape, seed, k, x.device) for k, x in enumerate(images)]
    if reference is None:
        scores = {name: mean_psnr(den, images, sigma, noises=noises) for name, den in priors.items()}
        ref = min(scores, key=scores.get)
        target = scores[ref]
    else:
        ref = reference
        if ref not in priors:
            raise InputError(f"reference {ref!r} is not one of the priors {list(priors)}.")
        target = mean_psnr(priors[ref], images, sigma, noises=noises)
    out = {}
    for name, den in priors.items():
        if name == ref:
            out[name] = sigma
            continue

        def score(log_s: float, den=den) -> float:
            return mean_psnr(den, images, math.exp(log_s), noises=noises) - target

        lo, hi = math.log(sigma / bracket), math.log(sigma * bracket)
        f_lo, f_hi = score(lo), score(hi)
        if f_lo < 0 or f_hi > 0:
            raise InputError(
                f"cannot match prior {name!r} to {target:.2f} dB: it scores {f_lo + target:.2f} dB at sigma "
                f"{math.exp(lo) * 255:.3g}/255 and {f_hi + target:.2f} dB at {math.exp(hi) * 255:.3g}/255. "
                "Use match=False (CLI: --no-match) or another sigma."
            )
        mid = 0.5 * (lo + hi)
        for _ in range(max_iter):
            mid = 0.5 * (lo + hi)
            f = score(mid)
            if abs(f) < tol:
                break
            if f > 0:
                lo = mid
            else:
                hi = mid
        out[name] = math.exp(mid)
    return out, target


@dataclass(frozen=True)
class InvarianceResult:
    """The PSNR of every prior at every distortion level, with the changes and gaps."""

    transform: str
    levels: tuple[float, ...]
    reference: str
    sigma: float  #: the nominal noise level
    sigma_in: dict[str, float]  #: the matched noise level of each prior
    base_psnr: dict[str, float]  #: PSNR on the undistorted images
    psnr: dict[str, list[float]]  #: per prior, per level
    n_images: int
    unit: str = ""
    per_image: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  #: (levels, images) PSNRs

    @property
    def delta(self) -> dict[str, list[float]]:
        """PSNR change against the undistorted images, per prior and level."""
        return {p: [v - self.base_psnr[p] for v in vals] for p, vals in self.psnr.items()}

    @property
    def gap(self) -> dict[str, list[float]]:
        """``delta`` minus the reference's ``delta``: > 0 when the prior copes better."""
        d = self.delta
        return {p: [a - b for a, b in zip(vals, d[self.reference])] for p, vals in d.items()}

    def rows(self) -> list[dict[str, Any]]:
        """One dict per (prior, level): the CSV rows."""
        rows = []
        d, g = self.delta, self.gap
        for p in self.psnr:
            for i, lev in enumerate(self.levels):
                rows.append({"transform": self.transform, "level": lev, "prior": p,
                             "sigma_in_255": round(self.sigma_in[p] * 255, 4),
                             "base_psnr": round(self.base_psnr[p], 4), "psnr": round(self.psnr[p][i], 4),
                             "delta": round(d[p][i], 4), "gap_to_reference": round(g[p][i], 4)})
        return rows

    def format(self) -> str:
        """A plain-text table: one row per level, delta (and gap) per prior."""
        priors = list(self.psnr)
        head = ["level"] + [f"d {p}" for p in priors] + [f"gap {p}" for p in priors if p != self.reference]
        lines = [head]
        lines.append(["sigma_in"] + [f"{self.sigma_in[p] * 255:.2f}" for p in priors]
                     + ["" for p in priors if p != self.reference])
        lines.append(["PSNR_0"] + [f"{self.base_psnr[p]:.2f}" for p in priors]
                     + ["" for p in priors if p != self.reference])
        d, g = self.delta, self.gap
        for i, lev in enumerate(self.levels):
            lines.append([f"{lev:g}"] + [f"{d[p][i]:+.3f}" for p in priors]
                         + [f"{g[p][i]:+.3f}" for p in priors if p != self.reference])
        widths = [max(len(r[j]) for r in lines) for j in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in lines)

    def write_csv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return path


def _noise_for(dist: Distortion, level: float, z: np.ndarray, shape: tuple[int, ...], seed: int, k: int,
               j: int) -> np.ndarray:
    if dist.permutes(level):
        return dist.apply(z, level)
    if shape == z.shape:
        return z
    return seeded_noise((1, shape[2], shape[0], shape[1]), seed, 1_000_003 * (j + 1) + k)[0].permute(1, 2, 0).numpy()


def invariance(
    priors: Any,
    images: ImageSource,
    transform: str | Distortion,
    levels: Any = None,
    *,
    sigma: float,
    match: bool = True,
    reference: str | None = None,
    seed: int = 0,
    crop: int = 0,
    max_images: int | None = None,
    device: Any = None,
    tol: float = 0.005,
) -> InvarianceResult:
    r"""The noise-matched invariance test of ``priors`` under ``transform`` (see the module docstring).

    :param priors: a prior, a list of priors or a dict label -> prior (names, paths, deepinv
        Denoisers, callables ``D(x, sigma)``, or ``"gaussian"`` / ``"cbm3d"``).
    :param images: clean images: a folder, an ``(N, H, W, C)`` stack, a list of arrays or tensors.
    :param transform: a name of :data:`~pnpleaves.analysis.distortions.DISTORTIONS` or a
        :class:`~pnpleaves.analysis.distortions.Distortion`.
    :param levels: the distortion levels (default: the distortion's own).
    :param sigma: nominal noise level on the [0, 1] scale (the reference prior's).
    :param match: choose each prior's noise level so that all score the same PSNR on the undistorted
        images (:func:`match_noise`); ``False`` uses ``sigma`` for all.
    :param reference: label of the reference prior, which gets ``sigma`` (default: with ``match``,
        the prior that scores lowest at ``sigma``; without, the first).
    :param crop: centre crop of each image (0: whole images).
    """
    dist = get_distortion(transform)
    sigma = check_number(sigma, "sigma", low=0.0, low_inclusive=False, hint="Give sigma on the [0, 1] scale.")
    levels = tuple(float(v) for v in (dist.levels if levels is None else levels))
    if not levels:
        raise InputError("levels is empty; give at least one distortion level.")
    imgs = colour_images(images, max_images=max_images, crop=crop)
    named = named_priors(priors, images=imgs, device=device)
    if reference is not None and reference not in named:
        raise InputError(f"reference {reference!r} is not one of the priors {list(named)}.")
    xs = as_batches(imgs, device)
    if match and len(named) > 1:
        sig, _ = match_noise(named, xs, sigma, reference=reference, seed=seed, tol=tol)
        ref = reference if reference is not None else next(p for p, s in sig.items() if s == sigma)
    else:
        sig = {p: sigma for p in named}
        ref = reference if reference is not None else next(iter(named))
    noises = [seeded_noise(x.shape, seed, k, x.device) for k, x in enumerate(xs)]
    base = {p: mean_psnr(den, xs, sig[p], noises=noises) for p, den in named.items()}
    table: dict[str, list[float]] = {p: [] for p in named}
    per_image = {p: np.zeros((len(levels), len(imgs))) for p in named}
    for j, lev in enumerate(levels):
        scale = dist.noise_scale(lev)
        for k, img in enumerate(imgs):
            tx = distort(img, dist, lev)
            z = _noise_for(dist, lev, noises[k][0].permute(1, 2, 0).cpu().numpy(), tx.shape, seed, k, j)
            x_t = to_tensor(tx).to(xs[0].device)
            z_t = to_tensor(np.asarray(z, dtype=np.float32)).to(x_t.device)
            for p, den in named.items():
                s = sig[p] * scale
                out = denoise(den, x_t + s * z_t, s)
                if dist.undo is not None:
                    out = to_tensor(dist.undo(out[0].permute(1, 2, 0).cpu().numpy(), lev)).to(x_t.device)
                    per_image[p][j, k] = float(psnr(out, to_tensor(img).to(x_t.device))[0])
                else:
                    per_image[p][j, k] = float(psnr(out, x_t)[0])
        for p in named:
            table[p].append(float(per_image[p][j].mean()))
    return InvarianceResult(transform=dist.name, levels=levels, reference=ref, sigma=sigma, sigma_in=sig,
                            base_psnr=base, psnr=table, n_images=len(imgs), unit=dist.unit, per_image=per_image)
