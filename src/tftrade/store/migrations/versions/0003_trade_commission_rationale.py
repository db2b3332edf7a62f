"""trade commission and rationale

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Adds to trade_executions the commission paid on each fill (NUMERIC(14,4)) and the
rationale of the decision that caused it (text), so the trade list is auditable.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trade_executions", sa.Column("commission", sa.Numeric(14, 4), nullable=True))
    op.add_column("trade_executions", sa.Column("rationale", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trade_executions") as batch:
        batch.drop_column("rationale")
        batch.drop_column("commission")
