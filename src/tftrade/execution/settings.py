"""Settings of the execution layer: the Alpaca endpoints and keys, and the safety knobs.

These are small frozen models read from :class:`tftrade.core.config.Settings`:
``settings.vendors.alpaca_url`` / ``alpaca_stream_url`` / ``alpaca_key_id`` /
``alpaca_secret_key`` (env ``TFTRADE_VENDORS__ALPACA_URL`` ...) and, when the section
exists, ``settings.execution`` (env ``TFTRADE_EXECUTION__...``). A field the settings do
not have yet takes the default here, so this module works before and after those fields are
added to ``core.config``.

Examples
--------
>>> AlpacaConfig().paper, AlpacaConfig(url="https://api.alpaca.markets").paper
(True, False)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["PAPER_REST_URL", "PAPER_STREAM_URL", "AlpacaConfig", "ExecutionConfig"]

PAPER_REST_URL = "https://paper-api.alpaca.markets"
PAPER_STREAM_URL = "wss://paper-api.alpaca.markets/stream"
LIVE_HOSTS = frozenset({"api.alpaca.markets"})


class AlpacaConfig(BaseModel):
    """Where Alpaca is and how to talk to it (keys masked when shown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(PAPER_REST_URL, description="REST base, without /v2")
    stream_url: str = Field(PAPER_STREAM_URL, description="full trade-updates WebSocket URL")
    key_id: SecretStr | None = None
    secret_key: SecretStr | None = None
    time_in_force: Literal["day", "gtc", "opg", "cls", "ioc", "fok"] = "day"
    requests_per_minute: float = Field(200.0, gt=0, description="client-side token bucket rate")
    max_attempts: int = Field(5, ge=1, description="tries per REST call (429, 5xx, broken connection)")
    timeout_s: float = Field(10.0, gt=0, description="per-request HTTP timeout")

    @property
    def paper(self) -> bool:
        """True unless the REST host is Alpaca's live host."""
        return (urlparse(self.url).hostname or "") not in LIVE_HOSTS

    @classmethod
    def from_settings(cls, settings: Any) -> AlpacaConfig:
        """Read ``settings.vendors.alpaca_*`` (missing fields keep the defaults)."""
        v = getattr(settings, "vendors", None)
        values: dict[str, Any] = {}
        for name, field in (("url", "alpaca_url"), ("stream_url", "alpaca_stream_url"), ("key_id", "alpaca_key_id"),
                            ("secret_key", "alpaca_secret_key")):
            value = getattr(v, field, None)
            if value is not None:
                values[name] = value
        return cls(**values)


class ExecutionConfig(BaseModel):
    """Safety and order-care settings (``settings.execution`` when present)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kill_switch: bool = Field(False, description="engaged: no new orders (TFTRADE_EXECUTION__KILL_SWITCH=true)")
    kill_file: Path | None = Field(None, description="kill file (exists = engaged); default <home>/KILL")
    reconcile_policy: Literal["halt", "adopt", "correct"] = Field(
        "halt", description="on a difference: halt trading and alert, adopt the broker's view, or correct it "
                            "with tagged orders")
    reconcile_interval_s: float = Field(60.0, gt=0, description="reconciliation timer")
    stale_limit_s: float = Field(300.0, gt=0, description="an unfilled limit order older than this is cancel/replaced")
    partial_timeout_s: float = Field(600.0, gt=0, description="a partial fill still open after this is resolved")
    partial_policy: Literal["cancel", "carry"] = Field("cancel", description="what happens to it then")
    recent_orders_days: float = Field(3.0, gt=0, description="how far back reconciliation reads broker orders")

    @classmethod
    def from_settings(cls, settings: Any) -> ExecutionConfig:
        """Read ``settings.execution`` (any missing field keeps the default); the kill file defaults to home/KILL."""
        section = getattr(settings, "execution", None)
        values = dict(section) if section is not None else {}
        if values.get("kill_file") is None and getattr(settings, "home", None) is not None:
            values["kill_file"] = Path(settings.home) / "KILL"
        return cls(**{k: v for k, v in values.items() if k in cls.model_fields})
