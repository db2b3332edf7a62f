"""Errors raised by :mod:`tftrade.execution`, sorted into retryable and not."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class ExecutionError(TftradeError):
    """An order cannot be placed, found or reconciled (not retryable)."""


class BrokerUnavailable(ExecutionError):
    """The broker cannot be reached right now (transient: the order manager retries)."""


class BrokerAuthError(ExecutionError):
    """The broker refused the credentials (HTTP 401): not retried, the keys must be fixed."""


class UnknownOrderError(ExecutionError):
    """No order with the given client order id exists at the broker."""


class DuplicateOrderIdError(ExecutionError):
    """A client order id was re-used for a *different* order."""


class TradingHalted(ExecutionError):
    """New orders are refused: the kill switch is engaged or reconciliation halted trading."""


class LiveTradingRefused(ExecutionError):
    """Live (non-paper) trading was asked for without every explicit opt-in."""
