"""sentiment momentum

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Adds reddit_sentiment_momentum: per ticker and window, the comment-volume z-score,
fast/slow EWMA of the sentiment, crossover events and bursts, unique on
(ticker, window, window_start).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tftrade.store.coltypes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reddit_sentiment_momentum",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("window_start", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("volume_z", sa.Float(), nullable=True),
        sa.Column("ewma_fast", sa.Float(), nullable=False),
        sa.Column("ewma_slow", sa.Float(), nullable=False),
        sa.Column("crossover", sa.SmallInteger(), nullable=False),
        sa.Column("burst", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reddit_sentiment_momentum")),
        sa.UniqueConstraint(
            "ticker", "window", "window_start", name=op.f("uq_reddit_sentiment_momentum_ticker_window_window_start")
        ),
    )


def downgrade() -> None:
    op.drop_table("reddit_sentiment_momentum")
