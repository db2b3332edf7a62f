"""The exception tree: one root, typed subclasses that carry context.

Every error a user can cause names what was wrong, where, and what was expected,
so the CLI can print it as one line.
"""

from __future__ import annotations


class TftradeError(Exception):
    """Root of every error tftrade raises on purpose."""


class ConfigError(TftradeError):
    """The configuration (environment, YAML file or flag) is invalid."""


class DataError(TftradeError):
    """Input data cannot be read or understood (missing columns, unreadable file)."""


class StoreError(TftradeError):
    """The database cannot be reached, created or migrated."""


class NotFoundError(TftradeError):
    """A requested ticker, model or record does not exist."""


def first_line(error: BaseException) -> str:
    r"""The first line of ``error``'s message (stripped), or its type's name when the message is empty.

    >>> first_line(ValueError("bad value\nTraceback ..."))
    'bad value'
    >>> first_line(KeyError())
    'KeyError'
    """
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class TftradeWarning(UserWarning):
    """Root of tftrade's warnings: something works but is probably not what was meant."""
