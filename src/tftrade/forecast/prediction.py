"""Latest forecasts per ticker and horizon, with a confidence score, and writing them to the store.

Confidence
----------
``confidence_score`` is the model's **demonstrated out-of-sample skill** at that horizon, from the
validation window (:mod:`tftrade.forecast.calibration`): ``2 p - 1`` where ``p`` is the calibrated
probability that the forecast's sign is right given its strength, and 0 at every horizon where the
model did not beat the zero-return forecast on validation. 0 means "no demonstrated skill" (a coin
flip), not "a wide interval". A forecast from a stale window (the ticker's last bar is older than
the universe's latest bar) has confidence 0 and is flagged with the bar's age.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.prediction import Prediction
from tftrade.core.types import Int64Array, Timeframe
from tftrade.features.dataset import WARMUP, Panel, WindowIndex, features_hash, gather
from tftrade.features.errors import FeatureError
from tftrade.features.known import known_features
from tftrade.forecast.errors import ForecastError, InsufficientHistoryError, UnknownTickerError
from tftrade.forecast.training import Trained

Forecast = Prediction
"""Forecasts are :class:`tftrade.core.prediction.Prediction` records."""


def confidence_score(trained: Trained, quantiles: np.ndarray) -> np.ndarray:
    """Return the confidence (``B × H``, in [0, 1]) of calibrated ``quantiles`` (``B × H × Q``, any units).

    See the module docstring; 0 for an uncalibrated model and at horizons without demonstrated skill.
    """
    return trained.confidence(quantiles)


def align(panel: Panel, trained: Trained) -> Panel:
    """Map ``panel``'s tickers and sectors onto the model's category ids.

    Raises
    ------
    UnknownTickerError
        If a ticker was not in the training universe.
    """
    return replace(panel, static=model_ids(trained, panel.tickers, panel.sectors))


def model_ids(trained: Trained, tickers: list[str], sectors: list[str]) -> Int64Array:
    """The model's category ids ``N × 2`` (ticker id, sector id) of ``tickers`` and their ``sectors``.

    Raises
    ------
    UnknownTickerError
        If a ticker was not in the training universe.
    """
    schema = trained.schema
    unknown = [t for t in tickers if t not in schema.tickers]
    if unknown:
        raise UnknownTickerError(
            f"ticker(s) {', '.join(unknown)} not in the model's universe ({len(schema.tickers)} tickers); "
            "retrain with them included"
        )
    index = {t: i for i, t in enumerate(schema.tickers)}
    ids = [index[t] for t in tickers]
    sector = [schema.sectors.index(s) if s in schema.sectors else 0 for s in sectors]
    return np.stack([ids, sector], axis=-1).astype(np.int64).reshape(len(tickers), 2)


def future_timestamps(last_ns: int, timeframe: Timeframe, horizon: int) -> Int64Array:
    """Return the start times of the ``horizon`` trading bars after the bar starting at ``last_ns``.

    Uses the NYSE calendar (:class:`~tftrade.core.calendar.TradingCalendar`) and the bar grid of
    :func:`tftrade.core.timeframes.bar_starts_ns`: intraday bars step by their length from the
    session's open (on the phase of ``last_ns``: hourly bars stamped on the hour stay on the hour)
    while they start before the close (13:00 on half days), and continue at the next session's
    open; daily bars (stamped at New York midnight) skip weekends and holidays.

    Examples
    --------
    >>> ts = pd.Timestamp("2024-07-03 16:58", tz="UTC").value  # 12:58 New York on a half day
    >>> [str(pd.Timestamp(t, tz="UTC").tz_convert("America/New_York").time()) for t in
    ...  future_timestamps(ts, "1min", 3)]
    ['12:59:00', '09:30:00', '09:31:00']
    >>> ts = pd.Timestamp("2024-07-03 16:30", tz="UTC").value  # 12:30 New York on a half day
    >>> [str(pd.Timestamp(t, tz="UTC").tz_convert("America/New_York").time()) for t in
    ...  future_timestamps(ts, "15min", 3)]
    ['12:45:00', '09:30:00', '09:45:00']
    """
    from tftrade.core.calendar import TradingCalendar
    from tftrade.core.timeframes import bar_starts_ns, bars_per_session, grid_phase

    day = pd.Timestamp(last_ns, unit="ns", tz="UTC").tz_convert("America/New_York").date()
    phase = grid_phase(last_ns, timeframe)
    span = 7 + (horizon // max(bars_per_session(timeframe) * 210 // 390, 1)) * 2
    while True:
        cal = TradingCalendar(day, day + timedelta(days=span))
        starts = bar_starts_ns(cal, timeframe, phase)
        ahead = starts[starts > last_ns][:horizon]
        if len(ahead) == horizon:
            return np.asarray(ahead, dtype=np.int64)
        if span > 3660:
            raise ForecastError(f"the exchange calendar has no {horizon} {timeframe} bars after {day}")
        span *= 2


def predict_latest(
    trained: Trained, raw: Panel, model_version: str = "", reference_ns: int | None = None
) -> list[Forecast]:
    """Forecast every ticker of ``raw`` from its last bar, for horizons 1..H.

    ``reference_ns`` is the start of the universe's latest bar: when ``raw``'s last bar is older, its
    forecasts are flagged ``stale`` with ``bar_age_seconds`` and get confidence 0.

    Raises
    ------
    UnknownTickerError
        If a ticker is not in the model's universe.
    InsufficientHistoryError
        If the panel has fewer bars than warm-up + context.
    FeatureError
        If the inputs of the last window are not finite.
    """
    c, h, levels = trained.config.context, trained.config.horizon, trained.config.quantiles
    if raw.n_times < WARMUP + c:
        raise InsufficientHistoryError(
            f"{raw.n_times} bars of history; the model needs at least {WARMUP + c} (warm-up {WARMUP} + context {c})"
        )
    panel = align(raw, trained)
    future = known_features(future_timestamps(int(panel.timestamps[-1]), panel.timeframe, h), panel.timeframe,
                            None, len(panel.tickers))
    panel = replace(panel, known_future=future).scaled(trained.standardizer)
    n = len(panel.tickers)
    idx = WindowIndex(np.full(n, panel.n_times - 1, np.int64), np.arange(n, dtype=np.int64))
    batch = gather(panel, idx, c, h)
    if not (np.isfinite(batch.observed).all() and np.isfinite(batch.known).all()):
        bad = sorted({panel.tickers[i] for i in np.nonzero(~np.isfinite(batch.observed).all(axis=(1, 2)))[0]})
        raise FeatureError(f"non-finite features in the last window of {', '.join(bad) or 'the known inputs'}")
    sigma = trained.standardizer.target_scale[panel.static[:, 0]]
    q = trained.quantiles(panel, idx) * sigma[:, None, None]
    conf = trained.confidence(q)
    age = 0.0 if reference_ns is None else max(0.0, (reference_ns - int(panel.timestamps[-1])) / 1e9)
    if age > 0:
        conf = np.zeros_like(conf)
    return _rows(panel, batch_hashes(panel, idx, c, h), q, conf, levels, model_version, age)


def forecast_windows(
    trained: Trained, raw: Panel, idx: WindowIndex, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast many windows at once (e.g. every ticker at every test bar, for a walk-forward backtest).

    ``raw`` is an unscaled panel of tickers in the model's universe; ``idx`` lists ``(origin, column)``
    pairs, ``origin`` being the row of the last bar the forecast may use. Returns
    ``(quantiles, sigma)``: quantiles of the cumulative log return ``log(close[o + h] / close[o])``
    as ``(len(idx), H, Q)`` float64 (levels ``trained.config.quantiles``, horizons 1..H; calibrated
    on the validation window), and each window's ticker training volatility of one-bar returns
    ``(len(idx),)``. :func:`confidence_score` gives their confidence. Windows run through the
    network in chunks of ``chunk``.

    Raises
    ------
    UnknownTickerError
        If a ticker is not in the model's universe.
    InsufficientHistoryError
        If an origin is before warm-up + context or beyond the panel.
    FeatureError
        If a window's inputs are not finite.
    """
    c = trained.config.context
    first = WARMUP + c - 1
    if len(idx) and (int(idx.origins.min()) < first or int(idx.origins.max()) >= raw.n_times):
        raise InsufficientHistoryError(
            f"window origins must lie in rows [{first}, {raw.n_times - 1}] (warm-up {WARMUP} + context {c}); "
            f"got [{int(idx.origins.min())}, {int(idx.origins.max())}]"
        )
    panel = align(raw, trained).scaled(trained.standardizer)
    bad = np.concatenate([np.zeros((1, len(panel.tickers))), np.cumsum(~np.isfinite(panel.observed).all(-1), 0)])
    bad_cols = np.unique(idx.cols[bad[idx.origins + 1, idx.cols] > bad[idx.origins + 1 - c, idx.cols]])
    if len(bad_cols):
        raise FeatureError(f"non-finite features in windows of {', '.join(panel.tickers[i] for i in bad_cols)}")
    sigma = trained.standardizer.target_scale[panel.static[idx.cols, 0]]
    q = trained.quantiles(panel, idx, chunk)
    return q * sigma[:, None, None], sigma


