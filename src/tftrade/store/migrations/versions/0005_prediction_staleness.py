"""prediction staleness

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Adds to tft_predictions whether the forecast came from a stale window (the ticker's last bar
older than the universe's latest bar) and that bar's age in seconds; a stale forecast carries
confidence 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tft_predictions", sa.Column("stale", sa.Boolean(), nullable=True))
    op.add_column("tft_predictions", sa.Column("bar_age_seconds", sa.Numeric(14, 3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tft_predictions") as batch:
        batch.drop_column("bar_age_seconds")
        batch.drop_column("stale")
