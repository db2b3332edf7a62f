"""One assembly of long bars: the raw market (NaN where a bar is missing) and the features' gap rule,
checked against an independent pandas pivot (the rule training used before the assembly moved here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tftrade.features.errors import FeatureError
from tftrade.features.market import assemble_bars, feature_prices, forward_fill

MINUTE = 60_000_000_000


def gapped_bars(seed: int, n: int = 5, t: int = 40) -> pd.DataFrame:
    """Minute bars of ``n`` tickers with random holes, a late listing and an index series."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-04 14:30", tz="UTC")
    rows = []
    for i in range(n):
        price = 50.0 + 10 * i
        for k in range(t):
            price *= float(np.exp(rng.normal(0, 0.01)))
            if (i == 1 and k < 7) or (k > 0 and rng.random() < 0.15):  # T1 listed late; random holes
                continue
            rows.append((f"T{i}", start + pd.Timedelta(minutes=k), price * 1.001, price * 1.004, price * 0.996, price,
                         float(rng.integers(1, 1000))))
    frame = pd.DataFrame(rows, columns=["ticker", "window_start", "open", "high", "low", "close", "volume"])
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # any row order


def pandas_reference(bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The pivot_table assembly ``panel_from_bars`` used: close forward-filled, o/h/l from it, volume 0."""
    frame = bars.sort_values(["window_start", "ticker"])
    wide = {c: frame.pivot_table(index="window_start", columns="ticker", values=c, aggfunc="last")
            for c in ("open", "high", "low", "close", "volume")}
    close = wide["close"].ffill()
    out = {c: wide[c].fillna(close) for c in ("open", "high", "low")}
    return {**out, "close": close, "volume": wide["volume"].fillna(0.0), "raw_close": wide["close"]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_raw_market_and_feature_prices_follow_the_one_gap_rule(seed: int) -> None:
    bars = gapped_bars(seed)
    m = assemble_bars(bars)
    ref = pandas_reference(bars)
    assert list(m.tickers) == [str(c) for c in ref["close"].columns]
    np.testing.assert_array_equal(m.timestamps, pd.DatetimeIndex(ref["close"].index).as_unit("ns").asi8)
    # raw: NaN prices and volume 0 where a bar is missing, the bar itself where present
    np.testing.assert_array_equal(m.close, ref["raw_close"].to_numpy())
    assert (m.volume[~m.present] == 0).all() and np.isnan(m.open[~m.present]).all()
    assert m.present.sum() == len(bars)
    # features: exactly the pivot_table rule
    f = m.features()
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(f, name), ref[name].to_numpy(np.float64), err_msg=name)
    assert np.isnan(f.close[:7, 1]).all() and np.isfinite(f.close[7:]).all()  # leading gap stays missing


def test_feature_prices_are_idempotent_and_leave_complete_arrays_alone() -> None:
    m = assemble_bars(gapped_bars(4))
    once = m.features()
    twice = feature_prices(*once)
    for a, b in zip(once, twice, strict=True):
        np.testing.assert_array_equal(a, b)
    full = np.arange(1.0, 7.0).reshape(3, 2)
    assert feature_prices(full, full, full, full, full).close is full


def test_forward_fill_matches_pandas() -> None:
    rng = np.random.default_rng(5)
    a = np.where(rng.random((50, 6)) < 0.4, np.nan, rng.normal(size=(50, 6)))
    np.testing.assert_array_equal(forward_fill(a), pd.DataFrame(a).ffill().to_numpy())


def test_series_carry_forward_add_no_timestamps_and_leave_the_universe() -> None:
    t = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], utc=True)
    rows = [("AAA", t[0], 10.0), ("AAA", t[2], 12.0), ("AAA", t[3], 13.0), ("^MKT", t[0], 100.0),
            ("^MKT", t[1], 101.0), ("^VIX", t[2], 20.0)]
    f = pd.DataFrame(rows, columns=["ticker", "window_start", "close"])
    f = f.assign(open=f["close"], high=f["close"], low=f["close"], volume=5)
    m = assemble_bars(f, ["AAA"], {"benchmark": "^MKT", "vix": "^VIX"})
    assert m.tickers == ("AAA",) and m.timestamps.shape == (3,)  # t[1] carries only the index: no row
    assert m.series["benchmark"].tolist() == [100.0, 101.0, 101.0]  # t[1]'s close carried into t[2]
    assert np.isnan(m.series["vix"][0]) and m.series["vix"][1:].tolist() == [20.0, 20.0]


def test_bad_input_is_refused() -> None:
    with pytest.raises(FeatureError, match="lack column"):
        assemble_bars(gapped_bars(0).drop(columns=["volume"]))
    with pytest.raises(FeatureError, match="no bar"):
        assemble_bars(gapped_bars(0), ["ZZZ"])


@pytest.mark.parametrize("start", [0, 1, 5, 12, 30])
def test_a_window_of_feature_prices_equals_the_full_history_sliced(start: int) -> None:
    from tftrade.features.market import feature_window

    m = assemble_bars(gapped_bars(7))
    full = m.features()
    end = start + 10
    part = feature_window(*m.prices(), start, end)
    for a, b in zip(part, full, strict=True):
        np.testing.assert_array_equal(a, b[start:end])


def test_one_bar_of_every_ticker_at_one_time_is_placed_as_the_general_assembly_places_it() -> None:
    start = pd.Timestamp("2024-03-04 15:00", tz="UTC")
    universe = ["MSFT", "AAPL", "NVDA", "SPYX"]  # the column order, not sorted
    minute = pd.DataFrame([{"ticker": t, "window_start": start, "open": 10.0 + i, "high": 11.0 + i, "low": 9.0 + i,
                            "close": 10.5 + i, "volume": 100.0 * (i + 1), "price_only": t == "SPYX"}
                           for i, t in enumerate(["NVDA", "SPYX", "AAPL", "MSFT"])])  # any row order
    later = minute.iloc[:1].assign(window_start=start + pd.Timedelta(minutes=1), price_only=False)
    one = assemble_bars(minute, universe)
    general = assemble_bars(pd.concat([minute, later], ignore_index=True), universe).rows(0, 1)
    assert one.tickers == general.tickers and one.price_only == general.price_only == (False, False, False, True)
    np.testing.assert_array_equal(one.timestamps, general.timestamps)
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(one, name), getattr(general, name), err_msg=name)
    assert one.close.tolist() == [[13.5, 12.5, 10.5, 11.5]]


@pytest.mark.parametrize("drop, extra", [(1, None), (0, "MSFT"), (0, "TSLA")])
def test_a_minute_missing_a_ticker_or_with_a_stranger_keeps_the_gap_rule(drop: int, extra: str | None) -> None:
    start = pd.Timestamp("2024-03-04 15:00", tz="UTC")
    rows = [{"ticker": t, "window_start": start, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0 + i,
             "volume": 5.0} for i, t in enumerate(["AAPL", "MSFT", "NVDA"][drop:])]
    if extra is not None:
        rows.append({**rows[0], "ticker": extra, "close": 9.0})
    m = assemble_bars(pd.DataFrame(rows), ["AAPL", "MSFT", "NVDA"])
    assert m.close.shape == (1, 3)
    if drop:
        assert np.isnan(m.close[0, 0]) and m.volume[0, 0] == 0.0  # the missing bar: NaN price, volume 0
