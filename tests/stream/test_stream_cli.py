"""`tftrade stream massive | reddit | replay` as a user runs them, against the loopback fakes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fakes.massive_server import FakeMassive
from fakes.reddit_server import FakeReddit
from typer.testing import CliRunner

from tftrade.cli import app

pytestmark = pytest.mark.usefixtures("initialized_home")

runner = CliRunner()


def lines(output: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.fixture
def massive() -> Iterator[FakeMassive]:
    server = FakeMassive().start()
    yield server
    server.stop()


def test_stream_massive_prints_one_json_line_per_event_and_stores_the_bars(
        massive: FakeMassive, monkeypatch: pytest.MonkeyPatch) -> None:
    now_min = int(time.time() // 60 * 60_000)
    massive.add_bars("AAPL", [now_min - k * 60_000 for k in range(2, 7)])
    monkeypatch.setenv("TFTRADE_VENDORS__POLYGON_API_KEY", "test-key")
    result = runner.invoke(app, ["stream", "massive", "AAPL", "--ws-url", massive.ws_url, "--rest-url",
                                 massive.rest_url, "--backfill-minutes", "30", "--duration", "2", "--json"])
    assert result.exit_code == 0, result.output
    events = lines(result.stdout)
    kinds = [e["event"] for e in events]
    assert kinds.count("bar") == 5 and "connected" in kinds and kinds[-1] == "stopped"
    assert next(e for e in events if e["event"] == "backfill")["bars"] == 5
    ingest = events[-1]["ingest"]
    assert ingest["bars"] == 5 and ingest["inserted"] + ingest["outside_session"] == 5  # stored unless off-hours


def test_stream_massive_with_a_rejected_key_is_one_clear_error(massive: FakeMassive,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_VENDORS__POLYGON_API_KEY", "wrong")
    result = runner.invoke(app, ["stream", "massive", "AAPL", "--ws-url", massive.ws_url, "--rest-url",
                                 massive.rest_url, "--duration", "10", "--json"])
    assert result.exit_code == 1 and "rejected the API key" in result.output and massive.auth_attempts == 1


def test_stream_reddit_scores_and_stores_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeReddit().start()
    try:
        fake.post("c1", "$NVDA to the moon", time.time() - 30, subreddit="wallstreetbets")
        fake.post("c2", "selling all my $NVDA, terrible", time.time() - 20, subreddit="stocks")
        monkeypatch.setenv("TFTRADE_VENDORS__REDDIT_CLIENT_ID", "cid")
        monkeypatch.setenv("TFTRADE_VENDORS__REDDIT_CLIENT_SECRET", "secret")
        result = runner.invoke(app, ["stream", "reddit", "--oauth-url", fake.url, "--reddit-url", fake.url,
                                     "--duration", "2", "--json"])
    finally:
        fake.stop()
    assert result.exit_code == 0, result.output
    events = lines(result.stdout)
    assert [e["id"] for e in events if e["event"] == "comment"] == ["c1", "c2"]
    assert events[-1]["sentiment"]["inserted"] == 2 and events[-1]["sentiment"]["mentions"] == 2


def test_stream_replay_publishes_every_stored_bar() -> None:
    assert runner.invoke(app, ["ingest", "synthetic", "--tickers", "2", "--days", "1", "--json"]).exit_code == 0
    result = runner.invoke(app, ["stream", "replay", "--speed", "0", "--json"])
    assert result.exit_code == 0, result.output
    events = lines(result.stdout)
    assert events[-1]["event"] == "stopped" and events[-1]["bars"] == 780 and len(events) == 391


def test_stream_tail_prints_what_another_process_published(redis_url: str, redis_admin,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from tftrade.stream.messages import FillMessage
    from tftrade.stream.redis_bus import RedisStreamsBus

    prefix = f"test:{uuid.uuid4().hex}"
    pub = RedisStreamsBus(redis_url, prefix=prefix)
    try:
        pub.publish("fills", FillMessage("o-1", "AAPL", 2.0, 190.5, 0.0, 7))
        pub.publish_raw("fills", b"garbage")
        monkeypatch.setenv("TFTRADE_REDIS_URL", redis_url)
        result = runner.invoke(app, ["stream", "tail", "fills", "--prefix", prefix, "--from-start",
                                     "--duration", "1", "--json"])
    finally:
        pub.delete_topics()
        pub.close()
    assert result.exit_code == 0, result.output
    events = lines(result.stdout)
    assert events[0]["event"] == "message" and events[0]["client_order_id"] == "o-1" and events[0]["type"] == "fill"
    assert events[1]["event"] == "undecodable" and events[1]["raw"] == "garbage"
    assert events[-1] == {**events[-1], "event": "stopped", "messages": 2}


def test_stream_replay_of_nothing_says_so_in_one_line_naming_real_commands() -> None:
    tickers = ["NOSUCHTICKER1", "NOSUCHTICKER2", "NOSUCHTICKER3", "NOSUCHTICKER4"]
    result = runner.invoke(app, ["stream", "replay", *tickers, "--json"])
    assert result.exit_code == 0, result.output
    assert lines(result.stdout)[-1]["bars"] == 0
    said = result.stderr.strip().splitlines()
    assert len(said) == 1, said  # one line, even on an 80-column (or no) terminal
    assert "NOSUCHTICKER4" in said[0] and "tftrade ingest synthetic" in said[0] and "data synthetic" not in said[0]


def test_stream_replay_refuses_an_end_before_the_start() -> None:
    result = runner.invoke(app, ["stream", "replay", "--start", "2024-03-02", "--end", "2024-03-01", "--json"])
    assert result.exit_code == 1
    assert "is not after --start" in json.loads(result.stdout)["error"]
