"""Momentum from stored aggregates into reddit_sentiment_momentum, and the forecaster's stored panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from tftrade.sentiment import SentimentError
from tftrade.sentiment.aggregate import aggregate, stored_panel, write_aggregates
from tftrade.sentiment.momentum import MomentumConfig, momentum
from tftrade.sentiment.pipeline import momentum_store
from tftrade.store.momentum import read_momentum


def _mentions() -> pd.DataFrame:
    """One AMD comment a minute for 40 minutes, bearish then bullish, then a burst of 30 in minute 40."""
    t0 = pd.Timestamp("2024-01-02 15:00", tz="UTC")
    times = [t0 + pd.Timedelta(minutes=k) for k in range(40)] + [t0 + pd.Timedelta(minutes=40, seconds=s)
                                                                  for s in range(30)]
    score = [-0.5] * 20 + [0.6] * 20 + [0.6] * 30
    return pd.DataFrame({"ticker": "AMD", "timestamp": times, "sentiment_score": score})


def test_momentum_is_stored_idempotently_and_read_back(any_engine: Engine) -> None:
    write_aggregates(any_engine, aggregate(_mentions(), "1min").frame)
    rows, written = momentum_store(any_engine, "1min")
    assert written == len(rows) == 41
    again, written_again = momentum_store(any_engine, "1min")
    assert written_again == 41
    stored = read_momentum(any_engine, ["AMD"], "1min")
    assert len(stored) == 41
    assert stored["crossover"].tolist() == again["crossover"].tolist()
    assert stored["crossover"].sum() == 1 and stored["crossover"].iloc[20] == 1
    assert stored["burst"].iloc[-1] and not stored["burst"].iloc[:-1].any()
    assert stored["volume_z"].iloc[:10].isna().all() and stored["volume_z"].iloc[-1] > 3
    expected = momentum(aggregate(_mentions(), "1min").frame, MomentumConfig())
    np.testing.assert_allclose(stored["ewma_slow"], expected["ewm_slow"], atol=1e-3)  # aggregates stored to 3 dp


def test_no_store_leaves_the_table_empty(sqlite_engine: Engine) -> None:
    write_aggregates(sqlite_engine, aggregate(_mentions(), "1min").frame)
    rows, written = momentum_store(sqlite_engine, "1min", store=False)
    assert written == 0 and len(rows) == 41
    assert read_momentum(sqlite_engine, window="1min").empty


def test_stored_panel_feeds_the_forecaster(any_engine: Engine) -> None:
    write_aggregates(any_engine, aggregate(_mentions(), "5min").frame)
    times = pd.date_range("2024-01-02 14:55", periods=11, freq="5min", tz="UTC")
    score, count = stored_panel(any_engine, times, ["AMD", "TSLA"], "5min")
    assert score.shape == count.shape == (11, 2)
    assert np.isnan(score[0, 0]) and count[0, 0] == 0  # before the first comment
    assert score[1, 0] == pytest.approx(-0.5) and count[1, 0] == 5
    assert score[9, 0] == pytest.approx(0.6) and count[9, 0] == 30  # 15:40 window holds the burst
    assert np.isnan(score[:, 1]).all() and (count[:, 1] == 0).all()
    with pytest.raises(SentimentError, match="unknown window"):
        stored_panel(any_engine, times, ["AMD"], "2min")
