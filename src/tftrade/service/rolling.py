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
afresh from the store (a correction to an older bar shows up then): the API's poll loop builds the
new forecaster (~1 s of CPU for 500 tickers) without holding the window, requests are answered from
the current one meanwhile, and only the swap and the catch-up to the newest bar hold it
(:meth:`RollingWindow.build`, :meth:`RollingWindow.adopt`).

Each bar's answer is made once, whole: the rows, their ``features_hash`` and the encoded JSON
of all tickers (:class:`~tftrade.service.predictions.EncodedRows`). :meth:`RollingWindow.make`
(the API's poll loop, through :meth:`~tftrade.service.serving.ServingModel.warm`) makes it as
soon as a new bar is in the store, so requests find it made; :meth:`RollingWindow.prepare` does
the next bar's work that does not need that bar (the hashes' prefixes, and the forecaster's
``prepare`` where it has one) between bars.
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
from tftrade.forecast.rolling import HashPrefix, RollingForecaster
from tftrade.forecast.training import Trained
from tftrade.service.predictions import EncodedRows, encode
from tftrade.service.timing import mark
from tftrade.store.bars import NewBars

log = logging.getLogger(__name__)

FULL_RELOAD_S = 300.0
"""Seconds after which the window is filled afresh from the store."""
RETRY_S = 10.0
"""Seconds before a window that could not be filled (gaps, too few bars) is tried again."""
OVERDUE = 2.0
"""A window this many times :data:`FULL_RELOAD_S` old is refilled by the request that finds it (no poll loop
refilled it meanwhile)."""
_FIELDS = ("open", "high", "low", "close", "volume")


