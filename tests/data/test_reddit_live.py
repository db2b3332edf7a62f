"""The live Reddit source against a loopback fake, driven by PRAW/prawcore, into the sentiment worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pandas as pd
import pytest
from fakes.reddit_server import FakeReddit
from pydantic import SecretStr
from sqlalchemy import Engine

from tests.waiting import eventually
from tftrade.data.endpoints import VendorEndpoints
from tftrade.data.reddit import RedditAuthError, RedditConfig, RedditSource
from tftrade.live.sentiment_worker import SentimentWorker, SentimentWorkerConfig
from tftrade.sentiment.aggregate import read_aggregates
from tftrade.sentiment.lexicon import LexiconScorer
from tftrade.sentiment.pipeline import annotator
from tftrade.sentiment.tickers import TickerExtractor
from tftrade.store.runs import list_quarantine
from tftrade.stream.memory import InMemoryBus

T0 = pd.Timestamp("2024-01-02 15:00:05", tz="UTC").timestamp()
FAST = RedditConfig(poll_s=0.05)



@pytest.fixture
def fake() -> Iterator[FakeReddit]:
    server = FakeReddit().start()
    yield server
    server.stop()


def endpoints(fake: FakeReddit, secret: str = "secret") -> VendorEndpoints:
    return VendorEndpoints(reddit_oauth_url=fake.url, reddit_url=fake.url, reddit_client_id=SecretStr("cid"),
                           reddit_client_secret=SecretStr(secret))


def test_comments_stream_through_the_sentiment_worker_with_faults_on_the_way(
        fake: FakeReddit, sqlite_engine: Engine) -> None:
    fake.post("a1", "$AAPL to the moon, great earnings", T0, subreddit="wallstreetbets", score=5)
    fake.post("a2", "AAPL is terrible, selling everything", T0 + 10, author="bob")
    fake.post("x1", "off-topic sub", T0, subreddit="cooking")
    bus = InMemoryBus()
    source = RedditSource(bus, endpoints(fake), config=FAST)
    worker = SentimentWorker(bus, sqlite_engine, annotator(TickerExtractor.default(), LexiconScorer()),
                             SentimentWorkerConfig(block_ms=20))
    stop = threading.Event()
    threads = [threading.Thread(target=source.run, args=(stop,), daemon=True),
               threading.Thread(target=worker.run, args=(stop,), daemon=True)]
    for t in threads:
        t.start()
    try:
        eventually(lambda: source.stats.comments == 2)
        fake.fail_next(429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-used": "600",
                                     "x-ratelimit-reset": "1", "retry-after": "1"})
        fake.fail_next(503)
        fake.fail_next(503)
        fake.fail_next(503)
        fake.fail_next(200, body="<html>not json</html>")
        fake.post("t1", "$TSLA calls printing, bullish", T0 + 70, subreddit="investing")
        eventually(lambda: source.stats.comments == 3 and worker.counters.messages == 4, timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert all("/r/wallstreetbets+stocks+investing/comments" in p for p in fake.listing_requests)
    assert fake.token_requests == 1
    s = source.stats
    assert (s.rate_limited, s.malformed) == (1, 1) and s.server_errors >= 1
    agg = read_aggregates(sqlite_engine, "1min")
    assert agg.set_index("ticker")["total_comments"].to_dict() == {"AAPL": 2, "TSLA": 1}
    q = list_quarantine(sqlite_engine)["rows"]
    assert len(q) == 1 and "not JSON" in q[0]["reason"] and "<html>not json</html>" in q[0]["raw"]


def test_rejected_credentials_stop_the_source_without_retrying(fake: FakeReddit) -> None:
    source = RedditSource(InMemoryBus(), endpoints(fake, secret="wrong"), config=FAST)
    with pytest.raises(RedditAuthError, match="rejected the credentials"):
        source.run(threading.Event())
    assert fake.token_requests == 1 and fake.listing_requests == []
