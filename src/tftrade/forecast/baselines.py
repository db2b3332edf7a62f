"""Baselines scored on the same test windows as the TFT: zero return, trailing mean, ridge.

Each returns quantiles in scaled units (samples × H × Q). The spread around each baseline's
median comes from the empirical quantiles of its own training residuals, per horizon.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge

from tftrade.features.dataset import Batch


def _with_residual_quantiles(
    median: np.ndarray, train_median: np.ndarray, train_target: np.ndarray, levels: tuple[float, ...]
) -> np.ndarray:
    resid = train_target - train_median
    offsets = np.quantile(resid - np.median(resid, axis=0), levels, axis=0).T  # H × Q
    return np.asarray(median[..., None] + offsets[None])


def zero_return(test: Batch, train: Batch, levels: tuple[float, ...]) -> np.ndarray:
    """Random walk: median exactly 0, spread from the training distribution of returns."""
    q = _with_residual_quantiles(np.zeros_like(test.target), np.zeros_like(train.target), train.target, levels)
    if 0.5 in levels:
        q[..., levels.index(0.5)] = 0.0
    return q


def _trailing(batch: Batch, return_col: int) -> np.ndarray:
    h = batch.target.shape[1]
    return np.asarray(batch.observed[:, :, return_col].mean(axis=1, keepdims=True) * np.arange(1, h + 1))


def trailing_mean(test: Batch, train: Batch, levels: tuple[float, ...], return_col: int = 0) -> np.ndarray:
    """Momentum: the mean one-bar return over the context, times the horizon.

    The observed inputs are standardised, so the trailing mean is mapped to target units by one
    factor ``k >= 0`` fitted by least squares (``target ≈ k · trailing``) on training windows. When
    momentum does not help (``k`` would be negative) it collapses to the zero-return forecast.
    """
    tr, te = _trailing(train, return_col), _trailing(test, return_col)
    k = (tr * train.target).sum() / max((tr * tr).sum(), 1e-12)
    k = max(float(k), 0.0)
    return _with_residual_quantiles(k * te, k * tr, train.target, levels)


def _design(batch: Batch) -> np.ndarray:
    last = batch.observed[:, -1, :]
    mean = batch.observed.mean(axis=1)
    return np.concatenate([last, mean, batch.known[:, -batch.target.shape[1]:, :].reshape(len(last), -1)], axis=1)


def ridge(test: Batch, train: Batch, levels: tuple[float, ...], alpha: float = 10.0) -> np.ndarray:
    """Ridge regression of every horizon on the last and mean observed inputs plus the known future."""
    model = Ridge(alpha=alpha).fit(_design(train), train.target)
    return _with_residual_quantiles(model.predict(_design(test)), model.predict(_design(train)), train.target, levels)


BASELINES = {"zero_return": zero_return, "trailing_mean": trailing_mean, "ridge": ridge}
