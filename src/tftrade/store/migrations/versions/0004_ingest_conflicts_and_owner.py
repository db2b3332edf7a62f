"""ingest conflicts, updates, run owner; bar corrections

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

Adds to ingest_runs the count of bars that disagreed with stored ones (conflicts),
the count applied with --update (updated) and the owner (host:pid:start) so a run
whose process died is marked aborted on the next start; adds bar_corrections, the
record of every stored bar replaced by a correction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tftrade.store.coltypes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ingest_runs", sa.Column("conflicts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("ingest_runs", sa.Column("updated", sa.Integer(), server_default="0", nullable=False))
    op.add_column("ingest_runs", sa.Column("owner", sa.String(128), nullable=True))
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "bar_corrections",
        sa.Column("id", id_type, autoincrement=True, nullable=False),
        sa.Column("run_id", id_type, nullable=False),
        sa.Column("ticker", sa.String(16), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("window_start", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("old", sa.Text(), nullable=False),
        sa.Column("new", sa.Text(), nullable=False),
        sa.Column("corrected_at", tftrade.store.coltypes.UTCDateTime(timezone=True),
                  server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bar_corrections")),
    )
    op.create_index(op.f("ix_bar_corrections_ticker_timeframe_window_start"), "bar_corrections",
                    ["ticker", "timeframe", "window_start"])


def downgrade() -> None:
    op.drop_index(op.f("ix_bar_corrections_ticker_timeframe_window_start"), table_name="bar_corrections")
    op.drop_table("bar_corrections")
    with op.batch_alter_table("ingest_runs") as batch:
        batch.drop_column("owner")
        batch.drop_column("updated")
        batch.drop_column("conflicts")
