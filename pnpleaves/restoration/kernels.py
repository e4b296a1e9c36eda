r"""Blur and anti-aliasing kernels: the eight Levin et al. camera-shake kernels, the super-resolution
kernels (bicubic, Gaussian), and a kernel's transfer function.

- :func:`levin_kernel`: A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and Evaluating
  Blind Deconvolution Algorithms", CVPR 2009. Values as distributed in ``kernels/Levin09.mat`` of
  cszn/DPIR (MIT licence, commit 15bca3fcc1f3cc51a1f99ccf027691e278c19354), in DPIR's orientation (as
  used with ``scipy.ndimage.convolve``), embedded here as float32 (zlib + base64, so that demos need no
  data files) and renormalised to sum 1.
- :func:`bicubic_kernel`, :func:`gaussian_kernel`: pixel-centred anti-aliasing kernels for
  ``(k * x)[::s, ::s]``; the bicubic one is MATLAB ``imresize``'s (Keys' cubic, a = -0.5).
- :func:`sr_kernel`: the ``kernel`` argument of the super-resolution functions as a tensor.
- :func:`psf2otf`: the transfer function, so that FFT-domain products match ``scipy.ndimage.convolve``.
"""

from __future__ import annotations

import base64
import functools
import math
import zlib
from typing import Any

import numpy as np
import torch

from pnpleaves._checks import check_choice
from pnpleaves.errors import InputError
from pnpleaves.images import kernel_to_tensor

__all__ = ["LEVIN_SIZES", "bicubic_kernel", "gaussian_kernel", "levin_kernel", "psf2otf", "sr_kernel"]

#: side of each (square) kernel, kernels 1..8
LEVIN_SIZES = (19, 17, 15, 27, 13, 21, 23, 23)

