"""order-intent journal

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-05

Adds ``order_intents`` (one row per order, written before it is sent) and the append-only
``order_events`` (every state change and fill after it), see tftrade.store.schema_execution.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_intents",
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("ticker", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.String(40), nullable=False),
        sa.Column("order_type", sa.String(8), nullable=False),
        sa.Column("limit_price", sa.String(40), nullable=True),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(32), nullable=False),
        sa.Column("broker", sa.String(16), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("client_order_id", name=op.f("pk_order_intents")),
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("broker_order_id", sa.String(64), nullable=True),
        sa.Column("execution_id", sa.String(64), nullable=True),
        sa.Column("fill_quantity", sa.String(40), nullable=True),
        sa.Column("fill_price", sa.String(40), nullable=True),
        sa.Column("commission", sa.String(40), nullable=True),
        sa.Column("filled_quantity", sa.String(40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sa.UniqueConstraint("client_order_id", "execution_id",
                            name=op.f("uq_order_events_client_order_id_execution_id")),
    )
    op.create_index(op.f("ix_order_events_client_order_id"), "order_events", ["client_order_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_order_events_client_order_id"), table_name="order_events")
    op.drop_table("order_events")
    op.drop_table("order_intents")
