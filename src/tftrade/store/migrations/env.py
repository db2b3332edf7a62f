"""Alembic environment: runs on the connection tftrade hands over (see tftrade.store.migrate)."""

from __future__ import annotations

from alembic import context

import tftrade.store.schema_compliance  # noqa: F401  (registers the compliance tables)
from tftrade.store import schema_execution as _schema_execution  # noqa: F401  (registers the journal tables)
from tftrade.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