_DATA = (
    "eNrtWnlYjlvXLw00aJYGpU6j0vg8z733fe91E1JEVCQZSojMs0NHg9KcIhpkqAyFaEKjRDkpIUlUVMiQBkOhiHzv9f5x3uu9"
    "zqAn+d7v+t6z/l+/tfdev/Vba+/7FhD43zepdys53AWfOLuy9bjfg/O16Ao34Ppk6rr3ZCovgTX/6inDGwjOe+tI7raLHPq8"
    "rQpvk91Dsn5uIzwr16P4xflwNJP3ebERIkoWTN6whfTtmBjWW34m69KsiPnFijaMpeyvl9OTVslDmWYkROsPI4fzbbGeeAtf"
    "6zK0juTMqk2hzvlPIqsW5MPmvOVwg6tBRi8WpvRpZXN+sJ6qPDa7JWTD09W1gTT6JlBWdxjvQ8PIvbOueIpvKF+57F0ubS5z"
    "ewY60NtEGmSqoVq/mIRf/om9vfAkjHVaxtcefX85yBOQu402bXwIPmq5kJorSm5FxbK2baPZlgdifJ293Yq5qCGrntnS95R1"
    "OTQCnnpfJLtuCrJTft6JR68/y9ce57cPwV6myeTISm3Wyr6PdHwUZW9ZSYK010q+9rduczfHYkQkmt7HktbEYzS5cYiIRe2G"
    "9BpHxuT6LL44rzwihGd4+yqO69SgTVJ6YUXVKlLY4k8ffGDL4ZejYbuSKIsvW/E5Vx02cF8hqVwYiX0da9FAapC1kkeFuILk"
    "DytlVefNoMPeBlAD1YUM5WwqIzUKnXGNoLxkXcy+R2M0gh046/oCqNgkPV5jig1P4L/ANOumobxqLbwMN+Ls+Fn9yuehnxTQ"
    "6fBbPDfDLm7y8Giqq2ACvf6tKh7HnGMW3RD4Zg1uaZ2O7GMkkOpGBZR2nEUhH1OQsD7NOB3MgUXmZuybUc7kr/xHakRTQclm"
    "CExv4gDnIhghzaV5yteZjuPdgENHsw2aYRCSY0j/FcbeijBq/YopOODyEyBJyexCy2Dy7Iwt7NrTDlkVx5hRopt4i7p8//Q8"
    "vFQOUUfcN1Iess28lwcqQTn9NanPnEDifn4Ee8MITZtFoc/bD/wlhzjJBXj3l7H0Mt8ysvtRHQi/1gAZQxFWXGUMXDN+9c1z"
    "XOuwjqqsCqPq3EbQcQvTYP6a+fDWvQrWPxJkf5WuQrxelW/mM3u6LB4Tw9LixyXgtfE+yBodDdn2X0B4li+dccq+XzXwNQ8h"
    "/f2PebXTt8ILt+twx7AK7hR/IPlq/v3W4xf15ugXj6GM15YC+PQ+DtQUbkBnsjijsG5jvzh5KVuZ6zh5Itp+vJcS0lZkM1Oi"
    "we9jDpnp2dJvjTI0iKc6iDsyXpwA5SF3WLlIcwjJnkbrvvDoN0akoiZP/Xw0sn4ixHj1yEDnq1je9nNZfOtkXFgelRlYi3qC"
    "3CkTFzlK4L/YUlKjOGnnxXnxJYZYU/0gdm0V7rc2n64K5XLij+KFIwtIs5QKXMig6bnyw+hv+e1TFOTy1C7gd7qmJG+aNdu0"
    "aQQ7ekcniMp8odO33fvLfBhkL6YuL0nHWgEBsGj8HJK+azTWyk8FzVf2EJ8a+Ke+FfbuVNFqXVpzeCqZ82gjiD3LJbWhSjBc"
    "15i9HvGGaAoJ/SGPcvYcoWrKXPH1UHmyRs8ftGaKsG7HckF2tho73Hk/O1buMSNtIfCHvkmOe7HZcy4tK+sOJc72rInKQ3jz"
    "rBGktPXYSxceQ4dk25/W8AGLLBS2M5oWLEuB9ESabbxyE+Ly30P+gk8gEpZKO1hp/invn2or8loMHmCO4yxceFeQda5n2bLJ"
    "O9gQRpjdMb/rm7qxzVsG7zlSgUtfPmAsQBOsE0MgPGsmM2W+ab9qRTz8KkrUPIPXKDXimTq9WEP2LV+z46Nfmqi2OBlkOVsM"
    "Cfxt/1Ez1NvIXW0cwg28+tas6toG8x8Ro0jWnBOUeJ9rJFOFwlUXMDG9EfCpJ5wezBj3Qsu5Ttc7OMJZh/B6Ty7d8lKNGFko"
    "siJqV1jdjIJBibVGWoi7fQXmLl0RytP7mMmbY/eZUdqeCBZrppCp1qvhzr0xYHLl5HdxumKDN6/crZVSczxJNVRJYIWp7ejG"
    "eQ1wXjYWsmfspsmEdLonRQd0xx8BkYTCAfc2acsjaNnZQOrC6Uh8RjSbKTg3ElyZDRBfxiHNefvw9ph99PKWU/hJFGJpyfNE"
    "aNVyvmf6aItM6tz6DGR1ehw2GhJPF6jT4JwzHc4KFDBTRPzoNgkrWpRYAnzygdbXsuzi96tgx5A5fL91vAzxReZj7JFAlADi"
    "js8gExMc4PDmRdSI+kauqPF5KmuaEe+giT9Zze5mV8+MIHbRHG7hCxmu89U2vu483i3VVEljC3VltSTNrTeFeZk3yBmNXG7z"
    "3Chqa7QHJ+1YnNndnBBKkpNBEtWT4EneOXONgJGmxTsu8RVn9sQCrsnV48h4WzX2jF0HTzsZUmanhJ2ML/2Wbz1bGc5tgXRO"
    "XN1JEjzxOIwaGzag+xvdXcfV6rxPjd9SScZUJZM3mVXI4EXzv+Vg1IKvZp9Cw6mLpSqwzDAMFmzayDfv/Byem3MsT1BSr+Yw"
    "sRvSoc0oB8XKWf8u140yRmbXiz+YX1bUhYUb0okINYHvWI3b0s3sjirzuihpePO0iYx6f+YPMXqzD1LqC3WoI9um0rOtQvFA"
    "zs9GZxe38+AobPgG4G2rE7nNFv6QeXNcXiS3T1+Nk+J4FOc9HgVBD9biwY7hfdKOu/dkAuUukmRa8TAUTx63Ep342k18c7MH"
    "PZbBTTPufqcKav50aSivP8t4Pb9MNkcUE4VXyziDHat4RjzVGhGBl/xjvrJXVgLPCC2wfZ3N/Ig8jTE14Qx7F0qVCjaRKH17"
    "eLOUA02uofSPiLXdS5/n1reecug+TYJRAwQdziGfH03HPyKWX6slz8e3khuxuJvRm6DHbvSfRNxQFUfgB5nlLStuzMFAImC4"
    "hvUQOcgI/ECTt2g36z6rSedo6sBdqa34R8bKqFbh3TDYz6l9rs/7qJVoJvC3/etdKNACNwtuRg5H1/1OQzM7RHgNEzu4tjdK"
    "KeeWtH/yrjfyCM4WE8JpKIKc/iJAnjwX+81v6K5oLJwvQ3Ns6inTn8aRU88WMrPH1eJTVw7jyjvXcFHwV3JA7BCkPVvwW23e"
    "Om6Em9ctobUk3sKhRVvYwLFHoLmykM51CsHNsq24SGYnBKjch9dE6jc+1ux7gx8VedDp+XuY+kDM1no8AIOsX4hj4nFso7SV"
    "OGx9AzGkDL6eN/8tjqYkoecMY+lzi+LJ+Ob5cPLza/CcehEknvwKau/7wM2yE1Q6cwhS+tdduetjCgoRuog3PH5NSiZFsDcO"
    "1LHOU6TY4IItIOyUScRsu5mseR2/m9FmLorHX7YkMUxEETvjSSH7MHkvmAQEobGZSpRcfjk19f6e3/Vgw3IF1F4pQI/TSCGv"
    "qlWgUbgcmpVfEdXbF/60tznaMZSNsjsnvK+Cctntj6UWFxDfKF94peD7Te0bWdPK23rQmucqPZReFMyhk+pX/796s8l3D0Xv"
    "3V5RPTZV+GHhdXzWKxXTX2QHtMdxd3ZSqmgx7mvywPdCHtJs+AFa1SqcXHLWZj69c+G7z3x8H4N6ZuxDz8I2U5e8bjFSQ46C"
    "vK4Eu7augJVzfcIOC0zgW3tXcYNR+fBQOnSXOjz6LMmqKTYAW5IM7qd8ITjdAryHxvO9zgk6klyVx4u4Q3a9h2tOs9jm+RoQ"
    "9mY6yZ0gQXs1z0OLtTT4vp8E3TzHM/YTJhXEhc1BHqxzqRRMz+zFk9aGc/es1RlQb9M3ikX1Pv4kFe9n4w+4sqfuikNwzffN"
    "T9opwqiyZzYdWeIOnI4TILf3KLHerD3gnhg6/B61bgkXuzwpwbYvOfQcjRr6xLGdgOpn8Y3ZbiCLv94Kxw7F47F3yFV6mvoj"
    "htpQRKTtw0EkpIGckUnl6z6864UIPlgnS19bEkK/kyumxZe1kx1GsuCYm0msVTXIR+0L9NgSyX7zZ5iEBVYJssKNy8PwnZsf"
    "yTEPRaiPsCOjpwPNFTDH+c/Ho2nFn/vNHVJayVUxFcXl62bRiaKY3E/yIWDvhEjnaCracSluFI7hO9dOQ5Kpju3+2LS7hhy3"
    "GQFM8X16sub+AXNm/TsXKvXgMPz8lTmRTYgELaljJE/+1HdxMH2bAqWUsJvn1T4MmLgnUNnkRW4X6X7XW4cs+YDMKqehYHlB"
    "qLT8FXyUEwZlzhvnlonujzNkzrb1MIpFSYPyxnjj7nwEwmL4nknf32+W/2GbWyZJp46spt1f2OPYd06DNq+/ObCQe8z7OV7K"
    "kyCrVlSSrlHig3bvmJwuir4YK2Cx+5NhkfIxdlQ4A2GP6waFSy7ik1Cuix7VrnaYnHp8mlW09cdLPC8NCrZjUjSvxkCXSXM8"
    "ARNMMth7/nagcX5Ov7FtHhaj4UfzqfTVechtx+N/89tyUgavzTAhqqXqbOitw6wD6iQNFyL6hf0Or0cz49rwzRO9TOz4T0zo"
    "ueP0GyEZNDwnAmuviMY1azPoqvXFDFK7Bg9HnIbDkkn95oloSQTq+LmHGbWqB05/LQWb1goyTrCaeVcdTMcf+sdcHKxEFGye"
    "EuFWKfLaJ5B2WFXQ7/MQ3B+F1oSZk6kJ12DTRl94u9UVTnbsAY2SRKZMipB9R5Shb7MJma1YTecvru5/DocacqiFp1EwT4vs"
    "SbhHPLfL0yvfzWHW1PhD4u16kk/nk6Oi1sTXR51vTsdP8eDZvKjAY+MTyMpeARjxdggT57CfaZykCrldbUTirjYJa/Ki7Ysl"
    "+arFt/dtuUtDzdH99D2MpY4XfBFXI0vad9LWG0Yyrj97EKetR8icAt0B1eBEGxF0vaYRp7kMB2OOKKxDKxnHi6J0eFsznjn3"
    "JnHcsJ34zEwZkHakVO9C4Y/amKljdkKLhQ6p8zyJjBLvIa9sIyZjx08Qc0lzwLoROcmROrBjIzEcMh3GFqgz1oU6vAkPdqPn"
    "flNJpY4szMz/POC3JM8kP6Q27wszqmYnlHfnMbTrXipvsxGyUY1l0HAeyD5fMGDs8zFD0OYZIfQd/Q9Er/4zuSX1lBm5vBHb"
    "/uQGfW1zIHS7+4CxP9iOQw9tdJBJlizjKCwJAvvMQEl4GjgJlYLHr7okpuTZd/WAX2MyqbTlE5Dd1JG02OZtDGvRxZSaSBBF"
    "cYVB0X9euysy/fITivPZjLxQGDKtXI2MOtb/PUd8wzqC8tGNWnV6X7sKvXAVM2h93kh7OOUcsQGZlagxU61UofhyJbPN9/u/"
    "RSvHaiA5z0CqsygbXza2hmm1u9nxq1Sgqfw532t3WzYJ6cfX4i3dOv/0zbZWpQ2SNek5d9ShR7IF+l7uYvcul4bsmja+sINt"
    "w6hZJwrwIRtX2j1Ohd4abcfbOq2Yltl5nkxJ+QoqgvLsrB6KvRUUQ3prd/KFfVP0K88uJpSRShVlPzRlET/9Op5hijiNR70g"
    "enAFrl3eAnVpMSTnnRlfdeUV/Jr7Vlia6q3AzKe3cWwZE820G4fzbLpL8eoQIyJqnUuY2ii689kk/EBnDV9rDitWNPf0uoo5"
    "p7xAXy4IXrmvxB7306kRIzOwjMJVEp0rAalNwwakXYeW2lLiajew74gWECxqIBUf5uHT4xu5lrmWtGMODQbyGeTxvOMD4rXj"
    "S1vqYWssbbpsL9yqMCNZkaux26RDeKKuFRGznQw++YkD1q4EAz0s46RNAh7IwL5qb0bSLQtfvjiU3Layhe6g4+RVlcKAzsOv"
    "7CQlc6cVX244Qcx5ZaSwOYIJH+lIJt40gF8q7pMkm5QB9wgvR0/eJ1aGuevXRXaEZZK5E04Tp0I5eB0dRX42dKG7/HIH9A/9"
    "8sBqara3GO3jkUBim9RgZ2orMQyrI0uV5MgDuUZsFdo54H9dtZwqsLrgNOaAgjq4LzADp1XPSLD2ecYrbft3ad3aWf7IrCEG"
    "T0gpIx+y7EAoWR+GmKgRxSKB7/4OFRBwGLWs9mP8eurIObF5UF5aTpaHJQ2KNqdKPERzZ5cxs5dJsOXpauynJZFExzJiULAb"
    "uvqoHUP9cPzuEhD41AVtQnqDdreTOjePZ+bTSvk5FHBXXvHBNYfjBrW3T1m+gUPHqnE20Tv+z/5X/T+s1CHK"
)


