"""The live window is the historical assembly: bars fed through the assembler into a rolling window
give exactly the arrays of :func:`~tftrade.features.market.assemble_bars` (and the backtest's market)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tftrade.backtest.market import from_frame
from tftrade.features.market import BarArrays, assemble_bars
from tftrade.live.assembler import Assembler
from tftrade.live.window import RollingMarket
from tftrade.stream.messages import BarMessage

SERIES = {"benchmark": "^MKT", "vix": "^VIX"}
TICKERS = ("AAA", "BBB", "CCC")


def gapped_market() -> pd.DataFrame:
    """Minute bars: BBB misses two minutes, CCC lists late, ^MKT misses one, ^VIX reports alone once."""
    rng = np.random.default_rng(11)
    t0 = pd.Timestamp("2024-03-04 14:30", tz="UTC")
    rows = []
    for k in range(30):
        when = t0 + pd.Timedelta(minutes=k)
        for i, name in enumerate(TICKERS):
            if k == 12 or (name == "BBB" and k in (3, 4)) or (name == "CCC" and k < 6):
                continue  # minute 12: no universe bar at all
            p = 20.0 * (i + 1) + float(rng.normal())
            rows.append((name, when, p, p + 0.5, p - 0.5, p + 0.1, float(rng.integers(1, 500))))
        if k != 8:
            rows.append(("^MKT", when, 4000.0 + k, 4000.0 + k, 4000.0 + k, 4000.0 + k, 0.0))
        if k in (2, 12, 20):  # at minute 12 the volatility index is the only bar
            rows.append(("^VIX", when, 15.0 + k, 15.0 + k, 15.0 + k, 15.0 + k, 0.0))
    return pd.DataFrame(rows, columns=["ticker", "window_start", "open", "high", "low", "close", "volume"])


def live_window(bars: pd.DataFrame, capacity: int) -> tuple[RollingMarket, Assembler]:
    """Feed ``bars`` as bus messages (minute by minute, shuffled inside a minute, one duplicate) into a window."""
    window = RollingMarket(TICKERS, ("S",) * 3, "1min", capacity=capacity, benchmark=True, vix=True)
    assembler = Assembler(TICKERS, SERIES)
    rng = np.random.default_rng(0)
    ordered = bars.assign(key=rng.random(len(bars))).sort_values(["window_start", "key"])
    for n, r in enumerate(ordered.itertuples()):
        msg = BarMessage(ticker=r.ticker, start_ns=pd.Timestamp(r.window_start).value, open=r.open, high=r.high,
                         low=r.low, close=r.close, volume=r.volume)
        for again in range(2 if n == 5 else 1):
            for cs in assembler.add(msg, f"{n}-{again}"):
                window.append(cs.timestamp_ns, cs.open, cs.high, cs.low, cs.close, cs.volume, cs.series)
    for cs in assembler.flush():
        window.append(cs.timestamp_ns, cs.open, cs.high, cs.low, cs.close, cs.volume, cs.series)
    return window, assembler


def assert_window_equals(window: RollingMarket, market: BarArrays) -> None:
    np.testing.assert_array_equal(window.timestamps, market.timestamps)
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(window, name), getattr(market, name), err_msg=name)
    np.testing.assert_array_equal(window.present, market.present)
    np.testing.assert_array_equal(window.benchmark, market.series["benchmark"])
    np.testing.assert_array_equal(window.vix, market.series["vix"])


@pytest.mark.parametrize("capacity", [100, 7, 1])
def test_a_live_window_equals_the_historical_assembly_of_the_same_bars(capacity: int) -> None:
    bars = gapped_market()
    history = assemble_bars(bars, TICKERS, SERIES)
    assert history.timestamps.shape == (29,) and not history.present.all()  # the gaps are there
    window, assembler = live_window(bars, capacity)
    assert_window_equals(window, history.rows(max(0, 29 - capacity)))
    assert assembler.duplicates == 1 and assembler.late == 0


def test_the_backtest_market_is_the_same_assembly() -> None:
    bars = gapped_market()
    market = from_frame(bars, timeframe="1min", benchmark="^MKT", vix="^VIX")
    window, _ = live_window(bars, 100)
    np.testing.assert_array_equal(market.close, window.close)
    np.testing.assert_array_equal(market.present, window.present)
    np.testing.assert_array_equal(market.vix, window.vix)


def test_series_alone_in_a_minute_are_acked_with_the_next_cross_section() -> None:
    a = Assembler(("AAA",), {"vix": "^VIX"})
    assert a.add(BarMessage(ticker="AAA", start_ns=1, open=1, high=1, low=1, close=1, volume=1), "a1") == []
    closed = a.add(BarMessage(ticker="^VIX", start_ns=2, open=0, high=0, low=0, close=20, volume=0), "v2")
    assert [c.timestamp_ns for c in closed] == [1]  # the second minute is complete (only ^VIX) but no row
    closed = a.add(BarMessage(ticker="AAA", start_ns=3, open=3, high=3, low=3, close=3, volume=1), "a3")
    assert closed == []
    (cs,) = a.flush()
    assert cs.timestamp_ns == 3 and cs.series == {"vix": 20.0} and cs.ids == ("v2", "a3")


def test_a_warm_window_is_the_assembly_of_the_stored_bars(sqlite_engine: object) -> None:
    from tftrade.live.warm import warm_window
    from tftrade.store.bars import insert_bars, read_bars

    bars = gapped_market()
    ticks = {c: (bars[c] * 10_000).round().astype("int64") for c in ("open", "high", "low", "close")}
    with sqlite_engine.begin() as conn:  # type: ignore[attr-defined]
        insert_bars(conn, bars.assign(price_only=False, **ticks), "1min", "test")
    window = RollingMarket(TICKERS, ("S",) * 3, "1min", capacity=10, benchmark=True, vix=True)
    assembler = Assembler(TICKERS, SERIES)
    end = int(bars["window_start"].max().value) + 60_000_000_000  # exclusive
    assert warm_window(sqlite_engine, window, assembler, until_ns=end) == 10  # type: ignore[arg-type]
    stored = read_bars(sqlite_engine, None, "1min")  # type: ignore[arg-type]
    assert_window_equals(window, assemble_bars(stored, TICKERS, SERIES).rows(19))
    assert assembler.last_closed == int(bars["window_start"].max().value)
