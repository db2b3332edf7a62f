"""PostgreSQL over a real connection: schema, COPY bulk load, exact NUMERIC prices, the context query."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import Engine, inspect, select, text

from tftrade.data.ingest import ingest_synthetic
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.store.bars import latest_bars, read_bars
from tftrade.store.migrate import current_revision, head_revision, upgrade
from tftrade.store.schema import bars

pytestmark = pytest.mark.integration


def test_schema_has_the_spec_tables_and_prices_are_numeric(pg_engine: Engine) -> None:
    assert current_revision(pg_engine) == head_revision()
    names = set(inspect(pg_engine).get_table_names())
    assert {"stocks_minute_candlesticks", "reddit_comments", "reddit_sentiment_aggregated", "tft_predictions",
            "trade_executions", "securities", "quarantine", "ingest_runs"} <= names
    with pg_engine.connect() as conn:
        kind = conn.execute(text(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'stocks_minute_candlesticks' AND column_name = 'close'")).scalar_one()
    assert kind == "numeric"
    assert upgrade(pg_engine) == head_revision()  # a second init is a no-op


def test_copy_bulk_load_is_exact_and_idempotent(pg_engine: Engine) -> None:
    market = generate_market(SyntheticConfig(n_tickers=3, days=2, seed=2))
    first = ingest_synthetic(pg_engine, market, batch_rows=1000)
    assert first.inserted == 5 * 780 and first.quarantined == 0
    assert ingest_synthetic(pg_engine, market).inserted == 0
    frame = read_bars(pg_engine, ["AAPL"], "1min")
    np.testing.assert_array_equal(frame["close"].to_numpy(), market.close[:, 0])
    with pg_engine.connect() as conn:
        exact = conn.execute(select(bars.c.close).where(bars.c.ticker == "AAPL")
                             .order_by(bars.c.window_start).limit(1)).scalar_one()
    assert exact == Decimal(str(market.close[0, 0])).quantize(Decimal("0.0001"))


def test_latest_bars_returns_the_newest_context_oldest_first(pg_engine: Engine) -> None:
    market = generate_market(SyntheticConfig(n_tickers=2, days=1, seed=5))
    ingest_synthetic(pg_engine, market)
    ctx = latest_bars(pg_engine, "MSFT", "1min", 60)
    assert len(ctx) == 60 and ctx["window_start"].is_monotonic_increasing
    np.testing.assert_array_equal(ctx["close"].to_numpy(), market.close[-60:, 1])


def test_direct_copy_that_collides_falls_back_to_the_staging_path(pg_engine: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.store import bars as bars_repo

    market = generate_market(SyntheticConfig(n_tickers=2, days=1, seed=6))
    assert ingest_synthetic(pg_engine, market).inserted == 4 * 390  # fresh keys: COPY straight in
    # Pretend a concurrent writer slipped in between the check and the COPY.
    monkeypatch.setattr(bars_repo, "_key_range_is_free", lambda *_: True)
    again = ingest_synthetic(pg_engine, market)
    assert again.inserted == 0 and again.duplicates == 4 * 390
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stocks_minute_candlesticks")).scalar_one() == 4 * 390
