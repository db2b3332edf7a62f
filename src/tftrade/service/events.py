"""Server-sent events for the dashboard: a broadcast hub with one bounded queue per client.

A slow client never slows the desk: when its queue is full the oldest event is dropped and
counted (the page reloads full state on its next poll).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any


class EventHub:
    """Fan events out to every connected client (call :meth:`publish` on the event loop's thread)."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._size = queue_size
        self.dropped = 0
        self.published = 0

    @property
    def clients(self) -> int:
        """Connected clients."""
        return len(self._queues)

    def publish(self, event: dict[str, Any]) -> None:
        """Hand ``event`` (``{"type": ..., ...}``) to every client."""
        self.published += 1
        for q in self._queues:
            if q.full():
                q.get_nowait()
                self.dropped += 1
            q.put_nowait(event)

    async def stream(self, heartbeat_s: float = 15.0) -> AsyncIterator[bytes]:
        """Yield ``text/event-stream`` frames for one client until it disconnects."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._size)
        self._queues.add(q)
        try:
            yield b": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(q.get(), timeout=heartbeat_s)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                yield sse_frame(event)
        finally:
            self._queues.discard(q)


def sse_frame(event: dict[str, Any]) -> bytes:
    """One server-sent event: ``event: <type>`` and the JSON document as ``data``.

    Examples
    --------
    >>> sse_frame({"type": "fill", "ticker": "AAPL"})
    b'event: fill\\ndata: {"type": "fill", "ticker": "AAPL"}\\n\\n'
    """
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
