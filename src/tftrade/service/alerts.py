"""Alerts on significant events: Slack (incoming webhook) and e-mail (SMTP), deduplicated and rate-limited.

An :class:`Alerter` sends each alert to every configured sink, drops an alert identical to
one sent within ``min_interval_s`` (same type and key), and sends at most ``max_per_hour``
per hour; what it drops is counted and logged, never silently lost. A sink that fails is
reported (logged and counted) and does not stop the others. An alert counts as sent only when at
least one sink delivered it: when every sink fails, the gate's claim on it (its dedupe key and its
slot in the hourly budget) is given back, so the next occurrence of the alert, in this process or
another, sends it. Nothing retries by itself (no retry storm while a channel is down): the next
occurrence is the next desk event or check that raises it.

Which alerts go out is decided by a gate. Without Redis it is this process's memory. With Redis
(:class:`RedisAlertGate`, what ``tftrade serve`` and ``tftrade live`` use when ``redis_url`` is set)
every process of a desk shares it: one atomic script claims the alert's dedupe key (``SET NX PX``)
and a slot in the shared hourly window, so two API processes (or an API and a live runner)
watching the same desk send each alert once. When Redis does not answer at send time the alert
still goes out (fail open), decided by this process's memory, and a warning says so. A claim
expires with its dedupe interval, so a process killed between claiming and sending holds the
alert back for that interval at most (and its budget slot for the hour).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Generic, Protocol, TypeVar

import httpx
import redis

from tftrade.core.config import AlertSettings, scrub
from tftrade.store.runs import process_owner
from tftrade.stream.cache import timed_redis_client

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
    """What happened to one alert: sent to which sinks, failed on which, or suppressed and why.

    ``gate`` says who decided: ``local`` (this process), ``redis`` (shared by the desk's processes) or
    ``local_fallback`` (Redis did not answer: decided here and sent, fail open); ``by`` names the
    process that already sent a ``duplicate`` when the shared gate knows it.
    """

    alert: Alert
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    suppressed: str | None = None
    gate: str = "local"
    by: str | None = None
    released: bool = False
    """No sink delivered it and the gate's claim on it was given back (the next occurrence sends it)."""


C = TypeVar("C")


@dataclass(frozen=True)
class Admission(Generic[C]):
    """A gate's verdict: ``reason`` ``None`` (admitted; ``claim`` gives it back) or why it is suppressed.

    ``by`` names the sender of a ``duplicate`` when the gate knows it.
    """

    reason: str | None
    by: str | None = None
    claim: C | None = None


@dataclass(frozen=True)
class LocalClaim:
    """What :meth:`LocalAlertGate.record` changed: the alert's last send time (``at``; ``previous`` before it)."""

    alert: tuple[str, str]
    at: float
    previous: float | None


class LocalAlertGate:
    """This process's memory of what it sent: the last time per (type, key) and the sends of the past hour."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._sent_times: deque[float] = deque()

    def admit(self, alert: Alert, min_interval_s: float, max_per_hour: int) -> Admission[LocalClaim]:
        """Admitted with the send recorded (its claim), or the reason it must be suppressed."""
        now = self._clock()
        last = self._last.get((alert.type, alert.key))
        while self._sent_times and now - self._sent_times[0] >= 3600:
            self._sent_times.popleft()
        if last is not None and now - last < min_interval_s:
            return Admission("duplicate")
        if len(self._sent_times) >= max_per_hour:
            return Admission("rate_limited")
        return Admission(None, claim=self.record(alert))

    def record(self, alert: Alert) -> LocalClaim:
        """Remember ``alert`` as sent now (also what the shared gate decided, for a later Redis outage)."""
        now = self._clock()
        key = (alert.type, alert.key)
        claim = LocalClaim(key, now, self._last.get(key))
        self._last[key] = now
        self._sent_times.append(now)
        return claim

    def release(self, claim: LocalClaim) -> bool:
        """Forget the send ``claim`` recorded (no sink delivered it): its dedupe time and its budget slot."""
        if self._last.get(claim.alert) == claim.at:
            if claim.previous is None:
                del self._last[claim.alert]
            else:
                self._last[claim.alert] = claim.previous
        if claim.at in self._sent_times:  # not when it aged out of the hour meanwhile
            self._sent_times.remove(claim.at)
        return True


# KEYS: the alert's dedupe key, the shared hourly window (a sorted set of send times in ms, Redis' clock).
# ARGV: the claim's token (``<process name> <unique id>``), the dedupe interval (ms; 0: none), the hourly budget.
# One atomic step: a duplicate names its sender; over budget claims nothing; else claim both with the token.
_ADMIT = """
local holder = redis.call('GET', KEYS[1])
if holder then return {'duplicate', holder} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'rate_limited', ''} end
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], 3600000)
return {'ok', ''}
"""

# KEYS as _ADMIT; ARGV: the claim's token. Gives back the claim in one atomic step: the budget slot, and the
# dedupe key only while it still holds this token (it may have expired and been claimed by another process).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class RedisClaim:
    """An alert claimed in Redis: its dedupe key, and the token held there and in the hourly window."""

    key: str
    token: str


class RedisAlertGate:
    """Dedupe and the hourly budget shared by every process of a desk through Redis (module text).

    Keys: ``<prefix>:dedupe:<type>:<sha1 of key>`` (holds the sender's name and a claim id, expires
    after the interval) and ``<prefix>:window`` (the past hour's sends, one member per claim).
    """

    def __init__(self, url: str | None = None, *, client: redis.Redis | None = None, prefix: str = "tftrade:alerts",
                 socket_timeout: float = 1.0, name: str | None = None) -> None:
        self._r = timed_redis_client(url, client, socket_timeout=socket_timeout, who="RedisAlertGate")
        self._prefix = prefix
        self.name = name or process_owner()  # host:pid:start names the sender

    def admit(self, alert: Alert, min_interval_s: float, max_per_hour: int) -> Admission[RedisClaim]:
        """As :meth:`LocalAlertGate.admit`, for the whole desk; raises :class:`redis.RedisError` when Redis fails."""
        digest = hashlib.sha1(alert.key.encode(), usedforsecurity=False).hexdigest()
        claim = RedisClaim(f"{self._prefix}:dedupe:{alert.type}:{digest}", f"{self.name} {uuid.uuid4().hex}")
        verdict, holder = self._r.eval(_ADMIT, 2, claim.key, f"{self._prefix}:window", claim.token,
                                       str(int(min_interval_s * 1000)), str(max_per_hour))
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        holder = holder.decode() if isinstance(holder, bytes) else str(holder)
        if verdict == "ok":
            return Admission(None, claim=claim)
        return Admission(verdict, by=holder.rsplit(" ", 1)[0] or None)

    def release(self, claim: RedisClaim) -> bool:
        """Give back ``claim`` (no sink delivered the alert); raises :class:`redis.RedisError` when Redis fails."""
        self._r.eval(_RELEASE, 2, claim.key, f"{self._prefix}:window", claim.token)
        return True


class Alerter:
    """Deduplicate, rate-limit and fan out alerts (see the module text).

    ``shared``: a :class:`RedisAlertGate` to decide with the desk's other processes; ``None``: this process alone.
    """

    def __init__(self, sinks: Sequence[Sink], *, min_interval_s: float = 300.0, max_per_hour: int = 30,
                 clock: Callable[[], float] = time.monotonic,
                 on_outcome: Callable[[AlertOutcome], None] | None = None,
                 shared: RedisAlertGate | None = None) -> None:
        self._sinks = list(sinks)
        self._min_interval = min_interval_s
        self._max_per_hour = max_per_hour
        self._local = LocalAlertGate(clock)
        # without a sink nothing is delivered: claiming in the shared gate would silence the processes that can
        self._shared = shared if self._sinks else None
        self._on_outcome = on_outcome
        self.suppressed = 0
        self.gate_errors = 0

    @property
    def shared(self) -> RedisAlertGate | None:
        """The gate shared with the desk's other processes (``None``: this process decides alone)."""
        return self._shared

    def _admit(self, alert: Alert, outcome: AlertOutcome) -> tuple[str | None, Callable[[], bool]]:
        """Why ``alert`` is suppressed (``None``: admitted), and how to give its claim back."""
        local = self._local
        if self._shared is not None:
            shared = self._shared
            try:
                verdict = shared.admit(alert, self._min_interval, self._max_per_hour)
            except (redis.RedisError, OSError) as e:
                self.gate_errors += 1
                outcome.gate = "local_fallback"
                fallback = local.admit(alert, self._min_interval, self._max_per_hour)
                log.warning("alert %s: the shared dedupe store (Redis) did not answer (%s); decided in this process "
                            "and %s (fail open: other processes may send it too)", alert.type,
                            f"{type(e).__name__}: {e}",
                            "suppressed as " + fallback.reason if fallback.reason else "sent")
                return fallback.reason, lambda: fallback.claim is None or local.release(fallback.claim)
            outcome.gate, outcome.by = "redis", verdict.by
            if verdict.reason is not None or verdict.claim is None:
                return verdict.reason, lambda: True
            mine, theirs = local.record(alert), verdict.claim

            def release_both() -> bool:
                local.release(mine)
                return shared.release(theirs)

            return None, release_both
        decided = local.admit(alert, self._min_interval, self._max_per_hour)
        return decided.reason, lambda: decided.claim is None or local.release(decided.claim)

    def send(self, alert: Alert) -> AlertOutcome:
        """Send ``alert`` unless it is a duplicate or over budget; its claim is given back if no sink delivered it."""
        outcome = AlertOutcome(alert)
        outcome.suppressed, release = self._admit(alert, outcome)
        if outcome.suppressed is None:
            for sink in self._sinks:
                try:
                    sink.send(alert)
                    outcome.sent.append(sink.name)
                except Exception as e:  # one failing sink must not stop the others
                    outcome.failed[sink.name] = f"{type(e).__name__}: {e}"
                    log.warning("alert %s not delivered to %s: %s", alert.type, sink.name, outcome.failed[sink.name])
            if outcome.failed and not outcome.sent:
                self._undelivered(outcome, release)
        else:
            self.suppressed += 1
            log.info("alert %s suppressed (%s%s): %s", alert.type, outcome.suppressed,
                     f", already sent by {outcome.by}" if outcome.by else "", alert.title)
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome

    def _undelivered(self, outcome: AlertOutcome, release: Callable[[], bool]) -> None:
        """No sink delivered ``outcome``'s alert: give its claim back so that its next occurrence is sent."""
        errors = "; ".join(f"{name}: {error}" for name, error in outcome.failed.items())
        try:
            outcome.released = release()
        except (redis.RedisError, OSError) as e:
            log.error("alert %s delivered by no channel (%s); its claim could not be released (Redis: %s), so the "
                      "desk's processes suppress it until it expires (within %g s): %s", outcome.alert.type, errors,
                      f"{type(e).__name__}: {e}", self._min_interval, outcome.alert.title)
            return
        log.error("alert %s delivered by no channel (%s); its claim is released: the next occurrence, from any "
                  "process, sends it: %s", outcome.alert.type, errors, outcome.alert.title)
