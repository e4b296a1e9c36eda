"""The library's error types.

:class:`UserError` marks an error caused by what the user gave (a value, a file, an option), as opposed
to a defect of the library. The command line prints a ``UserError`` as one line (exit status 2) and
lets every other exception show its traceback. :class:`InputError` is the ``ValueError`` raised by
the library's input validation; it is a ``UserError`` too.
"""

from __future__ import annotations

__all__ = ["InputError", "InputTypeError", "UserError"]


class UserError(Exception):
    """An error caused by the user's input; the message says what was expected and how to fix it."""


class InputError(UserError, ValueError):
    """A value given to the library is invalid (bad shape, range, choice or file content)."""


class InputTypeError(UserError, TypeError):
    """A value given to the library has the wrong type."""
