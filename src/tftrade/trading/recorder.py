"""The recorder port: what the loop reports (marks, decisions, orders, fills, gate changes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tftrade.core.orders import OrderStatus, TradeRecord
from tftrade.core.types import Float64Array
from tftrade.strategy.contract import Targets
from tftrade.trading.feed import BarEvent


class Recorder(Protocol):
    """Receives everything the loop does; the backtest keeps arrays, live prints and publishes."""

    def trades(self, records: Sequence[TradeRecord]) -> None:
        """Trade records of the fills booked at a bar."""
        ...

    def decision(self, event: BarEvent, targets: Targets) -> None:
        """The strategy returned ``targets`` at ``event``."""
        ...

    def orders(self, event: BarEvent, statuses: Sequence[OrderStatus]) -> None:
        """Orders placed at ``event`` (rebalance and exits)."""
        ...

    def gate(self, timestamp_ns: int, ticker: str, action: str, requested: float, approved: float,
             reasons: str) -> None:
        """The risk gate resized or rejected an order."""
        ...

    def note(self, text: str) -> None:
        """A portfolio-level remark (relaxed limits, gate reasons)."""
        ...

    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """The book marked at ``event``'s close: equity, cash, per-ticker value and portfolio beta."""
        ...


class NullRecorder:
    """Records nothing."""

    def trades(self, records: Sequence[TradeRecord]) -> None:
        """Ignore."""

    def decision(self, event: BarEvent, targets: Targets) -> None:
        """Ignore."""

    def orders(self, event: BarEvent, statuses: Sequence[OrderStatus]) -> None:
        """Ignore."""

    def gate(self, timestamp_ns: int, ticker: str, action: str, requested: float, approved: float,
             reasons: str) -> None:
        """Ignore."""

    def note(self, text: str) -> None:
        """Ignore."""

    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """Ignore."""


class FanOutRecorder:
    """Passes everything to several recorders in turn (e.g. a backtest's arrays and its audit chain)."""

    def __init__(self, *recorders: Recorder) -> None:
        self.recorders = recorders

    def trades(self, records: Sequence[TradeRecord]) -> None:
        """To each recorder."""
        for r in self.recorders:
            r.trades(records)

    def decision(self, event: BarEvent, targets: Targets) -> None:
        """To each recorder."""
        for r in self.recorders:
            r.decision(event, targets)

    def orders(self, event: BarEvent, statuses: Sequence[OrderStatus]) -> None:
        """To each recorder."""
        for r in self.recorders:
            r.orders(event, statuses)

    def gate(self, timestamp_ns: int, ticker: str, action: str, requested: float, approved: float,
             reasons: str) -> None:
        """To each recorder."""
        for r in self.recorders:
            r.gate(timestamp_ns, ticker, action, requested, approved, reasons)

    def note(self, text: str) -> None:
        """To each recorder."""
        for r in self.recorders:
            r.note(text)

    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """To each recorder."""
        for r in self.recorders:
            r.mark(event, equity, cash, value, beta)
