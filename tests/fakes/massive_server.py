"""A loopback Massive (Polygon) fake: the WebSocket feed (``/stocks``) and the REST aggregates endpoint.

WebSocket, as the official client expects it: on connect the server sends
``[{"ev":"status","status":"connected",...}]``; the client sends ``{"action":"auth","params":KEY}``
and gets ``auth_success`` (or ``auth_failed`` and a close); ``{"action":"subscribe","params":"AM.X,AM.Y"}``
is answered with ``success`` statuses. Frames pushed by the test are sent as they are, so a test
can send malformed ones; :meth:`FakeMassive.drop` aborts the connection mid-stream.

REST: ``GET /v2/aggs/ticker/{T}/range/1/minute/{from_ms}/{to_ms}`` with ``Authorization: Bearer KEY``
answers Polygon's JSON (``results`` with ``o h l c v vw t n``, ``next_url`` pages of ``page_size``).
:meth:`FakeMassive.fail_next` queues error answers (429 with ``Retry-After`` and ``X-RateLimit-*``
headers, 5xx, 401).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import Server, ServerConnection, serve


@dataclass
class FakeMassive:
    """Both servers, started with :meth:`start` and stopped with :meth:`stop`."""

    api_key: str = "test-key"
    page_size: int = 3
    bars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ws_port: int = 0
    rest_port: int = 0
    connections: int = 0
    auth_attempts: int = 0
    subscriptions: list[str] = field(default_factory=list)
    rest_requests: list[str] = field(default_factory=list)
    _failures: deque[tuple[int, dict[str, str], str]] = field(default_factory=deque)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: Server | None = None
    _conn: ServerConnection | None = None
    _http: ThreadingHTTPServer | None = None
    _subscribed: threading.Event = field(default_factory=threading.Event)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeMassive:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run_ws, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.rest_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._loop is not None and self._server is not None:
            server, loop = self._server, self._loop

            async def close() -> None:
                server.close()
                await server.wait_closed()
            with contextlib.suppress(TimeoutError):  # a client that never answers the close frame
                asyncio.run_coroutine_threadsafe(close(), loop).result(15)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(5)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    # -- WebSocket --------------------------------------------------------------------------
    def _run_ws(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def start() -> None:
            self._server = await serve(self._session, "127.0.0.1", 0)
            self.ws_port = next(iter(self._server.sockets)).getsockname()[1]
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.close()

    async def _session(self, ws: ServerConnection) -> None:
        assert ws.request is not None and ws.request.path == "/stocks", ws.request
        self.connections += 1
        await ws.send(json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]))
        auth = json.loads(await ws.recv())
        self.auth_attempts += 1
        if auth.get("action") != "auth" or auth.get("params") != self.api_key:
            await ws.send(json.dumps([{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]))
            await ws.close()
            return
        await ws.send(json.dumps([{"ev": "status", "status": "auth_success", "message": "authenticated"}]))
        self._conn = ws
        async for text in ws:
            msg = json.loads(text)
            if msg.get("action") == "subscribe":
                subs = [s for s in str(msg["params"]).split(",") if s]
                self.subscriptions.extend(subs)
                await ws.send(json.dumps([{"ev": "status", "status": "success", "message": f"subscribed to: {s}"}
                                          for s in subs]))
                self._subscribed.set()

    def wait_subscribed(self, timeout: float = 15) -> None:
        """Block until a client has subscribed (since the last :meth:`drop`)."""
        if not self._subscribed.wait(timeout):
            raise TimeoutError("no client subscribed to the fake Massive feed")

    def send(self, frame: str | list[dict[str, Any]]) -> None:
        """Send one frame (a JSON list, or any text as is) to the connected client."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        assert self._loop is not None and self._conn is not None, "no client connected"
        asyncio.run_coroutine_threadsafe(self._conn.send(text), self._loop).result(5)

    def drop(self) -> None:
        """Abort the connection mid-stream (the client sees a close without a close frame)."""
        assert self._loop is not None and self._conn is not None
        conn, self._conn = self._conn, None
        self._subscribed.clear()
        self._loop.call_soon_threadsafe(conn.transport.abort)

    # -- REST ------------------------------------------------------------------------------
    def fail_next(self, status: int, *, headers: dict[str, str] | None = None, body: str = "") -> None:
        """Answer the next REST request with ``status`` (queue several for several requests)."""
        self._failures.append((status, headers or {}, body or json.dumps({"status": "ERROR", "error": str(status)})))

    def add_bars(self, ticker: str, minutes_ms: list[int], close: float = 10.5) -> None:
        """Make REST serve 1-minute bars of ``ticker`` starting at ``minutes_ms``."""
        rows = self.bars.setdefault(ticker, [])
        rows.extend({"v": 100.0, "vw": 10.2, "o": 10.0, "c": close, "h": 11.0, "l": 9.0, "t": t, "n": 7}
                    for t in minutes_ms)
        rows.sort(key=lambda r: r["t"])


def am(ticker: str, start_ms: int, close: float = 10.5, **extra: Any) -> dict[str, Any]:
    """One ``AM`` (minute aggregate) event as Massive sends it."""
    return {"ev": "AM", "sym": ticker, "v": 100, "av": 5000, "op": 10.0, "vw": 10.2, "o": 10.0, "c": close,
            "h": 11.0, "l": 9.0, "a": 10.1, "z": 12, "s": start_ms, "e": start_ms + 60_000, **extra}


def _handler(fake: FakeMassive) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            fake.rest_requests.append(self.path)
            if fake._failures:
                status, headers, body = fake._failures.popleft()
                self._reply(status, body, headers)
                return
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._reply(401, json.dumps({"status": "ERROR", "error": "Unknown API Key"}))
                return
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 9 or parts[:3] != ["v2", "aggs", "ticker"] or parts[4:7] != ["range", "1", "minute"]:
                self._reply(404, json.dumps({"status": "NOT_FOUND"}))
                return
            ticker, lo, hi = parts[3], int(parts[7]), int(parts[8])
            offset = int(parse_qs(url.query).get("cursor", ["0"])[0])
            rows = [r for r in fake.bars.get(ticker, []) if lo <= r["t"] <= hi]
            page = rows[offset: offset + fake.page_size]
            body: dict[str, Any] = {"ticker": ticker, "queryCount": len(page), "resultsCount": len(page),
                                    "adjusted": True, "results": page, "status": "OK", "request_id": "fake",
                                    "count": len(page)}
            if offset + fake.page_size < len(rows):
                body["next_url"] = (f"{fake.rest_url}/v2/aggs/ticker/{ticker}/range/1/minute/{lo}/{hi}"
                                    f"?cursor={offset + fake.page_size}")
            self._reply(200, json.dumps(body), {"X-RateLimit-Remaining": "99"})

    return Handler
