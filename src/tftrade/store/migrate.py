"""Create or upgrade the schema with Alembic (``tftrade db init``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from tftrade.core.errors import StoreError

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic config pointing at tftrade's migration scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (``None`` if it was never initialised)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision tftrade ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def is_known(revision: str) -> bool:
    """True if ``revision`` is one of tftrade's own migrations (a newer tftrade may have written another)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def unknown_revision_message(url: str, revision: str) -> str:
    """One line for a database migrated by a newer tftrade: upgrading tftrade is the fix, not ``db init``."""
    return (f"database {url!r} is at schema revision {revision}, which this tftrade does not know: a newer "
            f"tftrade migrated it; upgrade tftrade (the newest schema it ships is {head_revision()}; "
            "nothing was changed)")


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest revision; a no-op when it is there already.

    Raises
    ------
    StoreError
        If the database is at a revision this tftrade does not ship (nothing is changed).
    """
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return head
    if current is not None and not is_known(current):
        from tftrade.core.config import mask_url

        raise StoreError(unknown_revision_message(mask_url(engine.url.render_as_string(hide_password=False)), current))
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return head
