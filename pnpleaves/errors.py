"""The library's error types: which errors are the user's, and which are the library's.

:class:`UserError` marks an error caused by what the user gave (a value, a file, an option), as opposed
to a defect of the library. Its message says what was expected, what came in and how to fix it. Two
subclasses are also standard Python errors, so ``except ValueError`` / ``except TypeError`` and
``pytest.raises(ValueError)`` keep working:

* :class:`InputError` (``ValueError``): a value has the wrong shape, range, choice or file content.
  The validation helpers of ``pnpleaves._checks`` raise it, and so does any library check of an input.
* :class:`InputTypeError` (``TypeError``): a value has the wrong type.

The command line (:mod:`pnpleaves.cli`) prints a ``UserError`` as one line,
``pnpleaves COMMAND: error: MESSAGE``, with exit status 2, and so it does for the file errors
``FileNotFoundError``, ``FileExistsError``, ``IsADirectoryError``, ``NotADirectoryError`` and
``PermissionError``. Every other exception, including a plain ``ValueError`` or ``TypeError`` raised
deep inside the library, is a defect and shows its full traceback; ``pnpleaves --debug`` (or ``-v``)
shows the traceback of user errors too.

Raise ``InputError`` (not ``ValueError``) when the user can fix the problem by changing an argument,
an option or a file; keep ``ValueError``/``TypeError``/``RuntimeError`` for states the library itself
should never reach.

>>> issubclass(InputError, ValueError) and issubclass(InputError, UserError)
True
"""

from __future__ import annotations

__all__ = ["InputError", "InputTypeError", "UserError"]


class UserError(Exception):
    """An error caused by the user's input; the message says what was expected and how to fix it."""


class InputError(UserError, ValueError):
    """A value given to the library is invalid (bad shape, range, choice or file content)."""


class InputTypeError(UserError, TypeError):
    """A value given to the library has the wrong type."""