@functools.lru_cache(maxsize=1)
def _all() -> tuple[np.ndarray, ...]:
    raw = np.frombuffer(zlib.decompress(base64.b64decode(_DATA)), dtype=np.float32)
    out, start = [], 0
    for n in LEVIN_SIZES:
        k = raw[start : start + n * n].reshape(n, n).astype(np.float64)
        out.append(k / k.sum())
        start += n * n
    return tuple(out)


def levin_kernel(index: int) -> np.ndarray:
    """Levin kernel number ``index`` (1..8) as a float64 array summing to 1 (a fresh copy)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 1 <= int(index) <= 8:
        raise InputError(f"index must be an integer from 1 to 8; got {index!r}.")
    return _all()[int(index) - 1].copy()


# --------------------------------------------------------------------------- super-resolution kernels


def _cubic(u: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.5, as MATLAB ``imresize``)."""
    u = np.abs(u)
    return np.where(
        u <= 1,
        (a + 2) * u**3 - (a + 3) * u**2 + 1,
        np.where(u < 2, a * u**3 - 5 * a * u**2 + 8 * a * u - 4 * a, 0.0),
    )


def _centred_kernel(profile, scale: int, support: float) -> np.ndarray:
    r"""Separable kernel whose decimation ``(k * x)[::s]`` puts low-res pixel ``i`` at high-res ``s i + (s-1)/2``.

    ``profile(u)`` is evaluated at :math:`u = (t - (s - 1)/2)/s` for high-res offsets :math:`t`; with the
    convolution centre at index ``L // 2``, entry ``m`` holds offset ``t = L//2 - m``.
    """
    shift = (scale - 1) / 2.0
    t_max = int(math.ceil(support * scale + shift))
    length = 2 * t_max + 1
    t = length // 2 - np.arange(length)
    w = profile((t - shift) / scale)
    w = w / w.sum()
    k = np.outer(w, w)
    # trim rows/columns that are exactly zero on both ends
    nz = np.nonzero(np.abs(w) > 0)[0]
    lo, hi = nz[0], nz[-1]
    keep = min(lo, length - 1 - hi)  # trim symmetrically so the centre index stays L // 2
    if keep > 0:
        k = k[keep : length - keep, keep : length - keep]
    return k / k.sum()


