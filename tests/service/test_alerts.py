"""Alerts reach Slack and e-mail (loopback fakes), once per event, within a budget, whatever fails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fakes.webhook_server import FakeWebhook

from tftrade.core.clock import SimulatedClock
from tftrade.core.config import AlertSettings
from tftrade.service.alerts import Alert, Alerter, EmailSink, SlackSink, sinks_from_settings
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictionBook
from tftrade.service.watcher import Watcher
from tftrade.stream.cache import InMemoryCache
from tftrade.stream.desk import Desk


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    import socket

    with socket.socket() as probe:  # aiosmtpd checks its own port after starting: it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _email(port: int) -> AlertSettings:
    return AlertSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                         email_to=("desk@fund.example", "risk@fund.example"), email_from="tftrade@fund.example")


def test_alert_goes_to_slack_and_email(smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    with FakeWebhook() as hook:
        cfg = AlertSettings(**{**_email(port).model_dump(), "slack_webhook_url": hook.url})
        sinks = sinks_from_settings(cfg)
        assert [s.name for s in sinks] == ["slack", "email"]
        out = Alerter(sinks).send(Alert("kill_switch", "kill switch on", "by ops: bad fills"))
        assert out.sent == ["slack", "email"] and not out.failed
        assert hook.received == [{"text": "[tftrade critical] kill switch on\nby ops: bad fills"}]
    (rcpts, msg), = inbox.messages
    assert rcpts == ["desk@fund.example", "risk@fund.example"]
    assert msg["Subject"] == "[tftrade critical] kill switch on" and "bad fills" in msg.get_payload()


def test_duplicates_are_suppressed_and_the_budget_holds() -> None:
    with FakeWebhook() as hook:
        t = [0.0]
        alerter = Alerter([SlackSink(hook.url)], min_interval_s=60, max_per_hour=3, clock=lambda: t[0])
        assert alerter.send(Alert("feed_down", "feed down")).sent == ["slack"]
        assert alerter.send(Alert("feed_down", "feed down")).suppressed == "duplicate"
        t[0] = 61.0
        assert alerter.send(Alert("feed_down", "feed down")).sent == ["slack"]
        assert alerter.send(Alert("order_rejected", "AAPL rejected", key="o1")).sent == ["slack"]
        assert alerter.send(Alert("order_rejected", "MSFT rejected", key="o2")).suppressed == "rate_limited"
        t[0] = 3700.0
        assert alerter.send(Alert("order_rejected", "MSFT rejected", key="o2")).sent == ["slack"]
        assert len(hook.received) == 4 and alerter.suppressed == 2


def test_a_failing_sink_is_reported_and_does_not_stop_the_other(smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    with FakeWebhook() as hook:
        hook.fail_with = 500
        out = Alerter([SlackSink(hook.url), EmailSink(_email(port))]).send(Alert("drawdown_breaker", "drawdown 12 %"))
    assert out.sent == ["email"] and "500" in out.failed["slack"] and len(inbox.messages) == 1
    dead = Alerter([SlackSink("http://127.0.0.1:9/hook-secret-path", timeout=0.5)]).send(Alert("x", "y"))
    assert "unreachable" in dead.failed["slack"] and "hook-secret-path" not in dead.failed["slack"]


def test_desk_events_become_alerts_and_metrics() -> None:
    with FakeWebhook() as hook:
        clock = SimulatedClock(1_000)
        desk = Desk(InMemoryCache(), clock)
        metrics = Metrics()
        published: list[dict[str, Any]] = []
        w = Watcher(desk, PredictionBook(InMemoryCache()), metrics, Alerter([SlackSink(hook.url)]), clock,
                    published.append, feed_stale_s=60)
        desk.event("reconciliation_mismatch", "broker holds 10 AAPL we do not", key="AAPL")
        desk.event("paused", "paused by ops")
        desk.publish("pnl", {"equity": 1_050_000.0, "drawdown": 0.02})
        w.poll()
        assert [m["text"] for m in hook.received] == ["[tftrade critical] broker holds 10 AAPL we do not"]
        assert {e["type"] for e in published} == {"event", "desk"}
        assert metrics.equity._value.get() == 1_050_000.0 and metrics.drawdown._value.get() == 0.02
        w.poll()  # nothing new: nothing sent again
        assert len(hook.received) == 1


def test_feed_down_alerts_once_during_session_and_recovers() -> None:
    with FakeWebhook() as hook:
        clock = SimulatedClock(0)
        desk = Desk(InMemoryCache(), clock)
        in_session = [True]
        w = Watcher(desk, PredictionBook(InMemoryCache()), Metrics(), Alerter([SlackSink(hook.url)]), clock,
                    lambda _e: None, feed_stale_s=120, in_session=lambda _ns: in_session[0])
        desk.publish("feed", {"connected": {"massive": True}, "last_bar_ns": 0})
        w.poll()
        clock.advance_to(100 * 10**9)
        w.poll()
        assert hook.received == []
        clock.advance_to(200 * 10**9)
        w.poll()
        w.poll()
        assert len(hook.received) == 1 and "no bar for 200 s" in hook.received[0]["text"]
        desk.publish("feed", {"connected": {"massive": True}, "last_bar_ns": 200 * 10**9})
        w.poll()
        assert [e["type"] for e in desk.events()] == ["feed_down", "feed_restored"]
        in_session[0] = False  # after the close a quiet feed is not an outage
        clock.advance_to(10_000 * 10**9)
        w.poll()
        assert [e["type"] for e in desk.events()] == ["feed_down", "feed_restored"]
    time.sleep(0)
