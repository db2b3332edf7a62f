"""Forecasts at each closed bar from the bars up to it: the predict worker's model, and the backtest's too.

A :class:`Predictor` sees a :class:`~tftrade.strategy.view.MarketFrame` and a row and returns the
quantile forecasts made at that row's close. :class:`TftPredictor` builds the TFT's features
from the last ``warm-up + context`` bars and runs the
:class:`~tftrade.forecast.streaming.StreamingForecaster` (each bar's variable selection computed
once). :func:`forecast_panel` applies a predictor row by row to stored history, which is what the
predict worker does bar by bar live: the same inputs give the same forecasts in both.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from tftrade.core.types import Float64Array, Int64Array, Timeframe
from tftrade.strategy.forecasts import ForecastPanel
from tftrade.strategy.view import MarketFrame

if TYPE_CHECKING:
    from tftrade.features.dataset import Panel
    from tftrade.forecast.training import Trained

log = logging.getLogger(__name__)


class Quantiles(NamedTuple):
    """One forecast per ticker: quantiles of the cumulative log return and the confidence score (NaN = none)."""

    q10: Float64Array
    q50: Float64Array
    q90: Float64Array
    confidence: Float64Array


class Predictor(Protocol):
    """Forecasts made at the close of a row from the rows up to it."""

    @property
    def horizon(self) -> int:
        """Bars ahead the forecasts are for."""
        ...

    @property
    def history(self) -> int:
        """Rows of history a forecast needs (the live window keeps at least this many)."""
        ...

    @property
    def model_version(self) -> str:
        """Version recorded with every prediction."""
        ...

    def predict(self, frame: MarketFrame, row: int) -> Quantiles | None:
        """Forecasts at ``row`` for every ticker of ``frame``, or ``None`` when none can be made."""
        ...


class TftPredictor:
    """The trained TFT on the last ``WARMUP + context`` bars of each ticker (see the module docstring).

    Parameters
    ----------
    trained
        A fitted model (:func:`tftrade.forecast.persistence.load_model` or training).
    horizon
        Which horizon (1-based) the forecasts are for (default: the model's last).
    model_version
        Written with every prediction.
    force
        Keep the confidence of a model marked ``loses_to_baseline`` (otherwise 0: no views), as ``predict --force``.
    """

    def __init__(self, trained: Trained, horizon: int | None = None, model_version: str = "",
                 force: bool = False) -> None:
        from tftrade.features.dataset import WARMUP
        from tftrade.forecast.streaming import StreamingForecaster

        self.trained = trained
        cfg = trained.config
        self._horizon = horizon or cfg.horizon
        if not 1 <= self._horizon <= cfg.horizon:
            raise ValueError(f"horizon {self._horizon} outside the model's 1..{cfg.horizon}")
        self._history = WARMUP + cfg.context
        self._version = model_version
        self._mute = trained.status == "loses_to_baseline" and not force
        self.streaming = StreamingForecaster(trained.model)
        levels = list(cfg.quantiles)
        self._levels = (levels.index(min(levels)), levels.index(0.5) if 0.5 in levels else len(levels) // 2,
                        levels.index(max(levels)))
        self._future: tuple[int, Int64Array] | None = None
        self._static: tuple[tuple[str, ...], tuple[str, ...], Int64Array] | None = None

    @property
    def horizon(self) -> int:
        """Bars ahead."""
        return self._horizon

    @property
    def history(self) -> int:
        """Warm-up + context bars."""
        return self._history

    @property
    def model_version(self) -> str:
        """Model version."""
        return self._version

    def predict(self, frame: MarketFrame, row: int) -> Quantiles | None:
        """Forecast every ticker from the ``history`` bars ending at ``row`` (``None`` if fewer or any missing)."""
        from tftrade.features.dataset import WindowIndex, build_panel
        from tftrade.features.errors import FeatureError
        from tftrade.features.known import known_features
        from tftrade.forecast.calibration import local_ratio

        if row + 1 < self._history:
            return None
        s = slice(row + 1 - self._history, row + 1)
        tr = self.trained
        try:
            panel = build_panel(tickers=list(frame.tickers), sectors=list(frame.sectors),
                                timestamps=frame.timestamps[s], open_=frame.open[s], high=frame.high[s],
                                low=frame.low[s], close=frame.close[s], volume=frame.volume[s],
                                timeframe=frame.timeframe)
        except FeatureError as e:
            log.warning("no forecast at row %d: %s", row, e)
            return None
        panel = self._align(panel, frame)
        h = tr.config.horizon
        future = known_features(self._future_starts(int(panel.timestamps[-1]), panel.timeframe, h),
                                panel.timeframe, None, len(panel.tickers))
        scaled = replace(panel, known_future=future).scaled(tr.standardizer)
        sigma = tr.standardizer.target_scale[scaled.static[:, 0]]
        last = scaled.n_times - 1
        q_all = self.streaming.forecast_at(scaled, last).astype(np.float64)  # B × H × Q, scaled units
        if tr.calibration is not None:  # the intervals and confidence calibrated on validation, as in `predict`
            n = len(panel.tickers)
            idx = WindowIndex(np.full(n, last, dtype=np.int64), np.arange(n, dtype=np.int64))
            q_all = tr.calibration.adjust(q_all, local_ratio(scaled, idx, tr.calibration.local_bars))
        conf = tr.confidence(q_all)[:, self._horizon - 1]
        if self._mute:
            conf = np.zeros_like(conf)
        q = q_all[:, self._horizon - 1, :] * sigma[:, None]
        lo, mid, hi = (q[:, k] for k in self._levels)
        return Quantiles(lo, mid, hi, conf)

    def _align(self, panel: Panel, frame: MarketFrame) -> Panel:
        """``forecast.prediction.align`` (the model's category ids), looked up once per universe."""
        from tftrade.forecast.prediction import align

        c = self._static
        if c is not None and c[0] == tuple(frame.tickers) and c[1] == tuple(frame.sectors):
            return replace(panel, static=c[2])
        panel = align(panel, self.trained)
        self._static = (tuple(frame.tickers), tuple(frame.sectors), panel.static)
        return panel

    def _future_starts(self, last_ns: int, timeframe: Timeframe, h: int) -> Int64Array:
        """The ``h`` bar starts after ``last_ns`` (from a cached stretch of the exchange calendar)."""
        from tftrade.forecast.prediction import future_timestamps

        c = self._future
        if c is not None and c[0] == h and c[1].shape[0] and c[1][0] <= last_ns:
            ahead = c[1][c[1] > last_ns][:h]
            if ahead.shape[0] == h:
                return ahead
        stretch = future_timestamps(last_ns, timeframe, h + (2000 if timeframe == "1min" else 30))
        self._future = (h, np.concatenate([[last_ns], stretch]).astype(np.int64))
        return stretch[:h]


def forecast_panel(predictor: Predictor, frame: MarketFrame, first: int = 0) -> ForecastPanel:
    """Apply ``predictor`` at every row from ``first`` on; the panel holds the rows it forecast.

    This is the predict worker's work done over stored history, row after row, so a backtest
    on this panel sees exactly the forecasts the live path publishes for the same bars.
    """
    stamps: list[int] = []
    rows: list[Quantiles] = []
    for t in range(first, frame.timestamps.shape[0]):
        q = predictor.predict(frame, t)
        if q is not None and np.isfinite(q.q50).any():
            stamps.append(int(frame.timestamps[t]))
            rows.append(q)
    n = len(frame.tickers)
    q10, q50, q90, conf = (np.stack([r[k] for r in rows]) if rows else np.zeros((0, n)) for k in range(4))
    return ForecastPanel(np.asarray(stamps, dtype=np.int64), tuple(frame.tickers), predictor.horizon, q10, q50, q90,
                         conf, model_version=predictor.model_version)
