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
