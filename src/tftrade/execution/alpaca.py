"""The Alpaca broker: orders through alpaca-py's ``TradingClient``, fills from its ``TradingStream``.

Everything goes through the official client; endpoints and keys come from
:class:`~tftrade.execution.settings.AlpacaConfig` (paper endpoints by default), so tests
point it at a loopback fake.

Idempotency and unknown outcomes
--------------------------------
Every order carries its deterministic ``client_order_id``. A submit whose outcome is
unknown (timeout, connection reset, 5xx, a 504 after Alpaca accepted it) is never simply
sent again: the order is first looked up by client id; only when Alpaca does not have it is
it sent again (under the same id, so a late arrival answers "client_order_id must be unique",
which is read as "already there"). A rejection (403/422) becomes an ``OrderStatus`` in state
``rejected`` with Alpaca's reason.

Rate limits and retries
-----------------------
A :class:`~tftrade.execution.ratelimit.TokenBucket` (200/min, shared by the worker) is
taken before every request; a 429 blocks the bucket until its ``X-RateLimit-Reset`` time;
5xx answers and broken connections of idempotent calls (GET, DELETE) are retried with
jittered exponential back-off, at most ``max_attempts`` tries. alpaca-py's own retry loop
(3 × 3 s on 429/504, which would re-POST an order after a 504) is switched off.

Fills
-----
The stream's ``trade_updates`` (and every REST look-up) are read as *cumulative* filled
quantity and average price. A fill is the increase over what was already booked, with
``execution_id = <order id>@<cumulative quantity>``, so a fill seen on the stream and again
after a reconnect or a restart is booked once, and fills missed while the stream was down
are recovered by the next look-up.

Secrets never appear in a log line, an error message or the journal: every message built
from a server answer is scrubbed of the key id and secret.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import requests
from requests.adapters import HTTPAdapter

with warnings.catch_warnings():  # alpaca.trading imports websockets.legacy, deprecated in websockets 14
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.common.enums import Sort
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
    from alpaca.trading.models import Order as AlpacaOrder
    from alpaca.trading.models import TradeUpdate
    from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
    from alpaca.trading.stream import TradingStream

from tftrade.core.orders import Fill, Order, OrderState, OrderStatus
from tftrade.execution.broker import BrokerOrder, BrokerPosition, Execution
from tftrade.execution.errors import (
    BrokerAuthError,
    BrokerUnavailable,
    DuplicateOrderIdError,
    ExecutionError,
    UnknownOrderError,
)
from tftrade.execution.ratelimit import RetryPolicy, TokenBucket
from tftrade.execution.settings import AlpacaConfig

__all__ = ["AlpacaBroker", "to_state"]

log = logging.getLogger(__name__)

_FINAL_RAW = {"filled": "filled", "canceled": "cancelled", "expired": "cancelled", "replaced": "cancelled",
              "rejected": "rejected"}
_PRICE_Q = Decimal("1e-9")


def to_state(raw_status: str, filled: Decimal) -> OrderState:
    """Alpaca's order status as one of ours (``new`` / ``partially_filled`` for the working ones).

    >>> to_state("accepted", Decimal(0)), to_state("pending_cancel", Decimal(3)), to_state("expired", Decimal(0))
    ('new', 'partially_filled', 'cancelled')
    """
    final = _FINAL_RAW.get(raw_status)
    if final is not None:
        return final  # type: ignore[return-value]
    return "partially_filled" if filled else "new"


def _raw(value: Any) -> str:
    return str(getattr(value, "value", value))


def _dec(value: Any) -> Decimal:
    return Decimal(0) if value in (None, "") else Decimal(str(value))


def _ns(when: datetime | None) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000) * 1000


class _OutcomeUnknown(Exception):
    """A non-idempotent request failed in a way that does not tell whether the server acted on it."""


class _TimeoutAdapter(HTTPAdapter):
    """An HTTP adapter with a default timeout (alpaca-py sets none, so a stuck server would hang us)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


