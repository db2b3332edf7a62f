"""Downsampling of long series for charts: keep each bucket's extremes so peaks and troughs survive."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tftrade.analytics.errors import AnalyticsError


def extreme_indices(values: npt.ArrayLike, max_points: int) -> npt.NDArray[np.intp]:
    """Return sorted indices of at most ``max_points`` points of ``values``.

    All indices when the series is short enough; otherwise the series is cut into
    ``(max_points - 2) // 2`` equal buckets and each bucket's minimum and maximum are
    kept, plus the first and last points (min–max decimation). NaNs are ignored.

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 20, 10_000))
    >>> idx = extreme_indices(x, 200)
    >>> len(idx) <= 200, idx[0], idx[-1], bool(np.isclose(x[idx].max(), x.max()))
    (True, np.int64(0), np.int64(9999), True)
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    n = x.shape[0]
    if max_points < 4:
        raise AnalyticsError(f"max_points must be at least 4, got {max_points}")
    if n <= max_points:
        return np.arange(n, dtype=np.intp)
    buckets = (max_points - 2) // 2
    size = -(-n // buckets)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = x
    grid = padded.reshape(buckets, size)
    valid = ~np.all(np.isnan(grid), axis=1)
    filled = np.where(np.isnan(grid), np.inf, grid)
    lows = np.argmin(filled, axis=1)
    highs = np.argmax(np.where(np.isnan(grid), -np.inf, grid), axis=1)
    base = np.arange(buckets) * size
    picks = np.concatenate([[0, n - 1], (base + lows)[valid], (base + highs)[valid]])
    return np.unique(picks[picks < n]).astype(np.intp)


def stride_indices(n: int, max_points: int) -> npt.NDArray[np.intp]:
    """Return about ``max_points`` evenly spaced indices of ``range(n)``, always including the last.

    Examples
    --------
    >>> stride_indices(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if max_points < 2:
        raise AnalyticsError(f"max_points must be at least 2, got {max_points}")
    if n <= max_points:
        return np.arange(n, dtype=np.intp)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.intp))
