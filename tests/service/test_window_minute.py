"""The window's one-minute catch-up places bars as the one assembly (``assemble_bars``) does, or declines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tftrade.service.rolling import _arrays, _one_minute

TICKERS = ["MSFT", "AAPL", "NVDA"]  # the universe's column order, not sorted


def _bars(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"ticker": t, "window_start": pd.Timestamp(w, tz="UTC"), "open": c - 1, "high": c + 1,
                          "low": c - 2, "close": c, "volume": 100.0 + c, "price_only": False} for t, w, c in rows])


def test_one_minute_of_every_ticker_is_placed_as_the_assembly_places_it() -> None:
    bars = _bars([("AAPL", "2024-01-02 15:00", 10.0), ("MSFT", "2024-01-02 15:00", 20.0),
                  ("NVDA", "2024-01-02 15:00", 30.0)])  # sorted by ticker, as read_bars gives them
    got = _one_minute(bars, pd.Index(TICKERS))
    assert got is not None
    times, arrays = _arrays(bars, TICKERS)
    np.testing.assert_array_equal(got[0], times)
    for f, a in arrays.items():
        np.testing.assert_array_equal(got[1][f], a, err_msg=f)
    assert got[1]["close"].tolist() == [[20.0, 10.0, 30.0]]


@pytest.mark.parametrize("rows", [
    [("AAPL", "2024-01-02 15:00", 1.0), ("MSFT", "2024-01-02 15:00", 2.0)],  # a ticker missing
    [("AAPL", "2024-01-02 15:00", 1.0), ("MSFT", "2024-01-02 15:00", 2.0), ("MSFT", "2024-01-02 15:01", 3.0)],
    [("AAPL", "2024-01-02 15:00", 1.0), ("MSFT", "2024-01-02 15:00", 2.0), ("AAPL", "2024-01-02 15:00", 3.0)],
    [("AAPL", "2024-01-02 15:00", 1.0), ("MSFT", "2024-01-02 15:00", 2.0), ("TSLA", "2024-01-02 15:00", 3.0)],
    [],
])
def test_anything_else_is_left_to_the_assembly(rows: list[tuple[str, str, float]]) -> None:
    assert _one_minute(_bars(rows), pd.Index(TICKERS)) is None
