"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24

The spec's tables plus the securities master, quarantine, ingest-run log and comment texts.
On PostgreSQL with TimescaleDB preloaded, the bar table becomes a hypertable on window_start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tftrade.store.coltypes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("started_at", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default="0", nullable=False),
        sa.Column("quarantined", sa.Integer(), server_default="0", nullable=False),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_runs")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "quarantined_at",
            tftrade.store.coltypes.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("source", "row_hash", name=op.f("uq_quarantine_source_row_hash")),
    )
    op.create_table(
        "reddit_comment_texts",
        sa.Column("comment_id", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("subreddit", sa.String(length=255), nullable=True),
        sa.Column("link_id", sa.String(length=255), nullable=True),
        sa.Column("created_utc", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), server_default="import", nullable=False),
        sa.PrimaryKeyConstraint("comment_id", name=op.f("pk_reddit_comment_texts")),
    )
    op.create_table(
        "reddit_comments",
        sa.Column("comment_id", sa.String(length=255), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("sentiment_score", sa.Numeric(precision=5, scale=3), nullable=True),
        sa.Column("timestamp", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("upvotes", sa.Integer(), nullable=True),
        sa.Column("content_length", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("comment_id", "ticker", name=op.f("pk_reddit_comments")),
    )
    with op.batch_alter_table("reddit_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reddit_comments_ticker_timestamp"), ["ticker", "timestamp"], unique=False)

    op.create_table(
        "reddit_sentiment_aggregated",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("time_window", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("bullish_count", sa.Integer(), nullable=False),
        sa.Column("bearish_count", sa.Integer(), nullable=False),
        sa.Column("neutral_count", sa.Integer(), nullable=False),
        sa.Column("total_comments", sa.Integer(), nullable=False),
        sa.Column("avg_sentiment", sa.Numeric(precision=5, scale=3), nullable=True),
        sa.Column("weighted_sentiment", sa.Numeric(precision=5, scale=3), nullable=True),
        sa.Column("bullish_pct", sa.Numeric(precision=6, scale=2), nullable=True),
        sa.Column("bearish_pct", sa.Numeric(precision=6, scale=2), nullable=True),
        sa.Column("neutral_pct", sa.Numeric(precision=6, scale=2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reddit_sentiment_aggregated")),
        sa.UniqueConstraint(
            "ticker", "window", "time_window", name=op.f("uq_reddit_sentiment_aggregated_ticker_window_time_window")
        ),
    )
    op.create_table(
        "securities",
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        sa.Column("market_cap", sa.Float(), nullable=True),
        sa.Column(
            "updated_at",
            tftrade.store.coltypes.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("ticker", name=op.f("pk_securities")),
    )
    op.create_table(
        "stocks_minute_candlesticks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("window_start", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("open", tftrade.store.coltypes.Price(precision=18, scale=4), nullable=False),
        sa.Column("high", tftrade.store.coltypes.Price(precision=18, scale=4), nullable=False),
        sa.Column("low", tftrade.store.coltypes.Price(precision=18, scale=4), nullable=False),
        sa.Column("close", tftrade.store.coltypes.Price(precision=18, scale=4), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("price_only", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            tftrade.store.coltypes.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stocks_minute_candlesticks")),
        sa.UniqueConstraint(
            "ticker",
            "timeframe",
            "window_start",
            name=op.f("uq_stocks_minute_candlesticks_ticker_timeframe_window_start"),
        ),
    )
    op.create_table(
        "tft_predictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column(
            "prediction_time",
            tftrade.store.coltypes.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("current_price", tftrade.store.coltypes.Price(precision=18, scale=4), nullable=True),
        sa.Column("predicted_return", sa.Numeric(precision=8, scale=5), nullable=True),
        sa.Column("confidence_score", sa.Numeric(precision=5, scale=3), nullable=True),
        sa.Column("model_version", sa.String(length=50), nullable=True),
        sa.Column("features_hash", sa.String(length=64), nullable=True),
        sa.Column("timeframe", sa.String(length=8), nullable=True),
        sa.Column("horizon", sa.Integer(), nullable=True),
        sa.Column("as_of", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("q10", sa.Numeric(precision=10, scale=6), nullable=True),
        sa.Column("q50", sa.Numeric(precision=10, scale=6), nullable=True),
        sa.Column("q90", sa.Numeric(precision=10, scale=6), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tft_predictions")),
    )
    with op.batch_alter_table("tft_predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tft_predictions_ticker_as_of"), ["ticker", "as_of"], unique=False)

    op.create_table(
        "trade_executions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", tftrade.store.coltypes.Price(precision=18, scale=4), nullable=False),
        sa.Column(
            "timestamp",
            tftrade.store.coltypes.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("order_id", sa.String(length=255), nullable=True),
        sa.Column("strategy_version", sa.String(length=50), nullable=True),
        sa.Column("pnl", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_executions")),
    )
    _timescale_hypertable()


def _timescale_hypertable() -> None:
    """Turn the bar table into a hypertable when TimescaleDB is preloaded; keep the plain indexed table otherwise."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    preload = bind.execute(sa.text("SELECT current_setting('shared_preload_libraries', true)")).scalar() or ""
    if "timescaledb" not in preload:
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute("ALTER TABLE stocks_minute_candlesticks DROP CONSTRAINT pk_stocks_minute_candlesticks")
    op.execute(
        "ALTER TABLE stocks_minute_candlesticks "
        "ADD CONSTRAINT pk_stocks_minute_candlesticks PRIMARY KEY (id, window_start)"
    )
    op.execute("SELECT create_hypertable('stocks_minute_candlesticks', 'window_start', migrate_data => true)")


def downgrade() -> None:
    op.drop_table("trade_executions")
    with op.batch_alter_table("tft_predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tft_predictions_ticker_as_of"))

    op.drop_table("tft_predictions")
    op.drop_table("stocks_minute_candlesticks")
    op.drop_table("securities")
    op.drop_table("reddit_sentiment_aggregated")
    with op.batch_alter_table("reddit_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reddit_comments_ticker_timestamp"))

    op.drop_table("reddit_comments")
    op.drop_table("reddit_comment_texts")
    op.drop_table("quarantine")
    op.drop_table("ingest_runs")
