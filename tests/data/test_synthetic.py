"""The synthetic market plants structure that can be recovered from its output."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.data.synthetic import SyntheticConfig, generate_market


@pytest.fixture(scope="module")
def market():  # type: ignore[no-untyped-def]
    return generate_market(SyntheticConfig(n_tickers=6, days=15, seed=3, comments_per_bar=0.5))


def test_same_seed_same_market_other_seed_other_market() -> None:
    cfg = SyntheticConfig(n_tickers=3, days=2, seed=9)
    a, b = generate_market(cfg), generate_market(cfg)
    assert np.array_equal(a.close, b.close) and a.comments.equals(b.comments)
    c = generate_market(cfg.model_copy(update={"seed": 10}))
    assert not np.array_equal(a.close, c.close)


def test_bars_are_valid_ohlc(market) -> None:  # type: ignore[no-untyped-def]
    assert (market.low <= np.minimum(market.open, market.close)).all()
    assert (market.high >= np.maximum(market.open, market.close)).all()
    assert (market.low > 0).all() and (market.volume >= 0).all()


def test_planted_market_betas_are_recovered_by_regression(market) -> None:  # type: ignore[no-untyped-def]
    m = market.market_returns
    est = np.array([np.cov(market.returns[:, i], m)[0, 1] / m.var() for i in range(6)])
    np.testing.assert_allclose(est, market.planted.market_beta, atol=0.12)


def test_sentiment_leads_returns_by_the_planted_lag(market) -> None:  # type: ignore[no-untyped-def]
    lead = market.planted.sentiment_lead
    r, s = market.returns, market.sentiment

    def corr(lag: int) -> float:
        return float(np.mean([np.corrcoef(r[lag:, i], s[: len(s) - lag, i])[0, 1] for i in range(r.shape[1])]))

    at_lead = corr(lead)
    assert at_lead > 0.3, "lagged sentiment explains a planted share of returns"
    assert at_lead > corr(0) + 0.1 and at_lead > corr(lead + 8) + 0.1, "the correlation peaks at the planted lag"


def test_comments_carry_the_sentiment(market) -> None:  # type: ignore[no-untyped-def]
    c = market.comments.dropna(subset=["true_tone"])
    bull = c[c["body"].str.contains("moon|calls|bullish|going up|strong buy")]
    bear = c[c["body"].str.contains("zero|puts|bagholders|bearish|dumping")]
    assert bull["true_tone"].mean() > 0.3 and bear["true_tone"].mean() < -0.3
    spam = market.comments[market.comments["author"].str.startswith("pumper")]
    assert len(spam) == 3 * 20 and spam.groupby("author")["body"].nunique().eq(1).all()


def test_intraday_volume_is_u_shaped(market) -> None:  # type: ignore[no-untyped-def]
    by_minute = market.volume.reshape(15, 390, -1).mean(axis=(0, 2))
    assert by_minute[:30].mean() > 1.5 * by_minute[180:210].mean() < by_minute[-30:].mean()


def test_high_volatility_regime_raises_vix_and_realised_volatility() -> None:
    m = generate_market(SyntheticConfig(n_tickers=3, days=30, seed=1, high_vol_prob=0.003))
    regime = m.planted.high_vol_regime
    assert regime.any() and (~regime).any()
    assert np.median(m.vix[regime]) > 35 > np.median(m.vix[~regime])
    assert m.market_returns[regime].std() > 1.8 * m.market_returns[~regime].std()


def test_earnings_days_move_more(market) -> None:  # type: ignore[no-untyped-def]
    first_bar = np.arange(market.returns.shape[0]) % 390 == 0
    moves = np.abs(market.returns[first_bar])
    earnings = market.planted.jump_mask[first_bar]
    assert earnings.any()
    assert moves[earnings].mean() > 3 * moves[~earnings].mean()


def test_daily_timeframe_has_one_bar_per_session() -> None:
    m = generate_market(SyntheticConfig(n_tickers=2, days=10, timeframe="1day"))
    assert m.close.shape == (10, 2) and len(np.unique(m.timestamps)) == 10
