"""The sentiment worker: ``social_data`` → ticker extraction → scoring → store → aggregates per window.

It runs the batch path's code on each batch of comments from the bus: the comment importer
(:func:`~tftrade.data.comments.ingest_comments`: validation, quarantine, idempotent on the
comment id), the same :func:`~tftrade.sentiment.pipeline.annotator` (extractor + scorer), then
re-aggregates the windows the batch touched from everything stored for them (noise-weighted
like ``tftrade sentiment aggregate``) and upserts them. Replaying or redelivering a batch
therefore changes nothing.

The windows follow the run's timeframe (``SentimentWorkerConfig.timeframe``): always the
``1min`` windows, and for daily bars also the ``1h`` windows they read
(:func:`~tftrade.features.bar_sentiment.bar_window`, the rule of training and ``tftrade backtest``),
so the predict worker of a daily run finds the day's comments where batch would.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, select

from tftrade.core.types import Timeframe
from tftrade.data.comments import Annotate, RawRecord, ingest_comments
from tftrade.features.bar_sentiment import bar_window
from tftrade.sentiment.aggregate import aggregate, window_start, write_aggregates
from tftrade.sentiment.pipeline import with_noise_weights
from tftrade.store.runs import quarantine_rows
from tftrade.store.schema import reddit_comment_texts, reddit_comments
from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.consumer import ConsumerStats, WorkerSettings, run_consumer
from tftrade.stream.messages import CommentMessage, MalformedFrame

log = logging.getLogger(__name__)
_SOURCE = "bus:social_data"


@dataclass
class SentimentCounters:
    """What the worker has done since it started."""

    messages: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    mentions: int = 0
    aggregate_rows: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class SentimentWorkerConfig(WorkerSettings):
    """Consumer group and batch settings of the sentiment worker."""

    group: str = "sentiment"
    consumer: str = "sentiment-1"
    timeframe: Timeframe = "1min"
    """The run's bars: which aggregate windows to keep up to date (:meth:`windows`)."""

    def windows(self) -> tuple[str, ...]:
        """``1min`` (what the desk and intraday bars read), and the window the run's bars read if another."""
        return tuple(dict.fromkeys(("1min", bar_window(self.timeframe))))


class SentimentWorker:
    """Consume ``social_data`` into the store and the sentiment aggregates (see the module docstring).

    Parameters
    ----------
    bus, engine
        The bus to read and the migrated database to write.
    annotate
        Texts → (tickers, scores), e.g. ``annotator(extractor_from_store(engine), make_scorer("lexicon"))``.
    """

    def __init__(self, bus: Bus, engine: Engine, annotate: Annotate,
                 config: SentimentWorkerConfig | None = None) -> None:
        self.bus = bus
        self.engine = engine
        self.annotate = annotate
        self.config = config or SentimentWorkerConfig()
        self.counters = SentimentCounters()
        self.consumer_stats = ConsumerStats()
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> ConsumerStats:
        """Consume until ``stop`` is set."""
        cfg = self.config
        return run_consumer(self.bus, cfg.on("social_data"), self.handle, stop, stats=self.consumer_stats,
                            dead_letter=self.dead_letter)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Quarantine a message the handler fails on every time (so it does not stall the topic)."""
        row = pd.DataFrame({"row_number": [None], "raw": [delivery.raw.decode("utf-8", "replace")],
                            "reason": [reason[:2000]]})
        with self.engine.begin() as conn:
            quarantine_rows(conn, _SOURCE, row)

    def handle(self, batch: list[Delivery]) -> None:
        """Store one batch of comments and refresh the aggregates of the minutes it touched."""
        records = [_record(d) for d in batch]
        report = ingest_comments(self.engine, records, _SOURCE, self.annotate, kind="reddit")
        ids = [d.message.id for d in batch if isinstance(d.message, CommentMessage)]
        written = self._reaggregate(ids)
        with self._lock:
            c = self.counters
            c.batches += 1
            c.messages += len(batch)
            c.inserted += report.inserted
            c.duplicates += report.duplicates
            c.quarantined += report.quarantined
            c.mentions += report.mentions
            c.aggregate_rows += written
        if report.quarantined:
            log.warning("quarantined %d social_data messages: %s", report.quarantined, report.reasons)

    def _reaggregate(self, comment_ids: list[str]) -> int:
        if not comment_ids:
            return 0
        m = reddit_comments
        with self.engine.connect() as conn:
            touched = pd.DataFrame(conn.execute(
                select(m.c.ticker, m.c.timestamp).where(m.c.comment_id.in_(comment_ids))).all(),
                columns=["ticker", "timestamp"])
        if touched.empty:
            return 0
        touched["timestamp"] = pd.to_datetime(touched["timestamp"], utc=True)
        return sum(self._window(touched, window) for window in self.config.windows())

    def _window(self, touched: pd.DataFrame, window: str) -> int:
        """Re-aggregate the ``window`` windows holding ``touched`` mentions from everything stored in them."""
        m, t = reddit_comments, reddit_comment_texts
        starts = window_start(touched["timestamp"], window)
        lo, hi = starts.min(), starts.max() + pd.Timedelta(window)
        q = (select(m.c.comment_id, m.c.ticker, m.c.timestamp, m.c.sentiment_score, m.c.upvotes, t.c.body, t.c.author)
             .join(t, t.c.comment_id == m.c.comment_id)
             .where(m.c.ticker.in_(sorted(set(touched["ticker"]))),
                    m.c.timestamp >= lo.to_pydatetime(), m.c.timestamp < hi.to_pydatetime()))
        with self.engine.connect() as conn:
            mentions = pd.DataFrame(conn.execute(q).all(), columns=["comment_id", "ticker", "timestamp",
                                                                    "sentiment_score", "upvotes", "body", "author"])
        mentions["sentiment_score"] = mentions["sentiment_score"].astype(float)
        mentions["timestamp"] = pd.to_datetime(mentions["timestamp"], utc=True)
        weighted, _ = with_noise_weights(mentions)
        result = aggregate(weighted, window, fill_empty=False)
        return write_aggregates(self.engine, result.frame)


def _record(d: Delivery) -> RawRecord:
    raw = d.raw.decode("utf-8", "replace")
    m = d.message
    if isinstance(m, CommentMessage):
        created = datetime.fromtimestamp(m.created_utc, UTC).isoformat()  # µs: no sub-µs float noise
        fields = {"id": m.id, "body": m.body, "created_utc": created, "author": m.author,
                  "subreddit": m.subreddit, "link_id": m.link_id, "score": m.score}
        return RawRecord(0, raw, fields)
    if isinstance(m, MalformedFrame):
        return RawRecord(0, m.raw, None, f"{m.source}: {m.reason}")
    if m is None:
        return RawRecord(0, raw, None, f"undecodable bus message: {d.error}")
    return RawRecord(0, raw, None, f"unexpected {type(m).__name__} on social_data")
