"""tax accounts and short sales

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

``tax_accounts``: the type of each account of the imported tax history (``taxable`` or ``ira``,
Rev. Rul. 2008-5); ``tax_transactions.side`` widened to hold ``short`` and ``cover``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tax_accounts",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("account_type", sa.String(8), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_tax_accounts")),
    )
    with op.batch_alter_table("tax_transactions") as batch:
        batch.alter_column("side", existing_type=sa.String(4), type_=sa.String(8), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("tax_transactions") as batch:
        batch.alter_column("side", existing_type=sa.String(8), type_=sa.String(4), existing_nullable=False)
    op.drop_table("tax_accounts")
