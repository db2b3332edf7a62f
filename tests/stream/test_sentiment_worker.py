"""The sentiment worker: comments scored and stored once, minute aggregates from everything stored."""

from __future__ import annotations

import threading
import time

import pandas as pd
from sqlalchemy import Engine

from tftrade.live.sentiment_worker import SentimentWorker, SentimentWorkerConfig
from tftrade.sentiment.aggregate import read_aggregates
from tftrade.sentiment.lexicon import LexiconScorer
from tftrade.sentiment.pipeline import annotator
from tftrade.sentiment.tickers import TickerExtractor
from tftrade.store.runs import list_quarantine
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import CommentMessage

T0 = pd.Timestamp("2024-01-02 15:00:05", tz="UTC").timestamp()


def run_until(worker: SentimentWorker, n: int) -> None:
    stop = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while worker.counters.messages < n and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join(10)
    assert worker.counters.messages == n


def test_comments_become_mentions_and_minute_aggregates_once(sqlite_engine: Engine) -> None:
    bus = InMemoryBus()
    worker = SentimentWorker(bus, sqlite_engine, annotator(TickerExtractor.default(), LexiconScorer()),
                             SentimentWorkerConfig(count=2, block_ms=10))
    first = [CommentMessage("c1", "$AAPL to the moon, great earnings", T0, "amy", "stocks", score=5),
             CommentMessage("c2", "AAPL is terrible, selling everything", T0 + 20, "bob", "stocks", score=1),
             CommentMessage("c3", "$TSLA calls printing", T0 + 70, "cat", "wallstreetbets")]
    bus.publish_many("social_data", first)
    bus.publish_raw("social_data", b'{"type":"comment","id":"c4","body":"","created_utc":1704207600.0}')
    run_until(worker, 4)
    bus.publish_many("social_data", first[:2])  # redelivered / replayed
    run_until(worker, 6)

    agg = read_aggregates(sqlite_engine, "1min")
    aapl = agg[agg["ticker"] == "AAPL"]
    assert aapl["total_comments"].tolist() == [2]
    assert int(aapl["bullish_count"].iloc[0]) == 1 and int(aapl["bearish_count"].iloc[0]) == 1
    assert agg[agg["ticker"] == "TSLA"]["total_comments"].tolist() == [1]
    assert worker.counters.inserted == 3 and worker.counters.duplicates == 2
    q = list_quarantine(sqlite_engine)
    assert q["total"] == 1 and q["rows"][0]["reason"].startswith("body: empty")


def test_a_daily_run_sees_the_days_comments_as_batch_does(sqlite_engine: Engine) -> None:
    import numpy as np

    from tftrade.features.bar_sentiment import SentimentWindows
    from tftrade.live.predict_worker import stored_sentiment
    from tftrade.sentiment.pipeline import aggregate_store

    def at(t: str) -> float:
        return float(pd.Timestamp(t, tz="UTC").timestamp())

    bus = InMemoryBus()
    worker = SentimentWorker(bus, sqlite_engine, annotator(TickerExtractor.default(), LexiconScorer()),
                             SentimentWorkerConfig(count=2, block_ms=10, timeframe="1day"))
    assert worker.config.windows() == ("1min", "1h")
    bus.publish_many("social_data", [
        CommentMessage("d1", "$AAPL to the moon, great earnings", at("2024-01-02 22:30"), "amy", "stocks"),
        CommentMessage("d2", "AAPL is terrible, selling everything", at("2024-01-03 15:10"), "bob", "stocks"),
        CommentMessage("d3", "$TSLA calls printing", at("2024-01-03 18:00"), "cat", "wallstreetbets"),
        CommentMessage("d4", "$AAPL great quarter", at("2024-01-03 21:30"), "dan", "stocks"),  # after the close
    ])
    run_until(worker, 4)
    days = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"]).tz_localize("America/New_York")
    bars = np.asarray(days.as_unit("ns").asi8, dtype=np.int64)  # daily bars are stamped at New York midnight
    tickers = ["AAPL", "TSLA"]
    score, count = stored_sentiment(sqlite_engine, "1day")(bars, tickers)  # what the daily predict worker reads
    assert count is not None and score is not None
    # the 3 January bar: the comments after 2 January's close up to its own; the last one is the next day's
    assert count.tolist() == [[0, 0], [2, 1], [1, 0]]
    aggregate_store(sqlite_engine, "1h")  # batch: `tftrade sentiment aggregate --window 1h` over what is stored
    want_score, want_count = SentimentWindows.from_store(sqlite_engine, tickers).on_bars(bars, tickers, "1day")
    assert want_score is not None and want_count is not None and np.array_equal(count, want_count)
    assert np.array_equal(np.isnan(score), np.isnan(want_score))
    assert np.allclose(np.nan_to_num(score), np.nan_to_num(want_score), rtol=1e-9, atol=1e-12)
    assert SentimentWorkerConfig().windows() == ("1min",)  # intraday runs read the minute windows only
