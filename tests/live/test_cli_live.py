"""`tftrade live` and `tftrade worker` as a user runs them."""

from __future__ import annotations

import gc
import json

import pytest
from typer.testing import CliRunner

from tftrade.cli import app

pytestmark = pytest.mark.usefixtures("initialized_home")

runner = CliRunner()


def _ingest() -> None:
    result = runner.invoke(app, ["ingest", "synthetic", "--tickers", "5", "--days", "1", "--json"])
    assert result.exit_code == 0, result.output


def test_live_replays_the_store_through_every_worker_with_one_json_line_per_event() -> None:
    _ingest()
    collector = gc.get_threshold()
    result = runner.invoke(app, ["live", "--strategy", "sma", "--cadence", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert (gc.get_threshold(), gc.get_freeze_count()) == (collector, 0)  # the freeze is undone for this process
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {e["event"] for e in events}
    assert events[0]["event"] == "start" and events[0]["tickers"] == 5
    assert {"decision", "orders", "fills"} <= kinds
    summary = events[-1]
    assert summary["event"] == "summary" and summary["steps"] == 390 and summary["in_sync"]
    assert summary["orders"] == sum(e["count"] for e in events if e["event"] == "orders")
    orders = [o for e in events if e["event"] == "orders" for o in e["orders"]]
    fills = [f for e in events if e["event"] == "fills" for f in e["fills"]]
    assert len(orders) == summary["orders"] and len(fills) == summary["fills"]
    assert all(o["ticker"] and o["quantity"] and o["state"] for o in orders)  # what was traded, not only a count
    assert {f["order_id"] for f in fills} <= {o["client_order_id"] for o in orders}
    net: dict[str, float] = {}
    for f in fills:
        net[f["ticker"]] = net.get(f["ticker"], 0.0) + f["quantity"]
    assert {t: q for t, q in net.items() if q} == summary["positions"]  # the fill lines add up to the book


def test_live_prints_a_summary_without_json() -> None:
    _ingest()
    result = runner.invoke(app, ["live", "--strategy", "sma"])
    assert result.exit_code == 0, result.output
    assert "390 bars stepped over 5 tickers" in result.stdout and "in sync" in result.stdout


def test_bad_choices_are_one_clear_line() -> None:
    _ingest()
    result = runner.invoke(app, ["live", "--strategy", "sma", "--broker", "nope"])
    assert result.exit_code == 1 and "unknown broker 'nope'" in result.output
    result = runner.invoke(app, ["live", "--source", "carrier-pigeon"])
    assert result.exit_code == 1 and "--source must be replay or massive" in result.output
    result = runner.invoke(app, ["worker", "trade", "--strategy", "sma"], env={"TFTRADE_REDIS_URL": ""})
    assert result.exit_code == 1 and "needs Redis" in result.output
    result = runner.invoke(app, ["worker", "ingset", "--json"], env={"TFTRADE_REDIS_URL": ""})
    assert result.exit_code == 1 and json.loads(result.stdout)["error"].startswith("unknown worker 'ingset'")


def test_the_tft_strategy_without_a_trained_model_says_what_to_do() -> None:
    _ingest()
    result = runner.invoke(app, ["live"])
    assert result.exit_code == 1 and "no trained model" in result.output and "--strategy sma" in result.output


def test_demo_ends_by_showing_the_live_path_makes_the_backtests_decisions() -> None:
    result = runner.invoke(app, ["demo", "--tickers", "4", "--days", "3", "--epochs", "1", "--max-samples", "200",
                                 "--parity-bars", "60", "--json"])
    assert result.exit_code == 0, result.output
    parity = json.loads(result.stdout)["live_parity"]
    assert parity["same"] and parity["differences"] == []
    assert parity["decisions"][0] == parity["decisions"][1] > 0 and parity["fills"][0] == parity["fills"][1]
    assert parity["predictions_published"] > 0
    assert parity["sentiment"]  # fitted with the demo's stored comments, read on both sides as live


def test_live_on_massive_reports_the_feed_on_its_json_lines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from fakes.massive_server import FakeMassive

    _ingest()
    fake = FakeMassive().start()
    try:
        now_min = int(time.time() // 60 * 60_000)
        fake.add_bars("AAPL", [now_min - k * 60_000 for k in range(2, 7)])
        monkeypatch.setenv("TFTRADE_VENDORS__MASSIVE_WS_URL", fake.ws_url)
        monkeypatch.setenv("TFTRADE_VENDORS__MASSIVE_REST_URL", fake.rest_url)
        monkeypatch.setenv("TFTRADE_VENDORS__POLYGON_API_KEY", "test-key")
        result = runner.invoke(app, ["live", "AAPL", "--source", "massive", "--strategy", "sma", "--no-warm-start",
                                     "--duration", "3", "--json"])
    finally:
        fake.stop()
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    feed = [e for e in events if e.get("source") == "massive" and e["event"] != "start"]
    assert {"connected", "backfill"} <= {e["event"] for e in feed} and "bar" not in {e["event"] for e in feed}
    assert next(e for e in feed if e["event"] == "backfill")["bars"] == 5
    assert events[-1]["event"] == "summary" and events[-1]["bars"] == 5  # the backfilled bars reached the loop


def test_live_on_massive_with_a_rejected_key_is_one_line_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from fakes.massive_server import FakeMassive

    _ingest()
    fake = FakeMassive().start()
    try:
        monkeypatch.setenv("TFTRADE_VENDORS__MASSIVE_WS_URL", fake.ws_url)
        monkeypatch.setenv("TFTRADE_VENDORS__MASSIVE_REST_URL", fake.rest_url)
        monkeypatch.setenv("TFTRADE_VENDORS__POLYGON_API_KEY", "wrong")
        result = runner.invoke(app, ["live", "AAPL", "--source", "massive", "--strategy", "sma", "--no-warm-start"])
    finally:
        fake.stop()
    assert result.exit_code == 1
    assert "Massive rejected the API key" in result.output and fake.auth_attempts == 1
    assert "Traceback" not in result.output + capfd.readouterr().err


def test_live_and_worker_hand_their_workers_one_idle_collector_each(monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.core.gc_tuning import IdleCollector
    from tftrade.live import app as live_app

    given: list[object] = []

    def run(*args: object, idle_gc: object = None, **kwargs: object) -> dict[str, object]:
        given.append(idle_gc)
        return {"event": "summary"}

    monkeypatch.setattr(live_app, "run_live", run)
    monkeypatch.setattr(live_app, "run_worker", run)
    for argv in (["live", "--strategy", "sma", "--json"], ["worker", "ingest", "--json"],
                 ["worker", "ingest", "--json"]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, result.output
    assert all(isinstance(g, IdleCollector) for g in given) and len({id(g) for g in given}) == 3
