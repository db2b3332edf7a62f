"""What the routes answer: forecasts from the store and on demand, desk documents, models, readiness."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine

from tftrade.service.predictions import PredictionBook
from tftrade.store.prediction_rows import latest_predictions
from tftrade.store.schema import tft_predictions
from tftrade.stream.cache import InMemoryCache

from .conftest import Service


def _store(engine: Engine, rows: list[tuple[str, int, datetime, str]]) -> None:
    with engine.begin() as conn:
        conn.execute(tft_predictions.insert(), [
            {"ticker": t, "horizon": h, "as_of": at, "q10": Decimal("-0.01"), "q50": Decimal(q50),
             "q90": Decimal("0.02"), "predicted_return": Decimal(q50), "confidence_score": Decimal("0.4"),
             "model_version": "1", "timeframe": "1min", "current_price": Decimal("10")} for t, h, at, q50 in rows])


def test_latest_predictions_per_ticker_and_horizon(sqlite_engine: Engine) -> None:
    old, new = datetime(2024, 1, 2, 15, tzinfo=UTC), datetime(2024, 1, 2, 16, tzinfo=UTC)
    _store(sqlite_engine, [("AAPL", 1, old, "0.001"), ("AAPL", 2, old, "0.002"), ("AAPL", 1, new, "0.003"),
                           ("AAPL", 2, new, "0.004"), ("MSFT", 1, old, "-0.001")])
    rows = latest_predictions(sqlite_engine)
    assert [(r["ticker"], r["horizon"], float(r["q50"])) for r in rows] == [
        ("AAPL", 1, 0.003), ("AAPL", 2, 0.004), ("MSFT", 1, -0.001)]
    assert [r["ticker"] for r in latest_predictions(sqlite_engine, ["msft"])] == ["MSFT"]


def test_book_serves_newest_and_filters(sqlite_engine: Engine) -> None:
    import json

    book = PredictionBook(InMemoryCache())
    at = datetime(2024, 1, 2, 16, tzinfo=UTC)
    _store(sqlite_engine, [("AAPL", 1, at, "0.003"), ("MSFT", 1, at, "0.001")])
    assert book.update(latest_predictions(sqlite_engine)) == 2
    older = {"ticker": "AAPL", "horizon": 1, "as_of": datetime(2024, 1, 1, tzinfo=UTC), "q50": 9.0}
    assert book.update([older]) == 0  # an older forecast never replaces a newer one
    doc = json.loads(book.encoded(["aapl", "AAPL", "NOPE"]))
    assert doc["count"] == 1 and doc["predictions"][0]["q50"] == 0.003
    assert json.loads(book.encoded())["count"] == 2


def test_predict_forecasts_and_updates_what_predictions_serves(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    assert service.client.get("/predictions", headers=h).json()["count"] == 0
    r = service.client.post("/predict", headers=h, json={"tickers": ["msft", "NVDA"]})
    assert r.status_code == 200 and service.model.calls == [["msft", "NVDA"]]
    got = {(p["ticker"], p["horizon"]): p["q50"] for p in r.json()["predictions"]}
    assert got == {("MSFT", 1): 0.0, ("MSFT", 2): 0.0, ("NVDA", 1): 0.001, ("NVDA", 2): 0.001}
    served = service.client.get("/predictions?tickers=NVDA", headers=h).json()
    assert served["count"] == 2 and served["predictions"][0]["as_of"] == "2023-11-14T22:13:20+00:00"
    bad = service.client.post("/predict", headers=h, json={"tickers": ["ZZZZ"]})
    assert bad.status_code == 404 and "ZZZZ" in bad.json()["error"]


def test_desk_routes_serve_what_the_loop_published(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    assert service.client.get("/portfolio", headers=h).json()["kind"] == "not_published"
    service.ctx.desk.publish("portfolio", {"weights": {"AAPL": 0.05}, "beta": 0.9})
    service.ctx.desk.publish("portfolio", {"weights": {"AAPL": 0.04}, "beta": 1.0})
    doc = service.client.get("/portfolio", headers=h).json()
    assert doc["seq"] == 2 and doc["data"] == {"weights": {"AAPL": 0.04}, "beta": 1.0}


def test_models_and_explain(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    assert service.client.get("/models", headers=h).json() == {"versions": ["1", "2", "3"], "champion": "3",
                                                                "served": "3", "selection": "champion"}
    assert service.client.get("/explain/aapl", headers=h).json()["ticker"] == "AAPL"


def test_ready_names_what_is_not(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    r = service.client.get("/ready", headers=h)
    assert r.status_code == 200
    assert r.json()["checks"]["model"] == {"ok": True, "required": True, "version": "3", "selection": "champion"}
    service.model.version = None
    r = service.client.get("/ready", headers=h)
    assert r.status_code == 503 and r.json()["checks"]["model"]["ok"] is False


def test_metrics_follow_prometheus_names(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    service.client.get("/predictions", headers=h)
    text = service.client.get("/metrics", headers=h).text
    for name in ("tftrade_bars_ingested_total", "tftrade_bus_lag_messages", "tftrade_prediction_latency_seconds",
                 "tftrade_bar_to_order_latency_seconds", "tftrade_orders_total", "tftrade_gate_rejections_total",
                 "tftrade_reconciliation_mismatches_total", "tftrade_equity_dollars", "tftrade_drawdown_ratio",
                 "tftrade_feed_connected", "tftrade_model_info"):
        assert f"# TYPE {name.removesuffix('_total').removesuffix('_info')}" in text, name
    assert 'tftrade_http_requests_total{route="/predictions",status="200"} 1.0' in text
