"""The live loop wired to the rest of the desk: Alpaca, the desk's documents, operators' control, the API."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the loopback fakes

from fakes.alpaca_server import FakeAlpaca

from tests.waiting import eventually as _wait
from tftrade.cli import app
from tftrade.cli.live_cmd import live_desk, serve_in_process
from tftrade.compliance.audit_log import AuditLog
from tftrade.core.clock import SimulatedClock
from tftrade.core.config import load_settings
from tftrade.core.orders import Order
from tftrade.execution.journal import OrderJournal
from tftrade.execution.killswitch import KillSwitch
from tftrade.execution.paper import PaperBroker
from tftrade.live.app import LiveOptions, run_live
from tftrade.live.control import LiveControl
from tftrade.live.desk_recorder import DeskRecorder
from tftrade.live.runner import TradeStack
from tftrade.service.build import desk_cache
from tftrade.service.keys import Scope, create_key
from tftrade.store.engine import make_engine
from tftrade.stream.cache import InMemoryCache, RedisCache
from tftrade.stream.desk import Control, Desk

pytestmark = pytest.mark.usefixtures("initialized_home")
runner = CliRunner()


@pytest.fixture
def home_engine(initialized_home: Path) -> Iterator[Engine]:
    """Five synthetic tickers, one session of minute bars, in the workspace's database."""
    result = runner.invoke(app, ["ingest", "synthetic", "--tickers", "5", "--days", "1", "--json"])
    assert result.exit_code == 0, result.output
    eng = make_engine(f"sqlite:///{initialized_home / 'tftrade.db'}")
    yield eng
    eng.dispose()


def _opts(**kw: Any) -> LiveOptions:
    base: dict[str, Any] = {"strategy": "sma", "cadence": 2, "cash": 1_000_000.0}
    base.update(kw)
    return LiveOptions(**base)


