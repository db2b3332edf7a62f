"""Vendor endpoints and credentials for the live sources, read from ``Settings.vendors``.

Endpoints are settings so tests and users can point the official clients (``massive``,
``praw``) at a loopback fake or a sandbox::

    TFTRADE_VENDORS__MASSIVE_REST_URL=http://127.0.0.1:8081
    TFTRADE_VENDORS__MASSIVE_WS_URL=ws://127.0.0.1:8082      # the client appends /stocks
    TFTRADE_VENDORS__REDDIT_OAUTH_URL=http://127.0.0.1:8083
    TFTRADE_VENDORS__REDDIT_URL=http://127.0.0.1:8083

A field missing from ``Settings.vendors`` takes the default here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_SUBREDDITS = "wallstreetbets,stocks,investing"


class VendorEndpoints(BaseModel):
    """Where the live sources connect, and with which credentials (secrets masked when shown).

    Examples
    --------
    >>> VendorEndpoints(massive_ws_url="ws://127.0.0.1:9000").massive_ws_host()
    ('127.0.0.1:9000', False)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    massive_rest_url: str = Field("https://api.massive.com", description="Massive (Polygon) REST base URL")
    massive_ws_url: str = Field("wss://socket.massive.com", description="Massive WebSocket URL; /stocks is appended")
    polygon_api_key: SecretStr | None = Field(None, description="Massive (Polygon) API key")
    reddit_oauth_url: str = Field("https://oauth.reddit.com", description="Reddit OAuth API base URL")
    reddit_url: str = Field("https://www.reddit.com", description="Reddit URL (token endpoint)")
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_user_agent: str = "tftrade/0.1"
    reddit_subreddits: str = Field(DEFAULT_SUBREDDITS, description="comma-separated subreddits to stream")

    @classmethod
    def from_settings(cls, settings: Any) -> VendorEndpoints:
        """Take every field that ``settings.vendors`` has; the rest keep their defaults."""
        vendors = getattr(settings, "vendors", None)
        values = {name: getattr(vendors, name) for name in cls.model_fields if hasattr(vendors, name)}
        return cls(**{k: v for k, v in values.items() if v is not None})

    def massive_ws_host(self) -> tuple[str, bool]:
        """The ``feed`` host (with port) and ``secure`` flag the official ``massive`` client takes."""
        url = self.massive_ws_url.rstrip("/")
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("ws", "wss"):
            raise ValueError(f"massive_ws_url {self.massive_ws_url!r}: expected ws://host[:port] or wss://host[:port]")
        return rest, scheme == "wss"

    def subreddits(self) -> tuple[str, ...]:
        """The configured subreddits, without blanks."""
        return tuple(s.strip() for s in self.reddit_subreddits.split(",") if s.strip())
