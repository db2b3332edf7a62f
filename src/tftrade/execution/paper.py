"""A simulated broker: orders fill against the bars the caller feeds it.

Orders submitted before :meth:`PaperBroker.on_bar` fill on that bar, by the rules in
:mod:`tftrade.execution.matching` and the costs of :class:`~tftrade.execution.costs.CostModel`.

Accounts
--------
``allow_short=True`` (default) is a margin account: sells may open shorts and cash may go
negative (limits belong to the risk gate). ``allow_short=False`` is a cash account:

* a sell for more than the position less the sells already pending is **rejected** at
  submit time with a reason;
* buys fill in submission order, after the bar's sells have paid in, while cash lasts;
  a buy cash cannot cover is **resized** to what cash affords (whole shares for a
  whole-share order) and the rest of it is cancelled with reason ``insufficient cash``
  (state ``rejected`` if nothing of it ever filled, else ``cancelled``).

Examples
--------
>>> import numpy as np
>>> from tftrade.core.orders import Order
>>> b = PaperBroker(cash=10_000.0, costs=CostModel.none())
>>> b.submit(Order("o1", "AAPL", 10.0)).state
'new'
>>> [(f.quantity, f.price) for f in b.on_bar(0, ["AAPL"], np.array([100.0]), np.array([101.0]),
...                                          np.array([99.0]), np.array([100.5]), np.array([1e6]))]
[(10.0, 100.0)]
>>> b.cash(), b.positions(), b.equity()
(9000.0, {'AAPL': 10.0}, 10005.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tftrade.core.orders import Fill, Order, OrderState, OrderStatus, make_fills
from tftrade.core.types import BoolArray, Float64Array, Int64Array
from tftrade.execution.broker import BrokerOrder, BrokerPosition, Execution
from tftrade.execution.costs import CostModel, Liquidity
from tftrade.execution.errors import DuplicateOrderIdError, ExecutionError, UnknownOrderError
from tftrade.execution.matching import BarMatch, match_orders

ArrayLike = Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]
_EPS = 1e-9


_FINAL: frozenset[OrderState] = frozenset({"filled", "cancelled", "rejected"})
_STATUS_SETTERS: tuple[Any, ...] = tuple(OrderStatus.__dict__[name].__set__ for name in OrderStatus.__slots__)


def _new_status(client_order_id: str) -> OrderStatus:
    """``OrderStatus(client_order_id, "new", 0.0, None, "")`` without the dataclass ``__init__`` (hot path)."""
    out: OrderStatus = object.__new__(OrderStatus)
    set_id, set_state, set_filled, set_avg, set_reason = _STATUS_SETTERS
    set_id(out, client_order_id)
    set_state(out, "new")
    set_filled(out, 0.0)
    set_avg(out, None)
    set_reason(out, "")
    return out


@dataclass(slots=True)
class _Working:
    """Mutable book-keeping of one order at the paper broker."""

    order: Order
    state: OrderState = "new"
    filled: float = 0.0
    notional: float = 0.0
    reason: str = ""
    final: OrderStatus | None = None  # the status, once the order can no longer change

    @property
    def remaining(self) -> float:
        return self.order.quantity - self.filled

    def status(self) -> OrderStatus:
        if self.final is not None:
            return self.final
        avg = abs(self.notional / self.filled) if self.filled else None
        out = OrderStatus(self.order.client_order_id, self.state, self.filled, avg, self.reason)
        if self.state in _FINAL:
            self.final = out
        return out


@dataclass(frozen=True, slots=True)
class _OpenBook:
    """The open orders as arrays (rebuilt only when the set of open orders changes)."""

    ids: list[str]
    tickers: list[str]
    remaining: Float64Array
    limit: Float64Array
    whole: BoolArray


class PaperBroker:
    """An in-process broker simulating fills, slippage, commission and partial fills.

    Parameters
    ----------
    cash
        Starting cash.
    costs
        Cost model; the default :class:`CostModel` charges 1 bp slippage plus impact and caps
        fills at 10 % of a bar's volume.
    allow_short
        False makes a cash account (no shorts, no borrowing; see the module docstring).
    """

    def __init__(self, cash: float, costs: CostModel | None = None, allow_short: bool = True) -> None:
        if not math.isfinite(cash):
            raise ExecutionError(f"starting cash {cash!r} must be finite")
        self.costs = costs if costs is not None else CostModel()
        c = self.costs
        self._liquidity = Liquidity(c.impact_window, c.bars_per_day, c.default_daily_vol) \
            if c.impact_model == "adv" else None
        self.allow_short = allow_short
        self.fills: list[Fill] = []
        self._cash = float(cash)
        self._positions: dict[str, float] = {}
        self._orders: dict[str, _Working] = {}
        self._open: dict[str, _Working] = {}  # insertion order = submission order
        self._book: _OpenBook | None = None
        self._where_key: tuple[object, int] | None = None
        self._where: Int64Array = np.empty(0, dtype=np.int64)
        self._index_key: tuple[object, int] | None = None
        self._index: dict[str, int] = {}
        self._marks: dict[str, float] = {}
        self._fill_prices: dict[str, float] = {}  # last fill price: the mark of a ticker never marked
        self._pending_marks: tuple[Sequence[str], Float64Array] | None = None
        self._drained = 0  # fills already handed out by drain_executions
        self._cumulative: dict[str, float] = {}

    # -- the Broker protocol -------------------------------------------------------------
    def submit(self, order: Order) -> OrderStatus:
        """Accept ``order``; re-submitting an id returns the existing order's status.

        Raises
        ------
        DuplicateOrderIdError
            If the id is already used by a different order.
        """
        known = self._orders.get(order.client_order_id)
        if known is not None:
            if _differs(known.order, order):
                raise DuplicateOrderIdError(
                    f"client order id {order.client_order_id!r} is already used by {known.order}, not {order}")
            return known.status()
        work = _Working(order)
        self._orders[order.client_order_id] = work
        refusal = self._short_refusal(order)
        if refusal:
            work.state, work.reason = "rejected", refusal
        else:
            self._open[order.client_order_id] = work
            self._book = None
        return work.status()

    def submit_many(self, orders: Sequence[Order]) -> list[OrderStatus]:
        """:meth:`submit` each order in turn (same rules, same result); one call for a whole rebalance."""
        if not self.allow_short:
            return [self.submit(o) for o in orders]
        known, open_, out = self._orders, self._open, []
        for order in orders:
            cid = order.client_order_id
            if cid in known:
                out.append(self.submit(order))
                continue
            work = _Working(order)
            known[cid] = work
            open_[cid] = work
            out.append(_new_status(cid))
        if orders:
            self._book = None
        return out

    def cancel(self, client_order_id: str) -> OrderStatus:
        """Cancel the open part of an order; a finished order's status is returned unchanged."""
        work = self._get(client_order_id)
        if work.final is not None:
            return work.final
        if client_order_id in self._open:
            del self._open[client_order_id]
            self._book = None
            work.state, work.reason = "cancelled", "cancelled by request"
        return work.status()

    def cancel_many(self, client_order_ids: Iterable[str]) -> int:
        """Cancel the open part of each order (finished and unknown ids are skipped); return how many were open.

        One call for "cancel what is still working" before a new decision, without a status per id.
        """
        open_ = self._open
        live = [cid for cid in client_order_ids if cid in open_]
        for cid in live:
            work = open_.pop(cid)
            work.state, work.reason = "cancelled", "cancelled by request"
        if live:
            self._book = None
        return len(live)

    def status(self, client_order_id: str) -> OrderStatus:
        """The status of an order (:class:`UnknownOrderError` for an id never submitted)."""
        return self._get(client_order_id).status()

    def positions(self) -> dict[str, float]:
        """Shares per ticker, non-zero positions only."""
        return dict(self._positions)

    def cash(self) -> float:
        """Cash balance."""
        return self._cash

    # -- what the journal and reconciliation use (same as AlpacaBroker) --------------------
    def drain_executions(self) -> list[Execution]:
        """Fills since the last call, each with an id ``paper:<client id>@<cumulative quantity>``."""
        new, self._drained = self.fills[self._drained:], len(self.fills)
        out = []
        cum = self._cumulative
        for f in new:
            total = cum[f.client_order_id] = cum.get(f.client_order_id, 0.0) + f.quantity
            work = self._orders[f.client_order_id]
            complete = abs(total - work.order.quantity) <= _EPS
            out.append(Execution(f, f"paper:{f.client_order_id}@{total!r}", None, total, complete))
        return out

    def drain_fills(self) -> list[Fill]:
        """The fills since the last :meth:`drain_fills` / :meth:`drain_executions` call."""
        return [x.fill for x in self.drain_executions()]

    def orders(self, *, open_only: bool = False, since_ns: int | None = None) -> list[BrokerOrder]:
        """Every order this broker knows (or only the open ones), newest first."""
        works = list(self._open.values() if open_only else self._orders.values())
        out = []
        for w in reversed(works):
            if since_ns is not None and w.order.created_ns < since_ns:
                continue
            st = w.status()
            out.append(BrokerOrder(w.order.client_order_id, w.order.client_order_id, w.order.ticker, w.order.quantity,
                                   w.order.type, w.order.limit_price, st.state, st.filled_quantity, st.average_price,
                                   w.order.created_ns, st.state))
        return out

    def position_details(self) -> dict[str, BrokerPosition]:
        """Positions with a reference price (the last mark, else the last fill price)."""
        self._merge_marks()
        return {t: BrokerPosition(t, q, self._marks.get(t, self._fill_prices.get(t, 0.0)))
                for t, q in self._positions.items()}

    def cancel_all(self) -> int:
        """Cancel every open order; return how many were open."""
        return self.cancel_many(list(self._open))

    # -- market data ---------------------------------------------------------------------
    def on_bar(self, timestamp_ns: int, tickers: Sequence[str], open: ArrayLike, high: ArrayLike,
               low: ArrayLike, close: ArrayLike, volume: ArrayLike) -> list[Fill]:
        """Fill open orders against one cross-section (all tickers at ``timestamp_ns``).

        Also marks the closes for :meth:`equity`. Returns the fills of this bar.
        """
        self.mark(tickers, close)
        liquidity = self._liquidity.step(tickers, close, volume) if self._liquidity is not None else None
        if not self._open:
            return []
        arrays = [np.asarray(a, dtype=np.float64) for a in (open, high, low, volume)]
        if any(a.shape != (len(tickers),) for a in arrays):
            raise ExecutionError(f"bar at {timestamp_ns}: open/high/low/volume must each have {len(tickers)} "
                                 f"values (one per ticker), got shapes {[a.shape for a in arrays]}")
        book = self._open_book()
        match = match_orders(self.costs, book.remaining, book.limit, book.whole, self._locate(tickers, book),
                             (arrays[0], arrays[1], arrays[2], arrays[3]), liquidity)
        cash_cut = self._cash_limit(book, match) if not self.allow_short else set()
        return self._book_fills(timestamp_ns, book, match, cash_cut)

    def mark(self, tickers: Sequence[str], close: ArrayLike) -> None:
        """Remember the last prices (NaN = no price) used by :meth:`equity`."""
        prices = np.asarray(close, dtype=np.float64)
        if prices.shape != (len(tickers),):
            raise ExecutionError(f"mark: close must have {len(tickers)} values, got shape {prices.shape}")
        pending = self._pending_marks
        if pending is not None and pending[0] is not tickers:
            self._merge_marks()
        self._pending_marks = (tickers, prices)

    def equity(self) -> float:
        """Cash plus positions at their last marks (a position never marked counts at its last fill price)."""
        self._merge_marks()
        marks, fallback = self._marks, self._fill_prices
        return self._cash + sum(q * marks.get(t, fallback[t]) for t, q in self._positions.items())

    # -- internals -----------------------------------------------------------------------
    def _get(self, client_order_id: str) -> _Working:
        try:
            return self._orders[client_order_id]
        except KeyError:
            raise UnknownOrderError(f"no order with client order id {client_order_id!r}") from None

    def _short_refusal(self, order: Order) -> str:
        if self.allow_short or order.quantity > 0:
            return ""
        held = self._positions.get(order.ticker, 0.0)
        pending = sum(-w.remaining for w in self._open.values() if w.order.ticker == order.ticker and w.remaining < 0)
        if -order.quantity > held - pending + _EPS:
            return (f"short selling not allowed: sell {-order.quantity:g} {order.ticker} exceeds position "
                    f"{held:g} less pending sells {pending:g}")
        return ""

    def _open_book(self) -> _OpenBook:
        if self._book is None:
            works = list(self._open.values())
            qty = np.array([w.order.quantity for w in works])
            self._book = _OpenBook(
                ids=list(self._open),
                tickers=[w.order.ticker for w in works],
                remaining=qty - np.array([w.filled for w in works]),
                limit=np.array([np.nan if w.order.limit_price is None else w.order.limit_price for w in works]),
                whole=qty == np.round(qty),
            )
            self._where_key = None
        return self._book

    def _locate(self, tickers: Sequence[str], book: _OpenBook) -> Int64Array:
        """Column of each open order's ticker in ``tickers`` (-1 when absent); cached per tickers object.

        The caches key on the identity of ``tickers`` (and its length, for a list grown in place):
        a backtest passes the same tuple every bar, so the ticker index is built once.
        """
        key = (tickers, len(tickers))
        if self._where_key is None or self._where_key[0] is not tickers or self._where_key[1] != len(tickers):
            if self._index_key is None or self._index_key[0] is not tickers or self._index_key[1] != len(tickers):
                self._index = {t: i for i, t in enumerate(tickers)}
                self._index_key = key
            get = self._index.get
            self._where = np.array([get(t, -1) for t in book.tickers], dtype=np.int64)
            self._where_key = key
        return self._where

    def _cash_limit(self, book: _OpenBook, match: BarMatch) -> set[int]:
        """Shrink buys cash cannot pay for (in submission order); return the indices cut."""
        sign = np.sign(book.remaining)
        flow = match.abs_qty * match.price * sign + match.commission  # cash out (+) per order
        buys = np.flatnonzero((sign > 0) & (match.abs_qty > 0))
        available = self._cash - float(flow[(sign < 0) & (match.abs_qty > 0)].sum())
        if available - float(flow[buys].sum()) >= -_EPS:
            return set()
        cut: set[int] = set()
        for i in buys.tolist():
            if flow[i] <= available + _EPS:
                available -= flow[i]
                continue
            qty = self._affordable(float(match.abs_qty[i]), i, book, match, available)
            match.abs_qty[i] = qty
            match.commission[i] = self.costs.commission(qty, match.price[i]) if qty > 0 else 0.0
            available -= qty * match.price[i] + match.commission[i]
            cut.add(i)
        return cut

    def _affordable(self, want: float, i: int, book: _OpenBook, match: BarMatch, available: float) -> float:
        """The most shares (<= want) whose price times quantity plus commission fits ``available``."""
        price = float(match.price[i])  # slippage at the larger size: an upper bound on the price

        def cost(q: float) -> float:
            return q * price + float(self.costs.commission(q, price))

        lo, hi = 0.0, want
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cost(mid) <= available else (lo, mid)
        return math.floor(lo) if book.whole[i] else lo

    def _book_fills(self, ts: int, book: _OpenBook, match: BarMatch, cash_cut: set[int]) -> list[Fill]:
        idx = np.flatnonzero(match.abs_qty > 0)
        rows = idx.tolist()
        ids, tickers = [book.ids[i] for i in rows], [book.tickers[i] for i in rows]
        qty = match.abs_qty[idx] * np.sign(book.remaining[idx])
        price, notional = match.price[idx], qty * match.price[idx]
        fills = make_fills(ids, tickers, qty, price, match.commission[idx], ts)
        self._cash -= float(notional.sum() + match.commission[idx].sum())
        book.remaining[idx] -= qty
        complete = (np.abs(book.remaining[idx]) <= _EPS).tolist()
        finished = []
        positions, open_ = self._positions, self._open
        for cid, ticker, q, n, done in zip(ids, tickers, qty.tolist(), notional.tolist(), complete, strict=True):
            work = open_[cid]
            work.filled += q
            work.notional += n
            work.state = "filled" if done else "partially_filled"
            held = positions.get(ticker, 0.0) + q
            if -_EPS < held < _EPS:
                positions.pop(ticker, None)
            else:
                positions[ticker] = held
            if done:
                finished.append(cid)
        self._fill_prices.update(zip(tickers, price.tolist(), strict=True))
        for i in cash_cut:
            work = self._open[book.ids[i]]
            if work.state != "filled":
                work.state = "cancelled" if work.filled else "rejected"
                work.reason = f"insufficient cash: {abs(work.remaining):g} of {abs(work.order.quantity):g} unfilled"
                finished.append(book.ids[i])
        for cid in finished:
            del self._open[cid]
        if finished:
            self._book = None
        self.fills.extend(fills)
        return fills

    def _merge_marks(self) -> None:
        if self._pending_marks is None:
            return
        tickers, prices = self._pending_marks
        self._pending_marks = None
        ok = np.isfinite(prices)
        self._marks.update(zip((t for t, good in zip(tickers, ok, strict=True) if good),
                               prices[ok].tolist(), strict=True))


def _differs(a: Order, b: Order) -> bool:
    return (a.ticker, a.quantity, a.type, a.limit_price) != (b.ticker, b.quantity, b.type, b.limit_price)
