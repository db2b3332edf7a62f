"""compliance: audit log (append-only), tax transactions and splits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

Adds the hash-chained ``audit_log`` with triggers that refuse UPDATE and DELETE (PostgreSQL:
also TRUNCATE), ``audit_order_refs``, and the imported tax history ``tax_transactions`` and
``tax_splits``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    exact = sa.Numeric(28, 10).with_variant(sa.String(64), "sqlite")  # tftrade.store.schema_compliance.ExactDecimal
    int_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "audit_log",
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", int_id, nullable=False, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", "seq", name="pk_audit_log"),
    )
    op.create_table(
        "audit_order_refs",
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", int_id, nullable=False, autoincrement=False),
        sa.Column("order_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("chain", "seq", "order_id", name="pk_audit_order_refs"),
    )
    op.create_index("ix_audit_order_refs_order_id", "audit_order_refs", ["order_id"])
    op.create_table(
        "tax_transactions",
        sa.Column("id", int_id, primary_key=True, autoincrement=True),
        sa.Column("txn_id", sa.String(128), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("ticker", sa.String(32), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", exact, nullable=False),
        sa.Column("price", exact, nullable=False),
        sa.Column("fees", exact, nullable=False),
        sa.Column("lots", sa.Text(), nullable=True),
        sa.Column("source", sa.String(512), nullable=False),
        sa.UniqueConstraint("account", "txn_id", name="uq_tax_transactions_account_txn_id"),
    )
    op.create_index("ix_tax_transactions_ticker_trade_date", "tax_transactions", ["ticker", "trade_date"])
    op.create_table(
        "tax_splits",
        sa.Column("ticker", sa.String(32), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("ratio", exact, nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("ticker", "effective", name="pk_tax_splits"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
    else:
        for op_name in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{op_name.lower()} BEFORE {op_name} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {op_name} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("tax_splits")
    op.drop_index("ix_tax_transactions_ticker_trade_date", table_name="tax_transactions")
    op.drop_table("tax_transactions")
    op.drop_index("ix_audit_order_refs_order_id", table_name="audit_order_refs")
    op.drop_table("audit_order_refs")
    op.drop_table("audit_log")
