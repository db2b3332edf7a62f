"""Live Reddit comments onto ``social_data`` via PRAW's ``subreddit.stream.comments``.

The official client does the wire work: the application-only OAuth token (``client_credentials``
at ``{reddit_url}/api/v1/access_token``), the ``/r/a+b+c/comments`` listings with ``before``
paging, the rate limiter reading ``x-ratelimit-*`` headers and retries of 5xx answers. This
module turns each comment into a :class:`~tftrade.stream.messages.CommentMessage` (Reddit's field
names), publishes them in batches, and sorts failures: a rejected credential stops the source
with :class:`RedditAuthError` (never retried); 429s, 5xx and network errors are counted, logged
and ridden out by the stream's own backoff; a listing that is not JSON is published as a
:class:`~tftrade.stream.messages.MalformedFrame` so the sentiment worker quarantines it. The
sentiment worker then runs the same extraction → scoring → aggregation as the batch import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import praw
from prawcore.exceptions import (
    BadJSON,
    Forbidden,
    InvalidToken,
    OAuthException,
    PrawcoreException,
    ResponseException,
    ServerError,
    TooManyRequests,
)

from tftrade.core.clock import Clock, SystemClock
from tftrade.core.errors import DataError
from tftrade.data.endpoints import VendorEndpoints
from tftrade.stream.bus import Bus
from tftrade.stream.messages import CommentMessage, MalformedFrame, Message

log = logging.getLogger(__name__)
Event = dict[str, Any]


class RedditAuthError(DataError):
    """Reddit rejected the client id/secret; the source stops instead of retrying."""


@dataclass(frozen=True)
class RedditConfig:
    """Behaviour of the live Reddit source."""

    skip_existing: bool = False
    poll_s: float = 2.0
    batch: int = 100
    timeout_s: int = 16


@dataclass
class RedditStats:
    """Counters of one source run; every fault shows here and in the log."""

    comments: int = 0
    malformed: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    other_errors: int = 0
    auth_failures: int = 0
    polls: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def comment_message(comment: Any, received_ns: int) -> CommentMessage:
    """A PRAW ``Comment`` as a bus record (raises ``TypeError``/``ValueError``/``AttributeError`` on bad data)."""
    author = getattr(comment, "author", None)
    subreddit = getattr(comment, "subreddit", None)
    score = getattr(comment, "score", None)
    return CommentMessage(
        id=str(comment.id), body=str(comment.body), created_utc=float(comment.created_utc),
        author=None if author is None else str(author),
        subreddit=None if subreddit is None else str(subreddit),
        link_id=getattr(comment, "link_id", None),
        score=int(score) if isinstance(score, int | float) else None,
        source="reddit", received_ns=received_ns,
    )


class RedditSource:
    """Stream new comments of ``subreddits`` onto ``social_data``.

    Parameters
    ----------
    bus
        Where comments are published.
    endpoints
        OAuth and token URLs, client id/secret, user agent, default subreddits.
    subreddits
        Overrides ``endpoints.subreddits()``.
    on_event
        Called with one dict per event (comment, error, malformed).
    """

    def __init__(self, bus: Bus, endpoints: VendorEndpoints, subreddits: Sequence[str] = (), *,
                 config: RedditConfig | None = None, clock: Clock | None = None,
                 on_event: Callable[[Event], None] | None = None) -> None:
        if endpoints.reddit_client_id is None or endpoints.reddit_client_secret is None:
            raise RedditAuthError("no Reddit credentials: set TFTRADE_VENDORS__REDDIT_CLIENT_ID and "
                                  "TFTRADE_VENDORS__REDDIT_CLIENT_SECRET")
        self.bus = bus
        self.endpoints = endpoints
        self.subreddits = tuple(subreddits) or endpoints.subreddits()
        if not self.subreddits:
            raise DataError("no subreddits to stream")
        self.config = config or RedditConfig()
        self.clock = clock or SystemClock()
        self.stats = RedditStats()
        self._emit = on_event or (lambda e: None)

    def _reddit(self) -> praw.Reddit:
        ep = self.endpoints
        assert ep.reddit_client_id is not None and ep.reddit_client_secret is not None
        return praw.Reddit(client_id=ep.reddit_client_id.get_secret_value(),
                           client_secret=ep.reddit_client_secret.get_secret_value(),
                           user_agent=ep.reddit_user_agent, oauth_url=ep.reddit_oauth_url.rstrip("/"),
                           reddit_url=ep.reddit_url.rstrip("/"), check_for_updates=False, check_for_async=False,
                           timeout=self.config.timeout_s)

    def run(self, stop: threading.Event) -> RedditStats:
        """Stream until ``stop`` is set; return the counters.

        Raises
        ------
        RedditAuthError
            If Reddit rejects the credentials (not retried).
        """
        sub = self._reddit().subreddit("+".join(self.subreddits))
        stream = sub.stream.comments(pause_after=0, skip_existing=self.config.skip_existing,
                                     exception_handler=self._on_error)
        pending: list[Message] = []
        for comment in stream:
            if comment is None:
                self.stats.polls += 1
                self._flush(pending)
                if stop.wait(self.config.poll_s):
                    break
                continue
            pending.append(self._message(comment))
            if len(pending) >= self.config.batch:
                self._flush(pending)
            if stop.is_set():
                break
        self._flush(pending)
        return self.stats

    def _message(self, comment: Any) -> Message:
        now = self.clock.now_ns()
        try:
            msg = comment_message(comment, now)
        except (AttributeError, TypeError, ValueError) as e:
            self.stats.malformed += 1
            raw = str(getattr(comment, "__dict__", comment))[:4000]
            log.warning("unreadable Reddit comment quarantined: %s", e)
            return MalformedFrame("reddit", raw, f"unreadable comment: {e}", now)
        self.stats.comments += 1
        self._emit({"event": "comment", "id": msg.id, "subreddit": msg.subreddit, "author": msg.author,
                    "created_utc": msg.created_utc, "body": msg.body[:200]})
        return msg

    def _flush(self, pending: list[Message]) -> None:
        if pending:
            self.bus.publish_many("social_data", pending)
            pending.clear()

    def _on_error(self, exc: Exception) -> None:
        """PRAW's stream calls this on a failed request; raising ends the stream."""
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, OAuthException | InvalidToken | Forbidden) or status in (401, 403):
            self.stats.auth_failures += 1
            self._emit({"event": "auth_failed", "status": status, "error": str(exc)})
            raise RedditAuthError(f"Reddit rejected the credentials (HTTP {status}: {exc}); not retrying") from None
        if isinstance(exc, BadJSON):
            self.stats.malformed += 1
            text = exc.response.text[:4000]
            self.bus.publish("social_data", MalformedFrame("reddit", text, f"listing is not JSON: {exc}",
                                                           self.clock.now_ns()))
            kind = "malformed"
        elif isinstance(exc, TooManyRequests):
            self.stats.rate_limited += 1
            kind = "rate_limited"
        elif isinstance(exc, ServerError) or (isinstance(exc, ResponseException) and (status or 0) >= 500):
            self.stats.server_errors += 1
            kind = "server_error"
        elif isinstance(exc, PrawcoreException):
            self.stats.other_errors += 1
            kind = "error"
        else:
            raise exc
        headers = getattr(getattr(exc, "response", None), "headers", {}) or {}
        limits = {k: headers[k] for k in ("retry-after", "x-ratelimit-remaining", "x-ratelimit-reset") if k in headers}
        log.warning("Reddit %s (HTTP %s: %s) %s; the stream backs off and retries", kind, status, exc, limits)
        self._emit({"event": kind, "status": status, "error": str(exc), **limits})
