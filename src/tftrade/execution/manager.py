"""The order manager: deterministic client ids, retries, rebalancing, trade records, reconciliation.

It talks to any :class:`~tftrade.execution.broker.Broker`, so the backtest (paper broker,
historical clock) and live trading use the same code.

Examples
--------
>>> from tftrade.execution.paper import PaperBroker
>>> m = OrderManager(PaperBroker(cash=1e6), strategy_version="sma-1")
>>> cid = m.client_order_id(1_700_000_000_000_000_000, "AAPL")
>>> cid == m.client_order_id(1_700_000_000_000_000_000, "AAPL"), len(cid) <= 48
(True, True)
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from tftrade.core.orders import Fill, Order, OrderStatus, TradeAction, TradeRecord
from tftrade.execution.broker import Broker
from tftrade.execution.errors import BrokerUnavailable, ExecutionError
from tftrade.execution.lots import LotBook, LotChange

__all__ = ["OrderManager", "PositionDifference", "Reconciliation", "TradeRecord"]

ArrayLike = Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class PositionDifference:
    """A ticker whose position differs between the order manager's lots and the broker."""

    ticker: str
    book: float
    broker: float

    @property
    def difference(self) -> float:
        """Broker minus book shares."""
        return self.broker - self.book


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The result of comparing the lot book with the broker: empty ``differences`` when in sync."""

    differences: tuple[PositionDifference, ...]

    @property
    def in_sync(self) -> bool:
        """True when every position agrees."""
        return not self.differences


class OrderManager:
    """Places orders on a broker with idempotent ids and retries, and keeps the FIFO lot book.

    Parameters
    ----------
    broker
        Any :class:`Broker`.
    strategy_version
        Written to every trade record; part of every client order id.
    max_retries
        Retries after the first attempt when the broker raises :class:`BrokerUnavailable`.
    backoff_s
        First wait between attempts; doubled after each retry (``backoff_s * 2**k``).
    sleep
        Injected sleep function (tests pass a recorder; a backtest never sleeps).
    """

    def __init__(self, broker: Broker, strategy_version: str = "", max_retries: int = 3, backoff_s: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if max_retries < 0 or not math.isfinite(backoff_s) or backoff_s < 0:
            raise ExecutionError(f"max_retries ({max_retries}) and backoff_s ({backoff_s}) must be >= 0")
        self.broker = broker
        self.strategy_version = strategy_version
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.lots = LotBook()
        self._sleep = sleep
        self._orders: dict[str, Order] = {}

    def client_order_id(self, decision_ns: int, ticker: str, tag: str = "") -> str:
        """A deterministic id for one decision: ``<ticker>-<decision_ns>-<hash>``, <= 48 chars of ``[A-Za-z0-9_-]``.

        The hash covers the strategy version, decision time, ticker and tag, so a restarted
        process re-deciding the same thing re-submits the same id (and the broker ignores it).
        """
        if decision_ns < 0 or not ticker:
            raise ExecutionError(f"client_order_id needs decision_ns >= 0 and a ticker, got {decision_ns}, {ticker!r}")
        digest = hashlib.blake2b(f"{self.strategy_version}\x1f{decision_ns}\x1f{ticker}\x1f{tag}".encode(),
                                 digest_size=8).hexdigest()
        return f"{_UNSAFE.sub('_', ticker)[:10]}-{decision_ns}-{digest}"

    def submit(self, order: Order) -> OrderStatus:
        """Submit, retrying :class:`BrokerUnavailable` with the same client id.

        Raises
        ------
        ExecutionError
            When the broker is still unavailable after ``max_retries`` retries.
        """
        self._orders.setdefault(order.client_order_id, order)
        for attempt in range(self.max_retries + 1):
            try:
                return self.broker.submit(order)
            except BrokerUnavailable as e:
                if attempt == self.max_retries:
                    raise ExecutionError(f"order {order.client_order_id} ({order.ticker} {order.quantity:g}): broker "
                                         f"unavailable after {attempt + 1} attempts: {e}") from e
                self._sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def rebalance(self, decision_ns: int, tickers: Sequence[str], target_shares: ArrayLike, current_shares: ArrayLike,
                  limit_prices: ArrayLike | None = None, rationale: Sequence[str] | None = None,
                  min_shares: float = 1.0) -> list[OrderStatus]:
        """Submit orders for ``target - current`` where ``|delta| >= min_shares``; sells first.

        ``limit_prices`` (NaN = market) makes limit orders. Returns one status per order placed.
        """
        n = len(tickers)
        target, current = self._vector("target_shares", target_shares, n), self._vector("current_shares",
                                                                                         current_shares, n)
        limits = np.full(n, np.nan) if limit_prices is None else np.asarray(limit_prices, dtype=np.float64)
        if limits.shape != (n,) or (rationale is not None and len(rationale) != n):
            raise ExecutionError(f"rebalance: limit_prices and rationale must have {n} entries (one per ticker)")
        delta = target - current
        chosen = np.flatnonzero(np.abs(delta) >= min_shares)
        chosen = chosen[np.argsort(delta[chosen] > 0, kind="stable")]  # sells free cash for buys
        statuses = []
        for i in chosen.tolist():
            limit = float(limits[i]) if np.isfinite(limits[i]) else None
            order = Order(self.client_order_id(decision_ns, tickers[i], "rb"), tickers[i], float(delta[i]),
                          "market" if limit is None else "limit", limit, decision_ns,
                          rationale[i] if rationale is not None else "")
            statuses.append(self.submit(order))
        return statuses

    def record_fills(self, fills: Sequence[Fill]) -> list[TradeRecord]:
        """Apply fills to the lot book and return trade records (a fill that flips a position gives two)."""
        records: list[TradeRecord] = []
        for fill in fills:
            change = self.lots.apply_detailed(fill)
            records.extend(self._records(fill, change))
        return records

    def reconcile(self, tolerance: float = 1e-6) -> Reconciliation:
        """Compare the lot book's positions with ``broker.positions()``, per ticker."""
        book, broker = self.lots.positions(), self.broker.positions()
        pairs = ((t, book.get(t, 0.0), broker.get(t, 0.0)) for t in sorted(set(book) | set(broker)))
        return Reconciliation(tuple(PositionDifference(t, a, b) for t, a, b in pairs if abs(a - b) > tolerance))

    def _records(self, fill: Fill, change: LotChange) -> list[TradeRecord]:
        order = self._orders.get(fill.client_order_id)
        why = order.rationale if order is not None else ""
        buy = fill.quantity > 0
        parts: list[tuple[TradeAction, Decimal, Decimal, float | None]] = []
        if change.closed != 0:
            parts.append(("COVER" if buy else "SELL", change.closed, change.closing_commission, float(change.realised)))
        if change.opened != 0:
            parts.append(("BUY" if buy else "SHORT", change.opened, change.opening_commission, None))
        return [TradeRecord(fill.ticker, action, round(abs(float(q))), fill.price, fill.timestamp_ns,
                            fill.client_order_id, self.strategy_version, pnl, float(c), why, abs(float(q)))
                for action, q, c, pnl in parts]

    @staticmethod
    def _vector(name: str, values: ArrayLike, n: int) -> npt.NDArray[np.float64]:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (n,):
            raise ExecutionError(f"rebalance: {name} has shape {arr.shape}, expected ({n},) (one per ticker)")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ExecutionError(f"rebalance: {name} is not finite at index {int(bad[0])} ({arr[bad[0]]})")
        return arr
