"""``tftrade db init``: create or upgrade the schema."""

from __future__ import annotations

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, settings
from tftrade.core.config import mask_url

app = typer.Typer(help="Create or upgrade the database.", no_args_is_help=True)


@app.command("init")
@command
def init(as_json: bool = JsonOption) -> None:
    """Create the database (SQLite file in TFTRADE_HOME, or TFTRADE_DATABASE_URL) or upgrade it to the newest schema."""
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import current_revision, head_revision

    cfg = settings()
    probe = make_engine(cfg.resolved_database_url())
    before = current_revision(probe)
    probe.dispose()
    eng = engine(cfg, create=True)
    after = head_revision()
    result = {"database": mask_url(cfg.resolved_database_url()), "dialect": eng.dialect.name,
              "revision_before": before, "revision": after, "changed": before != after}
    emit(result, as_json, lambda r: print(f"database {r['database']} at schema revision {r['revision']}"
                                          + (" (upgraded)" if r["changed"] else " (already current)")))
