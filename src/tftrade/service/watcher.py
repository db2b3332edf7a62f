"""What the service watches while it runs: the desk's documents and events, the bus, the feed and the model.

Every change becomes a dashboard event; significant ones become alerts; numbers become
metrics. :meth:`Watcher.poll` does one round (tests call it directly); :meth:`Watcher.consume_bus`
reads the bus on a thread of its own.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from tftrade.core.clock import Clock
from tftrade.service.alerts import Alert, Alerter
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictionBook
from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.desk import DESK_KINDS, Desk
from tftrade.stream.messages import BarMessage, FillMessage, OrderMessage, PredictionMessage
from tftrade.stream.topics import Topic

log = logging.getLogger(__name__)
Publish = Callable[[dict[str, Any]], None]
ALERTED = {"kill_switch", "drawdown_breaker", "reconciliation_mismatch", "order_rejected", "model_promoted",
           "model_not_followed", "feed_down"}
BUS_TOPICS: tuple[Topic, ...] = ("market_data", "predictions", "orders", "fills")


class Watcher:
    """Turn desk state, bus traffic and the feed's age into events, alerts and metrics."""

    def __init__(self, desk: Desk, book: PredictionBook, metrics: Metrics, alerter: Alerter, clock: Clock,
                 publish: Publish, *, feed_stale_s: float = 180.0,
                 in_session: Callable[[int], bool] = lambda _ns: True) -> None:
        self.desk, self.book, self.metrics, self.alerter = desk, book, metrics, alerter
        self.clock, self.publish = clock, publish
        self.feed_stale_ns = int(feed_stale_s * 1e9)
        self.in_session = in_session
        self._seen: dict[str, int] = {}
        self._event_seq = max((e["seq"] for e in desk.events()), default=0)
        self.last_bar_ns: int | None = None
        self.feed_down = False

    # -- one polling round ---------------------------------------------------------------
    def poll(self) -> None:
        """Publish changed desk documents and new desk events; check the feed."""
        for kind in DESK_KINDS:
            doc = self.desk.read(kind)
            if doc is not None and doc["seq"] != self._seen.get(kind):
                self._seen[kind] = doc["seq"]
                self._observe(kind, doc["data"])
                self.publish({"type": "desk", "kind": kind, "doc": doc})
        for ev in self.desk.events(self._event_seq):
            self._event_seq = ev["seq"]
            self.publish({"type": "event", "event": ev})
            if ev["type"] in ALERTED:
                self.alert(ev["type"], ev["message"], key=str(ev.get("detail", {}).get("key", "")))
        self.check_feed()

    def _observe(self, kind: str, data: Any) -> None:
        if kind == "pnl" and isinstance(data, dict):
            if data.get("equity") is not None:
                self.metrics.equity.set(float(data["equity"]))
            if data.get("drawdown") is not None:
                self.metrics.drawdown.set(float(data["drawdown"]))
        if kind == "feed" and isinstance(data, dict):
            for feed, up in (data.get("connected") or {}).items():
                self.metrics.feed_connected.labels(feed=feed).set(1.0 if up else 0.0)
            if data.get("last_bar_ns") is not None:
                self.last_bar_ns = max(self.last_bar_ns or 0, int(data["last_bar_ns"]))

    def check_feed(self) -> None:
        """Alert once when the newest bar is older than the threshold during a session; announce recovery."""
        now = self.clock.now_ns()
        if self.last_bar_ns is None:
            return
        age = now - self.last_bar_ns
        self.metrics.feed_age.set(age / 1e9)
        stale = age > self.feed_stale_ns and self.in_session(now)
        if stale and not self.feed_down:
            self.feed_down = True
            # one key whatever the age in the text: two API processes watching one desk alert it once
            self.desk.event("feed_down", f"no bar for {age / 1e9:.0f} s during the session", key="feed")
        elif not stale and self.feed_down:
            self.feed_down = False
            self.desk.event("feed_restored", "bars are arriving again")

    def model_served(self, version: str, selection: str | None, *, initial: bool) -> None:
        """Record that the service now serves ``version`` (``selection``: as the ``champion`` or the ``newest``).

        A champion served after start (``initial``: the model loaded at start, which a restart
        loads again) is a ``model_promoted`` event, hence an alert, once: not when the desk's last
        promotion already names it (another API process on the same desk announced it).
        """
        self.metrics.model.info({"version": version, "selection": selection or ""})
        if initial or selection != "champion" or self._last_promoted() == version:
            return
        self.desk.event("model_promoted", f"model version {version} is now the champion served", key=version)

    def _last_promoted(self) -> str | None:
        promoted = [e for e in self.desk.events() if e["type"] == "model_promoted"]
        return str(promoted[-1].get("detail", {}).get("key")) if promoted else None

    def alert(self, type_: str, message: str, key: str = "") -> None:
        """Send an alert and count its outcome."""
        outcome = self.alerter.send(Alert(type=type_, title=message, key=key or message))
        label = outcome.suppressed or ("sent" if outcome.sent or not outcome.failed else "failed")
        self.metrics.alerts.labels(type=type_, outcome=label).inc()
        if outcome.gate == "local_fallback":
            self.metrics.alert_gate_errors.inc()

    # -- the bus -------------------------------------------------------------------------
    def handle(self, delivery: Delivery) -> dict[str, Any] | None:
        """Account for one bus message; return the dashboard event it makes (``None`` for bars)."""
        m = delivery.message
        if isinstance(m, BarMessage):
            self.metrics.bars_ingested.labels(source=m.source or "bus").inc()
            self.last_bar_ns = max(self.last_bar_ns or 0, self.clock.now_ns())
            return None
        if isinstance(m, PredictionMessage):
            if m.horizon == 0:  # "no forecast at this bar" (warm-up, rejected inputs): nothing to serve or show
                return None
            self.book.update([{f: getattr(m, f) for f in m.__struct_fields__}])
            if m.latency_ns is not None:
                self.metrics.prediction_latency.observe(m.latency_ns / 1e9)
            return {"type": "prediction", "ticker": m.ticker, "horizon": m.horizon, "q50": m.q50,
                    "confidence": m.confidence_score}
        if isinstance(m, OrderMessage):
            self.metrics.orders.labels(status="submitted").inc()
            return {"type": "order", "client_order_id": m.client_order_id, "ticker": m.ticker,
                    "quantity": m.quantity, "rationale": m.rationale}
        if isinstance(m, FillMessage):
            self.metrics.fills.inc()
            return {"type": "fill", "client_order_id": m.client_order_id, "ticker": m.ticker,
                    "quantity": m.quantity, "price": m.price}
        return None

    def consume_bus(self, bus: Bus, stop: threading.Event, publish: Publish | None = None,
                    subscribed: threading.Event | None = None) -> None:
        """Read the bus until ``stop`` is set: every message is accounted, then acknowledged.

        The service follows new messages only (its group starts at the end); ``subscribed`` is set once it does.
        """
        group, consumer = f"service-{uuid.uuid4().hex[:8]}", "api"
        for topic in BUS_TOPICS:
            bus.subscribe(topic, group, consumer, from_start=False)
        if subscribed is not None:
            subscribed.set()
        while not stop.is_set():
            for topic in BUS_TOPICS:
                try:
                    batch = bus.read(topic, group, consumer, count=512, block_ms=50)
                except Exception as e:  # a bus outage is reported, the service keeps serving
                    log.warning("bus read on %s failed: %s", topic, e)
                    stop.wait(1.0)
                    continue
                for d in batch:
                    event = self.handle(d)
                    if event is not None:
                        (publish or self.publish)(event)
                if batch:
                    bus.ack(topic, group, [d.id for d in batch])
                self.metrics.bus_lag.labels(topic=topic).set(bus.pending(topic, group))
