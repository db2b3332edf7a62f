"""End to end on the synthetic market: planted lead recovered, spam down-weighted, momentum causal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from tftrade.data.synthetic import SyntheticConfig, SyntheticMarket, generate_market
from tftrade.sentiment.aggregate import aggregate, panel
from tftrade.sentiment.lexicon import LexiconScorer
from tftrade.sentiment.momentum import MomentumConfig, momentum
from tftrade.sentiment.noise import noise_weights
from tftrade.sentiment.pipeline import aggregate_store, ingest_synthetic_comments, load_mentions

LEAD = 5


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return generate_market(SyntheticConfig(n_tickers=6, days=3, seed=11, sentiment_lead=LEAD, comments_per_bar=1.0,
                                           spam_bursts=3))


@pytest.fixture
def loaded(sqlite_engine: Engine, market: SyntheticMarket) -> Engine:
    report = ingest_synthetic_comments(sqlite_engine, market.comments,
                                       [(s.ticker, s.name) for s in market.securities], LexiconScorer())
    assert report.quarantined == 0 and report.inserted == len(market.comments)
    return sqlite_engine


def test_extraction_recovers_the_posted_ticker(loaded: Engine, market: SyntheticMarket) -> None:
    mentions = load_mentions(loaded)
    truth = market.comments.set_index("id")["ticker"]
    assert (mentions.set_index("comment_id")["ticker"] == truth.reindex(mentions["comment_id"]).to_numpy()).all()
    assert mentions["comment_id"].nunique() == len(market.comments)  # one ticker per synthetic comment, none missed


def test_planted_lead_shows_in_the_aggregated_series(loaded: Engine, market: SyntheticMarket) -> None:
    run, result = aggregate_store(loaded, "1min")
    assert run.rows_written == len(result.frame) and run.noise.downweighted >= 60
    sent = panel(result.frame, market.timestamps, market.tickers)
    assert sent.shape == market.returns.shape
    corr = []
    for k in range(0, 11):
        x, y = sent[: len(sent) - k], market.returns[k:]
        ok = np.isfinite(x) & np.isfinite(y)
        corr.append(np.corrcoef(x[ok], y[ok])[0, 1])
    assert int(np.argmax(corr)) == LEAD, np.round(corr, 3)
    assert corr[LEAD] > 0.1


def test_spam_bursts_are_downweighted(market: SyntheticMarket) -> None:
    c = market.comments.assign(timestamp=pd.to_datetime(market.comments["created_utc"], unit="s", utc=True))
    w, report = noise_weights(c)
    spam = c["id"].str.startswith("spam").to_numpy()
    assert spam.sum() == 60
    assert w[spam].sum() < 0.4 * spam.sum()
    assert np.mean(w[~spam] == 1.0) > 0.97
    assert report.near_duplicates >= 60 and report.author_bursts >= 60 and report.downweighted >= 60


def test_momentum_has_no_look_ahead(market: SyntheticMarket) -> None:
    c = market.comments.assign(timestamp=pd.to_datetime(market.comments["created_utc"], unit="s", utc=True),
                               sentiment_score=market.comments["true_tone"].fillna(1.0))
    agg = aggregate(c, "5min").frame
    full = momentum(agg, MomentumConfig(baseline=20, min_periods=5))
    cut = agg["time_window"].sort_values().unique()[100]
    past = momentum(agg[agg["time_window"] <= cut], MomentumConfig(baseline=20, min_periods=5))
    merged = full[full["time_window"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, past.reset_index(drop=True))
    assert set(full.columns) >= {"volume_z", "ewm_fast", "ewm_slow", "crossover", "burst"}
    assert full["burst"].any()  # the spam bursts stand out in raw volume
