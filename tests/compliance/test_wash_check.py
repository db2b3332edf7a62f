"""The wash-sale rule after the risk gate: block / resize in the trading loop, recorded as gate events."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tftrade.backtest import MarketData
from tftrade.backtest.config import BacktestConfig
from tftrade.backtest.engine import Backtest
from tftrade.backtest.result import BacktestResult
from tftrade.compliance.audit_log import MemoryAuditLog
from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.ledger import TaxLedger
from tftrade.compliance.recorder import AuditRecorder
from tftrade.compliance.transactions import Transaction
from tftrade.compliance.wash_check import WashSaleCheck, trade_date
from tftrade.core.config import RiskSettings
from tftrade.core.orders import TradeRecord
from tftrade.strategy import AccountState, MarketView, Targets

DAY = 86_400_000_000_000
T0 = 1_704_200_000 * 10**9  # 2024-01-02


def _falling(t: int = 80) -> MarketData:
    close = np.linspace(100.0, 60.0, t)[:, None] * np.ones((1, 2))
    close[:, 1] = 50.0 + np.sin(np.arange(t) / 3.0)
    return MarketData(T0 + np.arange(t, dtype=np.int64) * DAY, ("DOWN", "FLAT"), ("A", "B"), close, close * 1.001,
                      close * 0.999, close, np.full((t, 2), 1e9))


class RoundTrips:
    """In for three bars, out for three: on a falling price every exit is a loss bought back days later."""

    def __init__(self) -> None:
        self.k = 0

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        self.k += 1
        w = 0.4 if (self.k // 3) % 2 == 0 else 0.0
        return Targets(np.array([w, w]), ("in" if w else "out",) * 2)


def _run(mode: str | None, audit: AuditRecorder | None = None) -> BacktestResult:
    check = None if mode is None else WashSaleCheck(mode)  # type: ignore[arg-type]
    return Backtest(_falling(), RoundTrips(), config=BacktestConfig(warmup=2, rebalance_every=1, stop_loss=None,
                                                                     take_profit=None),
                    audit=audit, check=check).run()


def _disallowed(res: BacktestResult) -> Decimal:
    led = TaxLedger()
    for r in res.trades:
        if r.action in ("BUY", "SELL"):
            led.book(Transaction("a", r.ticker, trade_date(r.timestamp_ns), "buy" if r.action == "BUY" else "sell",
                                 Decimal(r.quantity), Decimal(repr(r.price))))
    return sum((d.disallowed for d in led.dispositions()), Decimal(0))


def test_off_washes_losses_block_washes_none_and_says_why() -> None:
    off, block = _run(None), _run("block")
    assert _disallowed(off) > 0  # the round trips wash their losses
    assert _disallowed(block) == 0
    wash = [g for g in block.gate_events if g.reasons.startswith("wash sale:")]
    assert wash and {g.action for g in wash} == {"reject"} and all(g.approved == 0 for g in wash)
    assert "DOWN" in {g.ticker for g in wash}
    assert len(block.trades) < len(off.trades)


def test_a_sale_at_a_loss_after_a_recent_buy_is_cut_to_the_loss_allowed() -> None:
    def check(mode: str, allowed: str = "0") -> WashSaleCheck:
        c = WashSaleCheck(mode, max_disallowed=Decimal(allowed))  # type: ignore[arg-type]
        c.book([TradeRecord("X", "BUY", 10, 100.0, T0, "b1", "v", None, 0.0),
                TradeRecord("X", "BUY", 5, 80.0, T0 + 5 * DAY, "b2", "v", None, 0.0)])
        return c

    # selling 10 at 90 sells the lot bought at 100 (FIFO) at a loss while the 5 bought 5 days ago are held:
    # they are replacement shares and wash $10 of loss per share, up to 5 shares
    v = check("block").check(T0 + 10 * DAY, ("X",), np.array([-10.0]), np.array([90.0]))
    assert len(v) == 1 and v[0].action == "reject" and v[0].approved == 0.0 and "50.00 of loss" in v[0].reason
    v = check("resize", "20").check(T0 + 10 * DAY, ("X",), np.array([-10.0]), np.array([90.0]))
    assert v[0].action == "resize" and v[0].approved == -2.0  # 2 shares wash $20: the most allowed
    # a sale of everything leaves no replacement shares: nothing is washed, nothing returned
    assert check("block").check(T0 + 10 * DAY, ("X",), np.array([-15.0]), np.array([90.0])) == []
    # a buy with no loss sale in the window is not even judged
    c = check("block")
    assert c.check(T0 + 10 * DAY, ("X",), np.array([3.0]), np.array([90.0])) == [] and c.checked == 0


def test_a_buy_within_30_days_after_a_loss_sale_is_resized_to_what_the_window_allows() -> None:
    check = WashSaleCheck("resize", max_disallowed=Decimal("25"))
    check.book([TradeRecord("X", "BUY", 10, 100.0, T0, "b1", "v", None, 0.0),
                TradeRecord("X", "SELL", 10, 90.0, T0 + 40 * DAY, "s1", "v", -100.0, 0.0)])
    v = check.check(T0 + 50 * DAY, ("X",), np.array([8.0]), np.array([91.0]))
    assert v[0].action == "resize" and v[0].approved == 2.0  # 2 shares wash $20 <= $25; 3 would wash $30
    assert check.check(T0 + 75 * DAY, ("X",), np.array([8.0]), np.array([91.0])) == []  # window over


def test_the_wash_verdicts_reach_the_audit_chain_as_risk_checks() -> None:
    log = MemoryAuditLog()
    res = _run("block", AuditRecorder(log, ("DOWN", "FLAT")))
    checks = [e.payload for e in log.entries()
              if e.kind == "risk_check" and e.payload["reasons"][0].startswith("wash sale")]
    assert len(checks) == sum(g.reasons.startswith("wash sale") for g in res.gate_events) > 0
    assert log.verify().ok


def test_the_setting_is_off_by_default_and_validated() -> None:
    assert RiskSettings().wash_sale == "off"
    assert RiskSettings(wash_sale="resize").wash_sale == "resize"
    with pytest.raises(ValueError, match="wash_sale"):
        RiskSettings(wash_sale="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TaxLotError, match="not block or resize"):
        WashSaleCheck("off")  # type: ignore[arg-type]
