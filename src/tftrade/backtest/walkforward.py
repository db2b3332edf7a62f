"""Walk-forward forecasts: train the TFT on the past, forecast every later bar out of sample.

The panel is split in time (``TrainConfig.split``: train, validation, test). The model is fitted
on the training rows (early stopping on validation; scalers fitted on training rows only) and then
forecasts every bar of the test period from the bars up to it. The backtest trades the test
period only, so every decision uses a forecast the model could have made at that time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from tftrade.backtest.forecasts import ForecastPanel
from tftrade.core.types import Float64Array
from tftrade.features.dataset import Panel, WindowIndex
from tftrade.forecast.explain import explain
from tftrade.forecast.identity import weights_version
from tftrade.forecast.prediction import forecast_windows
from tftrade.forecast.tft.config import ModelConfig
from tftrade.forecast.training import TrainConfig, Trained, fit


def forecast_rows(trained: Trained, raw: Panel, first: int, horizon: int) -> tuple[Float64Array, ...]:
    """Forecast every ticker at every row ``≥ first`` of ``raw`` (unscaled panel, the model's universe).

    Returns ``(q10, q50, q90, confidence)`` as ``(T, n)`` arrays for ``horizon`` (1-based), NaN before ``first``;
    the quantiles are calibrated and the confidence is the model's demonstrated skill (validation window).
    """
    t_n, n = raw.n_times, len(raw.tickers)
    origins = np.arange(first, t_n, dtype=np.int64)
    idx = WindowIndex(np.repeat(origins, n), np.tile(np.arange(n, dtype=np.int64), len(origins)))
    quantiles, _ = forecast_windows(trained, raw, idx)
    q = quantiles[:, horizon - 1, :].reshape(len(origins), n, -1)
    levels = list(trained.config.quantiles)
    lo, mid, hi = (levels.index(x) for x in (min(levels), 0.5 if 0.5 in levels else levels[len(levels) // 2],
                                             max(levels)))
    out = [np.full((t_n, n), np.nan) for _ in range(4)]
    out[0][first:], out[1][first:], out[2][first:] = q[..., lo], q[..., mid], q[..., hi]
    out[3][first:] = trained.confidence(quantiles)[:, horizon - 1].reshape(len(origins), n)
    return tuple(out)


def walk_forward(
    raw: Panel,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    horizon: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> tuple[ForecastPanel, Trained]:
    """Fit on the training rows and forecast every bar of the test period (see the module docstring).

    ``horizon`` (default: the model's last) selects which forecast horizon the panel holds. The panel's
    ``model_version`` names the fitted weights (:func:`~tftrade.forecast.identity.weights_version`): the
    model is not registered.
    """
    trained = fit(raw, model_config, train_config, on_epoch=on_epoch)
    h = horizon or model_config.horizon
    first = trained.splits.val_end - 1
    q10, q50, q90, conf = forecast_rows(trained, raw, first, h)
    exp = explain(trained, raw)
    importance = {"static": exp.static, "encoder": exp.encoder, "decoder": exp.decoder}
    return ForecastPanel(raw.timestamps.copy(), tuple(raw.tickers), h, q10, q50, q90, conf,
                         model_version=weights_version(trained.model), importance=importance), trained


def ridge_forecasts(timestamps: npt.NDArray[np.int64], tickers: tuple[str, ...], close: Float64Array,
                    template: ForecastPanel, lags: int = 5, alpha: float = 10.0) -> ForecastPanel:
    """A price-only baseline on the TFT's grid: pooled ridge of the ``h``-bar log return on lagged returns.

    ``close`` is ``(T, n)`` over ``timestamps``/``tickers`` (the market). The model is fitted on
    the rows whose target ends before the template's first forecast, and forecasts every later
    row of the template; q10/q90 add the 10 %/90 % quantiles of the training residuals, and
    the confidence is a neutral 0.5. No sentiment and no future information enter.
    """
    from sklearn.linear_model import Ridge

    h = template.horizon
    rows = np.searchsorted(timestamps, template.timestamps)
    ok_rows = (rows < timestamps.shape[0]) & (timestamps[np.minimum(rows, timestamps.shape[0] - 1)]
                                              == template.timestamps)
    cols = [tickers.index(t) if t in tickers else -1 for t in template.tickers]
    c = np.full((template.timestamps.shape[0], len(template.tickers)), np.nan)
    for j, col in enumerate(cols):
        if col >= 0:
            c[ok_rows, j] = close[rows[ok_rows], col]
    with np.errstate(invalid="ignore", divide="ignore"):
        logc = np.log(c)
    r = np.vstack([np.full((1, c.shape[1]), np.nan), np.diff(logc, axis=0)])
    feats = [np.vstack([np.full((k, c.shape[1]), np.nan), r[: r.shape[0] - k]]) for k in range(lags)]
    x = np.stack(feats, axis=-1)  # (T, n, lags)
    y = np.vstack([logc[h:] - logc[:-h], np.full((h, c.shape[1]), np.nan)])
    finite = np.isfinite(template.q50).any(axis=1)
    first = int(np.argmax(finite)) if finite.any() else x.shape[0]
    train = np.zeros(x.shape[0], dtype=bool)
    train[: max(first - h, 0)] = True
    xt, yt = x[train].reshape(-1, lags), y[train].reshape(-1)
    keep = np.isfinite(xt).all(axis=1) & np.isfinite(yt)
    q10, q50, q90 = (np.full(c.shape, np.nan) for _ in range(3))
    if keep.sum() > 10 * lags:
        model = Ridge(alpha=alpha).fit(xt[keep], yt[keep])
        resid = yt[keep] - model.predict(xt[keep])
        lo, hi = np.quantile(resid, [0.1, 0.9])
        xs = x[first:].reshape(-1, lags)
        good = np.isfinite(xs).all(axis=1)
        pred = np.full(xs.shape[0], np.nan)
        pred[good] = model.predict(xs[good])
        q50[first:] = pred.reshape(-1, c.shape[1])
        q10[first:], q90[first:] = q50[first:] + lo, q50[first:] + hi
    conf = np.where(np.isfinite(q50), 0.5, np.nan)
    return ForecastPanel(template.timestamps.copy(), template.tickers, h, q10, q50, q90, conf,
                         model_version="ridge")
