"""The live predictor keeps its inputs bar by bar and forecasts as ``tftrade predict`` on the rows it was fed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.forecast.tiny_model import tiny_model
from tftrade.backtest.market import MarketData
from tftrade.features.dataset import WARMUP, build_panel
from tftrade.forecast.prediction import predict_latest
from tftrade.forecast.training import Trained
from tftrade.live.predictor import TftPredictor


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[MarketData, Trained]]:
    yield from tiny_model(5, 12)


def predict_q50(m: MarketData, trained: Trained, start: int, end: int, horizon: int) -> np.ndarray:
    """``tftrade predict``'s median at ``horizon`` from rows ``start:end`` (``forecast.prediction.predict_latest``)."""
    s = slice(start, end)
    panel = build_panel(tickers=list(m.tickers), sectors=list(m.sectors), timestamps=m.timestamps[s], timeframe="1min",
                        open_=m.open[s], high=m.high[s], low=m.low[s], close=m.close[s], volume=m.volume[s])
    return np.asarray([r.q50 for r in predict_latest(trained, panel) if r.horizon == horizon])


def test_bar_after_bar_equals_predict_on_the_rows_since_the_first(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    p = TftPredictor(trained)
    first = WARMUP + trained.config.context - 1
    for t in range(160):
        q = p.predict(m, t)
        assert (q is None) == (t < first)
        assert p.no_forecast_reason == ("" if q is not None else f"warm-up: {t + 1} of {first + 1} clean bars since "
                                        "the last (re)start")  # what the predict worker publishes for the bar
        if q is not None and t in (first, first + 1, 159):
            np.testing.assert_allclose(q.q50, predict_q50(m, trained, 0, t + 1, p.horizon), rtol=1e-5, atol=1e-9)
    assert p._rolling is not None and p._rolling.streaming.selected_bars == 160  # one bar selected per bar


def test_a_cold_start_reads_what_predict_reads(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    p = TftPredictor(trained)
    assert p.history == 3 * (WARMUP + trained.config.context)
    t = m.n_times - 1
    q = p.predict(m, t)
    assert q is not None
    np.testing.assert_allclose(q.q50, predict_q50(m, trained, t + 1 - p.history, t + 1, p.horizon), rtol=1e-5,
                               atol=1e-9)


def test_a_missing_bar_is_carried_as_in_training_and_forecasts_go_on(setup: tuple[MarketData, Trained]) -> None:
    from tftrade.features.market import feature_window

    m, trained = setup
    arrays = {f: getattr(m, f).copy() for f in ("open", "high", "low", "close", "volume")}
    for f in ("open", "high", "low", "close"):
        arrays[f][120, 1] = np.nan  # ticker 1 did not trade in minute 120
    arrays["volume"][120, 1] = 0.0
    holed = replace(m, **arrays)
    p = TftPredictor(trained)
    got = {t: p.predict(holed, t) for t in range(100, 130)}
    assert all(q is not None for q in got.values())
    start = max(0, 101 - p.history)  # the cold start at row 100
    for t in (120, 129):
        filled = feature_window(arrays["open"], arrays["high"], arrays["low"], arrays["close"], arrays["volume"],
                                start, t + 1)
        carried = replace(m, timestamps=m.timestamps[start : t + 1], open=filled.open, high=filled.high,
                          low=filled.low, close=filled.close, volume=filled.volume)
        q = got[t]
        assert q is not None
        np.testing.assert_allclose(q.q50, predict_q50(carried, trained, 0, t + 1 - start, p.horizon), rtol=1e-5,
                                   atol=1e-9)
    assert filled.close[120 - start, 1] == holed.close[119, 1]  # the carried close


def test_a_ticker_with_no_price_to_carry_stops_forecasts_until_it_has_one(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    arrays = {f: getattr(m, f).copy() for f in ("open", "high", "low", "close")}
    for f in arrays:
        arrays[f][:121, 2] = np.nan  # ticker 2 lists at row 121
    late = replace(m, **arrays)
    p = TftPredictor(trained)
    need = WARMUP + trained.config.context
    got = {t: p.predict(late, t) for t in range(110, 121 + need + 2)}
    assert all(got[t] is None for t in range(110, 121 + need - 1))
    t = 121 + need
    q = got[t]
    assert q is not None
    np.testing.assert_allclose(q.q50, predict_q50(m, trained, 121, t + 1, p.horizon), rtol=1e-5, atol=1e-9)


class _Comments:
    """A stored-sentiment stand-in: each bar's mean tone (NaN: no comment) and count; records its calls."""

    def __init__(self, timestamps: np.ndarray, tickers: list[str], seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        t, n = len(timestamps), len(tickers)
        self.count = rng.poisson(1.0, (t, n)).astype(float)
        tone = np.clip(np.sin(np.arange(t) / 7.0)[:, None] + rng.normal(0, 0.4, (t, n)), -1, 1)
        self.score = np.where(self.count > 0, tone, np.nan)
        self.timestamps, self.tickers = timestamps, tickers
        self.calls: list[int] = []

    def __call__(self, timestamps: np.ndarray, tickers: list[str]) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(len(timestamps))
        rows = np.searchsorted(self.timestamps, timestamps)
        cols = np.asarray([self.tickers.index(x) for x in tickers], dtype=np.int64)
        return self.score[np.ix_(rows, cols)], self.count[np.ix_(rows, cols)]


@pytest.fixture(scope="module")
def with_sentiment() -> Iterator[tuple[MarketData, Trained, _Comments]]:
    import torch

    from tftrade.backtest.market import from_frame
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.forecast.data import panel_from_bars
    from tftrade.forecast.tft.config import ModelConfig
    from tftrade.forecast.training import TrainConfig, fit

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    bars = generate_market(SyntheticConfig(n_tickers=4, days=1, seed=21, comments_per_bar=0)).bars_frame()
    universe = bars[~bars["ticker"].str.startswith("^")]
    m = from_frame(universe, timeframe="1min")
    comments = _Comments(m.timestamps, list(m.tickers))
    trained = fit(panel_from_bars(universe, "1min", sentiment=comments),
                  ModelConfig(hidden_size=8, variable_size=4, attention_heads=2, context=20, horizon=3),
                  TrainConfig(max_epochs=1, max_samples_per_epoch=200))
    yield m, trained, comments
    torch.set_num_threads(n)


def test_sentiment_bar_by_bar_equals_predict_with_the_stored_sentiment(
        with_sentiment: tuple[MarketData, Trained, _Comments]) -> None:
    from tftrade.forecast.rolling import uses_sentiment

    m, trained, comments = with_sentiment
    assert uses_sentiment(trained)
    comments.calls.clear()
    p, blind = TftPredictor(trained, sentiment=comments), TftPredictor(trained)
    first = WARMUP + trained.config.context - 1
    for t in range(first + 12):
        q, q0 = p.predict(m, t), blind.predict(m, t)
        if t in (first, first + 11):
            assert q is not None and q0 is not None
            s = slice(0, t + 1)
            score, count = comments.score[s], comments.count[s]
            panel = build_panel(tickers=list(m.tickers), sectors=list(m.sectors), timestamps=m.timestamps[s],
                                timeframe="1min", open_=m.open[s], high=m.high[s], low=m.low[s], close=m.close[s],
                                volume=m.volume[s], sentiment_score=score, sentiment_count=count)
            rows = [r for r in predict_latest(trained, panel) if r.horizon == p.horizon]
            for got, blind_got, name in ((q.q50, q0.q50, "q50"), (q.q10, q0.q10, "q10"), (q.q90, q0.q90, "q90")):
                want = np.asarray([getattr(r, name) for r in rows])
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
                # without the sentiment the forecasts differ, far beyond the float rounding between the paths
                assert np.abs(blind_got - want).max() > 100 * np.abs(got - want).max() + 1e-9
    assert comments.calls == [1] * (first + 12)  # one lookup of the new bar per bar


def test_a_cold_start_reads_the_sentiment_of_its_window(with_sentiment: tuple[MarketData, Trained, _Comments]) -> None:
    m, trained, comments = with_sentiment
    p = TftPredictor(trained, sentiment=comments)
    t = m.n_times - 1
    q = p.predict(m, t)
    assert q is not None
    s = slice(t + 1 - p.history, t + 1)
    score, count = comments(m.timestamps[s], list(m.tickers))
    panel = build_panel(tickers=list(m.tickers), sectors=list(m.sectors), timestamps=m.timestamps[s],
                        timeframe="1min", open_=m.open[s], high=m.high[s], low=m.low[s], close=m.close[s],
                        volume=m.volume[s], sentiment_score=score, sentiment_count=count)
    want = np.asarray([r.q50 for r in predict_latest(trained, panel) if r.horizon == p.horizon])
    np.testing.assert_allclose(q.q50, want, rtol=1e-5, atol=1e-9)


def test_the_predict_worker_reads_the_stored_per_minute_sentiment(
        with_sentiment: tuple[MarketData, Trained, _Comments], any_engine: object) -> None:
    import threading
    from datetime import UTC, datetime

    from tftrade.features.bar_sentiment import SentimentWindows
    from tftrade.live.predict_worker import PredictWorker
    from tftrade.sentiment.aggregate import write_aggregates
    from tftrade.stream.memory import InMemoryBus
    from tftrade.stream.messages import BarMessage

    m, trained, comments = with_sentiment
    tickers = list(m.tickers)
    rows = WARMUP + trained.config.context + 5
    agg = [{"ticker": x, "window": "1min", "time_window": datetime.fromtimestamp(int(m.timestamps[t]) / 1e9, tz=UTC),
            "bullish_count": 0, "bearish_count": 0, "neutral_count": int(comments.count[t, i]),
            "total_comments": int(comments.count[t, i]), "avg_sentiment": round(float(comments.score[t, i]), 3),
            "weighted_sentiment": None, "bullish_pct": None, "bearish_pct": None, "neutral_pct": None}
           for t in range(rows) for i, x in enumerate(tickers) if comments.count[t, i] > 0]
    assert write_aggregates(any_engine, pd.DataFrame(agg)) == len(agg)  # type: ignore[arg-type]
    bus = InMemoryBus()
    worker = PredictWorker(bus, TftPredictor(trained), m.tickers, m.sectors, "1min", engine=any_engine)  # type: ignore[arg-type]
    assert isinstance(worker.predictor, TftPredictor) and worker.predictor.sentiment is not None
    bus.publish_many("market_data", [BarMessage(x, int(m.timestamps[t]), float(m.open[t, i]), float(m.high[t, i]),
                                                float(m.low[t, i]), float(m.close[t, i]), float(m.volume[t, i]))
                                     for t in range(rows) for i, x in enumerate(tickers)])
    end = threading.Event()
    end.set()
    worker.run(threading.Event(), end)
    assert worker.counters.forecasts == 6
    q = worker.predictor.predict(worker.window, rows - 1)  # the last bar's forecast, as published
    stored = SentimentWindows.from_store(any_engine, tickers)  # type: ignore[arg-type]
    score, count = stored.on_bars(m.timestamps[:rows], tickers, "1min")
    assert score is not None and count is not None and np.nansum(count) == comments.count[:rows].sum()
    s = slice(0, rows)
    kw: dict[str, Any] = {"tickers": tickers, "sectors": list(m.sectors), "timestamps": m.timestamps[s],
                          "timeframe": "1min", "open_": m.open[s], "high": m.high[s], "low": m.low[s],
                          "close": m.close[s], "volume": m.volume[s]}
    want = np.asarray([r.q50 for r in predict_latest(trained, build_panel(**kw, sentiment_score=score,
                                                                          sentiment_count=count)) if r.horizon == 3])
    blind = np.asarray([r.q50 for r in predict_latest(trained, build_panel(**kw)) if r.horizon == 3])
    assert q is not None
    np.testing.assert_allclose(q.q50, want, rtol=1e-5, atol=1e-9)
    assert np.abs(blind - want).max() > 100 * np.abs(q.q50 - want).max() + 1e-9


def test_a_model_without_sentiment_gets_no_lookup(setup: tuple[MarketData, Trained], sqlite_engine: object) -> None:
    from tftrade.forecast.rolling import uses_sentiment
    from tftrade.live.predict_worker import PredictWorker
    from tftrade.stream.memory import InMemoryBus

    m, trained = setup
    assert not uses_sentiment(trained)
    worker = PredictWorker(InMemoryBus(), TftPredictor(trained), m.tickers, m.sectors, "1min",
                           engine=sqlite_engine)  # type: ignore[arg-type]
    assert isinstance(worker.predictor, TftPredictor) and worker.predictor.sentiment is None


def test_the_predict_worker_gets_ahead_between_bars_and_publishes_the_same_forecasts(
        setup: tuple[MarketData, Trained]) -> None:
    import threading
    import time

    from tftrade.live.predict_worker import PredictWorker
    from tftrade.stream.memory import InMemoryBus
    from tftrade.stream.messages import BarMessage, PredictionMessage

    m, trained = setup
    bus = InMemoryBus()
    bus.subscribe("predictions", "test", "t")
    worker = PredictWorker(bus, TftPredictor(trained), m.tickers, m.sectors, "1min", keep_latencies=True,
                           prepare_after_ms=0)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    rows = WARMUP + trained.config.context + 8
    try:
        for t in range(rows):  # one cross-section at a time, each complete: the worker prepares once idle after each
            bus.publish_many("market_data", [BarMessage(x, int(m.timestamps[t]), float(m.open[t, i]),
                                                        float(m.high[t, i]), float(m.low[t, i]),
                                                        float(m.close[t, i]), float(m.volume[t, i]))
                                             for i, x in enumerate(m.tickers)])
            deadline = time.monotonic() + 30
            while len(worker.counters.prepare_ms) <= t and time.monotonic() < deadline:
                time.sleep(0.002)
            assert len(worker.counters.prepare_ms) == t + 1
    finally:
        stop.set()
        thread.join(10)
    published: dict[int, dict[str, float]] = {}
    said_none: dict[int, set[str]] = {}  # the warm-up bars: "no forecast", with the reason
    for d in bus.read("predictions", "test", "t", count=100_000, block_ms=0):
        assert isinstance(d.message, PredictionMessage)
        if d.message.horizon == 0:
            assert d.message.reason.startswith("warm-up: ")
            said_none.setdefault(d.message.as_of_ns, set()).add(d.message.reason)
        else:
            published.setdefault(d.message.as_of_ns, {})[d.message.ticker] = d.message.q50
    assert len(published) == 9 and len(said_none) == rows - 9
    plain = TftPredictor(trained)
    for t in range(rows):
        q = plain.predict(m, t)
        if q is not None:
            got = published[int(m.timestamps[t])]
            np.testing.assert_allclose([got[x] for x in m.tickers], q.q50, rtol=1e-6, atol=1e-9)
    predictor = worker.predictor
    assert isinstance(predictor, TftPredictor) and predictor._rolling is not None
    assert predictor._rolling.streaming.prefix_forecasts == 9  # every forecast ran on the prefix prepared before


def test_the_predict_worker_waits_for_the_decision_before_getting_ahead(setup: tuple[MarketData, Trained]) -> None:
    import threading
    import time

    from tftrade.live.predict_worker import PredictWorker
    from tftrade.stream.memory import InMemoryBus
    from tftrade.stream.messages import BarMessage

    m, trained = setup
    bus = InMemoryBus()
    worker = PredictWorker(bus, TftPredictor(trained), m.tickers, m.sectors, "1min", keep_latencies=True,
                           prepare_after_ms=60_000)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        bus.publish_many("market_data", [BarMessage(x, int(m.timestamps[0]), float(m.open[0, i]), float(m.high[0, i]),
                                                    float(m.low[0, i]), float(m.close[0, i]), float(m.volume[0, i]))
                                         for i, x in enumerate(m.tickers)])
        deadline = time.monotonic() + 30
        while worker.counters.cross_sections < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.3)  # several quiet reads (block_ms 50), all within prepare_after_ms
        assert worker.counters.cross_sections == 1 and worker.counters.prepare_ms == []
    finally:
        stop.set()
        thread.join(10)
