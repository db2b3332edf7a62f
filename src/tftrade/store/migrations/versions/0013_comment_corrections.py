"""comment corrections

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

Adds comment_corrections, the record of every stored comment replaced by a re-imported one
that disagreed with it (``tftrade ingest comments --update``), like bar_corrections for bars.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tftrade.store.coltypes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "comment_corrections",
        sa.Column("id", id_type, autoincrement=True, nullable=False),
        sa.Column("run_id", id_type, nullable=False),
        sa.Column("comment_id", sa.String(255), nullable=False),
        sa.Column("old", sa.Text(), nullable=False),
        sa.Column("new", sa.Text(), nullable=False),
        sa.Column("corrected_at", tftrade.store.coltypes.UTCDateTime(timezone=True),
                  server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_corrections")),
    )
    op.create_index(op.f("ix_comment_corrections_comment_id"), "comment_corrections", ["comment_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_comment_corrections_comment_id"), table_name="comment_corrections")
    op.drop_table("comment_corrections")
