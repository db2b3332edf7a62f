"""Data-quality report on stored or incoming bars: gaps and price spikes, reported, never fixed.

A *gap* is a trading minute (or session, for daily bars) between a ticker's first
and last bar with no bar. A *spike* is a one-bar log return whose robust z-score,
``0.6745 · (r − median) / MAD``, exceeds a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tftrade.data.timeframes import is_intraday, spacing_ns
from tftrade.data.validation import session_calendar

_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class QualityReport:
    """Gaps and spikes per ticker, with a few examples of each."""

    missing_bars: dict[str, int] = field(default_factory=dict)
    spikes: dict[str, int] = field(default_factory=dict)
    spike_examples: list[dict[str, object]] = field(default_factory=list)

    @property
    def total_missing(self) -> int:
        return sum(self.missing_bars.values())

    @property
    def total_spikes(self) -> int:
        return sum(self.spikes.values())


def quality_report(good: pd.DataFrame, timeframe: str, spike_z: float = 12.0,
                   session: str = "regular") -> QualityReport:
    """Report gaps and spikes in ``good`` (ticker, window_start, close[, ticks or floats]).

    Examples
    --------
    >>> t = pd.date_range("2024-01-02 14:30", periods=5, freq="min", tz="UTC").delete(2)
    >>> f = pd.DataFrame({"ticker": "X", "window_start": t, "close": [10.0, 10.01, 10.0, 10.02]})
    >>> quality_report(f, "1min").missing_bars
    {'X': 1}
    """
    missing: dict[str, int] = {}
    spikes: dict[str, int] = {}
    examples: list[dict[str, object]] = []
    ordered = good.sort_values(["ticker", "window_start"])
    grid = _expected_grid(ordered["window_start"], timeframe, session)
    for ticker, grp in ordered.groupby("ticker", sort=True):
        times = grp["window_start"].dt.as_unit("ns").astype("int64").to_numpy()
        gaps = _missing(times, grid)
        if gaps:
            missing[str(ticker)] = gaps
        hits = _spikes(grp["close"].to_numpy(dtype=float), spike_z)
        if len(hits):
            spikes[str(ticker)] = len(hits)
            for i, z, r in hits[: _MAX_EXAMPLES - len(examples)]:
                examples.append({"ticker": str(ticker), "window_start": grp["window_start"].iloc[i].isoformat(),
                                 "log_return": round(r, 6), "robust_z": round(z, 1)})
    return QualityReport(missing, spikes, examples)


def _expected_grid(times: pd.Series, timeframe: str, session: str = "regular") -> np.ndarray:
    """Every bar start the calendar expects between the earliest and latest time given.

    Intraday grids step by the bar length from the session open (04:00 New York for the
    extended session), on the file's own phase (an hourly file may start bars at :00 or :30).
    """
    if times.empty:
        return np.empty(0, dtype=np.int64)
    first, last = (t.tz_convert("America/New_York").date() for t in (times.min(), times.max()))
    cal = session_calendar(first, last)
    if not is_intraday(timeframe):
        return cal.session_midnights_ns()
    minute = 60_000_000_000
    opens, closes = cal.opens_ns(), cal.closes_ns()
    if session == "extended":
        opens, closes = opens - 330 * minute, closes + 240 * minute
    lengths = (closes - opens) // minute
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    starts = np.repeat(opens, lengths) + offsets * minute
    step = spacing_ns(timeframe)
    if step == minute:
        return np.asarray(starts, dtype=np.int64)
    ns = times.dt.as_unit("ns").astype("int64").to_numpy()
    phases, counts = np.unique(ns % step, return_counts=True)
    return np.asarray(starts[starts % step == phases[np.argmax(counts)]], dtype=np.int64)


def _missing(times: np.ndarray, grid: np.ndarray) -> int:
    if len(times) < 2:
        return 0
    lo, hi = np.searchsorted(grid, [times[0], times[-1]], side="left")
    expected = grid[lo : hi + 1]
    return int(len(expected) - np.isin(expected, times).sum())


def _spikes(close: np.ndarray, threshold: float) -> list[tuple[int, float, float]]:
    if len(close) < 3:
        return []
    r = np.diff(np.log(close))
    med = np.median(r)
    mad = np.median(np.abs(r - med))
    if mad == 0:
        return []
    z = 0.6745 * (r - med) / mad
    idx = np.nonzero(np.abs(z) > threshold)[0]
    return [(int(i) + 1, float(z[i]), float(r[i])) for i in idx]
