"""Input validation shared by the whole package.

Every error says what was expected, what came in, and how to fix it, e.g.
``InputError: r_min must be a finite number > 0; got -1. Pass a positive radius in pixels.``

A bad value raises :class:`~pnpleaves.errors.InputError` (a ``ValueError``), a value of the wrong type
:class:`~pnpleaves.errors.InputTypeError` (a ``TypeError``): both are
:class:`~pnpleaves.errors.UserError`, which the command line prints as one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pnpleaves.errors import InputError, InputTypeError


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
    hint: str = "",
) -> float | int:
    """Return ``value`` as a number after checking it is finite and within ``[low, high]``."""
    kind = "an integer" if integer else "a finite number"
    lo = "" if low is None else f"{'>=' if low_inclusive else '>'} {low}"
    hi = "" if high is None else f"{'<=' if high_inclusive else '<'} {high}"
    allowed = " and ".join(p for p in (lo, hi) if p)
    expected = f"{name} must be {kind}{' ' + allowed if allowed else ''}"
    fix = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise InputTypeError(f"{expected}; got {_fmt(value)} of type {type(value).__name__}.{fix}")
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise InputTypeError(f"{expected}; got {_fmt(value)} of type {type(value).__name__}.{fix}") from None
    if not math.isfinite(as_float):
        raise InputError(f"{expected}; got {_fmt(value)}.{fix}")
    if integer and as_float != int(as_float):
        raise InputError(f"{expected}; got {_fmt(value)}.{fix}")
    if low is not None and (as_float < low or (not low_inclusive and as_float == low)):
        raise InputError(f"{expected}; got {_fmt(value)}.{fix}")
    if high is not None and (as_float > high or (not high_inclusive and as_float == high)):
        raise InputError(f"{expected}; got {_fmt(value)}.{fix}")
    return int(as_float) if integer else as_float


def check_choice(value: Any, name: str, choices: Iterable[str], hint: str = "") -> str:
    """Return ``value`` if it is one of ``choices``, else raise an InputError listing them."""
    choices = list(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        fix = f" {hint}" if hint else ""
        raise InputError(f"{name} must be one of {listed}; got {_fmt(value)}.{fix}")
    return value


#: the largest image (in pixels, ``H * W``) the library allocates: a guard against a mistyped size or scale
#: (2**27 pixels, e.g. 11585 x 11585; a float32 RGB image of that size alone takes 1.6 GB)
MAX_PIXELS = 2**27


def check_pixels(h: int, w: int, name: str = "size") -> None:
    """Refuse an image of ``h x w`` pixels larger than :data:`MAX_PIXELS`, before anything is allocated."""
    if int(h) * int(w) > MAX_PIXELS:
        raise InputError(
            f"{name} asks for a {int(h)}x{int(w)} image ({int(h) * int(w) / 1e6:.0f} MP), more than the limit of "
            f"{MAX_PIXELS / 1e6:.0f} MP (pnpleaves._checks.MAX_PIXELS); use a smaller size, or process tiles."
        )


def check_size(size: Any, name: str = "size") -> tuple[int, int]:
    """Normalise an image size: an int ``S`` gives ``(S, S)``; a pair ``(H, W)`` is kept."""
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise InputError(f"{name} must be an int or a pair (height, width); got {size!r}.")
        h, w = size
    else:
        h = w = size
    h = check_number(h, name, low=1, integer=True, hint="Give the image side in pixels, e.g. size=256.")
    w = check_number(w, name, low=1, integer=True, hint="Give the image side in pixels, e.g. size=256.")
    check_pixels(h, w, name)
    return int(h), int(w)


def check_range_pair(value: Any, name: str, *, low: float | None = None, high: float | None = None) -> tuple[float, float]:
    """Check a ``(lo, hi)`` pair with ``lo <= hi`` inside ``[low, high]``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InputError(f"{name} must be a pair (lo, hi); got {value!r}.")
    lo = check_number(value[0], f"{name}[0]", low=low, high=high)
    hi = check_number(value[1], f"{name}[1]", low=low, high=high)
    if lo > hi:
        raise InputError(f"{name} must satisfy lo <= hi; got {value!r}. Swap the two values.")
    return lo, hi

