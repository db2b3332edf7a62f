"""Sentiment momentum: volume surprises, EWMA crossovers and bursts, per ticker.

Input is a regular aggregated series (:func:`tftrade.sentiment.aggregate.aggregate`
with empty windows filled). For each ticker, at window :math:`t`:

* ``volume_z`` — :math:`(n_t - \\mu_t) / \\sigma_t` where :math:`n` is the effective
  (noise-weighted) comment count and :math:`\\mu_t, \\sigma_t` its mean and standard
  deviation over the ``baseline`` windows *before* :math:`t` (NaN until
  ``min_periods`` are seen; :math:`\\sigma` floored at 1 comment),
* ``ewm_fast``, ``ewm_slow`` — exponentially weighted averages of the sentiment
  (spans ``fast`` and ``slow``; empty windows carry the last average forward),
* ``crossover`` — ``+1`` in the window where fast crosses above slow, ``-1`` where
  it crosses below, else ``0``; ``trend`` is the sign of fast − slow,
* ``burst`` — ``volume_z`` above ``burst_z``.

Every value at :math:`t` uses windows up to :math:`t` only (no look-ahead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tftrade.sentiment.errors import SentimentError

MOMENTUM_COLUMNS = ("ticker", "time_window", "volume_z", "ewm_fast", "ewm_slow", "trend", "crossover", "burst")
_STORED_NAMES = {"time_window": "window_start", "ewm_fast": "ewma_fast", "ewm_slow": "ewma_slow"}


@dataclass(frozen=True)
class MomentumConfig:
    """Parameters of :func:`momentum`."""

    baseline: int = 60
    min_periods: int = 10
    fast: int = 5
    slow: int = 30
    burst_z: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise SentimentError(f"need 0 < fast < slow spans, got fast={self.fast}, slow={self.slow}")
        if not 1 < self.min_periods <= self.baseline:
            raise SentimentError(f"need 1 < min_periods <= baseline, got {self.min_periods}, {self.baseline}")


def momentum(aggregates: pd.DataFrame, config: MomentumConfig | None = None) -> pd.DataFrame:
    """Return the momentum features (:data:`MOMENTUM_COLUMNS`) of each ticker's aggregated series.

    Examples
    --------
    >>> t = pd.date_range("2024-01-02 15:00", periods=40, freq="1min", tz="UTC")
    >>> agg = pd.DataFrame({"ticker": "X", "time_window": t, "total_comments": [1] * 39 + [30],
    ...                     "avg_sentiment": [-0.2] * 20 + [0.6] * 20})
    >>> m = momentum(agg)
    >>> bool(m["burst"].iloc[-1]), int(m["crossover"].sum()), int(m["crossover"].iloc[20])
    (True, 1, 1)
    """
    cfg = config or MomentumConfig()
    if aggregates.empty:
        return pd.DataFrame(columns=list(MOMENTUM_COLUMNS))
    parts = [_one(g.sort_values("time_window"), cfg) for _, g in aggregates.groupby("ticker", sort=True)]
    return pd.concat(parts, ignore_index=True)


def _one(g: pd.DataFrame, cfg: MomentumConfig) -> pd.DataFrame:
    count_col = "effective_comments" if "effective_comments" in g else "total_comments"
    n = g[count_col].astype(float)
    past = n.shift(1).rolling(cfg.baseline, min_periods=cfg.min_periods)
    sd = past.std().clip(lower=1.0)
    z = (n - past.mean()) / sd
    s = pd.to_numeric(g["avg_sentiment"], errors="coerce").astype(float).ffill().fillna(0.0)
    fast = s.ewm(span=cfg.fast, adjust=False).mean()
    slow = s.ewm(span=cfg.slow, adjust=False).mean()
    trend = np.sign(fast - slow).astype(int)
    prev = trend.shift(1).fillna(0).astype(int)
    not_first = np.arange(len(g)) > 0
    cross = np.where((trend > 0) & (prev <= 0) & not_first, 1, np.where((trend < 0) & (prev >= 0) & not_first, -1, 0))
    return pd.DataFrame({
        "ticker": g["ticker"].to_numpy(),
        "time_window": g["time_window"].to_numpy(),
        "volume_z": z.to_numpy(),
        "ewm_fast": fast.to_numpy(),
        "ewm_slow": slow.to_numpy(),
        "trend": trend.to_numpy(),
        "crossover": cross,
        "burst": (z > cfg.burst_z).fillna(False).to_numpy(dtype=bool),
    })


def momentum_rows(features: pd.DataFrame, window: str) -> pd.DataFrame:
    """Return :func:`momentum` output as rows of ``reddit_sentiment_momentum`` for ``window``.

    Columns: ticker, window, window_start, volume_z, ewma_fast, ewma_slow, crossover, burst
    (:data:`tftrade.store.momentum.MOMENTUM_ROW_COLUMNS`); ``trend`` is dropped (it is the sign
    of ``ewma_fast - ewma_slow``).

    Examples
    --------
    >>> t = pd.date_range("2024-01-02 15:00", periods=3, freq="5min", tz="UTC")
    >>> agg = pd.DataFrame({"ticker": "X", "time_window": t, "total_comments": 1, "avg_sentiment": 0.1})
    >>> list(momentum_rows(momentum(agg), "5min").columns)[:4]
    ['ticker', 'window', 'window_start', 'volume_z']
    """
    from tftrade.store.momentum import MOMENTUM_ROW_COLUMNS

    out = features.rename(columns=_STORED_NAMES).assign(window=window)
    return out[list(MOMENTUM_ROW_COLUMNS)].reset_index(drop=True)
