"""A loopback fake of Alpaca's trading API: REST ``/v2`` and the ``trade_updates`` WebSocket.

It speaks the real wire formats (the JSON shapes of alpaca-py's models and its own tests,
UUID order ids, RFC 3339 times, decimal strings, *binary* WebSocket frames as Alpaca's
trading stream sends them) so that ``alpaca-py`` itself is the client under test. It binds
127.0.0.1 on ephemeral ports.

Faults are injected per request (:meth:`FakeAlpaca.inject`): ``504_after_accept``,
``500``, ``429`` (with ``X-RateLimit-Reset``), ``reset_before_accept``, ``reset_after_accept``
(TCP RST instead of an answer), ``delay_after_accept`` (answer later than the client's
timeout). ``fill_before_response`` fills a market order and pushes the fill on the stream
before the REST answer; :meth:`drop_stream` cuts every stream connection.

The fake keeps every order it ever accepted, so tests can assert that no client id was
placed twice (:attr:`created`), and positions and cash as Alpaca would.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

ZERO = Decimal(0)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _num(x: Decimal | None) -> str | None:
    return None if x is None else format(x.normalize(), "f")


@dataclass
class _Fault:
    kind: str
    method: str
    path: str
    reset_in_s: float = 1.0
    delay_s: float = 0.0


class _Reset(Exception):
    """Abort the request with a TCP reset."""


class FakeAlpaca:
    """The fake: start it, point ``AlpacaBroker`` at :attr:`rest_url` and :attr:`stream_url`.

    Parameters
    ----------
    key_id, secret_key
        The credentials it accepts (anything else gets 401 / an unauthorized stream).
    cash
        Starting cash of the account.
    shorting
        False: a sell larger than the position is rejected (403 insufficient qty), as in a cash account.
    """

    def __init__(self, key_id: str = "PKFAKEKEY0001", secret_key: str = "fake-secret-0123456789",
                 cash: float = 1_000_000.0, shorting: bool = True) -> None:
        self.key_id, self.secret_key = key_id, secret_key
        self.shorting = shorting
        self.cash = Decimal(str(cash))
        self.lock = threading.RLock()
        self.orders: dict[str, dict[str, Any]] = {}  # id -> order JSON (dict), in creation order
        self.by_cid: dict[str, str] = {}
        self.positions: dict[str, list[Decimal]] = {}  # ticker -> [qty, cost]
        self.prices: dict[str, Decimal] = {}  # market orders fill at these at once (auto-fill)
        self.fill_before_response = False
        self.faults: list[_Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.created = 0  # orders accepted
        self.post_attempts = 0
        self.commission = ZERO
        self._clock = time.time()
        self._clients: set[ServerConnection] = set()
        self._http: ThreadingHTTPServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeAlpaca:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._http = _QuietServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._ws = serve(self._stream_handler, "127.0.0.1", 0)
        for target in (self._http.serve_forever, self._ws.serve_forever):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._ws is not None:
            self.drop_stream()
            self._ws.shutdown()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> FakeAlpaca:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def rest_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def stream_url(self) -> str:
        assert self._ws is not None
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/stream"

    @property
    def listeners(self) -> int:
        with self.lock:
            return len(self._clients)

    def wait_listening(self, n: int = 1, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self.listeners < n:
            if time.monotonic() > end:
                raise TimeoutError(f"{self.listeners} stream listeners after {timeout} s, wanted {n}")
            time.sleep(0.01)

    # -- test controls -------------------------------------------------------------------
    def inject(self, kind: str, method: str = "POST", path: str = "/v2/orders", times: int = 1,
               reset_in_s: float = 1.0, delay_s: float = 0.0) -> None:
        """Make the next ``times`` requests to ``method path`` (prefix) fail as ``kind``."""
        with self.lock:
            self.faults.extend(_Fault(kind, method, path, reset_in_s, delay_s) for _ in range(times))

    def set_position(self, ticker: str, qty: float, price: float) -> None:
        """Give the account a position nobody ordered through us (an external one)."""
        with self.lock:
            q, p = Decimal(str(qty)), Decimal(str(price))
            self.positions[ticker] = [q, q * p]
            self.prices.setdefault(ticker, p)

    def add_external_order(self, ticker: str, qty: float, limit: float) -> dict[str, Any]:
        """An open order placed by someone else (a client id we never used)."""
        return self._create({"symbol": ticker, "qty": str(abs(qty)), "side": "buy" if qty > 0 else "sell",
                             "type": "limit", "limit_price": str(limit), "time_in_force": "day",
                             "client_order_id": f"ext-{uuid.uuid4()}"})

    def order_by_cid(self, cid: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.orders[self.by_cid[cid]])

    def trade(self, ticker: str, price: float, max_qty: float | None = None) -> list[tuple[str, Decimal]]:
        """The market trades ``max_qty`` (None: unlimited) shares of ``ticker`` at ``price``.

        Open orders on the ticker fill oldest first: market orders always, a buy limit when
        ``price <= limit``, a sell limit when ``price >= limit``. Returns (client id, qty) filled.
        """
        px = Decimal(str(price))
        left = None if max_qty is None else Decimal(str(max_qty))
        done: list[tuple[str, Decimal]] = []
        with self.lock:
            for o in list(self.orders.values()):
                if o["symbol"] != ticker or o["status"] not in ("new", "accepted", "partially_filled"):
                    continue
                if o["type"] == "limit":
                    lim = Decimal(o["limit_price"])
                    if (o["side"] == "buy" and px > lim) or (o["side"] == "sell" and px < lim):
                        continue
                remaining = Decimal(o["qty"]) - Decimal(o["filled_qty"])
                qty = remaining if left is None else min(remaining, left)
                if qty <= 0:
                    continue
                self._execute(o, qty, px)
                done.append((o["client_order_id"], qty))
                if left is not None:
                    left -= qty
                    if left <= 0:
                        break
        return done

    def finish(self, cid: str, status: str) -> None:
        """End an open order on the broker's side: ``rejected`` (e.g. by the exchange) or ``expired`` (day end)."""
        with self.lock:
            o = self.orders[self.by_cid[cid]]
            now = _iso(self._now())
            o["status"], o["updated_at"] = status, now
            o["failed_at" if status == "rejected" else "expired_at"] = now
            self._emit(status, o)

    def drop_stream(self) -> None:
        """Close every trade-updates connection (the client reconnects)."""
        with self.lock:
            clients = list(self._clients)
            self._clients.clear()
        for c in clients:
            c.close()

    def orders_for(self, cid: str) -> int:
        """How many orders exist under ``cid`` (the fake refuses duplicates, so 0 or 1)."""
        with self.lock:
            return sum(1 for o in self.orders.values() if o["client_order_id"] == cid)

    def position_map(self) -> dict[str, float]:
        with self.lock:
            return {t: float(q) for t, (q, _) in self.positions.items() if q != 0}

    # -- the API ---------------------------------------------------------------------------
    def _now(self) -> float:
        with self.lock:  # strictly increasing, so paging by submitted_at never ties
            self._clock = max(time.time(), self._clock + 1e-6)
            return self._clock

    def _order_json(self, body: dict[str, Any]) -> dict[str, Any]:
        now = _iso(self._now())
        return {
            "id": str(uuid.uuid4()), "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
            "created_at": now, "updated_at": now, "submitted_at": now, "filled_at": None, "expired_at": None,
            "canceled_at": None, "failed_at": None, "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])), "symbol": body["symbol"],
            "asset_class": "us_equity", "notional": None, "qty": _num(Decimal(str(body["qty"]))),
            "filled_qty": "0", "filled_avg_price": None, "order_class": "simple", "order_type": body["type"],
            "type": body["type"], "side": body["side"], "time_in_force": body["time_in_force"],
            "limit_price": _num(Decimal(str(body["limit_price"]))) if body.get("limit_price") is not None else None,
            "stop_price": None, "status": "accepted", "extended_hours": False, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None, "position_intent": "buy_to_open" if body["side"] == "buy" else
            "sell_to_close", "commission": "0",
        }

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            o = self._order_json(body)
            self.orders[o["id"]] = o
            self.by_cid[o["client_order_id"]] = o["id"]
            self.created += 1
            self._emit("new", o)
            return o

    def _validate(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        try:
            qty = Decimal(str(body["qty"]))
            if body.get("side") not in ("buy", "sell") or body.get("type") not in ("market", "limit") or qty <= 0:
                raise ValueError
        except (KeyError, ValueError, ArithmeticError):
            return 422, {"code": 40010001, "message": "invalid order request"}
        if qty != qty.to_integral_value() and body.get("time_in_force") != "day":
            return 422, {"code": 42210000, "message": "fractional orders must be DAY orders"}
        cid = body.get("client_order_id")
        if cid and cid in self.by_cid:
            return 422, {"code": 40010001, "message": "client_order_id must be unique"}
        if cid and len(cid) > 128:
            return 422, {"code": 40010001, "message": "client_order_id must be no more than 128 characters"}
        if body["side"] == "sell" and not self.shorting:
            held = self.positions.get(body["symbol"], [ZERO, ZERO])[0]
            pending = sum((Decimal(o["qty"]) - Decimal(o["filled_qty"]) for o in self.orders.values()
                           if o["symbol"] == body["symbol"] and o["side"] == "sell"
                           and o["status"] in ("new", "accepted", "partially_filled")), ZERO)
            if qty > held - pending:
                return 403, {"code": 40310000, "message": f"insufficient qty available for order (requested: "
                                                          f"{_num(qty)}, available: {_num(held - pending)})"}
        return None

    def _execute(self, o: dict[str, Any], qty: Decimal, price: Decimal) -> None:
        with self.lock:
            filled = Decimal(o["filled_qty"])
            avg = Decimal(o["filled_avg_price"] or 0)
            total = filled + qty
            o["filled_avg_price"] = _num(((filled * avg + qty * price) / total).quantize(Decimal("1e-9")))
            o["filled_qty"] = _num(total)
            now = _iso(self._now())
            o["updated_at"] = now
            complete = total >= Decimal(o["qty"])
            o["status"] = "filled" if complete else "partially_filled"
            if complete:
                o["filled_at"] = now
            sign = 1 if o["side"] == "buy" else -1
            pos = self.positions.setdefault(o["symbol"], [ZERO, ZERO])
            pos[0] += sign * qty
            pos[1] += sign * qty * price
            if pos[0] == 0:
                del self.positions[o["symbol"]]
            self.cash -= sign * qty * price
            self.prices[o["symbol"]] = price
            self._emit("fill" if complete else "partial_fill", o, qty=qty, price=price,
                       position_qty=self.positions.get(o["symbol"], [ZERO])[0])

    def _cancel(self, o: dict[str, Any]) -> None:
        with self.lock:
            now = _iso(self._now())
            o["status"], o["canceled_at"], o["updated_at"] = "canceled", now, now
            self._emit("canceled", o)

    def _emit(self, event: str, o: dict[str, Any], **extra: Decimal) -> None:
        data: dict[str, Any] = {"event": event, "order": dict(o), "timestamp": o["updated_at"]}
        if event in ("fill", "partial_fill"):
            data.update({"execution_id": str(uuid.uuid4()), "price": _num(extra["price"]), "qty": _num(extra["qty"]),
                         "position_qty": _num(extra["position_qty"])})
        frame = json.dumps({"stream": "trade_updates", "data": data}).encode()
        with self.lock:
            clients = list(self._clients)
        for c in clients:
            try:
                c.send(frame)  # bytes: a binary frame, as Alpaca's trading stream sends
            except ConnectionClosed:
                with self.lock:
                    self._clients.discard(c)

    def _position_json(self, ticker: str, qty: Decimal, cost: Decimal) -> dict[str, Any]:
        price = self.prices.get(ticker, abs(cost / qty))
        value = qty * price
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, ticker)), "symbol": ticker, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True, "avg_entry_price": _num(abs(cost / qty)),
            "qty": _num(qty), "side": "long" if qty > 0 else "short", "market_value": _num(value),
            "cost_basis": _num(cost), "unrealized_pl": _num(value - cost), "unrealized_plpc": "0",
            "unrealized_intraday_pl": "0", "unrealized_intraday_plpc": "0", "current_price": _num(price),
            "lastday_price": _num(price), "change_today": "0", "qty_available": _num(qty),
        }

    def _account_json(self) -> dict[str, Any]:
        long_value = sum((q * self.prices.get(t, ZERO) for t, (q, _) in self.positions.items() if q > 0), ZERO)
        short_value = sum((q * self.prices.get(t, ZERO) for t, (q, _) in self.positions.items() if q < 0), ZERO)
        equity = self.cash + long_value + short_value
        return {
            "id": "2d8b0b4a-7c4f-4e4b-9d1e-7a3e2f1c9b10", "account_number": "PA3FAKE0001", "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": "USD", "buying_power": _num(2 * equity),
            "regt_buying_power": _num(2 * equity), "non_marginable_buying_power": _num(self.cash),
            "cash": _num(self.cash), "accrued_fees": "0", "pending_transfer_out": None, "pending_transfer_in": "0",
            "portfolio_value": _num(equity), "pattern_day_trader": False, "trading_blocked": False,
            "transfers_blocked": False, "account_blocked": False, "created_at": "2024-01-02T14:30:00Z",
            "trade_suspended_by_user": False, "multiplier": "2", "shorting_enabled": self.shorting,
            "equity": _num(equity), "last_equity": _num(equity), "long_market_value": _num(long_value),
            "short_market_value": _num(short_value), "initial_margin": "0", "maintenance_margin": "0",
            "last_maintenance_margin": "0", "sma": "0", "daytrade_count": 0,
        }

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               headers: Any) -> tuple[int, Any, dict[str, str]]:
        """One REST request: (status, JSON body or None, extra headers). Raises ``_Reset`` to RST the socket."""
        with self.lock:
            self.requests.append((method, path))
            if method == "POST" and path == "/v2/orders":
                self.post_attempts += 1
            fault = next((f for f in self.faults if f.method == method and path.startswith(f.path)), None)
            if fault is not None:
                self.faults.remove(fault)
        if headers.get("APCA-API-KEY-ID") != self.key_id or headers.get("APCA-API-SECRET-KEY") != self.secret_key:
            return 401, {"code": 40110000, "message": "request is not authorized"}, {}
        if fault is not None and fault.kind == "429":
            reset = int(time.time() + fault.reset_in_s)
            return 429, {"code": 42910000, "message": "rate limit exceeded"}, {
                "X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        if fault is not None and fault.kind == "500":
            return 500, {"code": 50010000, "message": "internal server error"}, {}
        if fault is not None and fault.kind == "reset_before_accept":
            raise _Reset
        status, out = self._route(method, path, query, body)
        if fault is not None and fault.kind == "504_after_accept":
            return 504, None, {}  # the gateway timed out; the order exists
        if fault is not None and fault.kind == "reset_after_accept":
            raise _Reset
        if fault is not None and fault.kind == "delay_after_accept":
            time.sleep(fault.delay_s)
        return status, out, {}

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        q = {k: v[0] for k, v in query.items()}
        with self.lock:
            if method == "POST" and path == "/v2/orders":
                bad = self._validate(body)
                if bad is not None:
                    return bad
                o = self._create(body)
                px = self.prices.get(o["symbol"])
                if o["type"] == "market" and px is not None and self.fill_before_response:
                    self._execute(o, Decimal(o["qty"]), px)
                return 200, dict(o)
            if method == "GET" and path == "/v2/orders:by_client_order_id":
                oid = self.by_cid.get(q.get("client_order_id", ""))
                if oid is None:
                    return 404, {"code": 40410000, "message": "order not found"}
                return 200, dict(self.orders[oid])
            if method == "GET" and path == "/v2/orders":
                return 200, self._list_orders(q)
            if method == "GET" and path.startswith("/v2/orders/"):
                o = self.orders.get(path.rsplit("/", 1)[1])
                return (200, dict(o)) if o else (404, {"code": 40410000, "message": "order not found"})
            if method == "DELETE" and path == "/v2/orders":
                out = []
                for o in self.orders.values():
                    if o["status"] in ("new", "accepted", "partially_filled"):
                        self._cancel(o)
                        out.append({"id": o["id"], "status": 200, "body": None})
                return 207, out
            if method == "DELETE" and path.startswith("/v2/orders/"):
                o = self.orders.get(path.rsplit("/", 1)[1])
                if o is None:
                    return 404, {"code": 40410000, "message": "order not found"}
                if o["status"] not in ("new", "accepted", "partially_filled"):
                    return 422, {"code": 42210000, "message": f"order is not cancelable (status {o['status']})"}
                self._cancel(o)
                return 204, None
            if method == "GET" and path == "/v2/positions":
                return 200, [self._position_json(t, qty, cost) for t, (qty, cost) in sorted(self.positions.items())]
            if method == "GET" and path == "/v2/account":
                return 200, self._account_json()
        return 404, {"code": 40410000, "message": f"no route {method} {path}"}

    def _list_orders(self, q: dict[str, str]) -> list[dict[str, Any]]:
        status = q.get("status", "open")
        limit = min(int(q.get("limit", 50)), 500)
        after = datetime.fromisoformat(q["after"]) if "after" in q else None
        until = datetime.fromisoformat(q["until"]) if "until" in q else None
        rows = []
        for o in self.orders.values():
            is_open = o["status"] in ("new", "accepted", "partially_filled")
            if (status == "open" and not is_open) or (status == "closed" and is_open):
                continue
            ts = datetime.fromisoformat(o["submitted_at"])
            if (after is not None and ts <= after) or (until is not None and ts >= until):
                continue
            rows.append(o)
        rows.sort(key=lambda o: o["submitted_at"], reverse=q.get("direction", "desc") == "desc")
        return [dict(o) for o in rows[:limit]]

    # -- the stream --------------------------------------------------------------------------
    def _stream_handler(self, ws: ServerConnection) -> None:
        try:
            auth = json.loads(ws.recv(timeout=10))
            data = auth.get("data", {})
            ok = auth.get("action") == "authenticate" and data.get("key_id") == self.key_id and \
                data.get("secret_key") == self.secret_key
            ws.send(json.dumps({"stream": "authorization", "data": {
                "action": "authenticate", "status": "authorized" if ok else "unauthorized"}}).encode())
            if not ok:
                ws.close()
                return
            listen = json.loads(ws.recv(timeout=10))
            streams = listen.get("data", {}).get("streams", [])
            ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
            with self.lock:
                self._clients.add(ws)
            for _ in ws:
                pass
        except (ConnectionClosed, TimeoutError, ValueError):
            pass
        finally:
            with self.lock:
                self._clients.discard(ws)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that hung up (timeouts)
        return


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAlpaca
    protocol_version = "HTTP/1.1"
    _reset = False

    def setup(self) -> None:
        super().setup()  # headers and body go out in separate writes: without NODELAY, 40 ms delayed-ACK stalls
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _serve(self, method: str) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        try:
            status, out, extra = self.owner.handle(method, url.path, parse_qs(url.query), body, self.headers)
        except _Reset:
            self._reset = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        payload = b"" if out is None else json.dumps(out).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def finish(self) -> None:
        if self._reset:
            return
        with contextlib.suppress(OSError):
            super().finish()
