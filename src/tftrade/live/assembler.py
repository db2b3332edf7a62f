"""Bars from the bus → closed cross-sections (every ticker of the universe at one timestamp).

A cross-section closes when every ticker of the universe (and every series ticker: benchmark,
volatility index) has reported its bar for that minute,
or when a bar of a later minute arrives, or on :meth:`flush`. Closed cross-sections follow the gap
rule of :mod:`tftrade.features.market`, so a window they are appended to equals
:func:`~tftrade.features.market.assemble_bars` of the same bars: tickers that did not report are
missing (NaN prices, volume 0), and a minute where only series tickers reported is no row of its
own (their closes carry into the next cross-section, and their bus ids are acked with it).
A bar for a timestamp already closed is late: it is counted and dropped (decisions made on that
cross-section cannot be unmade). Duplicates of a bar are absorbed. Each closed cross-section
carries the bus ids of its bars so a worker acks them only once it has processed it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tftrade.core.types import Float64Array
from tftrade.stream.bus import Delivery
from tftrade.stream.messages import BarMessage


@dataclass(frozen=True, slots=True)
class CrossSection:
    """One timestamp's bars of the universe (NaN where a ticker did not report) and the bus ids they came in."""

    timestamp_ns: int
    open: Float64Array
    high: Float64Array
    low: Float64Array
    close: Float64Array
    volume: Float64Array
    ids: tuple[str, ...]
    received_ns: int
    """Latest time a bar of it was received (the feed's arrival time, for latency)."""
    series: dict[str, float] = field(default_factory=dict)
    """Closes of the series tickers (benchmark, volatility index) that reported, by role."""


@dataclass
class _Open:
    values: Float64Array
    seen: set[int] = field(default_factory=set)
    ids: list[str] = field(default_factory=list)
    received_ns: int = 0
    series: dict[str, float] = field(default_factory=dict)


