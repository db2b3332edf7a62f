"""Walk-forward forecasts: train the TFT on the past, forecast every later bar out of sample.

The panel is split in time (``TrainConfig.split``: train, validation, test). The model is fitted
on the training rows (early stopping on validation; scalers fitted on training rows only) and then
forecasts every bar of the test period from the bars up to it. The backtest trades the test
period only, so every decision uses a forecast the model could have made at that time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tftrade.backtest.forecasts import ForecastPanel
from tftrade.core.types import Float64Array
from tftrade.features.dataset import Panel, WindowIndex
from tftrade.forecast.explain import explain
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

    ``horizon`` (default: the model's last) selects which forecast horizon the panel holds.
    """
    trained = fit(raw, model_config, train_config, on_epoch=on_epoch)
    h = horizon or model_config.horizon
    first = trained.splits.val_end - 1
    q10, q50, q90, conf = forecast_rows(trained, raw, first, h)
    exp = explain(trained, raw)
    importance = {"static": exp.static, "encoder": exp.encoder, "decoder": exp.decoder}
    return ForecastPanel(raw.timestamps.copy(), tuple(raw.tickers), h, q10, q50, q90, conf,
                         importance=importance), trained
