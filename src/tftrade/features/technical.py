"""Technical indicators on time × ticker arrays, causal by construction.

Each value at row ``t`` uses rows ``<= t`` only. Warm-up rows, where a window is
not yet full, are filled with a neutral value (0, or 0.5 for bounded shares) so
the arrays stay finite; the dataset never starts a window inside the warm-up.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from tftrade.core.types import Float64Array

EPS = 1e-12


def ema(x: Float64Array, span: int) -> Float64Array:
    """Return the exponential moving average along axis 0 with ``alpha = 2 / (span + 1)``.

    Examples
    --------
    >>> ema(np.array([[1.0], [1.0], [1.0]]), 3)[:, 0].tolist()
    [1.0, 1.0, 1.0]
    """
    alpha = 2.0 / (span + 1.0)
    zi = (1 - alpha) * x[:1]
    out, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    return np.asarray(out, dtype=np.float64)


def rolling_mean(x: Float64Array, window: int) -> Float64Array:
    """Return the trailing mean over ``window`` rows (shorter at the start)."""
    c = np.cumsum(np.vstack([np.zeros((1, *x.shape[1:])), x]), axis=0)
    n = np.minimum(np.arange(1, len(x) + 1), window).reshape(-1, *([1] * (x.ndim - 1)))
    lo = np.maximum(np.arange(1, len(x) + 1) - window, 0)
    return np.asarray((c[1:] - c[lo]) / n, dtype=np.float64)


def rolling_std(x: Float64Array, window: int) -> Float64Array:
    """Return the trailing standard deviation over ``window`` rows."""
    m = rolling_mean(x, window)
    return np.sqrt(np.maximum(rolling_mean(x * x, window) - m * m, 0.0))


def log_returns(close: Float64Array) -> Float64Array:
    """Return one-bar log returns; the first row is 0."""
    out = np.zeros_like(close)
    out[1:] = np.log(close[1:] / close[:-1])
    return out


def rsi(close: Float64Array, period: int = 14) -> Float64Array:
    """Return the relative strength index rescaled to [-1, 1] (Wilder smoothing)."""
    d = np.diff(close, axis=0, prepend=close[:1])
    up = ema(np.maximum(d, 0.0), 2 * period - 1)
    down = ema(np.maximum(-d, 0.0), 2 * period - 1)
    return up / (up + down + EPS) * 2.0 - 1.0


def macd(close: Float64Array, fast: int = 12, slow: int = 26, signal: int = 9) -> Float64Array:
    """Return the MACD histogram relative to price."""
    line = ema(close, fast) - ema(close, slow)
    return (line - ema(line, signal)) / close


def bollinger_pctb(close: Float64Array, window: int = 20, k: float = 2.0) -> Float64Array:
    """Return Bollinger %b centred at 0: ``(close - mid) / (2 k sd)``."""
    mid = rolling_mean(close, window)
    sd = rolling_std(close, window)
    return (close - mid) / (2 * k * sd + EPS * close)


def atr(high: Float64Array, low: Float64Array, close: Float64Array, period: int = 14) -> Float64Array:
    """Return the average true range relative to price."""
    prev = np.vstack([close[:1], close[:-1]])
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
    return ema(tr, 2 * period - 1) / close


def vwap_distance(close: Float64Array, volume: Float64Array, window: int = 30) -> Float64Array:
    """Return ``log(close / VWAP)`` with VWAP over the trailing ``window`` bars."""
    vwap = rolling_mean(close * volume, window) / (rolling_mean(volume, window) + EPS)
    return np.log(close / np.maximum(vwap, EPS))


def technical_features(
    open_: Float64Array, high: Float64Array, low: Float64Array, close: Float64Array, volume: Float64Array
) -> dict[str, Float64Array]:
    """Return every observed technical feature by name, each time × ticker.

    Examples
    --------
    >>> c = np.exp(np.cumsum(np.full((50, 2), 0.01), axis=0))
    >>> f = technical_features(c, c * 1.01, c * 0.99, c, np.ones((50, 2)))
    >>> sorted(f)[:3], f["log_return"].shape
    (['atr', 'bollinger_pctb', 'hl_range'], (50, 2))
    """
    r = log_returns(close)
    return {
        "log_return": r,
        "log_volume": np.log1p(np.maximum(volume, 0.0)),
        "hl_range": np.log(high / low),
        "rsi": rsi(close),
        "macd": macd(close),
        "bollinger_pctb": bollinger_pctb(close),
        "atr": atr(high, low, close),
        "vwap_distance": vwap_distance(close, volume),
        "realised_vol": rolling_std(r, 20),
    }
