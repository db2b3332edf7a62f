"""Live minute bars from Massive (Polygon): WebSocket aggregates onto ``market_data``, REST backfill of gaps.

The official ``massive`` client does the wire work: ``WebSocketClient`` (handshake, ``auth``,
``subscribe`` frames) in raw mode so that this module parses every frame itself — a frame it
cannot read becomes a :class:`~tftrade.stream.messages.MalformedFrame` for the quarantine and
the stream goes on — and ``RESTClient.list_aggs`` (``next_url`` pagination, retries with
backoff on 429 and 5xx honouring ``Retry-After``) for the backfill.

On start and after every reconnect, once the socket is subscribed, each ticker is backfilled
over REST from the minute after the newest bar seen (but at most ``backfill_minutes`` back) to
now, so a disconnect leaves no hole. Bars arriving twice (socket and backfill, a replay) or out of
order are published as they come: the store's key keeps one copy. A bar that arrives more than
``late_after_s`` after its minute closed, or older than the newest bar of its ticker, is
counted and reported as late. Reconnects wait with capped exponential backoff; an auth
failure stops the source with :class:`MassiveAuthError` and is not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from massive import RESTClient, WebSocketClient
from massive.exceptions import AuthError, BadResponse
from urllib3.exceptions import HTTPError as Urllib3Error
from websockets.exceptions import ConnectionClosed

from tftrade.core.clock import Clock, SystemClock
from tftrade.core.errors import DataError
from tftrade.data.endpoints import VendorEndpoints
from tftrade.stream.bus import Bus
from tftrade.stream.messages import BarMessage, MalformedFrame, Message

log = logging.getLogger(__name__)
_MIN_NS = 60_000_000_000
_MS = 1_000_000
Event = dict[str, Any]


class MassiveAuthError(DataError):
    """Massive rejected the API key; the source stops instead of retrying."""


@dataclass(frozen=True)
class MassiveConfig:
    """Behaviour of the live Massive source."""

    backfill_minutes: int = 390
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    late_after_s: float = 90.0
    rest_retries: int = 3
    rest_timeout_s: float = 10.0


@dataclass
class MassiveStats:
    """Counters of one source run; every fault shows here and in the log."""

    frames: int = 0
    bars: int = 0
    malformed: int = 0
    late: int = 0
    status_errors: int = 0
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    backfill_requests: int = 0
    backfill_bars: int = 0
    rest_errors: int = 0
    auth_failures: int = 0
    unfilled: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capped_backoff(initial: float, cap: float) -> Generator[float]:
    """Delays ``initial, 2·initial, 4·initial, …`` capped at ``cap``.

    Examples
    --------
    >>> g = capped_backoff(0.5, 3); [next(g) for _ in range(5)]
    [0.5, 1.0, 2.0, 3, 3]
    """
    delay = initial
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


def parse_frame(raw: str | bytes, received_ns: int) -> tuple[list[BarMessage], list[MalformedFrame], list[Event]]:
    """Read one WebSocket frame: minute/second aggregates, status messages, and what could not be read.

    Examples
    --------
    >>> bars, bad, status = parse_frame('[{"ev":"AM","sym":"AAPL","o":1,"h":2,"l":0.5,"c":1.5,"v":10,'
    ...                                 '"s":1704207600000,"e":1704207660000}]', 0)
    >>> bars[0].ticker, bars[0].start_ns, bad, status
    ('AAPL', 1704207600000000000, [], [])
    >>> parse_frame("not json", 0)[1][0].reason[:12]
    'not JSON: Ex'
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        items = json.loads(text)
    except ValueError as e:
        return [], [MalformedFrame("massive-ws", text[:4000], f"not JSON: {e}", received_ns)], []
    if not isinstance(items, list):
        items = [items]
    bars: list[BarMessage] = []
    bad: list[MalformedFrame] = []
    statuses: list[Event] = []
    for item in items:
        if not isinstance(item, dict):
            bad.append(MalformedFrame("massive-ws", json.dumps(item)[:4000], "item is not a JSON object", received_ns))
        elif item.get("ev") == "status":
            statuses.append({"status": item.get("status"), "message": item.get("message")})
        elif item.get("ev") in ("AM", "A"):
            try:
                bars.append(_bar(item, received_ns))
            except ValueError as e:
                bad.append(MalformedFrame("massive-ws", json.dumps(item)[:4000], str(e), received_ns))
        else:
            bad.append(MalformedFrame("massive-ws", json.dumps(item)[:4000],
                                      f"unexpected event type {item.get('ev')!r}", received_ns))
    return bars, bad, statuses


def _number(item: Mapping[str, Any], key: str) -> float:
    v = item.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"field {key!r}: {v!r}; expected a finite number")
    return float(v)


