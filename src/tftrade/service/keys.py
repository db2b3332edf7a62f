"""API keys: creation (shown once), hashing, scopes, and constant-time verification.

A key reads ``tft_<key_id>_<secret>``: ``key_id`` (8 hex characters) finds the row, the
secret (32 URL-safe bytes) is compared by its SHA-256 with :func:`hmac.compare_digest`.
Only the hash is stored, so a database leak gives away no key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from sqlalchemy import Engine

from tftrade.core.errors import TftradeError
from tftrade.store.apikeys import StoredKey, find_key, insert_key

PREFIX = "tft"


class Scope(IntEnum):
    """What a key may do; each scope includes the ones below it."""

    READ = 1
    TRADE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Scope:
        """Return the scope called ``name`` (``read``, ``trade`` or ``admin``).

        Raises
        ------
        ValueError
            For any other name.

        Examples
        --------
        >>> Scope.parse("admin") >= Scope.TRADE
        True
        """
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"scope {name!r} is not one of read, trade, admin") from None


class KeyRejected(TftradeError):
    """An API key is missing, malformed, unknown or revoked (the message never echoes the key)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's public id, its name and scope."""

    key_id: str
    name: str
    scope: Scope


def hash_secret(secret: str) -> str:
    """SHA-256 of a key's secret, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(engine: Engine, name: str, scope: Scope, now: datetime | None = None) -> tuple[str, StoredKey]:
    """Create and store a key; return the full key (shown once, never stored) and its stored record."""
    if not name.strip() or len(name) > 128:
        raise ValueError("an API key needs a name of 1 to 128 characters")
    key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    stored = StoredKey(key_id=key_id, name=name.strip(), scope=scope.name.lower(), secret_hash=hash_secret(secret),
                       created_at=now or datetime.now(UTC), revoked_at=None)
    insert_key(engine, stored)
    return f"{PREFIX}_{key_id}_{secret}", stored


def split_key(key: str) -> tuple[str, str]:
    """Split ``tft_<id>_<secret>`` into id and secret.

    Raises
    ------
    KeyRejected
        If the key does not have that shape.

    Examples
    --------
    >>> split_key("tft_0a1b2c3d_s3cr_et")
    ('0a1b2c3d', 's3cr_et')
    """
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 8 or not secret:
        raise KeyRejected("malformed API key")
    return key_id, secret


def verify(stored: StoredKey | None, secret: str) -> Principal:
    """Check ``secret`` against a stored key in constant time.

    Raises
    ------
    KeyRejected
        If there is no such key, it is revoked, or the secret does not match.
    """
    expected = stored.secret_hash if stored is not None else "0" * 64
    matches = hmac.compare_digest(hash_secret(secret), expected)
    if stored is None or not matches:
        raise KeyRejected("invalid API key")
    if stored.revoked_at is not None:
        raise KeyRejected("API key revoked")
    return Principal(stored.key_id, stored.name, Scope.parse(stored.scope))


def authenticate(engine: Engine, key: str) -> Principal:
    """Find and verify ``key`` in the store."""
    key_id, secret = split_key(key)
    return verify(find_key(engine, key_id), secret)