def _run_in_thread(eng: Engine, opts: LiveOptions, desk: Desk, stop: threading.Event,
                   events: list[dict[str, object]]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def on_stack(stack: TradeStack, pw: object) -> None:
        out["stack"] = stack

    def target() -> None:
        try:
            out["summary"] = run_live(eng, opts, events.append, stop, on_stack, desk=desk)
        except BaseException as e:  # re-raised by the test
            out["error"] = e
    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, out



class _Quotes(dict[str, Decimal]):
    """The fake's price book with a quote for every ticker."""

    def get(self, key: str, default: Any = None) -> Decimal:  # type: ignore[override]
        return super().get(key, Decimal("100"))


# -- 1. tftrade live --broker alpaca --------------------------------------------------------------
def test_live_trades_through_alpaca_orders_reach_the_broker_and_fills_come_back(
        home_engine: Engine, initialized_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAlpaca() as fake:
        fake.fill_before_response = True  # market orders fill at once, the fill is pushed on the stream
        fake.prices = _Quotes()  # every ticker quoted at 100
        for key, value in {"ALPACA_URL": fake.rest_url, "ALPACA_STREAM_URL": fake.stream_url,
                           "ALPACA_KEY_ID": fake.key_id, "ALPACA_SECRET_KEY": fake.secret_key}.items():
            monkeypatch.setenv(f"TFTRADE_VENDORS__{key}", value)
        result = runner.invoke(app, ["live", "--strategy", "sma", "--cadence", "30", "--broker", "alpaca", "--json"])
        assert result.exit_code == 0, result.output
        events = [json.loads(line) for line in result.stdout.splitlines()]
        summary = events[-1]
        assert any(e["event"] == "broker" and "paper trading on http://127.0.0.1" in e["line"] for e in events)
        assert summary["event"] == "summary" and summary["steps"] == 390
        assert summary["orders"] > 0 and fake.created == summary["orders"]
        assert summary["fills"] == summary["orders"]  # every order filled and booked in the loop's ledger
        assert summary["in_sync"] and summary["positions"] == fake.position_map()
        journal = OrderJournal(home_engine)
        intents = journal.intents()
        assert len(intents) == fake.created and not journal.open_orders()
        for i in intents:  # the journal tells each order's whole story; one order per client id at the broker
            story = journal.story(i.client_order_id)
            assert story[:3] == ["intent", "submitted", "accepted"] and story[-1] == "fill", story
            assert fake.orders_for(i.client_order_id) == 1
        ledger = {t: float(q) for t, q in journal.positions().items() if q}
        assert ledger == fake.position_map()
        kinds = {e.kind for e in AuditLog(home_engine, chain="live").entries()}  # live keeps the audit chain
        assert {"decision", "order_intent", "fill"} <= kinds


class _LoopQuotes(dict[str, Decimal]):
    """The fake's price book quoting each ticker at the running loop's last close (fills at market prices)."""

    stack: TradeStack | None = None

    def get(self, key: str, default: Any = None) -> Decimal | None:  # type: ignore[override]
        if self.stack is None or key not in self.stack.loop.tickers:
            return None
        px = float(self.stack.loop.last[self.stack.loop.tickers.index(key)])
        return Decimal(str(round(px, 4))) if np.isfinite(px) else None


def test_a_restarted_alpaca_run_starts_from_the_journals_positions(
        home_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    with FakeAlpaca() as fake:
        fake.fill_before_response = True
        quotes = fake.prices = _LoopQuotes()
        for key, value in {"ALPACA_URL": fake.rest_url, "ALPACA_STREAM_URL": fake.stream_url,
                           "ALPACA_KEY_ID": fake.key_id, "ALPACA_SECRET_KEY": fake.secret_key}.items():
            monkeypatch.setenv(f"TFTRADE_VENDORS__{key}", value)
        cfg = load_settings()

        def run(**kw: Any) -> dict[str, Any]:
            def on_stack(stack: TradeStack, pw: object) -> None:
                quotes.stack = stack
            return run_live(home_engine, _opts(broker="alpaca", cadence=30, **kw), lambda e: None,
                            threading.Event(), on_stack, settings=cfg)
        first = run(end=datetime(2024, 1, 2, 16, 30, tzinfo=UTC))
        held = first["positions"]
        assert held and held == fake.position_map() and first["in_sync"]
        second = run(start=datetime(2024, 1, 2, 16, 31, tzinfo=UTC))
        assert second["in_sync"]  # the loop's ledger started from the journal's: no phantom or forgotten position
        assert second["positions"] == fake.position_map()
        assert {t: float(q) for t, q in OrderJournal(home_engine).positions().items()} == fake.position_map()


def test_live_money_without_the_opt_ins_is_refused_in_one_line(home_engine: Engine) -> None:
    result = runner.invoke(app, ["live", "--strategy", "sma", "--broker", "alpaca", "--live"])
    assert result.exit_code == 1 and "not the live endpoint" in result.output
    result = runner.invoke(app, ["live", "--strategy", "sma", "--live"])
    assert result.exit_code == 1 and "never trades real money" in result.output


# -- 2. control: kill, pause, resume, the drawdown breaker --------------------------------------------
def test_a_kill_on_the_desk_stops_a_running_loops_orders(home_engine: Engine) -> None:
    desk = Desk(InMemoryCache(), SimulatedClock(0))
    stop, events = threading.Event(), []
    th, out = _run_in_thread(home_engine, _opts(speed=6000.0), desk, stop, events)
    _wait(lambda: "stack" in out and out["stack"].worker.counters.orders > 0)
    desk.set_control(Control(paused=True, killed=True, reason="test", by="ops"))
    th.join(120)
    assert "error" not in out, out.get("error")
    stack: TradeStack = out["stack"]
    control = stack.control
    assert control is not None and control.killed and control.killed_at_ns is not None
    broker = stack.kit.broker
    assert isinstance(broker, PaperBroker)
    placed = broker.orders()
    assert placed and all(o.submitted_ns < control.killed_at_ns for o in placed)  # nothing after the kill
    assert not broker.orders(open_only=True)  # what was open was cancelled
    assert all(ts < control.killed_at_ns for ts, _ in stack.recorder.decided)
    assert out["summary"]["steps"] == 390 and out["summary"]["killed"]  # the book is still marked to the end
    assert any(e["event"] == "killed" for e in events)
    assert desk.read("status")["data"]["state"] == "killed"


def test_pause_holds_decisions_and_resume_brings_them_back(home_engine: Engine) -> None:
    desk = Desk(InMemoryCache(), SimulatedClock(0))
    desk.set_control(Control(paused=True, reason="lunch"))
    stop, events = threading.Event(), []
    th, out = _run_in_thread(home_engine, _opts(speed=6000.0), desk, stop, events)
    _wait(lambda: "stack" in out and out["stack"].worker.counters.steps >= 60)
    stack: TradeStack = out["stack"]
    assert stack.worker.counters.decisions == 0 and stack.worker.counters.orders == 0
    resumed_at = stack.loop.clock.now_ns()
    desk.set_control(Control())
    th.join(120)
    assert "error" not in out, out.get("error")
    assert stack.worker.counters.decisions > 0 and stack.worker.counters.orders > 0
    assert min(ts for ts, _ in stack.recorder.decided) >= resumed_at


def test_the_drawdown_breaker_kills_publishes_and_is_released_by_a_resume(tmp_path: Path) -> None:
    broker = PaperBroker(cash=1e6)
    broker.submit(Order("open-1", "AAA", 10.0, "limit", 1.0))
    desk = Desk(InMemoryCache(), SimulatedClock(5))
    switch = KillSwitch(tmp_path / "KILL")
    control = LiveControl(broker, switch, SimulatedClock(5), desk=desk, max_drawdown=0.15)
    control.mark(None, 100.0, 0.0, np.zeros(1), 1.0)  # type: ignore[arg-type]
    control.mark(None, 90.0, 0.0, np.zeros(1), 1.0)  # type: ignore[arg-type]
    assert not control.killed
    control.mark(None, 84.0, 0.0, np.zeros(1), 1.0)  # type: ignore[arg-type]
    assert control.killed.startswith("drawdown breaker") and switch.engaged and (tmp_path / "KILL").exists()
    assert [e["type"] for e in desk.events()] == ["drawdown_breaker"]
    assert desk.control().killed and desk.control().by == "drawdown_breaker"
    assert not broker.orders(open_only=True)  # the same kill path: open orders cancelled
    desk.set_control(Control())  # POST /resume
    control.refresh()
    assert not control.killed and not switch.engaged and not (tmp_path / "KILL").exists()


def test_a_kill_file_written_by_someone_else_stops_the_loop_and_stays(tmp_path: Path) -> None:
    broker = PaperBroker(cash=1e6)
    broker.submit(Order("open-1", "AAA", 10.0, "limit", 1.0))
    desk = Desk(InMemoryCache(), SimulatedClock(5))
    switch = KillSwitch(tmp_path / "KILL")
    control = LiveControl(broker, switch, SimulatedClock(5), desk=desk)
    (tmp_path / "KILL").write_text("supervisor says stop\n")
    control.refresh()
    assert "supervisor says stop" in control.killed and not broker.orders(open_only=True)
    assert [e["type"] for e in desk.events()] == ["kill_switch"]
    control.refresh()  # acted once
    assert len(desk.events()) == 1 and (tmp_path / "KILL").exists()


# -- 3. the desk's documents -----------------------------------------------------------------------
def test_a_replay_publishes_documents_whose_numbers_are_the_loops(home_engine: Engine) -> None:
    desk = Desk(InMemoryCache(), SimulatedClock(0))
    stop, events = threading.Event(), []
    th, out = _run_in_thread(home_engine, _opts(), desk, stop, events)
    th.join(120)
    assert "error" not in out, out.get("error")
    stack: TradeStack = out["stack"]
    summary = out["summary"]
    loop = stack.loop
    pnl = desk.read("pnl")["data"]
    assert pnl["equity"] == pytest.approx(summary["equity"], rel=1e-12)
    assert pnl["cash"] == pytest.approx(loop.broker.cash(), rel=1e-12)
    assert pnl["history"][-1][1] == pytest.approx(summary["equity"], rel=1e-12) and len(pnl["history"]) == 390
    positions = {p["ticker"]: p for p in desk.read("positions")["data"]["positions"]}
    held = {t: float(q) for t, q in zip(loop.tickers, loop.positions, strict=True) if q}
    assert {t: p["quantity"] for t, p in positions.items()} == held == summary["positions"]
    for t, p in positions.items():
        i = loop.tickers.index(t)
        assert p["price"] == loop.last[i] and p["value"] == pytest.approx(loop.positions[i] * loop.last[i])
        assert p["weight"] == pytest.approx(p["value"] / summary["equity"])
    portfolio = desk.read("portfolio")["data"]
    assert portfolio["net"] == pytest.approx(sum(p["weight"] for p in positions.values()))
    assert sum(portfolio["sector_exposure"].values()) == pytest.approx(portfolio["net"])
    risk = desk.read("risk")["data"]
    assert {lim["name"] for lim in risk["limits"]} >= {"max_weight", "drawdown", "var_95"}
    assert risk["var_95"] is not None and risk["cvar_95"] >= risk["var_95"]
    orders = desk.read("orders")["data"]["orders"]
    assert orders and all(o["ticker"] in loop.tickers for o in orders)
    status = desk.read("status")["data"]
    assert status["state"] == "running" and status["orders"] == summary["orders"] and status["steps"] == 390
    assert desk.read("signals")["data"]["signals"][0]["ticker"] == loop.tickers[0]
    assert desk.read("feed")["data"]["connected"] == {"replay": True}


def test_publishing_is_throttled_per_kind_and_a_flush_publishes_the_rest() -> None:
    now = [0.0]
    desk = Desk(InMemoryCache(), SimulatedClock(0))
    rec = DeskRecorder(desk, ("A",), ("Tech",), initial_cash=100.0, monotonic=lambda: now[0])
    rec.note("x")
    for _ in range(50):
        rec.decision(type("E", (), {"timestamp_ns": 1})(), type("T", (), {"weights": [0.1], "rationale": ("r",),  # type: ignore[arg-type]
                                                                           "notes": ()})())
    assert rec.published["signals"] == 1 and desk.read("signals")["seq"] == 1
    now[0] = 0.5
    rec.flush_due()
    assert desk.read("signals")["seq"] == 1
    now[0] = 1.0
    rec.flush_due()
    assert desk.read("signals")["seq"] == 2
    rec.flush()
    assert desk.read("pnl") is not None and desk.read("feed")["data"]["connected"] == {"feed": False}


def test_an_order_the_broker_rejects_is_a_significant_event() -> None:
    desk = Desk(InMemoryCache(), SimulatedClock(0))
    rec = DeskRecorder(desk, ("A",), ("Tech",), initial_cash=100.0)
    from tftrade.core.orders import OrderStatus
    event: Any = type("E", (), {"timestamp_ns": 7})()
    rec.order_seen(Order("A-1", "A", 5.0))
    rec.orders(event, [OrderStatus("A-1", "rejected", 0.0, None, "insufficient buying power"),
                       OrderStatus("A-2", "rejected", 0.0, None, "refused: kill switch engaged")])
    assert [(e["type"], e["detail"]["ticker"]) for e in desk.events()] == [("order_rejected", "A")]
    assert [o["status"] for o in desk.read("orders")["data"]["orders"]] == ["rejected", "rejected"]


def test_the_desk_in_redis_is_seen_by_another_process(home_engine: Engine) -> None:
    from tests.stream.conftest import redis_or_skip

    client = redis_or_skip()
    prefix = f"test-desk-{uuid.uuid4().hex}"
    cache = RedisCache(client=client, prefix=prefix)
    desk = Desk(cache, SimulatedClock(0))
    stop, events = threading.Event(), []
    th, out = _run_in_thread(home_engine, _opts(), desk, stop, events)
    th.join(120)
    assert "error" not in out, out.get("error")
    other = Desk(RedisCache(client=client, prefix=prefix), SimulatedClock(0))  # as `tftrade serve` reads it
    assert other.read("pnl")["data"]["equity"] == pytest.approx(out["summary"]["equity"], rel=1e-12)
    other.set_control(Control(paused=True))  # and its control reaches the live process's desk
    assert desk.control().paused
    assert desk_cache(None).__class__ is InMemoryCache


# -- 4. tftrade live --serve ------------------------------------------------------------------------
def test_live_with_the_api_in_process_serves_the_loops_equity_and_takes_a_kill(home_engine: Engine) -> None:
    cfg = load_settings()
    desk = live_desk(None)
    admin = create_key(home_engine, "ops", Scope.ADMIN)[0]
    from tftrade.stream.memory import InMemoryBus
    bus = InMemoryBus()
    server = serve_in_process(cfg, home_engine, desk, bus, 0, with_model=False)
    try:
        base, headers = f"http://127.0.0.1:{server.port}", {"X-API-Key": admin}
        assert httpx.get(f"{base}/pnl", headers=headers).status_code == 404  # nothing published yet
        stop, events = threading.Event(), []
        out: dict[str, Any] = {}

        def target() -> None:
            out["summary"] = run_live(home_engine, _opts(), events.append, stop, settings=cfg, desk=desk, bus=bus)
        th = threading.Thread(target=target, daemon=True)
        th.start()
        th.join(120)
        r = httpx.get(f"{base}/pnl", headers=headers)
        assert r.status_code == 200 and r.json()["data"]["equity"] == pytest.approx(out["summary"]["equity"],
                                                                                     rel=1e-12)
        assert httpx.get(f"{base}/pnl").status_code == 401
        r = httpx.post(f"{base}/kill", headers=headers, json={"reason": "test"})
        assert r.status_code == 200 and desk.control().killed
        assert httpx.get(f"{base}/status", headers=headers).json()["control"]["killed"]
    finally:
        server.stop()
        bus.close()


def test_live_takes_the_risk_and_stops_settings_and_the_wash_sale_rule(home_engine: Engine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The same limits, stops and post-gate rule as ``tftrade backtest`` (``trading_setup``), not the defaults."""
    from tftrade.cli.live_cmd import wash_check
    from tftrade.compliance.wash_check import WashSaleCheck

    monkeypatch.setenv("TFTRADE_RISK__MAX_POSITION", "0.02")
    monkeypatch.setenv("TFTRADE_RISK__WASH_SALE", "block")
    monkeypatch.setenv("TFTRADE_STOPS__MODE", "off")
    cfg = load_settings()
    seen: dict[str, Any] = {}

    def on_stack(stack: TradeStack, pw: object) -> None:
        seen["loop"] = stack.loop

    check = wash_check(cfg)
    summary = run_live(home_engine, _opts(), lambda e: None, threading.Event(), on_stack, settings=cfg, check=check)
    loop = seen["loop"]
    assert isinstance(check, WashSaleCheck) and loop.check is check
    assert loop.gate.limits.max_weight == 0.02
    assert loop.config.stop_loss is None and loop.config.take_profit is None and loop.config.rebalance_every == 2
    assert summary["decisions"] > 0  # type: ignore[operator]
