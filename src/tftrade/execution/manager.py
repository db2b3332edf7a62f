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
from typing import Any

import numpy as np
import numpy.typing as npt

from tftrade.core.orders import Fill, Order, OrderStatus, TradeAction, TradeRecord
from tftrade.execution.broker import Broker
from tftrade.execution.errors import BrokerUnavailable, ExecutionError
from tftrade.execution.lots import UNIT, LotBook, money_to_float

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
        self._safe: dict[str, str] = {}  # ticker -> its id-safe prefix

    def client_order_id(self, decision_ns: int, ticker: str, tag: str = "") -> str:
        """A deterministic id for one decision: ``<ticker>-<decision_ns>-<hash>``, <= 48 chars of ``[A-Za-z0-9_-]``.

        The hash covers the strategy version, decision time, ticker and tag, so a restarted
        process re-deciding the same thing re-submits the same id (and the broker ignores it).
        """
        if decision_ns < 0 or not ticker:
            raise ExecutionError(f"client_order_id needs decision_ns >= 0 and a ticker, got {decision_ns}, {ticker!r}")
        return self._ids(decision_ns, (ticker,), tag)[0]

    def _ids(self, decision_ns: int, tickers: Sequence[str], tag: str) -> list[str]:
        """:meth:`client_order_id` for many tickers of one decision (tickers non-empty, decision_ns >= 0)."""
        head, tail = f"{self.strategy_version}\x1f{decision_ns}\x1f", f"\x1f{tag}"
        stamp = f"-{decision_ns}-"
        safe, blake = self._safe, hashlib.blake2b
        out = []
        for ticker in tickers:
            prefix = safe.get(ticker)
            if prefix is None:
                prefix = safe[ticker] = _UNSAFE.sub("_", ticker)[:10]
            out.append(prefix + stamp + blake((head + ticker + tail).encode(), digest_size=8).hexdigest())
        return out

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
        chosen = np.flatnonzero((np.abs(delta) >= min_shares) & (delta != 0))
        chosen = chosen[np.argsort(delta[chosen] > 0, kind="stable")]  # sells free cash for buys
        if chosen.size == 0:
            return []
        rows = chosen.tolist()
        names = [tickers[i] for i in rows]
        if decision_ns < 0 or not all(names):
            raise ExecutionError(f"rebalance needs decision_ns >= 0 and non-empty tickers, got {decision_ns}, "
                                 f"{names!r}")
        ids = self._ids(decision_ns, names, "rb")
        lim = limits[chosen]
        has_limit = np.isfinite(lim)
        why = [rationale[i] for i in rows] if rationale is not None else [""] * len(rows)
        if has_limit.any():  # validated per order by Order itself (a bad limit raises InvalidOrderError)
            orders = [Order(cid, t, q, "limit" if ok else "market", lp if ok else None, decision_ns, r)
                      for cid, t, q, lp, ok, r in zip(ids, names, delta[chosen].tolist(), lim.tolist(),
                                                      has_limit.tolist(), why, strict=True)]
        else:  # market orders whose fields are valid by construction: quantities finite and non-zero
            orders = make_market_orders(ids, names, delta[chosen].tolist(), decision_ns, why)
        self._orders.update(zip(ids, orders, strict=True))
        return self._submit_all(orders)

    def _submit_all(self, orders: list[Order]) -> list[OrderStatus]:
        """Submit in order; in one broker call when the broker offers ``submit_many``.

        If the batch call raises :class:`BrokerUnavailable`, every order is (re-)submitted one by
        one with retries: the ids are idempotent, so what the broker already accepted is not
        placed twice.
        """
        many = getattr(self.broker, "submit_many", None)
        if many is not None:
            try:
                statuses: list[OrderStatus] = many(orders)
                return statuses
            except BrokerUnavailable:
                pass
        return [self.submit(order) for order in orders]

    def record_fills(self, fills: Sequence[Fill]) -> list[TradeRecord]:
        """Apply fills to the lot book and return trade records (a fill that flips a position gives two)."""
        records: list[TradeRecord] = []
        book, orders, version, unit = self.lots.book_fill, self._orders, self.strategy_version, UNIT
        for fill in fills:
            qty, fee = fill.quantity, fill.commission
            closed, opened, realised, closing, opening = book(fill.ticker, qty, fill.price, fee, fill.timestamp_ns,
                                                              fill.client_order_id)
            order = orders.get(fill.client_order_id)
            why = order.rationale if order is not None else ""
            buy = qty > 0
            size = float(qty) if buy else -float(qty)
            commission = float(fee)
            if not opened:  # closes only: one record, with the fill's own quantity and commission
                records.append(make_record(fill, "COVER" if buy else "SELL", size, version,
                                           money_to_float(realised), commission, why))
            elif not closed:  # opens only
                records.append(make_record(fill, "BUY" if buy else "SHORT", size, version, None, commission, why))
            else:  # a flip: the closing part, then the opening part, commission split pro rata
                records.append(make_record(fill, "COVER" if buy else "SELL", abs(closed) / unit, version,
                                           money_to_float(realised), money_to_float(closing), why))
                records.append(make_record(fill, "BUY" if buy else "SHORT", abs(opened) / unit, version, None,
                                           money_to_float(opening), why))
        return records

    def reconcile(self, tolerance: float = 1e-6) -> Reconciliation:
        """Compare the lot book's positions with ``broker.positions()``, per ticker."""
        book, broker = self.lots.positions(), self.broker.positions()
        pairs = ((t, book.get(t, 0.0), broker.get(t, 0.0)) for t in sorted(set(book) | set(broker)))
        return Reconciliation(tuple(PositionDifference(t, a, b) for t, a, b in pairs if abs(a - b) > tolerance))

    @staticmethod
    def _vector(name: str, values: ArrayLike, n: int) -> npt.NDArray[np.float64]:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (n,):
            raise ExecutionError(f"rebalance: {name} has shape {arr.shape}, expected ({n},) (one per ticker)")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ExecutionError(f"rebalance: {name} is not finite at index {int(bad[0])} ({arr[bad[0]]})")
        return arr


