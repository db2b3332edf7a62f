"""api keys

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-05

API keys of ``tftrade serve``: a public key id, a scope (read, trade, admin) and the SHA-256
of the secret; revoked keys keep their row with ``revoked_at`` set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tftrade.store.coltypes

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", tftrade.store.coltypes.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
