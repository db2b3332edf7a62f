"""Pivoting stored bars into cross-sections; benchmark and VIX series; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tftrade.backtest import BacktestError, from_frame


def bars() -> pd.DataFrame:
    t = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"], utc=True)
    rows = [("AAA", t[0], 10.0), ("AAA", t[1], 11.0), ("AAA", t[2], 12.0), ("BBB", t[1], 20.0), ("BBB", t[2], 21.0),
            ("^GSPC", t[0], 4000.0), ("^GSPC", t[2], 4100.0), ("^VIX", t[0], 15.0)]
    f = pd.DataFrame(rows, columns=["ticker", "window_start", "close"])
    return f.assign(open=f["close"], high=f["close"], low=f["close"], volume=100)


def test_pivot_marks_missing_bars_nan_and_takes_out_indices() -> None:
    m = from_frame(bars(), timeframe="1day", sectors={"AAA": "Tech"}, benchmark="^GSPC", vix="^VIX")
    assert m.tickers == ("AAA", "BBB") and m.sectors == ("Tech", "Unknown")
    assert np.isnan(m.close[0, 1]) and m.close[2].tolist() == [12.0, 21.0] and m.volume[0, 1] == 0
    assert m.benchmark is not None and m.benchmark.tolist() == [4000.0, 4000.0, 4100.0]  # forward-filled
    assert m.vix is not None and m.vix.tolist() == [15.0, 15.0, 15.0]


def test_head_is_a_prefix() -> None:
    m = from_frame(bars(), timeframe="1day", benchmark="^GSPC")
    h = m.head(2)
    assert h.n_times == 2 and h.close.tolist()[0][0] == 10.0 and h.benchmark is not None and len(h.benchmark) == 2


@pytest.mark.parametrize(("frame", "message"), [
    (bars().drop(columns=["close"]), "lack column"),
    (bars()[bars()["ticker"].str.startswith("^")], "no tradable tickers"),
])
def test_bad_frames_are_refused(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(BacktestError, match=message):
        from_frame(frame, timeframe="1day")
