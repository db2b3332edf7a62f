"""Tables of the network-facing service: API keys (stored hashed, never in clear)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table

from tftrade.store.coltypes import UTCDateTime
from tftrade.store.schema import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key_id", String(16), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("scope", String(8), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)
"""One row per key: ``key_id`` is the public prefix shown in lists, ``secret_hash`` the SHA-256 of the secret."""
