"""The audit recorder: what the trading loop does, in a hash chain, one batch per bar."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from tftrade.backtest import MarketData
from tftrade.backtest.config import BacktestConfig
from tftrade.backtest.engine import Backtest
from tftrade.compliance.audit_chain import AuditEntry
from tftrade.compliance.audit_log import AuditLog, MemoryAuditLog
from tftrade.compliance.errors import AuditError
from tftrade.compliance.recorder import AuditRecorder
from tftrade.core.orders import OrderStatus, TradeRecord
from tftrade.risk.gate import GateLimits, RiskGate
from tftrade.strategy import AccountState, MarketView, Targets
from tftrade.trading.feed import BarEvent
from tftrade.trading.recorder import FanOutRecorder, NullRecorder

DAY = 86_400_000_000_000


def _market(t: int = 60, n: int = 4) -> MarketData:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0005, 0.01, (t, n)), axis=0))
    return MarketData(np.arange(1, t + 1, dtype=np.int64) * DAY, tuple(f"T{i}" for i in range(n)),
                      tuple(f"S{i}" for i in range(n)), close, close * 1.01, close * 0.99, close,
                      np.full((t, n), 1e9), vix=np.full(t, 20.0))


class Rotate:
    """Alternates between two books so every decision trades; one ticker left alone (NaN)."""

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        self.calls += 1
        w = np.array([0.3, 0.1, 0.2, np.nan]) if self.calls % 2 else np.array([0.1, 0.3, 0.0, np.nan])
        return Targets(w, ("momentum up", "momentum down", "flat", ""), ("book rotated",))


def _run(audit: AuditRecorder | None, gate: RiskGate | None = None) -> tuple[Backtest, Any]:
    m = _market()
    bt = Backtest(m, Rotate(), config=BacktestConfig(warmup=22, rebalance_every=5, stop_loss=None,
                                                      take_profit=None), gate=gate, audit=audit)
    return bt, bt.run()


def _recorder(log: Any, bt_tickers: tuple[str, ...] = ("T0", "T1", "T2", "T3"), **kw: Any) -> AuditRecorder:
    return AuditRecorder(log, bt_tickers, strategy_version="v-test", model_version="tft-7", features_hash="abc",
                         **kw)


def test_a_backtest_writes_decisions_checks_orders_and_fills_and_the_chain_verifies() -> None:
    log = MemoryAuditLog("bt-1")
    rec = _recorder(log, gated=True)
    _, res = _run(rec, RiskGate(GateLimits(max_weight=0.15, max_sector_weight=1.0, beta_min=-5, beta_max=5,
                                            max_var=1.0)))
    entries = log.entries()
    assert log.verify().ok and len(entries) == rec.appended > 0
    kinds = [e.kind for e in entries]
    assert kinds.count("decision") == res.decisions
    # every trade of the result has its fill, every gate event its risk check with the numbers
    fills = [e for e in entries if e.kind == "fill"]
    assert sorted(e.order_ids[0] for e in fills) == sorted(t.order_id for t in res.trades)
    resized = [e.payload for e in entries if e.kind == "risk_check" and e.payload["action"] != "approve"]
    assert len(resized) == len(res.gate_events) > 0
    assert [(p["ticker"], p["action"], p["requested"], p["approved"]) for p in resized] == [
        (g.ticker, g.action, g.requested, g.approved) for g in res.gate_events]
    # the decision names the targets it sets (NaN = leave alone: not listed), the rationale and the model
    d = next(e.payload for e in entries if e.kind == "decision")
    assert "T3" not in d["targets"] and d["targets"]["T0"] == pytest.approx(0.3)
    assert d["rationale"]["T0"] == "momentum up" and "T3" not in d["rationale"]
    assert (d["model_version"], d["features_hash"], d["strategy_version"]) == ("tft-7", "abc", "v-test")
    assert "book rotated" in d["notes"]
    # one order's whole story: decision → gate check → order state → fill, in that order
    oid = res.trades[0].order_id
    story = [e.kind for e in log.story(oid)]
    assert story[0] == "decision" and story[1] == "risk_check" and "order_intent" in story and story[-1] == "fill"
    fill = next(e.payload for e in log.story(oid) if e.kind == "fill")
    assert fill["price"] == repr(res.trades[0].price) and fill["quantity"] is not None


class Versioned(Rotate):
    """Names the model of the forecasts it read: version 5, then 6 from the third decision on."""

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        t = super().decide(view, account)
        assert t is not None
        return Targets(t.weights, t.rationale, t.notes, model_version="5" if self.calls < 3 else "6")


def test_a_decision_records_the_model_version_its_targets_name_over_the_recorders() -> None:
    log = MemoryAuditLog()
    m = _market()
    bt = Backtest(m, Versioned(), config=BacktestConfig(warmup=22, rebalance_every=5, stop_loss=None,
                                                         take_profit=None), audit=_recorder(log))
    bt.run()
    versions = [e.payload["model_version"] for e in log.entries() if e.kind == "decision"]
    assert versions[:2] == ["5", "5"] and set(versions[2:]) == {"6"} and len(versions) > 3
    _run(_recorder(unnamed := MemoryAuditLog()))  # targets without a version: the recorder's own
    assert {e.payload["model_version"] for e in unnamed.entries() if e.kind == "decision"} == {"tft-7"}


def test_the_audit_does_not_change_the_results() -> None:
    gate = RiskGate(GateLimits(max_weight=0.15, max_sector_weight=1.0, beta_min=-5, beta_max=5, max_var=1.0))
    _, plain = _run(None, gate)
    _, audited = _run(_recorder(MemoryAuditLog()), gate)
    np.testing.assert_array_equal(plain.equity, audited.equity)
    assert plain.trades == audited.trades and plain.gate_events == audited.gate_events


class CountingSink(MemoryAuditLog):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def append_many(self, items: Any) -> list[AuditEntry]:
        out = super().append_many(items)
        self.batches.append(len(out))
        return out


def test_appends_are_batched_one_call_per_bar_with_activity() -> None:
    sink = CountingSink()
    _, res = _run(_recorder(sink))
    assert sum(sink.batches) == len(sink.entries())
    assert len(sink.batches) <= 2 * res.decisions + 1  # decision bars and the fill bars after them
    assert min(sink.batches) >= 1


def _event(ts: int) -> BarEvent:
    m = _market(3)
    assert int(m.timestamps[0]) == ts
    return BarEvent(0, 0, m)


def test_a_rejected_order_is_filed_under_the_id_it_would_have_had() -> None:
    log = MemoryAuditLog()
    rec = _recorder(log, order_id=lambda ns, t: f"{t}-{ns}-would", gated=True)
    ev = _event(DAY)
    rec.decision(ev, Targets(np.array([0.1, 0.1, 0.0, 0.0])))
    rec.gate(DAY, "T1", "reject", 50.0, 0.0, "vix above 35; no new positions")
    rec.orders(ev, [OrderStatus(f"T0-{DAY}-aaaa", "new", 0.0, None)])
    rec.mark(ev, 1.0, 1.0, np.zeros(4), 1.0)
    story = log.story(f"T1-{DAY}-would")
    assert [e.kind for e in story] == ["decision", "risk_check"]
    assert story[1].payload["reasons"] == ["vix above 35", "no new positions"]
    assert [e.kind for e in log.story(f"T0-{DAY}-aaaa")] == ["decision", "risk_check", "order_intent"]
    assert log.story(f"T0-{DAY}-aaaa")[1].payload["action"] == "approve"
    assert rec.flush() == 0  # the bar's buffer was emptied


def test_fills_use_exact_decimals_and_notes_without_a_decision_stand_alone() -> None:
    log = MemoryAuditLog()
    rec = _recorder(log)
    rec.trades([TradeRecord("T0", "SELL", 3, 0.1 + 0.2, DAY, "T0-1-x", "v", None, 0.01, exact_quantity=3.0)])
    rec.note("drawdown breaker tripped")
    rec.mark(_event(DAY), 1.0, 1.0, np.zeros(4), 1.0)
    kinds = [e.kind for e in log.entries()]
    assert kinds == ["fill", "note"]
    assert log.entries()[0].payload["price"] == "0.30000000000000004"
    assert log.entries()[0].payload["quantity"] == "-3.0"


def test_a_bad_batch_writes_nothing() -> None:
    log = MemoryAuditLog()
    with pytest.raises(AuditError):
        log.append_many([("fill", {"a": 1}, ()), ("nonsense", {}, ())])
    assert log.entries() == []


def test_fan_out_passes_every_call_to_every_recorder() -> None:
    a, b = MemoryAuditLog(), MemoryAuditLog()
    fan = FanOutRecorder(_recorder(a), NullRecorder(), _recorder(b))
    fan.gate(DAY, "T0", "resize", 10.0, 5.0, "max weight")
    fan.mark(_event(DAY), 1.0, 1.0, np.zeros(4), 1.0)
    assert [e.entry_hash for e in a.entries()] != [] and len(a.entries()) == len(b.entries()) == 1


def test_into_the_database_chain(any_engine: Engine) -> None:
    log = AuditLog(any_engine, "bt-db")
    _, res = _run(_recorder(log, gated=True), RiskGate(GateLimits(max_weight=0.15, max_sector_weight=1.0,
                                                                  beta_min=-5, beta_max=5, max_var=1.0)))
    assert log.verify().ok
    oid = res.trades[-1].order_id
    assert [e.kind for e in log.story(oid)][-1] == "fill"
