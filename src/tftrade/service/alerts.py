"""Alerts on significant events: Slack (incoming webhook) and e-mail (SMTP), deduplicated and rate-limited.

An :class:`Alerter` sends each alert to every configured sink, drops an alert identical to
one sent within ``min_interval_s`` (same type and key), and sends at most ``max_per_hour``
per hour; what it drops is counted, never silently lost. A sink that fails is reported
(logged and counted) and does not stop the others.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import httpx

from tftrade.core.config import AlertSettings, scrub

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One significant event: ``type`` (``kill_switch``, ``drawdown_breaker``, …), ``key`` what makes it distinct."""

    type: str
    title: str
    detail: str = ""
    severity: str = "critical"
    key: str = ""

    def text(self) -> str:
        """The alert as one plain-text message."""
        return f"[tftrade {self.severity}] {self.title}" + (f"\n{self.detail}" if self.detail else "")


class Sink(Protocol):
    """Somewhere an alert is delivered."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; raise on failure."""
        ...


class SlackSink:
    """Posts ``{"text": ...}`` to a Slack incoming webhook."""

    name = "slack"

    def __init__(self, webhook_url: str, *, timeout: float = 5.0) -> None:
        self._url = webhook_url
        self._timeout = timeout

    def send(self, alert: Alert) -> None:
        try:
            r = httpx.post(self._url, json={"text": alert.text()}, timeout=self._timeout)
        except httpx.HTTPError as e:
            raise OSError(f"slack webhook unreachable: {scrub(str(e), [self._url])}") from None
        if r.status_code >= 300:
            raise OSError(f"slack webhook answered {r.status_code}")


class EmailSink:
    """Sends a plain-text e-mail through SMTP (STARTTLS and login when configured)."""

    name = "email"

    def __init__(self, cfg: AlertSettings, *, timeout: float = 10.0) -> None:
        if not cfg.smtp_host or not cfg.email_to:
            raise ValueError("e-mail alerts need service.alerts.smtp_host and email_to")
        self._cfg = cfg
        self._timeout = timeout

    def send(self, alert: Alert) -> None:
        c = self._cfg
        msg = EmailMessage()
        msg["From"], msg["To"] = c.email_from, ", ".join(c.email_to)
        msg["Subject"] = f"[tftrade {alert.severity}] {alert.title}"
        msg.set_content(alert.detail or alert.title)
        assert c.smtp_host is not None
        with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=self._timeout) as smtp:
            if c.smtp_starttls:
                smtp.starttls()
            if c.smtp_user and c.smtp_password is not None:
                smtp.login(c.smtp_user, c.smtp_password.get_secret_value())
            smtp.send_message(msg)


def sinks_from_settings(cfg: AlertSettings) -> list[Sink]:
    """The sinks ``cfg`` configures (none when neither Slack nor SMTP is set)."""
    sinks: list[Sink] = []
    if cfg.slack_webhook_url is not None:
        sinks.append(SlackSink(cfg.slack_webhook_url.get_secret_value()))
    if cfg.smtp_host and cfg.email_to:
        sinks.append(EmailSink(cfg))
    return sinks


@dataclass
class AlertOutcome:
    """What happened to one alert: sent to which sinks, failed on which, or suppressed and why."""

    alert: Alert
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    suppressed: str | None = None


class Alerter:
    """Deduplicate, rate-limit and fan out alerts (see the module text)."""

    def __init__(self, sinks: Sequence[Sink], *, min_interval_s: float = 300.0, max_per_hour: int = 30,
                 clock: Callable[[], float] = time.monotonic,
                 on_outcome: Callable[[AlertOutcome], None] | None = None) -> None:
        self._sinks = list(sinks)
        self._min_interval = min_interval_s
        self._max_per_hour = max_per_hour
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._sent_times: deque[float] = deque()
        self._on_outcome = on_outcome
        self.suppressed = 0

    def send(self, alert: Alert) -> AlertOutcome:
        """Send ``alert`` unless it is a duplicate or over the hourly budget."""
        now = self._clock()
        outcome = AlertOutcome(alert)
        last = self._last.get((alert.type, alert.key))
        while self._sent_times and now - self._sent_times[0] >= 3600:
            self._sent_times.popleft()
        if last is not None and now - last < self._min_interval:
            outcome.suppressed = "duplicate"
        elif len(self._sent_times) >= self._max_per_hour:
            outcome.suppressed = "rate_limited"
        else:
            self._last[(alert.type, alert.key)] = now
            self._sent_times.append(now)
            for sink in self._sinks:
                try:
                    sink.send(alert)
                    outcome.sent.append(sink.name)
                except Exception as e:  # one failing sink must not stop the others
                    outcome.failed[sink.name] = f"{type(e).__name__}: {e}"
                    log.warning("alert %s not delivered to %s: %s", alert.type, sink.name, outcome.failed[sink.name])
        if outcome.suppressed:
            self.suppressed += 1
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome
