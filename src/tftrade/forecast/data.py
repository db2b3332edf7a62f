"""From a market (synthetic or bars from the store) to a feature panel and time-ordered splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tftrade.core.types import Float64Array, Int64Array, Timeframe
from tftrade.data.synthetic import SyntheticMarket
from tftrade.features.dataset import WARMUP, Panel, WindowIndex, build_panel, windows
from tftrade.features.errors import FeatureError
from tftrade.features.known import earnings_flags
from tftrade.features.market import BarArrays, assemble_bars
from tftrade.features.sentiment import aggregate_comments

SentimentSource = Literal["latent", "comments", "none"]


def panel_from_market(market: SyntheticMarket, sentiment: SentimentSource = "comments") -> Panel:
    """Build a feature panel from a synthetic market.

    ``sentiment="comments"`` averages the comments' ``true_tone`` per bar (what a scorer would see);
    ``"latent"`` uses ``tanh`` of the generator's sentiment process directly (one clean reading per bar);
    ``"none"`` leaves the sentiment features at zero.
    """
    tickers = market.tickers
    score = count = None
    if sentiment == "latent":
        score, count = np.tanh(market.sentiment), np.ones_like(market.sentiment)
    elif sentiment == "comments":
        score, count = aggregate_comments(market.comments, market.timestamps, tickers, "true_tone")
    return build_panel(
        tickers=tickers, sectors=[s.sector for s in market.securities], timestamps=market.timestamps,
        open_=market.open, high=market.high, low=market.low, close=market.close,
        volume=market.volume.astype(np.float64), timeframe=market.config.timeframe,
        sentiment_score=score, sentiment_count=count,
        earnings=earnings_flags(market.timestamps, tickers, _sessions(market)),
    )


def _sessions(market: SyntheticMarket) -> dict[str, list[object]]:
    return {k: list(v) for k, v in market.planted.earnings_sessions.items()}


SentimentLookup = Callable[[Int64Array, list[str]], tuple[Float64Array | None, Float64Array | None]]
"""``(bar timestamps, tickers) -> (score, count)`` time × ticker arrays, or ``(None, None)`` when absent."""


def panel_from_bars(
    bars: pd.DataFrame, timeframe: Timeframe, sectors: dict[str, str] | None = None,
    sentiment: SentimentLookup | None = None,
) -> Panel:
    """Build a panel from long bars (ticker, window_start, open, high, low, close, volume).

    ``sentiment``, when given, supplies the comment score and count of each bar (see
    :func:`tftrade.features.stored.SentimentWindows.on_bars`); otherwise the sentiment features
    are zero with ``sentiment_present`` 0.

    A ``price_only`` column (bars ingested from a file of prices only) marks a ticker as price-only:
    its OHLC- and volume-based inputs are masked (see :func:`tftrade.features.dataset.build_panel`).

    Bars are assembled by :func:`tftrade.features.market.assemble_bars` (every ticker of ``bars``)
    and the features see its gap rule (:func:`tftrade.features.market.feature_prices`): a
    ticker's missing bars carry its last close (volume 0). Leading bars before a ticker's first
    trade stay missing and raise :class:`FeatureError`, so select tickers with full history first.
    """
    market = assemble_bars(bars, sorted(str(t) for t in bars["ticker"].unique()))
    return panel_from_arrays(market, timeframe, sectors, sentiment)


def panel_from_arrays(
    market: BarArrays, timeframe: Timeframe, sectors: dict[str, str] | None = None,
    sentiment: SentimentLookup | None = None,
) -> Panel:
    """Build a panel from an assembled market (its feature prices; see :func:`panel_from_bars`)."""
    tickers = list(market.tickers)
    score, count = sentiment(market.timestamps, tickers) if sentiment is not None else (None, None)
    f = market.features()
    return build_panel(
        tickers=tickers, sectors=[(sectors or {}).get(t, "unknown") for t in tickers], timestamps=market.timestamps,
        open_=f.open, high=f.high, low=f.low, close=f.close, volume=f.volume, timeframe=timeframe,
        sentiment_score=score, sentiment_count=count, price_only=list(market.price_only),
    )


@dataclass(frozen=True)
class Splits:
    """Row boundaries: train ``[.., train_end)``, validation ``[train_end, val_end)``, test ``[val_end, T)``."""

    train_end: int
    val_end: int
    n_times: int

    def origins(self, part: Literal["train", "val", "test"], n_tickers: int, context: int, horizon: int) -> WindowIndex:
        """Return the sample windows whose targets lie entirely inside ``part``."""
        first = {"train": WARMUP + context - 1, "val": self.train_end - 1, "test": self.val_end - 1}[part]
        end = {"train": self.train_end, "val": self.val_end, "test": self.n_times}[part]
        return windows(n_tickers, max(first, WARMUP + context - 1), end - horizon - 1)


def time_splits(n_times: int, context: int, horizon: int, fractions: tuple[float, float] = (0.7, 0.15)) -> Splits:
    """Split ``n_times`` rows in time order.

    Raises
    ------
    FeatureError
        If any part would have no complete window.
    """
    usable = n_times - WARMUP
    train_end = WARMUP + int(usable * fractions[0])
    val_end = WARMUP + int(usable * (fractions[0] + fractions[1]))
    splits = Splits(train_end, val_end, n_times)
    need = WARMUP + context + horizon
    if train_end - need < 1 or val_end - train_end <= horizon or n_times - val_end <= horizon:
        raise FeatureError(
            f"{n_times} bars are too few for context {context} + horizon {horizon} + warm-up {WARMUP} "
            "with train/validation/test splits; supply more history or a shorter context"
        )
    return splits
