"""Out-of-sample forecasts laid out like the market: ``(T, n)`` quantile arrays for one horizon.

A strategy reads row ``t`` (forecasts made at the close of bar ``t`` from bars ``≤ t``); rows with
no forecast are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
import pandas as pd

from tftrade.core.types import BoolArray, Float64Array, Int64Array
from tftrade.strategy.errors import StrategyError


class ForecastRows(Protocol):
    """Where a strategy reads the forecasts made at a bar: a backtest's panel or the live predictions."""

    @property
    def horizon(self) -> int:
        """Bars ahead the forecasts are for."""
        ...

    def row(self, timestamp_ns: int, tickers: tuple[str, ...]) -> tuple[Float64Array, ...] | None:
        """``(q10, q50, q90, confidence)`` made at ``timestamp_ns`` for ``tickers``, or ``None`` if none was made."""
        ...

    def version_at(self, timestamp_ns: int) -> str | None:
        """The version of the model that made the forecasts at ``timestamp_ns`` (``None``: not known)."""
        ...


@dataclass(frozen=True)
class ForecastPanel:
    """Quantile forecasts of the cumulative log return over ``horizon`` bars, as of each row.

    ``importance`` holds the model's variable importance (``static``/``encoder``/``decoder`` →
    variable → share) when known.
    """

    timestamps: Int64Array
    tickers: tuple[str, ...]
    horizon: int
    q10: Float64Array
    q50: Float64Array
    q90: Float64Array
    confidence: Float64Array
    model_version: str = ""
    importance: dict[str, dict[str, float]] | None = None

    def __post_init__(self) -> None:
        shape = (self.timestamps.shape[0], len(self.tickers))
        for name in ("q10", "q50", "q90", "confidence"):
            if getattr(self, name).shape != shape:
                raise StrategyError(f"forecast {name} has shape {getattr(self, name).shape}, expected {shape}")

    def row(self, timestamp_ns: int, tickers: tuple[str, ...]) -> tuple[Float64Array, ...] | None:
        """Return ``(q10, q50, q90, confidence)`` made at ``timestamp_ns`` for ``tickers`` (NaN where unknown).

        ``None`` when no forecast was made at that time.
        """
        i = int(np.searchsorted(self.timestamps, timestamp_ns))
        if i >= self.timestamps.shape[0] or self.timestamps[i] != timestamp_ns:
            return None
        return take_row((self.q10, self.q50, self.q90, self.confidence), i, self.tickers, tickers)

    def version_at(self, timestamp_ns: int) -> str | None:
        """The panel's :attr:`model_version` (one model made every row; ``None`` when it is not named)."""
        return self.model_version or None

    def frame(self, realised: Float64Array | None = None) -> pd.DataFrame:
        """Long frame: ticker, as_of (UTC), horizon, q10, q50, q90, realised (NaN if not given/unknown)."""
        t, n = self.q50.shape
        keep = np.isfinite(self.q50).ravel()
        real = np.full(t * n, np.nan) if realised is None else realised.ravel()
        return pd.DataFrame({
            "ticker": np.tile(np.asarray(self.tickers, dtype=object), t)[keep],
            "as_of": pd.to_datetime(np.repeat(self.timestamps, n)[keep], utc=True),
            "horizon": self.horizon, "q10": self.q10.ravel()[keep], "q50": self.q50.ravel()[keep],
            "q90": self.q90.ravel()[keep], "realised": real[keep],
        })


def take_row(arrays: tuple[Float64Array | None, ...], i: int, columns: tuple[str, ...],
             tickers: tuple[str, ...]) -> tuple[Float64Array, ...]:
    """Row ``i`` of each ``(T, len(columns))`` array, reordered to ``tickers`` (NaN where absent or ``None``).

    >>> take_row((np.array([[1.0, 2.0]]), None), 0, ("A", "B"), ("B", "X"))
    (array([ 2., nan]), array([nan, nan]))
    """
    cols, ok, same = _indexer(columns, tickers)
    out = []
    for a in arrays:
        if a is not None and same:  # the panel's own column order: the row as it is
            out.append(np.array(a[i], dtype=np.float64))
            continue
        v = np.full(len(tickers), np.nan)
        if a is not None:
            v[ok] = a[i, cols[ok]]
        out.append(v)
    return tuple(out)


@lru_cache(maxsize=8)
def _indexer(columns: tuple[str, ...], tickers: tuple[str, ...]) -> tuple[Int64Array, BoolArray, bool]:
    """Column of each ticker in ``columns`` (-1: absent), where present, and whether it is ``columns`` itself.

    Cached by the two tuples' values (one lookup per universe, not per bar); the arrays are read-only.
    """
    cols = pd.Index(columns).get_indexer(list(tickers)).astype(np.int64)
    ok = cols >= 0
    cols.flags.writeable = ok.flags.writeable = False
    return cols, ok, columns == tickers


def realised_returns(close: Float64Array, horizon: int) -> Float64Array:
    """Cumulative log return from row ``t`` to ``t + horizon`` (NaN where beyond the data).

    >>> realised_returns(np.array([[1.0], [np.e], [np.e ** 3]]), 1).round(6).ravel().tolist()
    [1.0, 2.0, nan]
    """
    out = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    return out
