"""Errors of the bus."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class BusError(TftradeError):
    """The bus cannot be reached or refused an operation (after its retries)."""


class MessageError(TftradeError):
    """A payload is not a message of a known kind and version; the text is the reason."""