def bicubic_kernel(scale: int) -> np.ndarray:
    """Anti-aliased bicubic downsampling kernel of MATLAB ``imresize(x, 1/scale)``.

    Used as ``(k * x)[::scale]`` with circular or reflect boundaries; low-res pixel ``i`` then sits at
    the centre of high-res pixels ``scale*i ... scale*i + scale - 1`` (the pixel-centre convention of
    ``imresize`` and of ``torch.nn.functional.interpolate(..., align_corners=False)``).
    """
    return _centred_kernel(_cubic, int(scale), 2.0)


def gaussian_kernel(scale: int, std: float | None = None) -> np.ndarray:
    """Isotropic Gaussian anti-aliasing kernel (std ``scale / 2`` high-res pixels by default), pixel-centred."""
    s = int(scale)
    std = 0.5 * s if std is None else float(std)
    return _centred_kernel(lambda u: np.exp(-0.5 * (u * s / std) ** 2), s, 3.0 * std / s)


def fspecial_gaussian(size: int = 25, std: float = 1.6) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, std)``: the ``size x size`` isotropic Gaussian, centred at
    ``size // 2`` for odd sizes, summing to 1 (the 25x25 kernels of std 1.6 and 2.0 of the DPIR
    protocol re-run by Hu et al., ICLR 2024)."""
    n = int(size)
    u = np.arange(n, dtype=np.float64) - (n - 1) / 2
    g = np.exp(-(u[:, None] ** 2 + u[None, :] ** 2) / (2.0 * float(std) ** 2))
    g[g < np.finfo(np.float64).eps * g.max()] = 0.0
    return g / g.sum()


def sr_kernel(kernel: Any, scale: int, hr_hw: tuple[int, int]) -> torch.Tensor:
    """The ``(1, 1, kh, kw)`` float64 kernel of super-resolution by ``scale``.

    :param kernel: ``"bicubic"`` (:func:`bicubic_kernel`), ``"gaussian"`` (:func:`gaussian_kernel`), or a
        2-D array (checked against the high-res size ``hr_hw``; negative lobes allowed, normalised to sum 1).
    """
    if isinstance(kernel, str):
        check_choice(kernel, "kernel", ("bicubic", "gaussian"), hint="Or pass a 2-D array.")
        arr = bicubic_kernel(scale) if kernel == "bicubic" else gaussian_kernel(scale)
        return torch.from_numpy(arr)[None, None]
    return kernel_to_tensor(kernel, hr_hw, allow_negative=True)


# --------------------------------------------------------------------------- transfer function


def psf2otf(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``rfft2`` of ``kernel`` zero-padded to ``shape`` with its centre (index ``k.shape // 2``) moved to 0,
    so that ``irfft2(otf * rfft2(x))`` equals ``scipy.ndimage.convolve(x, k, mode="wrap")``."""
    kh, kw = kernel.shape[-2:]
    big = torch.zeros((*kernel.shape[:-2], *shape), dtype=kernel.dtype, device=kernel.device)
    big[..., :kh, :kw] = kernel
    big = torch.roll(big, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    return torch.fft.rfft2(big)
