"""Small hand-made markets for engine tests."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.backtest import MarketData

DAY = 86_400_000_000_000


def make_market(close: np.ndarray, *, open_: np.ndarray | None = None, low: np.ndarray | None = None,
                high: np.ndarray | None = None, vix: np.ndarray | None = None,
                benchmark: np.ndarray | None = None, sectors: tuple[str, ...] | None = None,
                volume: float = 1e9) -> MarketData:
    close = np.asarray(close, dtype=np.float64)
    t, n = close.shape
    op = close.copy() if open_ is None else np.asarray(open_, dtype=np.float64)
    return MarketData(
        timestamps=np.arange(1, t + 1, dtype=np.int64) * DAY, tickers=tuple(f"T{i}" for i in range(n)),
        sectors=sectors or tuple(f"S{i % 5}" for i in range(n)), open=op,
        high=np.maximum(op, close) if high is None else high, low=np.minimum(op, close) if low is None else low,
        close=close, volume=np.full((t, n), volume), benchmark=benchmark, vix=vix,
    )


@pytest.fixture
def random_market() -> MarketData:
    rng = np.random.default_rng(7)
    t, n = 160, 12
    close = 100 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, (t, n)), axis=0))
    op = close * np.exp(rng.normal(0, 0.003, (t, n)))
    close[:20, 3] = np.nan  # listed late
    op[:20, 3] = np.nan
    bench = np.nanmean(close, axis=1)
    return make_market(close, open_=op, high=np.fmax(op, close) * 1.005, low=np.fmin(op, close) * 0.995,
                       benchmark=bench, vix=np.full(t, 20.0))
