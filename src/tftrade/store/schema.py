"""The database schema (SQLAlchemy Core).

The spec's five tables keep their names and columns; the spec's
``stocks_minute_candlesticks_example`` is ``stocks_minute_candlesticks`` with a
``timeframe`` column so daily bars share it. The design adds a securities
master, a quarantine for rejected rows, an ingest-run log and the text of
comments. Alembic migrations in ``tftrade/store/migrations`` create it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from tftrade.store.coltypes import Price, UTCDateTime

metadata: MetaData = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

securities = Table(
    "securities",
    metadata,
    Column("ticker", String(16), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("sector", String(64), nullable=False),
    Column("market_cap", Float, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False, server_default=func.now()),
)

bars = Table(
    "stocks_minute_candlesticks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ticker", String(16), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("open", Price, nullable=False),
    Column("high", Price, nullable=False),
    Column("low", Price, nullable=False),
    Column("close", Price, nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("price_only", Boolean, nullable=False, server_default="0"),
    Column("source", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    UniqueConstraint("ticker", "timeframe", "window_start"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", String(512), nullable=False),
    Column("row_number", Integer, nullable=True),
    Column("raw", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("row_hash", String(64), nullable=False),
    Column("quarantined_at", UTCDateTime, nullable=False, server_default=func.now()),
    UniqueConstraint("source", "row_hash"),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("source", String(512), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("rows_read", Integer, nullable=False, server_default="0"),
    Column("inserted", Integer, nullable=False, server_default="0"),
    Column("duplicates", Integer, nullable=False, server_default="0"),
    Column("quarantined", Integer, nullable=False, server_default="0"),
    Column("report", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("conflicts", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("owner", String(128), nullable=True),
)
"""One row per ingest. ``status``: running, ok, suspect (a large share quarantined, or times that
look shifted), failed, aborted (the process died mid-way; set on the next start). ``owner`` is
``host:pid:process-start`` of the process running it."""

reddit_comments = Table(
    "reddit_comments",
    metadata,
    Column("comment_id", String(255), primary_key=True),
    Column("ticker", String(16), primary_key=True),
    Column("sentiment_score", Numeric(5, 3), nullable=True),
    Column("timestamp", UTCDateTime, nullable=True),
    Column("upvotes", Integer, nullable=True),
    Column("content_length", Integer, nullable=True),
    Index(None, "ticker", "timestamp"),
)
"""One row per (comment, ticker it mentions); the spec keyed by comment alone, which cannot
hold a comment that names two tickers."""

reddit_comment_texts = Table(
    "reddit_comment_texts",
    metadata,
    Column("comment_id", String(255), primary_key=True),
    Column("body", Text, nullable=False),
    Column("author", String(255), nullable=True),
    Column("subreddit", String(255), nullable=True),
    Column("link_id", String(255), nullable=True),
    Column("created_utc", UTCDateTime, nullable=False),
    Column("score", Integer, nullable=True),
    Column("source", String(32), nullable=False, server_default="import"),
)

reddit_sentiment_aggregated = Table(
    "reddit_sentiment_aggregated",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ticker", String(16), nullable=False),
    Column("window", String(8), nullable=False),
    Column("time_window", UTCDateTime, nullable=False),
    Column("bullish_count", Integer, nullable=False),
    Column("bearish_count", Integer, nullable=False),
    Column("neutral_count", Integer, nullable=False),
    Column("total_comments", Integer, nullable=False),
    Column("avg_sentiment", Numeric(5, 3), nullable=True),
    Column("weighted_sentiment", Numeric(5, 3), nullable=True),
    Column("bullish_pct", Numeric(6, 2), nullable=True),
    Column("bearish_pct", Numeric(6, 2), nullable=True),
    Column("neutral_pct", Numeric(6, 2), nullable=True),
    UniqueConstraint("ticker", "window", "time_window"),
)

reddit_sentiment_momentum = Table(
    "reddit_sentiment_momentum",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ticker", String(16), nullable=False),
    Column("window", String(8), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("volume_z", Float, nullable=True),
    Column("ewma_fast", Float, nullable=False),
    Column("ewma_slow", Float, nullable=False),
    Column("crossover", SmallInteger, nullable=False),
    Column("burst", Boolean, nullable=False),
    UniqueConstraint("ticker", "window", "window_start"),
)
"""Sentiment momentum per ticker and window (``tftrade.sentiment.momentum``): volume z-score against the
trailing baseline (NULL until enough history), fast/slow EWMA of the sentiment, crossover (+1/-1/0), burst."""

tft_predictions = Table(
    "tft_predictions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ticker", String(16), nullable=False),
    Column("prediction_time", UTCDateTime, nullable=False, server_default=func.now()),
    Column("current_price", Price, nullable=True),
    Column("predicted_return", Numeric(8, 5), nullable=True),
    Column("confidence_score", Numeric(5, 3), nullable=True),
    Column("model_version", String(50), nullable=True),
    Column("features_hash", String(64), nullable=True),
    Column("timeframe", String(8), nullable=True),
    Column("horizon", Integer, nullable=True),
    Column("as_of", UTCDateTime, nullable=True),
    Column("q10", Numeric(10, 6), nullable=True),
    Column("q50", Numeric(10, 6), nullable=True),
    Column("q90", Numeric(10, 6), nullable=True),
    Column("stale", Boolean, nullable=True),
    Column("bar_age_seconds", Numeric(14, 3), nullable=True),
    Index(None, "ticker", "as_of"),
)

trade_executions = Table(
    "trade_executions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ticker", String(16), nullable=False),
    Column("action", String(10), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", Price, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False, server_default=func.now()),
    Column("order_id", String(255), nullable=True),
    Column("strategy_version", String(50), nullable=True),
    Column("pnl", Numeric(14, 4), nullable=True),
    Column("commission", Numeric(14, 4), nullable=True),
    Column("rationale", Text, nullable=True),
)

from tftrade.store.schema_ingest import bar_corrections, comment_corrections  # noqa: E402  (registers the tables)

__all__ = [
    "bar_corrections",
    "bars",
    "comment_corrections",
    "ingest_runs",
    "metadata",
    "quarantine",
    "reddit_comment_texts",
    "reddit_comments",
    "reddit_sentiment_aggregated",
    "reddit_sentiment_momentum",
    "securities",
    "tft_predictions",
    "trade_executions",
]
