"""Loaders for the public data sets in ``shared/data`` as feature panels.

``dow_1min`` has prices only: its bars are price-only series (open = high = low = close = the
minute's price, no volume), so returns and close-based indicators come from the price and the
OHLC- and volume-based inputs are masked and left out of the model (see
:func:`tftrade.features.dataset.absent_inputs`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tftrade.features.dataset import Panel
from tftrade.forecast.data import panel_from_bars


def sp500_daily(folder: Path, n_tickers: int | None = 50) -> Panel:
    """Return the S&P 500 daily panel (first ``n_tickers`` alphabetically with complete, positive history)."""
    raw = pd.read_csv(folder / "all_stocks_5yr.csv.gz").rename(columns={"Name": "ticker", "date": "window_start"})
    raw["window_start"] = pd.to_datetime(raw["window_start"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    for c in ("open", "high", "low"):
        raw[c] = raw[c].fillna(raw["close"])
    full = raw.groupby("ticker").size()
    positive = raw.groupby("ticker")[["open", "high", "low", "close"]].min().min(axis=1) > 0
    good = sorted(t for t in full.index if full[t] == full.max() and positive[t])[:n_tickers]
    sectors = pd.read_csv(folder / "constituents_2018-04-02.csv").set_index("Symbol")["Sector"].to_dict()
    return panel_from_bars(raw[raw["ticker"].isin(good)], "1day", {t: str(sectors.get(t, "unknown")) for t in good})


def dow_1min(folder: Path, days: int | None = None) -> Panel:
    """Return the Dow minute panel (9 tickers), optionally only its first ``days`` sessions."""
    raw = pd.read_csv(next(folder.glob("dow9_1min_*.csv.gz")))
    if days is not None:
        raw = raw[raw["date"].isin(sorted(raw["date"].unique())[:days])]
    local = pd.to_datetime(raw["date"]) + pd.Timedelta(hours=9, minutes=30) + pd.to_timedelta(raw["minute_idx"], "m")
    raw = raw.assign(window_start=local.dt.tz_localize("America/New_York").dt.tz_convert("UTC"))
    raw = raw.sort_values(["ticker", "window_start"])
    price = raw["price"].to_numpy(np.float64)
    bars = pd.DataFrame({
        "ticker": raw["ticker"].to_numpy(), "window_start": raw["window_start"].to_numpy(), "open": price,
        "high": price, "low": price, "close": price, "volume": 0.0, "price_only": True,
    })
    return panel_from_bars(bars, "1min")
