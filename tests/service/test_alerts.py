"""Alerts reach Slack and e-mail (loopback fakes), once per event, within a budget, whatever fails."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fakes.webhook_server import FakeWebhook
from sqlalchemy import Engine

from tftrade.core.clock import SimulatedClock
from tftrade.core.config import AlertSettings
from tftrade.service.alerts import Alert, Alerter, EmailSink, RedisAlertGate, SlackSink, sinks_from_settings
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictionBook
from tftrade.service.watcher import Watcher
from tftrade.stream.cache import InMemoryCache, RedisCache
from tftrade.stream.desk import Desk

from .conftest import redis_client


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


# -- several processes on one desk (real Redis, a unique key prefix per test: the `prefix` fixture) ------------

def _process(prefix: str, sinks: list[Any], clock: SimulatedClock, *, max_per_hour: int = 30,
             name: str | None = None) -> tuple[Watcher, Metrics]:
    """What one ``tftrade serve`` process builds with Redis configured: its own clients, desk view and alerter."""
    desk = Desk(RedisCache(client=redis_client(), prefix=f"{prefix}:cache"), clock)
    metrics = Metrics()
    alerter = Alerter(sinks, min_interval_s=60, max_per_hour=max_per_hour,
                      shared=RedisAlertGate(client=redis_client(), prefix=f"{prefix}:alerts", name=name))
    return Watcher(desk, PredictionBook(InMemoryCache()), metrics, alerter, clock, lambda _e: None,
                   feed_stale_s=120), metrics


def _outcomes(metrics: Metrics, type_: str) -> dict[str, float]:
    return {o: metrics.alerts.labels(type=type_, outcome=o)._value.get() for o in ("sent", "duplicate", "rate_limited")}


def test_two_api_processes_on_one_desk_send_each_alert_once(prefix: str, smtp: tuple[_Inbox, int],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    inbox, port = smtp
    caplog.set_level(logging.INFO, logger="tftrade.service.alerts")
    with FakeWebhook() as hook:
        sinks = [SlackSink(hook.url), EmailSink(_email(port))]
        a, metrics_a = _process(prefix, sinks, SimulatedClock(0))
        b, metrics_b = _process(prefix, sinks, SimulatedClock(0))
        a.desk.event("kill_switch", "kill switch on: bad fills", key="ops")
        a.poll()
        b.poll()
        assert hook.received == [{"text": "[tftrade critical] kill switch on: bad fills"}] and len(inbox.messages) == 1
        assert _outcomes(metrics_a, "kill_switch") == {"sent": 1, "duplicate": 0, "rate_limited": 0}
        assert _outcomes(metrics_b, "kill_switch") == {"sent": 0, "duplicate": 1, "rate_limited": 0}
        assert b.alerter.suppressed == 1
        assert any("suppressed (duplicate, already sent by" in r.getMessage() for r in caplog.records)

        # each process sees the feed go quiet on its own clock (a second apart: not the same text) and puts
        # its own feed_down on the desk; the desk is alerted once
        feed = {"connected": {"massive": True}, "last_bar_ns": 0}
        a.desk.publish("feed", feed)
        a.poll()
        b.poll()
        a.clock.advance_to(200 * 10**9)  # type: ignore[attr-defined]
        b.clock.advance_to(201 * 10**9)  # type: ignore[attr-defined]
        for _ in range(2):
            a.poll()
            b.poll()
        assert [e["type"] for e in a.desk.events()].count("feed_down") == 2
        assert sum("no bar for" in m["text"] for m in hook.received) == 1 and len(inbox.messages) == 2
        sent = _outcomes(metrics_a, "feed_down")["sent"] + _outcomes(metrics_b, "feed_down")["sent"]
        dup = _outcomes(metrics_a, "feed_down")["duplicate"] + _outcomes(metrics_b, "feed_down")["duplicate"]
        assert (sent, dup) == (1, 3)  # each process saw both events


def test_racing_processes_deliver_each_alert_exactly_once(prefix: str) -> None:
    with FakeWebhook() as hook:
        gates = [RedisAlertGate(client=redis_client(), prefix=prefix) for _ in range(2)]
        alerters = [Alerter([SlackSink(hook.url)], min_interval_s=60, shared=g, max_per_hour=1000) for g in gates]
        rounds, start = 25, threading.Barrier(2)
        results: list[list[str | None]] = [[], []]

        def run(i: int) -> None:
            for k in range(rounds):
                start.wait()
                results[i].append(alerters[i].send(Alert("order_rejected", f"o{k} rejected", key=f"o{k}")).suppressed)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(m["text"] for m in hook.received) == sorted(f"[tftrade critical] o{k} rejected"
                                                                  for k in range(rounds))
        assert all(sorted(map(str, pair)) == ["None", "duplicate"] for pair in zip(*results, strict=True))


def test_the_hourly_budget_is_shared_by_the_processes(prefix: str) -> None:
    with FakeWebhook() as hook:
        a, b = (Alerter([SlackSink(hook.url)], min_interval_s=60, max_per_hour=3,
                        shared=RedisAlertGate(client=redis_client(), prefix=prefix)) for _ in range(2))
        got = [(a if k % 2 else b).send(Alert("order_rejected", f"o{k}", key=f"o{k}")).suppressed for k in range(6)]
    assert got == [None, None, None, "rate_limited", "rate_limited", "rate_limited"] and len(hook.received) == 3


def test_with_redis_down_at_send_time_the_alert_still_goes_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tftrade.service.alerts")
    with FakeWebhook() as hook:
        clock = SimulatedClock(0)
        metrics = Metrics()
        alerter = Alerter([SlackSink(hook.url)], min_interval_s=60,
                          shared=RedisAlertGate("redis://127.0.0.1:1/0", socket_timeout=0.5))
        w = Watcher(Desk(InMemoryCache(), clock), PredictionBook(InMemoryCache()), metrics, alerter, clock,
                    lambda _e: None)
        w.alert("drawdown_breaker", "drawdown 12 %")
        assert [m["text"] for m in hook.received] == ["[tftrade critical] drawdown 12 %"]
        w.alert("drawdown_breaker", "drawdown 12 %")  # this process still remembers what it sent
        assert len(hook.received) == 1
    assert metrics.alert_gate_errors._value.get() == 2 and alerter.gate_errors == 2
    assert _outcomes(metrics, "drawdown_breaker") == {"sent": 1, "duplicate": 1, "rate_limited": 0}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and all("did not answer" in m and "fail open" in m for m in warned)
    assert "and sent (fail open" in warned[0]


def test_serve_with_redis_configured_decides_alerts_with_the_desk(sqlite_engine: Engine) -> None:
    from tftrade.core.config import ServiceSettings, Settings
    from tftrade.service.build import build_context

    redis_client()  # fails in CI, skips elsewhere, when the test Redis is absent
    slack = AlertSettings(slack_webhook_url="http://127.0.0.1:9/hook")
    for alerts, shared in ((slack, True), (AlertSettings(), False)):  # no channel: it claims nothing for the desk
        ctx = build_context(Settings(redis_url="redis://127.0.0.1:6379/0", service=ServiceSettings(alerts=alerts)),
                            sqlite_engine, with_model=False)
        try:
            assert isinstance(ctx.alerter.shared, RedisAlertGate) is shared
        finally:
            if ctx.bus is not None:
                ctx.bus.close()
    alone = build_context(Settings(service=ServiceSettings(alerts=slack)), sqlite_engine, with_model=False)
    assert alone.alerter.shared is None


# -- an alert counts as sent only when a channel delivered it ---------------------------------------------------

def _closed_port() -> int:
    import socket

    with socket.socket() as probe:  # bound then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_when_every_channel_fails_the_next_process_sends_the_alert(prefix: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tftrade.service.alerts")
    with FakeWebhook() as down, FakeWebhook() as up:
        down.fail_with = 500
        # A's channels are both down (Slack 500, SMTP refused), B's Slack works; one alert an hour for the desk
        a, metrics_a = _process(prefix, [SlackSink(down.url), EmailSink(_email(_closed_port()))], SimulatedClock(0),
                                max_per_hour=1, name="proc-a")
        b, metrics_b = _process(prefix, [SlackSink(up.url)], SimulatedClock(0), max_per_hour=1, name="proc-b")
        a.desk.event("kill_switch", "kill switch on: bad fills", key="ops")
        a.poll()
        assert metrics_a.alerts.labels(type="kill_switch", outcome="failed")._value.get() == 1
        failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(failed) == 1 and failed[0].startswith("alert kill_switch delivered by no channel (slack: ")
        assert "500" in failed[0] and "email: ConnectionRefusedError" in failed[0] and "released" in failed[0]
        assert redis_client().zcard(f"{prefix}:alerts:window") == 0  # the budget slot it took is returned

        b.poll()  # the other process, on the same desk event: not a duplicate, not over the budget
        assert up.received == [{"text": "[tftrade critical] kill switch on: bad fills"}]
        assert _outcomes(metrics_b, "kill_switch") == {"sent": 1, "duplicate": 0, "rate_limited": 0}
        a.alert("kill_switch", "kill switch on: bad fills", key="ops")  # B has sent it now: A suppresses it
        assert _outcomes(metrics_a, "kill_switch") == {"sent": 0, "duplicate": 1, "rate_limited": 0}
        assert a.alerter.send(Alert("kill_switch", "kill switch on: bad fills", key="ops")).by == "proc-b"


def test_a_claim_redis_cannot_release_is_reported_and_lapses_with_the_interval(
        prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="tftrade.service.alerts")
    client = redis_client()

    class RedisGoesAway:
        """A sink that fails after cutting its process off from Redis (between the claim and its release)."""

        name = "slack"

        def send(self, _alert: Alert) -> None:
            client.connection_pool.connection_kwargs["port"] = _closed_port()
            client.connection_pool.disconnect()
            client.connection_pool.reset()
            raise OSError("slack webhook answered 500")

    a = Alerter([RedisGoesAway()], min_interval_s=60, shared=RedisAlertGate(client=client, prefix=prefix))
    out = a.send(Alert("drawdown_breaker", "drawdown 12 %"))
    assert out.failed and not out.released
    (message,) = [r.getMessage() for r in caplog.records]
    assert "could not be released (Redis: ConnectionError" in message and "expires (within 60 s)" in message
    with FakeWebhook() as hook:
        b = Alerter([SlackSink(hook.url)], min_interval_s=60,
                    shared=RedisAlertGate(client=redis_client(), prefix=prefix))
        assert b.send(Alert("drawdown_breaker", "drawdown 12 %")).suppressed == "duplicate" and not hook.received


def test_a_process_without_channels_claims_nothing_for_the_desk(prefix: str) -> None:
    quiet = Alerter([], min_interval_s=60, shared=RedisAlertGate(client=redis_client(), prefix=prefix, name="quiet"))
    assert quiet.shared is None
    assert quiet.send(Alert("drawdown_breaker", "drawdown 12 %")).sent == []
    with FakeWebhook() as hook:
        loud = Alerter([SlackSink(hook.url)], min_interval_s=60,
                       shared=RedisAlertGate(client=redis_client(), prefix=prefix, name="loud"))
        out = loud.send(Alert("drawdown_breaker", "drawdown 12 %"))
    assert out.suppressed is None and out.sent == ["slack"] and len(hook.received) == 1


def test_the_same_process_sends_it_on_the_next_attempt_once_a_channel_is_back(prefix: str) -> None:
    with FakeWebhook() as hook:
        hook.fail_with = 503
        alerter = Alerter([SlackSink(hook.url)], min_interval_s=60, max_per_hour=1,
                          shared=RedisAlertGate(client=redis_client(), prefix=prefix))
        first = alerter.send(Alert("drawdown_breaker", "drawdown 12 %"))
        assert first.sent == [] and "503" in first.failed["slack"] and first.released
        hook.fail_with = None
        second = alerter.send(Alert("drawdown_breaker", "drawdown 12 %"))
        assert second.suppressed is None and second.sent == ["slack"] and not second.released
        assert alerter.send(Alert("drawdown_breaker", "drawdown 12 %")).suppressed == "duplicate"
        assert len(hook.received) == 1


def test_one_channel_delivering_is_a_send_for_every_process(prefix: str, smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    with FakeWebhook() as down, FakeWebhook() as up:
        down.fail_with = 500
        a = Alerter([SlackSink(down.url), EmailSink(_email(port))], min_interval_s=60,
                    shared=RedisAlertGate(client=redis_client(), prefix=prefix, name="proc-a"))
        b = Alerter([SlackSink(up.url)], min_interval_s=60,
                    shared=RedisAlertGate(client=redis_client(), prefix=prefix, name="proc-b"))
        out = a.send(Alert("kill_switch", "kill switch on"))
        assert out.sent == ["email"] and "500" in out.failed["slack"] and not out.released
        again = b.send(Alert("kill_switch", "kill switch on"))
        assert (again.suppressed, again.by) == ("duplicate", "proc-a") and up.received == []
    assert len(inbox.messages) == 1


def test_in_one_process_an_alert_no_channel_delivered_is_not_remembered(smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    with FakeWebhook() as hook:
        hook.fail_with = 500
        t = [0.0]
        metrics = Metrics()
        alerter = Alerter([SlackSink(hook.url)], min_interval_s=60, max_per_hour=1, clock=lambda: t[0])
        w = Watcher(Desk(InMemoryCache(), SimulatedClock(0)), PredictionBook(InMemoryCache()), metrics, alerter,
                    SimulatedClock(0), lambda _e: None)
        w.alert("feed_down", "feed down", key="feed")
        hook.fail_with = None
        t[0] = 1.0
        w.alert("feed_down", "feed down", key="feed")  # not a duplicate, and the failed try took no budget
        assert [m["text"] for m in hook.received] == ["[tftrade critical] feed down"]
        w.alert("feed_down", "feed down", key="feed")
        assert metrics.alerts.labels(type="feed_down", outcome="failed")._value.get() == 1
        assert _outcomes(metrics, "feed_down") == {"sent": 1, "duplicate": 1, "rate_limited": 0}

        # partial: e-mail delivered, Slack failed: sent, so suppressed next time
        hook.fail_with = 500
        partial = Alerter([SlackSink(hook.url), EmailSink(_email(port))], min_interval_s=60, clock=lambda: t[0])
        assert partial.send(Alert("kill_switch", "kill switch on")).sent == ["email"]
        assert partial.send(Alert("kill_switch", "kill switch on")).suppressed == "duplicate"
    assert len(inbox.messages) == 1


def test_with_redis_down_an_alert_no_channel_delivered_goes_out_next_time() -> None:
    with FakeWebhook() as hook:
        hook.fail_with = 500
        alerter = Alerter([SlackSink(hook.url)], min_interval_s=60,
                          shared=RedisAlertGate("redis://127.0.0.1:1/0", socket_timeout=0.5))
        assert alerter.send(Alert("drawdown_breaker", "drawdown 12 %")).failed
        hook.fail_with = None
        assert alerter.send(Alert("drawdown_breaker", "drawdown 12 %")).sent == ["slack"]


def test_a_release_frees_only_its_own_claim_and_a_claim_expires(prefix: str) -> None:
    r = redis_client()
    a = RedisAlertGate(client=redis_client(), prefix=prefix, name="proc-a")
    b = RedisAlertGate(client=redis_client(), prefix=prefix, name="proc-b")
    alert = Alert("order_rejected", "o1 rejected", key="o1")
    first = a.admit(alert, 60, 10)
    assert first.reason is None and first.claim is not None
    (key,) = r.keys(f"{prefix}:dedupe:*")
    assert 0 < r.pttl(key) <= 60_000  # a process killed before it sends: the claim lapses after the interval
    r.delete(key)  # as if A's claim had expired while A was still sending, and B then claimed the alert
    second = b.admit(alert, 60, 10)
    assert second.reason is None and second.claim is not None
    assert a.release(first.claim) is True
    assert b.admit(alert, 60, 10).reason == "duplicate"  # A's late release left B's claim alone
    assert r.zcard(f"{prefix}:window") == 1  # only A's slot was returned
