"""The backtest's recorder: per-bar equity, cash, weights and beta arrays, trades, gate events, notes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tftrade.backtest.result import GateEvent
from tftrade.core.orders import OrderStatus, TradeRecord
from tftrade.core.types import Float64Array
from tftrade.strategy.contract import Targets
from tftrade.trading.feed import BarEvent


class ArrayRecorder:
    """Keeps what :class:`~tftrade.backtest.result.BacktestResult` needs, one row per bar."""

    def __init__(self, n_times: int, n_tickers: int) -> None:
        self.equity, self.cash = np.empty(n_times), np.empty(n_times)
        self.weights = np.zeros((n_times, n_tickers))
        self.beta = np.full(n_times, np.nan)
        self.trade_records: list[TradeRecord] = []
        self.gate_events: list[GateEvent] = []
        self.notes: list[str] = []

    def trades(self, records: Sequence[TradeRecord]) -> None:
        """Keep the trade records."""
        self.trade_records.extend(records)

    def decision(self, event: BarEvent, targets: Targets) -> None:
        """Decisions are counted by the loop."""

    def orders(self, event: BarEvent, statuses: Sequence[OrderStatus]) -> None:
        """Orders are kept by the broker."""

    def gate(self, timestamp_ns: int, ticker: str, action: str, requested: float, approved: float,
             reasons: str) -> None:
        """Keep a gate event."""
        self.gate_events.append(GateEvent(timestamp_ns, ticker, action, requested, approved, reasons))

    def note(self, text: str) -> None:
        """Keep a note."""
        self.notes.append(text)

    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """Row ``event.step`` of the arrays."""
        t = event.step
        self.equity[t], self.cash[t] = equity, cash
        if equity > 0:
            self.weights[t] = value / equity
            self.beta[t] = beta
