"""A service on a real SQLite store, with keys of every scope and a fake model that counts its calls."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tftrade.core.clock import SimulatedClock
from tftrade.core.config import ServiceSettings
from tftrade.service.alerts import Alerter
from tftrade.service.app import ServiceContext, create_app
from tftrade.service.keys import Scope, create_key
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictionBook
from tftrade.stream.cache import InMemoryCache
from tftrade.stream.desk import Desk


def redis_client() -> redis.Redis:
    """A client on the test Redis; fails in CI and skips elsewhere when it is unreachable."""
    client = redis.Redis.from_url(os.environ.get("TFTRADE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
                                  socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required in CI and unreachable: {e}")
        pytest.skip(f"Redis unreachable: {e}")
    return client


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of the test Redis for this test alone; its keys are deleted afterwards."""
    p = f"test:{uuid.uuid4().hex}"
    yield p
    client = redis_client()
    for key in client.scan_iter(f"{p}*"):
        client.delete(key)


@dataclass
class FakeModel:
    """Forecasts q50 = 0.001 × (ticker's index) for the tickers asked; counts calls."""

    universe: tuple[str, ...] = ("AAPL", "MSFT", "NVDA")
    version: str | None = "3"
    selection: str | None = "champion"
    champion: str | None = "3"
    calls: list[list[str] | None] = field(default_factory=list)

    def versions(self) -> list[str]:
        return ["1", "2", "3"]

    def refresh(self) -> str | None:
        return None

    def predict(self, tickers: list[str] | None) -> list[dict[str, Any]]:
        from tftrade.forecast.errors import UnknownTickerError

        self.calls.append(tickers)
        wanted = [t.upper() for t in tickers] if tickers else list(self.universe)
        if unknown := [t for t in wanted if t not in self.universe]:
            raise UnknownTickerError(f"ticker(s) {', '.join(unknown)} not in model version 3's universe")
        return [{"ticker": t, "horizon": h, "as_of_ns": 1_700_000_000_000_000_000, "q10": -0.01, "q50": 0.001 * i,
                 "q90": 0.01, "predicted_return": 0.001 * i, "confidence_score": 0.2, "current_price": 100.0,
                 "timeframe": "1min", "model_version": "3", "features_hash": "x"}
                for i, t in enumerate(wanted) for h in (1, 2)]

    def explain(self, ticker: str) -> dict[str, Any]:
        return {"ticker": ticker.upper(), "model_version": "3", "encoder": {"close_ret": 0.5}}


@dataclass
class Service:
    client: TestClient
    ctx: ServiceContext
    keys: dict[str, str]
    model: FakeModel


def make_context(engine: Engine, **settings: Any) -> ServiceContext:
    cache = InMemoryCache()
    clock = SimulatedClock(1_700_000_000_000_000_000)
    return ServiceContext(engine=engine, settings=ServiceSettings(**settings), desk=Desk(cache, clock),
                          book=PredictionBook(cache), metrics=Metrics(), alerter=Alerter([]), clock=clock,
                          model=FakeModel(), poll_s=0.05)


@pytest.fixture
def service(sqlite_engine: Engine) -> Iterator[Service]:
    ctx = make_context(sqlite_engine)
    keys = {s.name.lower(): create_key(sqlite_engine, s.name.lower(), s)[0] for s in Scope}
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        assert isinstance(ctx.model, FakeModel)
        yield Service(client, ctx, keys, ctx.model)
