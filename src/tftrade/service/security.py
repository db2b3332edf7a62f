"""Request guards: who is calling (API key → scope), how often (rate limit), how much (body size)."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from sqlalchemy import Engine

from tftrade.service.keys import KeyRejected, Principal, Scope, split_key, verify
from tftrade.store.apikeys import StoredKey, find_key

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class KeyStore:
    """Look keys up in the store, keeping each row for ``ttl_s`` (a revocation takes effect within it)."""

    def __init__(self, engine: Engine, ttl_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine, self._ttl, self._clock = engine, ttl_s, clock
        self._rows: dict[str, tuple[float, StoredKey | None]] = {}
        self._lock = threading.Lock()

    def principal(self, key: str | None) -> Principal:
        """Verify ``key``.

        Raises
        ------
        KeyRejected
            If it is missing, malformed, unknown, revoked or wrong.
        """
        if not key:
            raise KeyRejected("missing API key: send it as 'X-API-Key' or 'Authorization: Bearer'")
        key_id, secret = split_key(key)
        now = self._clock()
        with self._lock:
            cached = self._rows.get(key_id)
        if cached is None or now - cached[0] > self._ttl:
            cached = (now, find_key(self._engine, key_id))
            with self._lock:
                self._rows[key_id] = cached
        return verify(cached[1], secret)


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The API key of a request: ``X-API-Key``, else ``Authorization: Bearer <key>`` (``headers``: lower-case
    names, or a case-insensitive mapping such as Starlette's).

    Examples
    --------
    >>> key_from_headers({"authorization": "Bearer tft_x_y"})
    'tft_x_y'
    """
    if key := headers.get("x-api-key"):
        return key
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def allows(principal: Principal, needed: Scope) -> bool:
    """Whether ``principal``'s scope covers ``needed`` (admin ⊃ trade ⊃ read)."""
    return principal.scope >= needed


class BodyLimit:
    """ASGI middleware: refuse request bodies larger than ``max_bytes`` with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        messages: list[MutableMapping[str, Any]] = []
        seen, more = 0, True
        while more:  # read the body first (at most max_bytes), so the app never sees a partial one
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
            messages.append(message)
            more = message.get("more_body", False)

        async def replay() -> MutableMapping[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"error": "request body larger than {limit} bytes", "kind": "too_large"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
