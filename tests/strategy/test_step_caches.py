"""The trade step's caches: keyed so a changed matrix, universe or size is never served stale state.

The checked covariance's mark (``as_covariance`` handed its own result back) is tested in
``tests/portfolio/test_checked_covariance.py``.
"""

from __future__ import annotations

import numpy as np

from tftrade.backtest import AccountState, MarketData, MarketView
from tftrade.backtest.forecasts import ForecastPanel
from tftrade.portfolio import (
    OptimizerConfig,
    bl_posterior,
    covariance,
    ledoit_wolf,
    market_implied_prior,
    optimize,
)
from tftrade.portfolio._validate import as_covariance
from tftrade.portfolio.covariance import factor_model
from tftrade.strategy import forecasts as forecast_rows
from tftrade.strategy.forecast_strategy import ForecastStrategy, StrategyConfig
from tftrade.strategy.forecasts import take_row

T = 80
DAY = 86_400_000_000_000


def test_the_checked_covariance_gives_the_same_prior_posterior_and_weights_as_the_raw_one() -> None:
    rng = np.random.default_rng(1)
    cov = ledoit_wolf(rng.normal(0, 0.01, (80, 8)), 252.0).cov
    mu = rng.normal(0, 0.1, 8)
    raw = (market_implied_prior(cov), bl_posterior(cov, mu, np.eye(8), mu).mean,
           optimize(mu, cov, config=OptimizerConfig(max_weight=0.3)).weights)
    checked = as_covariance(cov)
    reused = (market_implied_prior(checked), bl_posterior(checked, mu, np.eye(8), mu).mean,
              optimize(mu, checked, config=OptimizerConfig(max_weight=0.3)).weights)
    for a, b in zip(raw, reused, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_ticker_indexer_follows_the_universe() -> None:
    a = np.array([[1.0, 2.0, 3.0]])
    cols = ("A", "B", "C")
    np.testing.assert_array_equal(take_row((a,), 0, cols, cols)[0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(take_row((a,), 0, cols, ("C", "A"))[0], [3.0, 1.0])  # reordered, smaller
    np.testing.assert_array_equal(take_row((a,), 0, cols, ("C", "X", "B"))[0], [3.0, np.nan, 2.0])
    np.testing.assert_array_equal(take_row((a,), 0, ("C", "B", "A"), cols)[0], [3.0, 2.0, 1.0])  # panel reordered
    row = take_row((a,), 0, cols, cols)[0]
    row[0] = 99.0  # the caller's own copy: the panel is untouched
    assert a[0, 0] == 1.0


def test_the_subspace_probe_is_the_seeded_draw_for_each_size() -> None:
    for n, m, seed in ((6, 4, 0), (9, 5, 0), (6, 4, 3)):
        probe = covariance._probe(n, m, seed)
        np.testing.assert_array_equal(probe, np.random.default_rng(seed).standard_normal((n, m)))
        assert not probe.flags.writeable
    rng = np.random.default_rng(2)
    for n in (7, 12):  # a changed size draws its own probe
        cov = ledoit_wolf(rng.normal(0, 0.01, (50, n)), 1.0).cov
        assert factor_model(cov, 2).loadings.shape == (n, 2)


def _market(n: int, order: list[int]) -> MarketData:
    rng = np.random.default_rng(3)
    close = (50 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, 12)), axis=0)))[:, order][:, :n]
    tickers = tuple(f"T{i}" for i in order)[:n]
    return MarketData(np.arange(T, dtype=np.int64) * DAY, tickers, tuple(f"S{i % 4}" for i in order)[:n], close,
                      close * 1.01, close * 0.99, close, np.full((T, n), 1e6), "1day",
                      benchmark=close.mean(axis=1), vix=np.full(T, 20.0))


def test_a_changed_universe_decides_as_with_cold_caches() -> None:
    """Universes of other sizes and orders in turn: each decision equals the one made with every cache emptied."""
    p50 = np.tile(np.linspace(-0.02, 0.02, 12), (T, 1))
    fc = ForecastPanel(np.arange(T, dtype=np.int64) * DAY, tuple(f"T{i}" for i in range(12)), 5, p50 - 0.02, p50,
                       p50 + 0.02, np.ones((T, 12)))
    cfg = StrategyConfig(lookback=60, optimizer=OptimizerConfig(max_weight=0.3, max_sector_weight=0.6, beta_min=0.5,
                                                                 beta_max=1.5, risk_model="factor", n_factors=3))
    universes = [(12, list(range(12))), (8, list(range(12))), (12, list(range(11, -1, -1))), (9, [5, 1, 7, 3, 9, 0,
                                                                                                   2, 4, 6, 8, 10, 11])]

    def decide(n: int, order: list[int]) -> tuple[np.ndarray, tuple[str, ...]]:
        got = ForecastStrategy(fc, config=cfg).decide(MarketView(_market(n, order), T - 1),
                                                      AccountState(1e6, 1e6, np.zeros(n), np.zeros(n)))
        assert got is not None
        return got.weights, tuple(got.rationale)

    warm = [decide(n, order) for n, order in universes]
    for (n, order), (w, why) in zip(universes, warm, strict=True):
        forecast_rows._indexer.cache_clear()
        covariance._probe.cache_clear()
        w_cold, why_cold = decide(n, order)
        np.testing.assert_array_equal(w, w_cold)
        assert why == why_cold


def test_an_exactly_symmetric_matrix_is_returned_as_the_symmetrisation_would_give_it() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 5))
    sym = x.T @ x
    sym[0, 0] = -0.0 if sym[0, 0] == 0 else sym[0, 0]
    near = sym.copy()
    near[1, 2] += 1e-13 * abs(near[1, 2])  # asymmetric within round-off: symmetrised
    for m in (sym, near):
        out = as_covariance(m)
        np.testing.assert_array_equal(out, m - 0.5 * (m - m.T))
        assert out is not m and m.flags.writeable  # a copy: the caller's matrix is not frozen
    np.testing.assert_array_equal(as_covariance(near), as_covariance(near).T)
