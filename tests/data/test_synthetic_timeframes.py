"""The synthetic market at every timeframe: bars on the grid, inside sessions, storable, volatility annualised right."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tftrade.core.timeframes import bar_minutes, periods_per_year
from tftrade.core.types import Timeframe
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.data.validation import validate_bars

NY = "America/New_York"


@pytest.mark.parametrize(("tf", "per_day"), [("5min", 78), ("15min", 26), ("30min", 13), ("1h", 7)])
def test_bars_sit_on_the_grid_inside_sessions_and_validate(tf: Timeframe, per_day: int) -> None:
    # 2024-07-01 .. : 07-03 is a half day (13:00 close), 07-04 a holiday
    m = generate_market(SyntheticConfig(n_tickers=2, days=4, seed=1, timeframe=tf, start=pd.Timestamp("2024-07-01")))
    local = pd.DatetimeIndex(pd.to_datetime(m.timestamps, unit="ns", utc=True)).tz_convert(NY)
    counts = pd.Series(local.date).value_counts().sort_index()
    half = -(-210 // bar_minutes(tf))
    assert [str(d) for d in counts.index] == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05"]
    assert counts.tolist() == [per_day, per_day, half, per_day]
    minute = local.hour * 60 + local.minute
    assert ((minute - 570) % bar_minutes(tf) == 0).all() and (minute >= 570).all() and (minute < 960).all()
    assert (minute[local.date == pd.Timestamp("2024-07-03").date()] < 780).all()
    checked = validate_bars(m.bars_frame(), tf)
    assert len(checked.rejects) == 0 and len(checked.good) == m.close.size


@pytest.mark.parametrize("tf", ["1min", "15min", "1h", "1day"])
def test_market_volatility_is_twenty_percent_a_year_at_every_timeframe(tf: Timeframe) -> None:
    days = {"1min": 20, "15min": 120, "1h": 400, "1day": 900}[tf]
    m = generate_market(SyntheticConfig(n_tickers=1, days=days, seed=2, timeframe=tf, high_vol_prob=0.0))
    annual = float(np.std(m.market_returns) * np.sqrt(periods_per_year(tf)))
    assert 0.16 < annual < 0.24


def test_longer_bars_trade_more_volume_per_bar() -> None:
    one = generate_market(SyntheticConfig(n_tickers=3, days=2, seed=3, timeframe="1min"))
    fifteen = generate_market(SyntheticConfig(n_tickers=3, days=2, seed=3, timeframe="15min"))
    assert 8 < np.median(fifteen.volume) / np.median(one.volume) < 25


def test_comments_fall_inside_their_bar() -> None:
    m = generate_market(SyntheticConfig(n_tickers=2, days=2, seed=4, timeframe="30min", spam_bursts=0,
                                        comments_per_bar=2.0))
    created = m.comments["created_utc"].to_numpy(np.int64) * 1_000_000_000
    bar = np.searchsorted(m.timestamps, created, side="right") - 1
    assert (bar >= 0).all() and (created - m.timestamps[bar] < 30 * 60 * 1_000_000_000).all()
