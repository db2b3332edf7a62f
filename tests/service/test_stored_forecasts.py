"""Stored forecasts (``Numeric`` columns: ``Decimal`` on SQLite and PostgreSQL) start the service and are served
as JSON numbers, through the in-process cache and through Redis (audit G1: start-up failed with
"Decimal is not JSON serializable" whenever a forecast carried ``bar_age_seconds``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tftrade.core.clock import SystemClock
from tftrade.core.config import Settings
from tftrade.forecast.prediction import Forecast, write_predictions
from tftrade.service.app import ServiceContext, create_app
from tftrade.service.build import build_context, live_context
from tftrade.service.keys import Scope, create_key
from tftrade.service.predictions import PredictionBook
from tftrade.stream.cache import RedisCache
from tftrade.stream.desk import Desk

from .conftest import redis_client

AS_OF = datetime(2024, 3, 1, 15, 30, tzinfo=UTC)


def _forecast(ticker: str, horizon: int, *, age: float) -> Forecast:
    return Forecast(ticker=ticker, horizon=horizon, as_of=AS_OF, current_price=187.25, q10=-0.012, q50=0.0015,
                    q90=0.0131, predicted_return=0.0015, confidence_score=0.42, timeframe="1min", model_version="1",
                    features_hash="f" * 64, stale=age > 0, bar_age_seconds=age)


def _store(engine: Engine) -> None:
    write_predictions(engine, [_forecast("AAPL", h, age=120.5) for h in (1, 2)] + [_forecast("MSFT", 1, age=0.0)])


def _served(ctx: ServiceContext, engine: Engine) -> dict[tuple[str, int], dict[str, Any]]:
    key = create_key(engine, "reader", Scope.READ)[0]
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        r = client.get("/predictions", headers={"X-API-Key": key})
        assert r.status_code == 200, r.text
        one = client.get("/predictions?tickers=aapl", headers={"X-API-Key": key})
        assert one.status_code == 200 and one.json()["count"] == 2
    return {(p["ticker"], p["horizon"]): p for p in r.json()["predictions"]}


def _check(rows: dict[tuple[str, int], dict[str, Any]]) -> None:
    assert set(rows) == {("AAPL", 1), ("AAPL", 2), ("MSFT", 1)}
    aapl, msft = rows[("AAPL", 1)], rows[("MSFT", 1)]
    assert aapl["bar_age_seconds"] == 120.5 and aapl["stale"] is True
    assert msft["bar_age_seconds"] == 0.0 and msft["stale"] is False
    for row in rows.values():
        for name in ("current_price", "q10", "q50", "q90", "predicted_return", "confidence_score", "bar_age_seconds"):
            assert type(row[name]) is float, (name, row[name])
        assert type(row["horizon"]) is int
    assert aapl["q50"] == 0.0015 and aapl["current_price"] == 187.25 and aapl["as_of"] == AS_OF.isoformat()


def test_serve_starts_with_stored_forecasts_and_serves_numbers(any_engine: Engine, tmp_path: Path) -> None:
    _store(any_engine)
    ctx = build_context(Settings(home=tmp_path / "home"), any_engine, with_model=False)  # what `tftrade serve` runs
    _check(_served(ctx, any_engine))




def test_stored_forecasts_go_through_the_redis_cache(any_engine: Engine, tmp_path: Path, prefix: str) -> None:
    _store(any_engine)
    desk = Desk(RedisCache(client=redis_client(), prefix=prefix), SystemClock())
    ctx = live_context(Settings(home=tmp_path / "home"), any_engine, desk, None, with_model=False)
    _check(_served(ctx, any_engine))
    other = PredictionBook(RedisCache(client=redis_client(), prefix=prefix))  # another API process
    _check({(p["ticker"], p["horizon"]): p for p in json.loads(other.encoded())["predictions"]})


def test_numpy_and_decimal_extras_become_json_scalars() -> None:
    from decimal import Decimal

    import numpy as np

    from tftrade.service.predictions import encode, prediction_row

    row = prediction_row({"ticker": "aapl", "horizon": np.int64(1), "as_of": AS_OF, "q50": np.float32(0.5),
                          "current_price": Decimal("187.2500"), "stale": np.bool_(True),
                          "bar_age_seconds": Decimal("61.250")})
    assert json.loads(encode([row]))["predictions"][0] == {**row, "horizon": 1, "q50": 0.5, "current_price": 187.25,
                                                           "stale": True, "bar_age_seconds": 61.25}
    assert type(row["horizon"]) is int and type(row["stale"]) is bool and type(row["bar_age_seconds"]) is float
