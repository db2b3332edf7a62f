"""check_bar_columns (the stream's columnar validation) agrees with validate_bars on every batch.

Property: on random batches mixing clean bars with every kind of fault (bad tickers, off-grid and
out-of-session times, non-positive, huge, unstorable and missing prices, bad volumes, exact and
conflicting repeats), the columnar check gives up (``None``) exactly when ``validate_bars`` rejects a
row for a field, and otherwise keeps the same rows with the same ticks, volumes, duplicates and conflicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tftrade.data.validation import CONFLICT_KIND, check_bar_columns, validate_bars

T0 = int(pd.Timestamp("2024-01-02 15:00", tz="UTC").value)  # 10:00 New York, a Tuesday
DAY0 = int(pd.Timestamp("2024-01-02", tz="America/New_York").value)
MIN = 60_000_000_000
TICKERS = ["AAPL", "BRK.B", "^VIX", "A", "MSFT"]
FAULTS = {  # one kind of fault per batch, on some of its rows (a clean batch gets none)
    "bad ticker": ("ticker", ["", "aapl", "A\u200bB", "TOO-LONG-TICKER-NAME", "A B"]),
    "seconds inside a minute": ("start_ns", [T0 + 30_000_000_000, T0 + 1]),
    "off the 5-minute grid": ("start_ns", [T0 + MIN, T0 + 7 * MIN]),
    "outside the session": ("start_ns", [T0 - 120 * MIN, T0 + 600 * MIN, T0 + 4 * 24 * 60 * MIN]),
    "not a trading day": ("start_ns", [DAY0 + 4 * 86_400_000_000_000, DAY0 + 3_600_000_000_000]),
    "non-positive price": ("low", [0.0, -1.0]),
    "price too large": ("high", [1e11, float("inf")]),
    "price below 4 decimals": ("prices", [0.00001, 0.00012, 0.00015]),
    "missing price": ("close", [float("nan")]),
    "high below close": ("high", [9.0]),
    "low above open": ("low", [10.75]),
    "bad volume": ("volume", [-1.0, 1.5, 2.0**63, 1e19, float("nan"), float("inf")]),
}


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, dict[str, np.ndarray]]:
    timeframe = draw(st.sampled_from(["1min", "5min", "1day"]))
    n = draw(st.integers(1, 25))
    rows = st.lists(st.integers(0, 3), min_size=n, max_size=n)
    ticker = np.array([TICKERS[k] for k in draw(rows)], dtype=object)
    step = 86_400_000_000_000 if timeframe == "1day" else 5 * MIN
    base = DAY0 if timeframe == "1day" else T0
    cols: dict[str, np.ndarray] = {"ticker": ticker,
                                   "start_ns": np.array([base + k * step for k in draw(rows)], dtype=np.int64)}
    low = np.array([10.0 + 0.25 * k for k in draw(rows)])
    cols["low"], cols["open"], cols["close"] = low, low + 0.25 * np.array(draw(rows)), low + 0.5
    cols["high"] = np.maximum(cols["open"], cols["close"]) + 0.25
    cols["volume"] = np.array([[0.0, 5.0, 100.0, -0.0][k] for k in draw(rows)])
    fault = draw(st.sampled_from([None, *FAULTS]))
    if fault is not None:
        column, bad = FAULTS[fault]
        hit = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
        for k in hit:
            value = draw(st.sampled_from(bad))
            for name in ("open", "high", "low", "close") if column == "prices" else (column,):
                cols[name] = cols[name].copy()
                cols[name][k] = value
    return timeframe, cols


@settings(max_examples=400, deadline=None)
@given(batches())
def test_columnar_check_agrees_with_validate_bars(batch: tuple[str, dict[str, np.ndarray]]) -> None:
    timeframe, cols = batch
    values = {k: cols[k] for k in ("open", "high", "low", "close", "volume")}
    n = len(cols["ticker"])
    frame = pd.DataFrame({"ticker": cols["ticker"], "window_start": pd.to_datetime(cols["start_ns"], utc=True),
                          **values, "price_only": False, "raw_row": np.arange(n, dtype=np.int64)})
    slow = validate_bars(frame, timeframe)
    fast = check_bar_columns(cols["ticker"], cols["start_ns"], values, timeframe)
    field_rejects = (slow.rejects["kind"] != CONFLICT_KIND).any()
    assert (fast is None) == bool(field_rejects)
    if fast is None:
        return
    good = slow.good
    assert fast.keep.tolist() == good["raw_row"].tolist()
    for name in ("open", "high", "low", "close"):
        assert fast.ticks[name].tolist() == good[name].tolist()
    assert fast.volume.tolist() == good["volume"].tolist()
    assert fast.conflicts.tolist() == slow.rejects["row_number"].tolist()
    assert fast.duplicates == slow.duplicates
    assert (cols["start_ns"][fast.keep] // 1000).tolist() == good["window_start"].astype("int64").tolist()
