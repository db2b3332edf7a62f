"""The desk's latest state in the cache: what the trading loop and workers publish, the API serves.

Documents live under ``desk:<kind>`` as ``{"kind", "as_of_ns", "seq", "data"}``; ``seq`` grows by
one per publish so a reader can tell new from seen. Significant events (kill switch, drawdown
breaker, reconciliation mismatch, order rejected, model promoted, model not followed by a live
run) are appended atomically (:meth:`Cache.append`: several processes may write) to a bounded
list under ``desk:events``;
the service turns them into alerts and dashboard updates.

Control requests from the API (``pause``, ``resume``, ``kill``) are the ``control`` document:
the trading loop reads it before each decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tftrade.core.clock import Clock
from tftrade.stream.cache import Cache

DeskKind = Literal["signals", "portfolio", "risk", "orders", "positions", "pnl", "status", "feed"]
DESK_KINDS: tuple[DeskKind, ...] = ("signals", "portfolio", "risk", "orders", "positions", "pnl", "status", "feed")
EventType = Literal["kill_switch", "drawdown_breaker", "reconciliation_mismatch", "order_rejected", "model_promoted",
                    "model_not_followed", "feed_down", "feed_restored", "paused", "resumed"]
EVENTS_KEY = "desk:events"
CONTROL_KEY = "desk:control"
MAX_EVENTS = 500


@dataclass(frozen=True)
class Control:
    """What operators asked of the trading loop: paused (no new decisions), killed (cancel, stop), flatten."""

    paused: bool = False
    killed: bool = False
    flatten: bool = False
    reason: str = ""
    by: str = ""
    at_ns: int = 0


class Desk:
    """Publish and read the desk's state documents, events and control flags through a :class:`Cache`.

    Examples
    --------
    >>> from tftrade.core.clock import SimulatedClock
    >>> from tftrade.stream.cache import InMemoryCache
    >>> d = Desk(InMemoryCache(), SimulatedClock(5))
    >>> d.publish("pnl", {"equity": 100.0})["seq"], d.read("pnl")["data"]
    (1, {'equity': 100.0})
    """

    def __init__(self, cache: Cache, clock: Clock) -> None:
        self.cache = cache
        self.clock = clock

    def publish(self, kind: DeskKind, data: Any) -> dict[str, Any]:
        """Replace the ``kind`` document with ``data``; return the stored document."""
        if kind not in DESK_KINDS:
            raise ValueError(f"desk kind {kind!r} is not one of {', '.join(DESK_KINDS)}")
        old = self.cache.get(f"desk:{kind}")
        doc = {"kind": kind, "as_of_ns": self.clock.now_ns(), "seq": (old["seq"] + 1) if old else 1, "data": data}
        self.cache.put(f"desk:{kind}", doc)
        return doc

    def read(self, kind: DeskKind) -> dict[str, Any] | None:
        """The latest ``kind`` document, or ``None`` if nothing has published one."""
        doc: dict[str, Any] | None = self.cache.get(f"desk:{kind}")
        return doc

    def event(self, type_: EventType, message: str, **detail: Any) -> dict[str, Any]:
        """Append a significant event (kept: the newest :data:`MAX_EVENTS`); return it."""
        ev = {"type": type_, "message": message, "at_ns": self.clock.now_ns(), "detail": detail}
        return self.cache.append(EVENTS_KEY, ev, MAX_EVENTS)

    def events(self, after_seq: int = 0) -> list[dict[str, Any]]:
        """Events with ``seq`` greater than ``after_seq``, oldest first."""
        return [e for e in self.cache.items(EVENTS_KEY) if e["seq"] > after_seq]

    def control(self) -> Control:
        """The operators' current request."""
        doc = self.cache.get(CONTROL_KEY)
        return Control(**doc) if doc else Control()

    def set_control(self, control: Control) -> None:
        """Record an operator's request."""
        self.cache.put(CONTROL_KEY, control.__dict__)