def _arrays(bars: pd.DataFrame, tickers: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bars (``read_bars``' frame) → ``(times (T,) ns, {field: T × N})`` of ``tickers``, by the one
    assembly of :func:`tftrade.features.market.assemble_bars` (NaN prices where a ticker has no bar).

    Without the ``price_only`` flags (the window is refused any price-only bar before, and grouping
    them per ticker was half of the assembly's time on a minute of 500 bars).
    """
    m = assemble_bars(bars.drop(columns="price_only", errors="ignore"), tickers)
    return m.timestamps, {f: getattr(m, f) for f in _FIELDS}


def usable(trained: Trained) -> bool:
    """Whether the rolling window computes every input of ``trained`` (no sentiment: the full build reads it)."""
    observed = trained.standardizer.observed
    return observed is not None and not set(observed) & set(SENTIMENT_FEATURES)


class RollingWindow:
    """Forecast rows of the universe's latest bar from a window kept up to date (see the module docstring)."""

    def __init__(self, engine: Engine, trained: Trained, version: str, sectors: dict[str, Any], *,
                 threads: int = 1) -> None:
        from tftrade.features.dataset import WARMUP

        self._engine, self.trained, self.version, self.threads = engine, trained, version, threads
        self.tickers = list(trained.schema.tickers)
        self.timeframe = trained.schema.timeframe
        self._keep = 3 * (WARMUP + trained.config.context)
        self._sectors = tuple(sectors.get(t, "unknown") for t in self.tickers)  # as panel_from_bars
        self._roller: RollingForecaster | None = None
        self._filled_at = self._failed_at = -1e18
        self._rows: tuple[int, EncodedRows] | None = None
        self._prefix: HashPrefix | None = None
        self._prepared_ns: int | None = None
        self._order = sorted(range(len(self.tickers)), key=lambda i: self.tickers[i].upper())  # the answer's order
        self._column = {t.upper(): i for i, t in enumerate(self.tickers)}
        self.appended = 0
        """Cross-sections appended since the last fill (what the incremental path saved)."""

    def rows(self) -> EncodedRows | None:
        """Forecast rows (every ticker, horizons 1..H) at the universe's latest bar, or ``None``: build in full.

        Fills the window when it has none; a window due to be filled afresh is refilled here only when
        nobody did it in time (the poll loop does it off the requests' path: :meth:`build`, :meth:`adopt`).
        """
        now = time.monotonic()
        r = self._roller
        if r is None or now - self._filled_at > OVERDUE * FULL_RELOAD_S:
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

    def due(self) -> bool:
        """Whether the window is to be filled afresh (every :data:`FULL_RELOAD_S` seconds)."""
        return self._roller is not None and time.monotonic() - self._filled_at > FULL_RELOAD_S

    def build(self) -> RollingForecaster | None:
        """A forecaster filled afresh from the store (``None``: the window cannot serve), leaving the window
        as it is: run without the window's lock while requests are answered from the current one."""
        from tftrade.store.bars import read_bars

        bars = read_bars(self._engine, self.tickers, self.timeframe)
        if bars.empty or bars["price_only"].any():
            return None
        times, arrays = _arrays(bars, self.tickers)
        times, arrays = times[-self._keep:], {f: a[-self._keep:] for f, a in arrays.items()}
        if not np.isfinite(arrays["close"]).all():  # a gap: the full build fills it forward
            return None
        r = RollingForecaster(self.trained, tuple(self.tickers), self._sectors, self.timeframe, threads=self.threads)
        try:
            r.extend(times, *(arrays[f] for f in _FIELDS))
        except FeatureError as e:
            log.info("the rolling window cannot serve: %s", e)
            return None
        return r

    def adopt(self, r: RollingForecaster | None) -> bool:
        """Serve from ``r`` (a :meth:`build`) from now on, caught up with the store, and make its answer;
        ``True``: the answer is of a newer bar than before. ``None``: the window cannot serve (as a failed
        fill: requests build in full, and fill it again after :data:`RETRY_S`)."""
        now = time.monotonic()
        before = self._made_bar()
        self._reset(r)
        self._filled_at = now
        if r is None:
            self._failed_at = now
            return False
        return self._answers_anew(before)

    def make(self) -> bool:
        """Make the answer of a bar that landed since the last one; ``True``: one was made.

        Asks the store for one ticker's newest bar first (a cheap probe: a cross-section the window
        can append has every ticker's bar), so a round with nothing new costs one small query.
        """
        r = self._roller
        if r is None and self._failed_at > -1e18:  # a failed fill is retried by requests, not every round
            return False
        if r is None or r.last_ns is None or self._newer(r.last_ns):
            return self._answers_anew(self._made_bar())
        return False

    def _made_bar(self) -> int | None:
        """The bar (ns) of the answer made, or ``None`` before any."""
        return self._rows[0] if self._rows is not None else None

    def _answers_anew(self, before: int | None) -> bool:
        """:meth:`rows`; ``True``: it answered, of another bar than ``before`` (:meth:`_made_bar` before)."""
        return self.rows() is not None and self._made_bar() != before

    def _newer(self, last_ns: int) -> bool:
        from tftrade.store.bars import latest_bars

        newest = latest_bars(self._engine, self.tickers[0], self.timeframe, 1)
        return not newest.empty and int(pd.Timestamp(newest["window_start"].iloc[0]).value) > last_ns

    def prepare(self) -> None:
        """Between bars: the next bar's work that does not need it (once per bar).

        The hashes' prefixes (:meth:`~tftrade.forecast.rolling.RollingForecaster.hash_prefixes`) and
        the forecaster's ``prepare`` where it has one.
        """
        r = self._roller
        if r is None or r.last_ns is None or not r.ready or self._prepared_ns == r.last_ns:
            return
        self._prefix = r.hash_prefixes()
        self._prepared_ns = r.last_ns
        ahead = getattr(r, "prepare", None)  # the forecaster's groundwork for the next bar, where it has one
        if callable(ahead):
            ahead()

    def _fill(self) -> RollingForecaster | None:
        self._reset(None)
        self._roller = r = self.build()
        return r

    def _reset(self, r: RollingForecaster | None) -> None:
        """Serve from ``r`` afresh: no answer made, nothing appended since the fill, nothing prepared."""
        self._roller, self._rows, self.appended = r, None, 0
        self._prefix = self._prepared_ns = None

    def _catch_up(self, r: RollingForecaster) -> bool:
        """Append the stored cross-sections newer than the window's last; ``False``: this request builds in full."""
        from tftrade.store.bars import read_bars_after

        assert r.last_ns is not None
        new = read_bars_after(self._engine, self.tickers, self.timeframe, r.last_ns // 1000)
        mark("read_bars")
        if not len(new.ts_us):
            return True
        if new.price_only.any():
            self._roller = None
            return False
        times, arrays = self._place(new)
        mark("assemble")
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
        mark("append")
        self.appended += n
        return n == len(times)  # the newest minute still arriving: the full build groups by each ticker's last bar

    def _place(self, new: NewBars) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """New bars (columns) → ``(times (T,) ns, {field: T × N})``: what :func:`_arrays` makes of them as a frame
        (NaN prices and 0 volume where a ticker has no bar), without the frame."""
        stamps = new.ts_us * 1000
        times = np.unique(stamps)
        row = np.searchsorted(times, stamps)
        col = np.fromiter((self._column[t] for t in new.ticker), np.int64, len(new.ticker))
        arrays = {}
        for f in _FIELDS:
            a = np.full((len(times), len(self.tickers)), 0.0 if f == "volume" else np.nan)
            a[row, col] = getattr(new, f)
            arrays[f] = a
        return times, arrays

    def _make_rows(self, r: RollingForecaster) -> EncodedRows:
        """The fields of ``core.prediction.Prediction`` per ticker and horizon, as ``predict`` gives them, with the
        answer's JSON (the rows as :func:`~tftrade.service.predictions.prediction_row` writes them, by ticker)."""
        on_prefix = r.streaming.prefix_forecasts
        f = r.forecast()
        assert f is not None
        mark("forecast_on_prefix" if r.streaming.prefix_forecasts > on_prefix else "forecast")  # prepared or whole
        levels = list(self.trained.config.quantiles)
        mid = levels.index(0.5) if 0.5 in levels else len(levels) // 2
        q = f.quantiles
        conf = np.zeros_like(f.confidence) if self.trained.status == "loses_to_baseline" else f.confidence
        finite = bool(np.isfinite(q).all() and np.isfinite(conf).all() and np.isfinite(f.close).all())
        lo, med, hi = q[..., 0].tolist(), q[..., mid].tolist(), q[..., -1].tolist()
        hashes = r.features_hashes_from(self._prefix)
        mark("hashes")
        confs, close = conf.tolist(), f.close.tolist()
        as_of = pd.Timestamp(f.timestamp_ns, unit="ns", tz="UTC").to_pydatetime()
        tf, version, horizons = self.timeframe, self.version, range(q.shape[1])
        stamp, names = as_of.isoformat(), [t.upper() for t in self.tickers]
        shown = [{"ticker": names[i], "horizon": k + 1, "as_of": stamp, "timeframe": tf, "current_price": close[i],
                  "q10": lo[i][k], "q50": med[i][k], "q90": hi[i][k], "predicted_return": med[i][k],
                  "confidence_score": confs[i][k], "model_version": version, "features_hash": hashes[i],
                  "stale": False, "bar_age_seconds": 0.0}
                 for i in self._order for k in horizons]
        mark("rows")
        payload = encode(shown, finite=finite)
        mark("encode")
        made = EncodedRows([{**r, "as_of": as_of} for r in shown], payload, shown)
        mark("rows")
        return made  # the rows, by ticker: as_of a datetime
