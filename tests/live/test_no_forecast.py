"""A bar the model cannot forecast is said on ``predictions`` at once, so the trade worker never waits for it."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from tftrade.live.forecasts import NO_FORECAST_HORIZON, LiveForecasts
from tftrade.live.predict_worker import PredictWorker
from tftrade.live.predictor import Quantiles
from tftrade.strategy.view import MarketFrame
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage, PredictionMessage

MIN = 60_000_000_000
TICKERS = ("A", "B")


class WarmingUp:
    """No forecast for the first ``cold`` rows (saying why), then one for every ticker."""

    horizon, history, model_version = 2, 10, "fake"

    def __init__(self, cold: int) -> None:
        self.cold, self.no_forecast_reason = cold, ""

    def predict(self, frame: MarketFrame, row: int) -> Quantiles | None:
        n = len(frame.tickers)
        if frame.timestamps.shape[0] <= self.cold:
            self.no_forecast_reason = f"warm-up: {frame.timestamps.shape[0]} of {self.cold + 1} clean bars"
            return None
        self.no_forecast_reason = ""
        return Quantiles(np.full(n, -0.01), np.full(n, 0.002), np.full(n, 0.01), np.full(n, 0.5))

    def prepare(self) -> None:
        pass


def test_a_bar_without_a_forecast_is_published_with_its_reason_and_completes_the_bar(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = InMemoryBus()
    bus.subscribe("predictions", "trade", "t")
    for k in range(1, 5):
        bus.publish_many("market_data", [BarMessage(t, k * MIN, 10.0, 11.0, 9.0, 10.0 + k, 100.0) for t in TICKERS])
    events: list[dict[str, object]] = []
    pw = PredictWorker(bus, WarmingUp(cold=2), TICKERS, ("S", "S"), on_event=events.append)
    end = threading.Event()
    end.set()
    with caplog.at_level(logging.INFO, logger="tftrade.live.predict_worker"):
        pw.run(threading.Event(), end)
    got = [d.message for d in bus.read("predictions", "trade", "t", block_ms=10)]
    assert all(isinstance(m, PredictionMessage) for m in got)
    by_bar: dict[int, list[PredictionMessage]] = {}
    for m in got:
        assert isinstance(m, PredictionMessage)
        by_bar.setdefault(m.as_of_ns, []).append(m)
    assert sorted(by_bar) == [MIN, 2 * MIN, 3 * MIN, 4 * MIN]  # every bar is said, forecast or not
    for ts in (MIN, 2 * MIN):
        assert {m.ticker for m in by_bar[ts]} == set(TICKERS)
        assert {m.horizon for m in by_bar[ts]} == {NO_FORECAST_HORIZON}
        assert by_bar[ts][0].reason.startswith("warm-up: ") and by_bar[ts][0].latency_ns is None
    assert {(m.horizon, m.reason) for ts in (3 * MIN, 4 * MIN) for m in by_bar[ts]} == {(2, "")}
    c = pw.counters
    assert (c.no_forecast, c.no_forecast_published, c.forecasts, c.predictions_published) == (2, 4, 2, 4)
    assert c.last_no_forecast_reason == "warm-up: 2 of 3 clean bars"
    assert [e["as_of_ns"] for e in events if e["event"] == "no_forecast"] == [MIN, 2 * MIN]
    assert next(e["reason"] for e in events if e["event"] == "no_forecast") == "warm-up: 1 of 3 clean bars"
    said = [r.getMessage() for r in caplog.records if "no forecast" in r.getMessage()]
    assert len(said) == 1 and "warm-up" in said[0]  # once for the stretch, not once per bar
    # the trade worker's view: the bar is complete at once, and it has no forecast row (as the backtest's panel)
    f = LiveForecasts(TICKERS, horizon=2)
    for m in got:
        assert isinstance(m, PredictionMessage)
        f.add(m)
    assert f.complete(MIN) and f.row(MIN, TICKERS) is None and f.row(2 * MIN, TICKERS) is None
    row = f.row(3 * MIN, TICKERS)
    assert row is not None and row[1].tolist() == [0.002, 0.002]
