"""API keys in the store: insert, list, revoke, and look one up by its public id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, RowMapping, select, update

from tftrade.core.errors import NotFoundError
from tftrade.store.schema_service import api_keys


@dataclass(frozen=True)
class StoredKey:
    """An API key as stored: never the secret, only its hash."""

    key_id: str
    name: str
    scope: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None


def insert_key(engine: Engine, key: StoredKey) -> None:
    """Store a new key."""
    with engine.begin() as conn:
        conn.execute(api_keys.insert().values(
            key_id=key.key_id, name=key.name, scope=key.scope, secret_hash=key.secret_hash,
            created_at=key.created_at, revoked_at=key.revoked_at))


def list_keys(engine: Engine) -> list[StoredKey]:
    """Every key, oldest first (revoked ones included, with their revocation time)."""
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.id)).mappings().all()
    return [_key(r) for r in rows]


def find_key(engine: Engine, key_id: str) -> StoredKey | None:
    """The key with public id ``key_id``, or ``None``."""
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
    return None if row is None else _key(row)


def revoke_key(engine: Engine, key_id: str, when: datetime) -> None:
    """Mark a key revoked (its row stays, for the record).

    Raises
    ------
    NotFoundError
        If no key has that id.
    """
    with engine.begin() as conn:
        done = conn.execute(update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                            .values(revoked_at=when))
        exists = conn.execute(select(api_keys.c.id).where(api_keys.c.key_id == key_id)).first()
        if done.rowcount == 0 and exists is None:
            raise NotFoundError(f"no API key with id {key_id!r}")


def _key(r: RowMapping) -> StoredKey:
    return StoredKey(key_id=r["key_id"], name=r["name"], scope=r["scope"], secret_hash=r["secret_hash"],
                     created_at=r["created_at"], revoked_at=r["revoked_at"])
