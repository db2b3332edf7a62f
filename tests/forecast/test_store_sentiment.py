"""Training from the store attaches the stored sentiment aggregates (flag 0 when there are none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.forecast.workflows import store_panel

DAILY = SyntheticConfig(n_tickers=3, days=90, seed=5, timeframe="1day", comments_per_bar=4.0, spam_bursts=0,
                        earnings_every=5000, jump_prob=0.0)
MINUTE = SyntheticConfig(n_tickers=3, days=2, seed=5, timeframe="1min", comments_per_bar=0.5, spam_bursts=0,
                         earnings_every=5000, jump_prob=0.0)


def _store(path: Path, config: SyntheticConfig, window: str | None) -> Engine:
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.sentiment.pipeline import aggregate_store, ingest_synthetic_comments
    from tftrade.sentiment.scorer import make_scorer
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    market = generate_market(config)
    ingest_synthetic(engine, market)
    if window is not None:
        ingest_synthetic_comments(engine, market.comments, [(s.ticker, s.name) for s in market.securities],
                                  make_scorer("lexicon"))
        aggregate_store(engine, window)
    return engine


def _sentiment(panel, name: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return panel.observed[..., panel.observed_names.index(name)]


@pytest.mark.parametrize(("config", "window"), [(DAILY, "1h"), (MINUTE, "1min")])
def test_stored_aggregates_become_sentiment_features(tmp_path: Path, config: SyntheticConfig, window: str) -> None:
    panel, _ = store_panel(_store(tmp_path / "with.db", config, window), None, config.timeframe, 50)
    assert (_sentiment(panel, "sentiment_present") == 1).all()
    volume = _sentiment(panel, "comment_volume")
    assert (volume > 0).mean() > 0.3
    assert np.abs(_sentiment(panel, "sentiment_score")).max() > 0.05
    assert np.isfinite(panel.observed).all()


def test_without_aggregates_the_flag_is_zero(tmp_path: Path) -> None:
    panel, _ = store_panel(_store(tmp_path / "without.db", DAILY, None), None, "1day", 50)
    for name in ("sentiment_present", "sentiment_score", "comment_volume"):
        assert (_sentiment(panel, name) == 0).all()


def test_daily_bars_see_only_comments_before_their_close(tmp_path: Path) -> None:
    """Comment counts per daily bar equal the comments made between the previous close and its close."""
    import pandas as pd

    from tftrade.forecast.store_sentiment import session_closes

    engine = _store(tmp_path / "c.db", DAILY, "1h")
    panel, _ = store_panel(engine, None, "1day", 50)
    market = generate_market(DAILY)
    closes = session_closes(panel.timestamps)
    created = pd.to_datetime(market.comments["created_utc"], unit="s", utc=True).dt.floor("h")
    hour_end = created.astype("datetime64[ns, UTC]").astype("int64").to_numpy() + 3_600_000_000_000
    bar = np.searchsorted(closes, hour_end, side="left")
    t = market.tickers.index(panel.tickers[0])
    mine = market.comments["ticker"].to_numpy() == market.tickers[t]
    expected = np.bincount(bar[mine & (bar < len(closes))], minlength=len(closes))[5:-1]
    got = np.expm1(_sentiment(panel, "comment_volume")[5:-1, 0])
    assert got.sum() > 0
    assert np.corrcoef(got, expected)[0, 1] > 0.9