def _bar(item: Mapping[str, Any], received_ns: int) -> BarMessage:
    sym = item.get("sym")
    if not isinstance(sym, str) or not sym:
        raise ValueError(f"field 'sym': {sym!r}; expected a ticker")
    start = item.get("s")
    if isinstance(start, bool) or not isinstance(start, int):
        raise ValueError(f"field 's': {start!r}; expected the start time in epoch milliseconds")
    vw = item.get("vw")
    return BarMessage(sym.upper(), start * _MS, _number(item, "o"), _number(item, "h"), _number(item, "l"),
                      _number(item, "c"), _number(item, "v"), timeframe="1min" if item["ev"] == "AM" else "1s",
                      vwap=float(vw) if isinstance(vw, int | float) else None, source="massive-ws",
                      received_ns=received_ns)


class MassiveSource:
    """Stream minute bars of ``tickers`` (all tickers with ``AM.*`` when empty) onto ``market_data``.

    Parameters
    ----------
    bus
        Where bars (and malformed frames) are published.
    endpoints
        REST and WebSocket URLs and the API key.
    tickers
        Tickers to subscribe and backfill; empty subscribes ``AM.*`` and backfills the tickers seen.
    resume_from
        Newest stored bar per ticker (epoch ns); the first backfill starts after it.
    clock
        "Now" for the backfill window and lateness.
    on_event
        Called with one dict per event (bar, backfill, reconnect, malformed, late, status, error).
    """

    def __init__(self, bus: Bus, endpoints: VendorEndpoints, tickers: Sequence[str] = (), *,
                 config: MassiveConfig | None = None, resume_from: Mapping[str, int] | None = None,
                 clock: Clock | None = None, on_event: Callable[[Event], None] | None = None) -> None:
        if endpoints.polygon_api_key is None:
            raise MassiveAuthError("no Massive API key: set TFTRADE_VENDORS__POLYGON_API_KEY")
        self.bus = bus
        self.endpoints = endpoints
        self.tickers = tuple(t.upper() for t in tickers)
        self.config = config or MassiveConfig()
        self.clock = clock or SystemClock()
        self.stats = MassiveStats()
        self._emit = on_event or (lambda e: None)
        self._last: dict[str, int] = dict(resume_from or {})
        self._unfilled: set[str] = set()
        self._key = endpoints.polygon_api_key.get_secret_value()
        self._rest = RESTClient(api_key=self._key, base=endpoints.massive_rest_url.rstrip("/"),
                                retries=self.config.rest_retries, connect_timeout=self.config.rest_timeout_s,
                                read_timeout=self.config.rest_timeout_s, pagination=True)

    # -- the socket -------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> MassiveStats:
        """Stream until ``stop`` is set; return the counters.

        Raises
        ------
        MassiveAuthError
            If the server rejects the key (not retried).
        """
        asyncio.run(self._main(stop))
        return self.stats

    def _subscriptions(self) -> list[str]:
        return [f"AM.{t}" for t in self.tickers] or ["AM.*"]

    def _connect_delays(self) -> Generator[float]:
        for delay in capped_backoff(self.config.initial_backoff_s, self.config.max_backoff_s):
            self.stats.connect_failures += 1
            log.warning("Massive WebSocket connect failed; retrying in %.2fs", delay)
            self._emit({"event": "connect_failed", "retry_in_s": delay})
            yield delay

    async def _main(self, stop: threading.Event) -> None:
        host, secure = self.endpoints.massive_ws_host()
        delays = capped_backoff(self.config.initial_backoff_s, self.config.max_backoff_s)
        stopper = asyncio.ensure_future(_wait_for(stop))
        try:
            while not stop.is_set():
                client = WebSocketClient(api_key=self._key, feed=host, market="stocks", raw=True, secure=secure,
                                         subscriptions=self._subscriptions(), max_reconnects=0)
                session = asyncio.ensure_future(client.connect(self._on_frame, reconnect_delays=self._connect_delays))
                filler = asyncio.ensure_future(self._backfill_when_subscribed(client))
                started = time.monotonic()
                await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stopper.done():
                    await _close(client, session, filler)
                    return
                await _settle(filler)
                exc = session.exception()
                await _close(client)
                if isinstance(exc, AuthError):
                    self.stats.auth_failures += 1
                    self._emit({"event": "auth_failed", "message": str(exc)})
                    raise MassiveAuthError(f"Massive rejected the API key ({exc}); not retrying") from None
                if exc is not None and not isinstance(exc, ConnectionClosed):
                    raise exc
                self.stats.disconnects += 1
                if time.monotonic() - started > 60:
                    delays = capped_backoff(self.config.initial_backoff_s, self.config.max_backoff_s)
                delay = next(delays)
                log.warning("Massive WebSocket disconnected (%s); reconnecting in %.2fs", exc or "closed", delay)
                self._emit({"event": "disconnected", "reason": str(exc or "closed by server"), "retry_in_s": delay})
                await asyncio.wait({stopper}, timeout=delay)
        finally:
            await _settle(stopper)

    async def _on_frame(self, raw: str | bytes) -> None:
        now = self.clock.now_ns()
        bars, bad, statuses = parse_frame(raw, now)
        self.stats.frames += 1
        for s in statuses:
            if s["status"] not in ("connected", "auth_success", "success"):
                self.stats.status_errors += 1
                log.warning("Massive status %s: %s", s["status"], s["message"])
            self._emit({"event": "status", **s})
        if bad:
            self.stats.malformed += len(bad)
            for m in bad:
                log.warning("malformed Massive frame quarantined: %s", m.reason)
                self._emit({"event": "malformed", "reason": m.reason, "raw": m.raw[:200]})
        self._publish([*bars, *bad], now, via="ws")

    def _publish(self, messages: Sequence[Message], now: int, *, via: str) -> None:
        if not messages:
            return
        self.bus.publish_many("market_data", messages)
        for m in messages:
            if not isinstance(m, BarMessage):
                continue
            self.stats.bars += 1
            newest = self._last.get(m.ticker)
            late_s = (now - m.start_ns - _MIN_NS) / 1e9
            if via == "ws" and ((newest is not None and m.start_ns < newest) or late_s > self.config.late_after_s):
                self.stats.late += 1
                log.info("late bar %s %d (%.0fs after its close)", m.ticker, m.start_ns, late_s)
                self._emit({"event": "late", "ticker": m.ticker, "start_ns": m.start_ns, "late_s": round(late_s, 1)})
            if newest is None or m.start_ns > newest:
                self._last[m.ticker] = m.start_ns
            self._emit({"event": "bar", "via": via, "ticker": m.ticker, "start_ns": m.start_ns, "open": m.open,
                        "high": m.high, "low": m.low, "close": m.close, "volume": m.volume})

    # -- the backfill -----------------------------------------------------------------------
    async def _backfill_when_subscribed(self, client: WebSocketClient) -> None:
        while not client.subs or client.websocket is None:
            await asyncio.sleep(0.02)
        self.stats.connects += 1
        self._emit({"event": "connected", "subscriptions": sorted(client.subs)})
        await asyncio.to_thread(self.backfill)

    def backfill(self, tickers: Iterable[str] | None = None) -> int:
        """Fetch over REST every closed minute after the newest bar seen of each ticker, publish it; return bars.

        A ticker whose request fails (after the client's retries) is logged, counted in
        ``rest_errors`` and kept in ``unfilled`` for the next backfill.
        """
        now = self.clock.now_ns()
        names = list(tickers) if tickers is not None else sorted({*self.tickers, *self._last, *self._unfilled})
        total = 0
        for t in names:
            start = max(self._last.get(t, 0) + _MIN_NS, now - self.config.backfill_minutes * _MIN_NS)
            try:
                total += self._backfill_one(t, start, now)
                self._unfilled.discard(t)
            except (BadResponse, Urllib3Error, ValueError) as e:
                self.stats.rest_errors += 1
                self._unfilled.add(t)
                reason = f"{type(e).__name__}: {str(e)[:300]}"
                log.error("Massive backfill of %s failed (%s); the gap stays open until the next backfill", t, reason)
                self._emit({"event": "backfill_failed", "ticker": t, "reason": reason})
        self.stats.unfilled = sorted(self._unfilled)
        return total

    def _backfill_one(self, ticker: str, start_ns: int, now_ns: int) -> int:
        if start_ns >= now_ns:
            return 0
        self.stats.backfill_requests += 1
        aggs = self._rest.list_aggs(ticker, 1, "minute", start_ns // _MS, now_ns // _MS, sort="asc", limit=50_000)
        bars = [BarMessage(ticker, int(a.timestamp) * _MS, float(a.open), float(a.high), float(a.low),
                           float(a.close), float(a.volume), vwap=a.vwap, trades=a.transactions,
                           source="massive-rest", received_ns=now_ns)
                for a in aggs
                if a.timestamp is not None and a.open is not None and a.high is not None and a.low is not None
                and a.close is not None and a.volume is not None and int(a.timestamp) * _MS + _MIN_NS <= now_ns]
        self._publish(bars, now_ns, via="rest")
        self.stats.backfill_bars += len(bars)
        self._emit({"event": "backfill", "ticker": ticker, "bars": len(bars), "from_ns": start_ns, "to_ns": now_ns})
        return len(bars)


async def _wait_for(stop: threading.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.05)


async def _settle(task: asyncio.Future[Any]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):  # the outcome was read already or is moot
        await task


async def _close(client: WebSocketClient, *tasks: asyncio.Future[Any]) -> None:
    if client.websocket is not None:
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(client.close(), timeout=2)
    for t in tasks:
        await _settle(t)