class Assembler:
    """Collects bar messages into :class:`CrossSection` (see the module docstring)."""

    def __init__(self, tickers: tuple[str, ...], series: dict[str, str] | None = None) -> None:
        self.tickers = tickers
        self.series = dict(series or {})
        """Role (``benchmark``, ``vix``) → ticker of series that are not traded but carried with the bars."""
        self._roles = {t: role for role, t in self.series.items()}
        self._slot = {t: k for k, t in enumerate(self._roles)}
        self._expected = len(tickers) + len(self._roles)
        self._index = {t: i for i, t in enumerate(tickers)}
        self._open: dict[int, _Open] = {}
        self.last_closed = -1
        self.late = self.duplicates = self.foreign = 0
        self.late_ids: list[str] = []
        """Bus ids of late, duplicate and foreign bars: nothing to process, safe to ack."""
        self._carry: _Open | None = None
        """Series closes (and their bus ids) of minutes without a universe bar, for the next cross-section."""

    def add(self, message: BarMessage, bus_id: str = "", read_ns: int = 0) -> list[CrossSection]:
        """Add one bar; return the cross-sections it closed (oldest first).

        A bar's arrival is its ``received_ns`` (stamped by the source), else ``read_ns``.
        """
        role = self._roles.get(message.ticker)
        i = self._index.get(message.ticker) if role is None else len(self.tickers) + self._slot[message.ticker]
        ts = message.start_ns
        if i is None or ts <= self.last_closed:
            if i is None:
                self.foreign += 1
            else:
                self.late += 1
            self.late_ids.append(bus_id)
            return []
        cur = self._open.get(ts)
        if cur is None:
            cur = self._open[ts] = _Open(np.full((5, len(self.tickers)), np.nan))
            cur.values[4] = 0.0
        if i in cur.seen:
            self.duplicates += 1
            self.late_ids.append(bus_id)
            return []
        cur.seen.add(i)
        if role is not None:
            cur.series[role] = message.close
        else:
            cur.values[:, i] = (message.open, message.high, message.low, message.close, message.volume)
        cur.ids.append(bus_id)
        cur.received_ns = max(cur.received_ns, message.received_ns or read_ns)
        done = [t for t in self._open if t < ts]
        if len(cur.seen) == self._expected:
            done.append(ts)
        return self._close(sorted(done))

    def add_many(self, messages: Sequence[BarMessage], bus_ids: Sequence[str], read_ns: int = 0,
                 ) -> list[CrossSection]:
        """:meth:`add` each bar in order (``bus_ids`` aligned); return every cross-section they closed, oldest first.

        The same result as one :meth:`add` per bar. A read that holds bars of one minute only, none
        seen before, none of a series ticker (a live feed's usual read: a minute's universe) is
        taken in one step: its prices are written with one array assignment instead of one per bar.
        """
        ts = messages[0].start_ns if messages else -1
        index = self._index
        cols = [index.get(m.ticker, -1) for m in messages]
        cur = self._open.get(ts)
        if (ts <= self.last_closed or -1 in cols or any(m.start_ns != ts for m in messages)
                or len(set(cols)) != len(cols) or (cur is not None and not cur.seen.isdisjoint(cols))):
            out: list[CrossSection] = []
            for m, i in zip(messages, bus_ids, strict=True):
                out.extend(self.add(m, i, read_ns))
            return out
        if cur is None:
            cur = self._open[ts] = _Open(np.full((5, len(self.tickers)), np.nan))
            cur.values[4] = 0.0
        cur.values[:, cols] = np.array([(m.open, m.high, m.low, m.close, m.volume) for m in messages],
                                       dtype=np.float64).T
        cur.seen.update(cols)
        cur.ids.extend(bus_ids)
        cur.received_ns = max(cur.received_ns, *(m.received_ns or read_ns for m in messages))
        done = [t for t in self._open if t < ts]
        if len(cur.seen) == self._expected:
            done.append(ts)
        return self._close(sorted(done))

    def add_read(self, batch: Sequence[Delivery], ack: Callable[[list[str]], object], read_ns: int = 0,
                 ) -> tuple[int, list[CrossSection]]:
        """:meth:`add_many` the bars of one bus read; ``ack`` is called with the id of each message that is not a
        bar (the ingest worker quarantines it: nothing to do here). Returns how many bars the read held and the
        cross-sections they closed, oldest first."""
        bars: list[BarMessage] = []
        ids: list[str] = []
        for d in batch:
            if isinstance(d.message, BarMessage):
                bars.append(d.message)
                ids.append(d.id)
            else:
                ack([d.id])
        return len(bars), self.add_many(bars, ids, read_ns)

    def flush(self) -> list[CrossSection]:
        """Close every open cross-section (end of a replay, shutdown)."""
        out = self._close(sorted(self._open))
        if self._carry is not None:  # series closes with no later row: nothing will read them
            self.late_ids.extend(self._carry.ids)
            self._carry = None
        return out

    def _close(self, stamps: list[int]) -> list[CrossSection]:
        out = []
        for ts in stamps:
            cur = self._open.pop(ts)
            self.last_closed = max(self.last_closed, ts)
            if len(cur.seen) == len(cur.series):  # only series reported: no row (the gap rule's timestamps)
                self._carry = self._merge(cur)
                continue
            cur = self._merge(cur)
            v = cur.values
            out.append(CrossSection(ts, v[0], v[1], v[2], v[3], v[4], tuple(cur.ids), cur.received_ns, cur.series))
        return out

    def _merge(self, cur: _Open) -> _Open:
        """``cur`` with the carried series closes under its own, and the carried bus ids."""
        carry, self._carry = self._carry, None
        if carry is None:
            return cur
        cur.series = {**carry.series, **cur.series}
        cur.ids = [*carry.ids, *cur.ids]
        cur.received_ns = max(cur.received_ns, carry.received_ns)
        return cur
