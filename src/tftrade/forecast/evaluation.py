"""Score a trained TFT and the baselines on the same held-out windows."""

from __future__ import annotations

import numpy as np

from tftrade.features.dataset import Panel, gather
from tftrade.forecast import metrics
from tftrade.forecast.baselines import BASELINES
from tftrade.forecast.calibration import reliability
from tftrade.forecast.training import Trained


def evaluate(
    trained: Trained, raw: Panel, part: str = "test", max_train_windows: int = 50_000
) -> dict[str, dict[str, float]]:
    """Return ``{forecaster: {metric: value}}`` for the TFT and every baseline on ``part``.

    Metrics are on unscaled cumulative log returns (see :mod:`tftrade.forecast.metrics`); the TFT's
    quantiles are the calibrated ones (:meth:`Trained.quantiles`).
    Baselines are fitted on (at most ``max_train_windows`` evenly spaced) training windows.
    """
    panel = raw.scaled(trained.standardizer)
    c, h, levels = trained.config.context, trained.config.horizon, trained.config.quantiles
    n = len(panel.tickers)
    test_idx = trained.splits.origins(part, n, c, h)  # type: ignore[arg-type]
    train_idx = trained.splits.origins("train", n, c, h)
    if len(train_idx) > max_train_windows:
        train_idx = train_idx.take(np.linspace(0, len(train_idx) - 1, max_train_windows).astype(np.int64))
    test, train = gather(panel, test_idx, c, h), gather(panel, train_idx, c, h)
    scale = trained.standardizer.target_scale[test_idx.cols][:, None]
    y = test.target * scale
    forecasts = {"tft": trained.quantiles(panel, test_idx)}
    ret_col = panel.observed_names.index("log_return")
    for name, fn in BASELINES.items():
        kwargs = {"return_col": ret_col} if name == "trailing_mean" else {}
        forecasts[name] = fn(test, train, levels, **kwargs)
    return {
        name: metrics.report(y.astype(np.float64), q * scale[..., None], levels, test_idx.origins)
        for name, q in forecasts.items()
    }


def reliability_table(trained: Trained, raw: Panel, part: str = "test") -> list[dict[str, float]]:
    """Reliability of the confidence on ``part``'s windows, all horizons pooled (see
    :func:`tftrade.forecast.calibration.reliability`): the hit rate should rise with the confidence."""
    panel = raw.scaled(trained.standardizer)
    c, h = trained.config.context, trained.config.horizon
    idx = trained.splits.origins(part, len(panel.tickers), c, h)  # type: ignore[arg-type]
    q = trained.quantiles(panel, idx)
    levels = list(trained.config.quantiles)
    mid = levels.index(0.5) if 0.5 in levels else len(levels) // 2
    y = gather(panel, idx, c, h).target.astype(np.float64)
    return reliability(trained.confidence(q), y, q[..., mid])