def batch_hashes(panel: Panel, idx: WindowIndex, context: int, horizon: int) -> list[str]:
    """Return the features hash of each window in ``idx``."""
    return [features_hash(gather(panel, idx.take(np.array([k])), context, horizon)) for k in range(len(idx))]


def _rows(
    panel: Panel, hashes: list[str], q: np.ndarray, conf: np.ndarray, levels: tuple[float, ...], version: str,
    age: float = 0.0,
) -> list[Forecast]:
    lo, mid, hi = 0, levels.index(0.5) if 0.5 in levels else len(levels) // 2, len(levels) - 1
    hs = np.arange(1, q.shape[1] + 1)
    as_of = pd.Timestamp(int(panel.timestamps[-1]), unit="ns", tz="UTC").to_pydatetime()
    out = []
    for i, t in enumerate(panel.tickers):
        for k, hz in enumerate(hs):
            out.append(Forecast(
                ticker=t, horizon=int(hz), as_of=as_of, current_price=float(panel.close[-1, i]),
                q10=float(q[i, k, lo]), q50=float(q[i, k, mid]), q90=float(q[i, k, hi]),
                predicted_return=float(q[i, k, mid]), confidence_score=float(conf[i, k]),
                timeframe=panel.timeframe, model_version=version, features_hash=hashes[i],
                stale=age > 0, bar_age_seconds=age,
            ))
    return out


def write_predictions(engine: Engine, forecasts: list[Forecast]) -> int:
    """Insert ``forecasts`` into ``tft_predictions``; return the number of rows written."""
    from tftrade.store.schema import tft_predictions

    now = datetime.now(UTC)
    rows = [
        {
            "ticker": f.ticker, "prediction_time": now, "current_price": Decimal(str(round(f.current_price, 4))),
            "predicted_return": _dec(f.predicted_return, 5), "confidence_score": _dec(f.confidence_score, 3),
            "model_version": f.model_version[:50], "features_hash": f.features_hash, "timeframe": f.timeframe,
            "horizon": f.horizon, "as_of": f.as_of, "q10": _dec(f.q10, 6), "q50": _dec(f.q50, 6), "q90": _dec(f.q90, 6),
            "stale": f.stale, "bar_age_seconds": round(f.bar_age_seconds, 3),
        }
        for f in forecasts
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(tft_predictions.insert(), rows)
    return len(rows)


def _dec(x: float, places: int) -> Decimal:
    return Decimal(str(round(float(np.clip(x, -999, 999)), places)))