_ORDER_SETTERS: tuple[Any, ...] = tuple(Order.__dict__[name].__set__ for name in Order.__slots__)
_RECORD_SETTERS: tuple[Any, ...] = tuple(TradeRecord.__dict__[name].__set__ for name in TradeRecord.__slots__)


def make_market_orders(ids: Sequence[str], tickers: Sequence[str], quantities: Sequence[float], created_ns: int,
                       rationale: Sequence[str]) -> list[Order]:
    """Market :class:`Order` objects built without the dataclass ``__init__`` (the rebalance hot path).

    The caller guarantees what ``Order.__post_init__`` would check: non-empty ids and tickers,
    finite non-zero float quantities. The result equals ``Order(id, ticker, qty, "market", None,
    created_ns, why)``.

    >>> make_market_orders(["a"], ["X"], [2.5], 7, ["why"]) == [Order("a", "X", 2.5, "market", None, 7, "why")]
    True
    """
    new = object.__new__
    s_id, s_ticker, s_qty, s_type, s_limit, s_created, s_why = _ORDER_SETTERS
    out: list[Order] = []
    for cid, ticker, q, why in zip(ids, tickers, quantities, rationale, strict=True):
        o = new(Order)
        s_id(o, cid)
        s_ticker(o, ticker)
        s_qty(o, q)
        s_type(o, "market")
        s_limit(o, None)
        s_created(o, created_ns)
        s_why(o, why)
        out.append(o)
    return out


def make_record(fill: Fill, action: TradeAction, size: float, version: str, pnl: float | None, commission: float,
                rationale: str) -> TradeRecord:
    """A :class:`TradeRecord` of ``size`` shares (> 0) of ``fill`` without the dataclass ``__init__``.

    Equal to ``TradeRecord(fill.ticker, action, round(size), fill.price, fill.timestamp_ns,
    fill.client_order_id, version, pnl, commission, rationale, size)``; the fields are valid by
    construction (a literal action, a non-negative whole quantity).
    """
    r = object.__new__(TradeRecord)
    s_ticker, s_action, s_qty, s_price, s_ts, s_oid, s_version, s_pnl, s_comm, s_why, s_exact = _RECORD_SETTERS
    s_ticker(r, fill.ticker)
    s_action(r, action)
    s_qty(r, round(size))
    s_price(r, fill.price)
    s_ts(r, fill.timestamp_ns)
    s_oid(r, fill.client_order_id)
    s_version(r, version)
    s_pnl(r, pnl)
    s_comm(r, commission)
    s_why(r, rationale)
    s_exact(r, size)
    return r
