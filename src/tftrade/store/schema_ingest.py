"""Tables of the bar ingest beyond the spec's: corrections applied to stored bars."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, func

from tftrade.store.coltypes import UTCDateTime
from tftrade.store.schema import metadata

bar_corrections = Table(
    "bar_corrections",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("ticker", String(16), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("old", Text, nullable=False),
    Column("new", Text, nullable=False),
    Column("corrected_at", UTCDateTime, nullable=False, server_default=func.now()),
    Index(None, "ticker", "timeframe", "window_start"),
)
"""A stored bar replaced by a disagreeing one (``tftrade ingest csv --update``): the old and new
values as JSON (prices as decimal strings), and the ingest run that did it."""

comment_corrections = Table(
    "comment_corrections",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("comment_id", String(255), nullable=False),
    Column("old", Text, nullable=False),
    Column("new", Text, nullable=False),
    Column("corrected_at", UTCDateTime, nullable=False, server_default=func.now()),
    Index(None, "comment_id"),
)
"""A stored comment replaced by a re-imported one that disagrees with it (``tftrade ingest comments
--update``): the old and new fields as JSON, and the ingest run that did it."""
