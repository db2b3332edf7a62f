"""The window ``POST /predict`` serves from: the universe's latest bars, kept up to date bar by bar.

Rebuilding the 500-ticker panel (pivot and features over each ticker's last few hundred bars) on
every request cost ~200 ms. :class:`RollingWindow` instead holds a
:class:`~tftrade.forecast.rolling.RollingForecaster` filled once from the store with the bars
``tftrade predict`` reads (the last ``3 × (warm-up + context)`` of every ticker), then, per
request, reads only the bars newer than its last one, appends each complete cross-section (one
bar's features and selection), and forecasts each new bar once: requests between two bars share
the answer.

It answers only what the full build would answer the same way, and says ``None`` otherwise (the
caller then builds the panel as ``tftrade predict`` does): a model that uses sentiment inputs,
a price-only series, a ticker without a bar at one of the window's times (the full build fills
gaps forward and groups tickers by their last bar; a window with such a gap is rebuilt once the
gap has left it). Every :data:`FULL_RELOAD_S` seconds, and when the model changes, it is filled
afresh from the store (a correction to an older bar shows up then).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.features.errors import FeatureError
from tftrade.features.market import assemble_bars
from tftrade.features.sentiment import SENTIMENT_FEATURES
from tftrade.forecast.rolling import RollingForecaster
from tftrade.forecast.training import Trained

log = logging.getLogger(__name__)

FULL_RELOAD_S = 300.0
"""Seconds after which the window is filled afresh from the store."""
RETRY_S = 10.0
"""Seconds before a window that could not be filled (gaps, too few bars) is tried again."""
_FIELDS = ("open", "high", "low", "close", "volume")


def _arrays(bars: pd.DataFrame, tickers: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bars (``read_bars``' frame) → ``(times (T,) ns, {field: T × N})`` of ``tickers``, by the one
    assembly of :func:`tftrade.features.market.assemble_bars` (NaN prices where a ticker has no bar)."""
    m = assemble_bars(bars, tickers)
    return m.timestamps, {f: getattr(m, f) for f in _FIELDS}


def usable(trained: Trained) -> bool:
    """Whether the rolling window computes every input of ``trained`` (no sentiment: the full build reads it)."""
    observed = trained.standardizer.observed
    return observed is not None and not set(observed) & set(SENTIMENT_FEATURES)


class RollingWindow:
    """Forecast rows of the universe's latest bar from a window kept up to date (see the module docstring)."""

    def __init__(self, engine: Engine, trained: Trained, version: str, sectors: dict[str, Any]) -> None:
        from tftrade.features.dataset import WARMUP

        self._engine, self.trained, self.version = engine, trained, version
        self.tickers = list(trained.schema.tickers)
        self.timeframe = trained.schema.timeframe
        self._keep = 3 * (WARMUP + trained.config.context)
        self._sectors = tuple(sectors.get(t, "unknown") for t in self.tickers)  # as panel_from_bars
        self._roller: RollingForecaster | None = None
        self._filled_at = self._failed_at = -1e18
        self._rows: tuple[int, list[dict[str, Any]]] | None = None
        self.appended = 0
        """Cross-sections appended since the last fill (what the incremental path saved)."""

    def rows(self) -> list[dict[str, Any]] | None:
        """Forecast rows (every ticker, horizons 1..H) at the universe's latest bar, or ``None``: build in full."""
        now = time.monotonic()
        r = self._roller
        if r is None or now - self._filled_at > FULL_RELOAD_S:
            if now - self._failed_at < RETRY_S:
                return None
            r = self._fill()
            if r is None:
                self._failed_at = now
                return None
            self._filled_at = now
        elif not self._catch_up(r):
            return None
        if not r.ready or r.last_ns is None:
            return None
        if self._rows is None or self._rows[0] != r.last_ns:
            self._rows = (r.last_ns, self._make_rows(r))
        return self._rows[1]

    def _fill(self) -> RollingForecaster | None:
        from tftrade.store.bars import read_bars

        self._roller, self._rows, self.appended = None, None, 0
        bars = read_bars(self._engine, self.tickers, self.timeframe)
        if bars.empty or bars["price_only"].any():
            return None
        times, arrays = _arrays(bars, self.tickers)
        times, arrays = times[-self._keep:], {f: a[-self._keep:] for f, a in arrays.items()}
        if not np.isfinite(arrays["close"]).all():  # a gap: the full build fills it forward
            return None
        r = RollingForecaster(self.trained, tuple(self.tickers), self._sectors, self.timeframe)
        try:
            r.extend(times, *(arrays[f] for f in _FIELDS))
        except FeatureError as e:
            log.info("the rolling window cannot serve: %s", e)
            return None
        self._roller = r
        return r

    def _catch_up(self, r: RollingForecaster) -> bool:
        """Append the stored cross-sections newer than the window's last; ``False``: this request builds in full."""
        from tftrade.store.bars import read_bars

        assert r.last_ns is not None
        start = pd.Timestamp(r.last_ns + 1000, unit="ns", tz="UTC").to_pydatetime()
        new = read_bars(self._engine, self.tickers, self.timeframe, start=start)
        if new.empty:
            return True
        if new["price_only"].any():
            self._roller = None
            return False
        times, arrays = _arrays(new, self.tickers)
        complete = np.isfinite(arrays["close"]).all(axis=1)
        n = int(np.argmin(complete)) if not complete.all() else len(times)
        if n < len(times) and complete[n:].any():  # a gap followed by later bars: fill afresh once it is gone
            self._roller = None
            return False
        try:
            r.extend(times[:n], *(arrays[f][:n] for f in _FIELDS))
        except FeatureError:
            self._roller = None
            return False
        self.appended += n
        return n == len(times)  # the newest minute still arriving: the full build groups by each ticker's last bar

    def _make_rows(self, r: RollingForecaster) -> list[dict[str, Any]]:
        """The fields of ``core.prediction.Prediction`` per ticker and horizon, as ``predict`` gives them."""
        f = r.forecast()
        assert f is not None
        levels = list(self.trained.config.quantiles)
        mid = levels.index(0.5) if 0.5 in levels else len(levels) // 2
        q = f.quantiles
        conf = np.zeros_like(f.confidence) if self.trained.status == "loses_to_baseline" else f.confidence
        lo, med, hi = q[..., 0].tolist(), q[..., mid].tolist(), q[..., -1].tolist()
        confs, close, hashes = conf.tolist(), f.close.tolist(), r.features_hashes()
        as_of = pd.Timestamp(f.timestamp_ns, unit="ns", tz="UTC").to_pydatetime()
        tf, version = self.timeframe, self.version
        return [{"ticker": t, "horizon": k + 1, "as_of": as_of, "current_price": close[i], "q10": lo[i][k],
                 "q50": med[i][k], "q90": hi[i][k], "predicted_return": med[i][k], "confidence_score": confs[i][k],
                 "timeframe": tf, "model_version": version, "features_hash": hashes[i], "stale": False,
                 "bar_age_seconds": 0.0}
                for i, t in enumerate(self.tickers) for k in range(q.shape[1])]
