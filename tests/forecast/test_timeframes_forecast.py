"""Forecasting at 5min..1h: future bars on the timeframe's grid inside sessions, sentiment summed per bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tftrade.core.types import Timeframe
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.forecast.prediction import future_timestamps

NY = "America/New_York"


def _times(ns: np.ndarray) -> list[str]:
    return [t.strftime("%m-%d %H:%M") for t in pd.to_datetime(ns, unit="ns", utc=True).tz_convert(NY)]


@pytest.mark.parametrize(("tf", "last", "expected"), [
    # Wednesday before Thanksgiving -> Friday's half day (13:00 close) -> Monday
    ("15min", "2024-11-27 15:45", ["11-29 09:30", "11-29 09:45"] + [None] * 12 + ["12-02 09:30"]),
    ("5min", "2024-11-29 12:50", ["11-29 12:55", "12-02 09:30", "12-02 09:35"]),
    ("30min", "2024-11-27 15:30", ["11-29 09:30", "11-29 10:00", "11-29 10:30", "11-29 11:00", "11-29 11:30",
                                   "11-29 12:00", "11-29 12:30", "12-02 09:30"]),
    ("1h", "2024-11-27 15:30", ["11-29 09:30", "11-29 10:30", "11-29 11:30", "11-29 12:30", "12-02 09:30"]),
    ("1h", "2024-11-27 15:00", ["11-29 10:00", "11-29 11:00", "11-29 12:00", "12-02 10:00"]),  # on the hour
    ("1day", "2024-11-27 00:00", ["11-29 00:00", "12-02 00:00"]),
])
def test_future_bars_follow_the_grid_sessions_and_half_days(tf: Timeframe, last: str,
                                                             expected: list[str | None]) -> None:
    got = _times(future_timestamps(pd.Timestamp(last, tz=NY).value, tf, len(expected)))
    assert len(got) == len(expected)
    assert all(e is None or g == e for g, e in zip(got, expected, strict=True)), got


@pytest.mark.parametrize("tf", ["5min", "15min", "30min", "1h"])
def test_a_long_horizon_stays_inside_sessions(tf: Timeframe) -> None:
    from tftrade.core.timeframes import bar_minutes

    ns = future_timestamps(pd.Timestamp("2024-12-20 15:30", tz=NY).value, tf, 400)
    local = pd.to_datetime(ns, unit="ns", utc=True).tz_convert(NY)
    minute = local.hour * 60 + local.minute
    half = pd.Index(local.date).isin([pd.Timestamp("2024-12-24").date()])
    assert (np.diff(ns) > 0).all() and (minute >= 570).all() and (minute < np.where(half, 780, 960)).all()
    assert ((minute - 570) % bar_minutes(tf) == 0).all()
    assert not pd.Index(local.date).isin([pd.Timestamp("2024-12-25").date(), pd.Timestamp("2025-01-01").date()]).any()


def test_fifteen_minute_bars_see_the_comments_of_their_fifteen_minutes(tmp_path: Path) -> None:
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.forecast.store_sentiment import stored_sentiment
    from tftrade.sentiment.pipeline import aggregate_store, ingest_synthetic_comments
    from tftrade.sentiment.scorer import make_scorer
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    cfg = SyntheticConfig(n_tickers=2, days=2, seed=6, timeframe="15min", comments_per_bar=3.0, spam_bursts=0)
    market = generate_market(cfg)
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    upgrade(engine)
    ingest_synthetic(engine, market)
    ingest_synthetic_comments(engine, market.comments, [(s.ticker, s.name) for s in market.securities],
                              make_scorer("lexicon"))
    aggregate_store(engine, "1min")
    score, count = stored_sentiment(engine, market.timestamps, market.tickers, "15min")
    assert score is not None and count is not None
    created = market.comments["created_utc"].to_numpy(np.int64) * 1_000_000_000
    bar = np.searchsorted(market.timestamps, created, side="right") - 1
    mine = market.comments["ticker"].to_numpy() == market.tickers[0]
    expected = np.bincount(bar[mine & (bar >= 0)], minlength=len(market.timestamps))
    assert count[:, 0].sum() > 0.8 * expected.sum()  # a few comments name no ticker the extractor finds
    assert np.corrcoef(count[:, 0], expected)[0, 1] > 0.9
    assert np.isfinite(score[count[:, 0] > 0, 0]).all() and np.isnan(score[count[:, 0] == 0, 0]).all()