class AlpacaBroker:
    """A :class:`~tftrade.execution.broker.Broker` on Alpaca (paper or live) via alpaca-py.

    Parameters
    ----------
    config
        Endpoints, keys, time in force, rate and retry bounds.
    bucket
        The worker's shared token bucket (a new 200/min one if omitted).
    retry
        Back-off timing (jittered; ``RetryPolicy(max_attempts=config.max_attempts)`` if omitted).
    stream
        Start the ``trade_updates`` stream (off: fills are found by REST look-ups only).
    sleep, wall_clock
        Injected for tests (seconds).
    """

    name = "alpaca"

    def __init__(self, config: AlpacaConfig, *, bucket: TokenBucket | None = None, retry: RetryPolicy | None = None,
                 stream: bool = True, sleep: Callable[[float], None] = time.sleep,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if config.key_id is None or config.secret_key is None:
            raise ExecutionError("the Alpaca broker needs TFTRADE_VENDORS__ALPACA_KEY_ID and "
                                 "TFTRADE_VENDORS__ALPACA_SECRET_KEY")
        key, secret = config.key_id.get_secret_value(), config.secret_key.get_secret_value()
        if not key or not secret:
            raise ExecutionError("the Alpaca key id and secret key must not be empty")
        self.config = config
        self._secrets = tuple(s for s in (key, secret) if len(s) >= 4)
        self._bucket = bucket if bucket is not None else TokenBucket(config.requests_per_minute)
        self._retry = retry if retry is not None else RetryPolicy(max_attempts=config.max_attempts)
        self._sleep, self._wall = sleep, wall_clock
        self._client = TradingClient(api_key=key, secret_key=secret, paper=config.paper, url_override=config.url)
        self._client._retry = 0  # alpaca-py would re-POST an order after a 504; our loop decides instead
        for prefix in ("http://", "https://"):
            self._client._session.mount(prefix, _TimeoutAdapter(config.timeout_s))
        self._lock = threading.RLock()
        self._known: dict[str, AlpacaOrder] = {}
        self._rejected: dict[str, OrderStatus] = {}
        self._booked: dict[str, tuple[Decimal, Decimal]] = {}  # cid -> (|filled|, |notional|)
        self._pending: list[Execution] = []
        self._stream: TradingStream | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0  # REST requests sent (the benchmark and tests read it)
        self._connects = 0  # stream (re)connections: after a reconnect, open orders are re-read
        self._resync = False
        if stream:
            self._start_stream(key, secret)

    # -- the Broker protocol -------------------------------------------------------------
    def submit(self, order: Order, time_in_force: str | None = None) -> OrderStatus:
        """Place ``order`` (idempotent on its client id; see the module docstring for unknown outcomes).

        Raises
        ------
        DuplicateOrderIdError
            The id is already used at Alpaca by a different order.
        BrokerUnavailable
            Alpaca could not be reached and the order was not found by its client id.
        """
        cid = order.client_order_id
        with self._lock:
            if cid in self._rejected:
                return self._rejected[cid]
            known = self._known.get(cid)
        if known is not None:
            self._check_same(known, order)
            return self._status_of(known)
        request = self._request(order, time_in_force or self.config.time_in_force)
        for _ in range(self.config.max_attempts):
            try:
                placed = self._call("submit", lambda: self._client.submit_order(request), idempotent=False)
            except _OutcomeUnknown as e:
                log.warning("order %s: outcome unknown (%s); looking it up by client id", cid, e)
                found = self._find(cid)
                if found is None:
                    continue  # Alpaca does not have it: sending again under the same id is safe
                self._check_same(found, order)
                return self._observe(found)
            except APIError as e:
                if _duplicate(e):
                    found = self._find(cid)
                    if found is None:
                        raise BrokerUnavailable(f"order {cid}: Alpaca says the client id is taken but cannot "
                                                f"find it") from None
                    self._check_same(found, order)
                    return self._observe(found)
                if e.status_code in (403, 422):
                    return self._reject(cid, self._message(e))
                raise ExecutionError(f"order {cid}: Alpaca answered {e.status_code}: {self._message(e)}") from None
            assert isinstance(placed, AlpacaOrder)
            return self._observe(placed)
        raise BrokerUnavailable(f"order {cid}: outcome unknown after {self.config.max_attempts} attempts, and it "
                                f"is not at Alpaca under its client id")

    def status(self, client_order_id: str) -> OrderStatus:
        """The order's status, read from Alpaca (:class:`UnknownOrderError` if Alpaca has no such client id)."""
        with self._lock:
            if client_order_id in self._rejected:
                return self._rejected[client_order_id]
        found = self._find(client_order_id)
        if found is None:
            raise UnknownOrderError(f"no order with client order id {client_order_id!r} at Alpaca")
        return self._observe(found)

    def cached_status(self, client_order_id: str) -> OrderStatus:
        """The last status seen (stream or REST) without a request; a REST look-up if never seen."""
        with self._lock:
            if client_order_id in self._rejected:
                return self._rejected[client_order_id]
            known = self._known.get(client_order_id)
        return self._status_of(known) if known is not None else self.status(client_order_id)

    def cancel(self, client_order_id: str) -> OrderStatus:
        """Cancel what is still open; a finished order's status is returned unchanged."""
        current = self.status(client_order_id)
        if not current.is_open:
            return current
        with self._lock:
            oid = str(self._known[client_order_id].id)
        try:
            self._call("cancel", lambda: self._client.cancel_order_by_id(oid))
        except APIError as e:
            if e.status_code not in (404, 422):  # 422: no longer cancelable (filled meanwhile)
                raise ExecutionError(f"cancel {client_order_id}: Alpaca answered {e.status_code}: "
                                     f"{self._message(e)}") from None
        for attempt in range(self.config.max_attempts):
            current = self.status(client_order_id)
            with self._lock:
                raw = _raw(self._known[client_order_id].status)
            if raw != "pending_cancel":
                break
            self._sleep(self._retry.backoff(attempt))
        return current

    def positions(self) -> dict[str, float]:
        """Signed shares per ticker (non-zero only)."""
        return {t: p.quantity for t, p in self.position_details().items()}

    def position_details(self) -> dict[str, BrokerPosition]:
        """Positions with their average entry price."""
        out: dict[str, BrokerPosition] = {}
        for p in self._call("positions", self._client.get_all_positions):
            qty = float(_dec(p.qty))
            if _raw(p.side) == "short" and qty > 0:
                qty = -qty
            if qty:
                out[p.symbol] = BrokerPosition(p.symbol, qty, float(_dec(p.avg_entry_price)))
        return out

    def cash(self) -> float:
        """The account's cash balance."""
        account = self._call("account", self._client.get_account)
        return float(_dec(account.cash))

    # -- beyond the protocol -------------------------------------------------------------
    def orders(self, *, open_only: bool = False, since_ns: int | None = None) -> list[BrokerOrder]:
        """Alpaca's orders: the open ones, or all submitted since ``since_ns`` (paged, newest first)."""
        out: list[BrokerOrder] = []
        until: datetime | None = None
        after = None if since_ns is None else datetime.fromtimestamp(since_ns / 1e9, tz=UTC)
        seen: set[str] = set()
        while True:
            request = GetOrdersRequest(status=QueryOrderStatus.OPEN if open_only else QueryOrderStatus.ALL,
                                       limit=500, after=after, until=until, direction=Sort.DESC, nested=False)
            page = self._call("orders", partial(self._client.get_orders, request))
            fresh = [o for o in page if str(o.id) not in seen]
            for o in fresh:
                seen.add(str(o.id))
                self._observe(o)
                out.append(self._broker_order(o))
            if len(page) < 500 or not fresh:
                return out
            until = min(o.submitted_at for o in page)

    def cancel_all(self) -> int:
        """Cancel every open order at Alpaca (ours or not); return how many it took."""
        answer = self._call("cancel all", self._client.cancel_orders)
        return len(answer)

    def drain_executions(self) -> list[Execution]:
        """Fills observed since the last call (stream or REST), each once.

        After the stream reconnected, the orders still open are first re-read by REST, so fills
        sent while it was down are not waited for until the next reconciliation.
        """
        if self._resync:
            self._resync = False
            self.resync()
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def drain_fills(self) -> list[Fill]:
        """:meth:`drain_executions` as plain fills."""
        return [x.fill for x in self.drain_executions()]

    def resync(self) -> None:
        """Re-read every order last seen open (one REST look-up each) and queue the fills they imply."""
        with self._lock:
            open_ids = [cid for cid, o in self._known.items() if to_state(_raw(o.status), _dec(o.filled_qty))
                        in ("new", "partially_filled")]
        for cid in open_ids:
            try:
                self.status(cid)
            except (UnknownOrderError, BrokerUnavailable) as e:
                log.warning("resync of %s failed: %s", cid, e)
                self._resync = True

    def seed_booked(self, booked: dict[str, tuple[Decimal, Decimal]]) -> None:
        """Tell the broker which fills are already booked (signed quantity, signed notional per client id).

        After a restart the journal seeds this, so a look-up yields only the fills not yet journaled.
        """
        with self._lock:
            self._booked = {cid: (abs(q), abs(n)) for cid, (q, n) in booked.items()}

    @property
    def stream_connected(self) -> bool:
        """True while the trade-updates stream is authenticated and listening."""
        return bool(self._stream is not None and getattr(self._stream, "_running", False))

    def close(self) -> None:
        """Stop the stream thread and close the HTTP session."""
        stream, thread = self._stream, self._thread
        self._stream = self._thread = None
        if stream is not None:
            loop = getattr(stream, "_loop", None)
            if loop is not None and loop.is_running():
                try:
                    asyncio.run_coroutine_threadsafe(stream.stop_ws(), loop).result(timeout=5)
                    asyncio.run_coroutine_threadsafe(stream.close(), loop).result(timeout=5)
                except Exception as e:  # the loop ended meanwhile
                    log.debug("trade-updates stream stop: %s", self._scrub(str(e)))
            else:
                stream._stop_stream_queue.put_nowait({"should_stop": True})
        if thread is not None:
            thread.join(timeout=10)
        self._client._session.close()

    def __enter__(self) -> AlpacaBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------
    def _start_stream(self, key: str, secret: str) -> None:
        stream = TradingStream(key, secret, paper=self.config.paper, url_override=self.config.stream_url)
        stream.subscribe_trade_updates(self._on_update)
        connect: Callable[[], Any] = stream._start_ws

        async def counted() -> None:  # alpaca-py reconnects on its own; we need to know that it did
            await connect()
            self._connects += 1
            if self._connects > 1:
                self._resync = True

        stream._start_ws = counted  # type: ignore[method-assign]
        self._stream = stream
        self._thread = threading.Thread(target=self._run_stream, name="alpaca-trade-updates", daemon=True)
        self._thread.start()

    def _run_stream(self) -> None:
        stream = self._stream
        if stream is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            stream.run()

    async def _on_update(self, update: TradeUpdate) -> None:
        try:
            self._observe(update.order, _ns(update.timestamp))
        except Exception as e:  # a handler must never kill the stream
            log.error("trade update for %s not applied: %s", update.order.client_order_id, self._scrub(str(e)))

    def _request(self, order: Order, tif: str) -> MarketOrderRequest | LimitOrderRequest:
        qty = abs(order.quantity)
        if qty != int(qty) and tif != "day":
            raise ExecutionError(f"order {order.client_order_id}: fractional quantity {qty:g} needs time in force "
                                 f"'day' at Alpaca, not {tif!r}")
        if round(qty, 9) != qty:
            raise ExecutionError(f"order {order.client_order_id}: quantity {qty!r} has more than 9 decimals")
        common = {"symbol": order.ticker, "qty": qty, "side": OrderSide.BUY if order.quantity > 0 else OrderSide.SELL,
                  "time_in_force": TimeInForce(tif), "client_order_id": order.client_order_id}
        if order.type == "limit":
            return LimitOrderRequest(limit_price=order.limit_price, **common)
        return MarketOrderRequest(**common)

    def _call(self, what: str, fn: Callable[[], Any], *, idempotent: bool = True) -> Any:
        last = ""
        for attempt in range(self._retry.max_attempts):
            self._bucket.acquire()
            self.requests += 1
            try:
                return fn()
            except APIError as e:
                code = e.status_code
                if code == 429:  # not processed: safe to repeat, after the reset time
                    wait = self._retry.rate_limit_wait(_reset_header(e), self._wall(), attempt)
                    log.warning("Alpaca %s: 429 rate limited; waiting %.2f s", what, wait)
                    self._bucket.block_for(wait)
                    last = "429 rate limited"
                    continue
                if code == 401:  # wrong or revoked keys: repeating cannot help
                    raise BrokerAuthError(f"Alpaca rejected the API keys ({what}: 401 {self._message(e)}); check "
                                          "TFTRADE_VENDORS__ALPACA_KEY_ID and TFTRADE_VENDORS__ALPACA_SECRET_KEY "
                                          "(paper keys for the paper URL)") from None
                if code is not None and code >= 500:
                    last = f"{code} {self._message(e)}"
                    if not idempotent:
                        raise _OutcomeUnknown(last) from None
                    self._sleep(self._retry.backoff(attempt))
                    continue
                raise
            except requests.exceptions.RequestException as e:
                last = f"{type(e).__name__}: {self._scrub(str(e))}"
                if not idempotent:
                    raise _OutcomeUnknown(last) from None
                self._sleep(self._retry.backoff(attempt))
        raise BrokerUnavailable(f"Alpaca {what}: no answer after {self._retry.max_attempts} attempts ({last})")

    def _find(self, client_order_id: str) -> AlpacaOrder | None:
        try:
            found = self._call("order lookup", lambda: self._client.get_order_by_client_id(client_order_id))
        except APIError as e:
            if e.status_code == 404:
                return None
            raise ExecutionError(f"look-up of {client_order_id}: Alpaca answered {e.status_code}: "
                                 f"{self._message(e)}") from None
        assert isinstance(found, AlpacaOrder)
        return found

    def _reject(self, cid: str, reason: str) -> OrderStatus:
        status = OrderStatus(cid, "rejected", 0.0, None, reason)
        with self._lock:
            self._rejected[cid] = status
        return status

    def _observe(self, order: AlpacaOrder, ts_ns: int | None = None) -> OrderStatus:
        """Remember the order and queue the fill its cumulative quantity implies (if any)."""
        cid = order.client_order_id
        cum, avg = _dec(order.filled_qty), _dec(order.filled_avg_price)
        with self._lock:
            self._known[cid] = order
            booked_q, booked_n = self._booked.get(cid, (Decimal(0), Decimal(0)))
            if cum > booked_q and avg > 0:
                dq, total = cum - booked_q, cum * avg
                price = ((total - booked_n) / dq).quantize(_PRICE_Q)
                if price <= 0:  # rounding of a tiny top-up: take the reported average
                    price = avg
                sign = 1 if _raw(order.side) == "buy" else -1
                when = ts_ns or _ns(order.filled_at or order.updated_at)
                fill = Fill(cid, order.symbol or "", float(sign * dq), float(price), 0.0, when)
                self._booked[cid] = (cum, total)
                complete = order.qty is not None and cum >= _dec(order.qty)
                self._pending.append(Execution(fill, f"{order.id}@{format(cum.normalize(), 'f')}", str(order.id),
                                               float(sign * cum), complete))
        return self._status_of(order)

    def _status_of(self, order: AlpacaOrder) -> OrderStatus:
        cum, avg = _dec(order.filled_qty), _dec(order.filled_avg_price)
        raw = _raw(order.status)
        state = to_state(raw, cum)
        sign = 1.0 if _raw(order.side) == "buy" else -1.0
        reason = raw if state in ("cancelled", "rejected") else ""
        return OrderStatus(order.client_order_id, state, sign * float(cum), float(avg) if cum else None, reason)

    def _broker_order(self, o: AlpacaOrder) -> BrokerOrder:
        status = self._status_of(o)
        sign = 1.0 if _raw(o.side) == "buy" else -1.0
        return BrokerOrder(str(o.id), o.client_order_id, o.symbol or "", sign * float(_dec(o.qty)), _raw(o.type),
                           float(_dec(o.limit_price)) if o.limit_price not in (None, "") else None, status.state,
                           status.filled_quantity, status.average_price, _ns(o.submitted_at), _raw(o.status))

    def _check_same(self, found: AlpacaOrder, order: Order) -> None:
        sign = 1 if _raw(found.side) == "buy" else -1
        qty = sign * _dec(found.qty)
        limit = _dec(found.limit_price) if found.limit_price not in (None, "") else None
        want_limit = Decimal(repr(order.limit_price)) if order.limit_price is not None else None
        if (found.symbol, qty, _raw(found.type), limit) != (order.ticker, Decimal(repr(order.quantity)), order.type,
                                                             want_limit):
            raise DuplicateOrderIdError(f"client order id {order.client_order_id!r} is used at Alpaca by "
                                        f"{found.symbol} {qty} {_raw(found.type)}, not {order}")

    def _message(self, e: APIError) -> str:
        try:
            text = str(e.message)
        except Exception:
            text = str(e)
        return self._scrub(text)[:300]

    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text


def _duplicate(e: APIError) -> bool:
    if e.status_code not in (409, 422):
        return False
    return "client_order_id must be unique" in str(e).lower()


def _reset_header(e: APIError) -> float | None:
    response = e.response
    value = response.headers.get("X-RateLimit-Reset") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
