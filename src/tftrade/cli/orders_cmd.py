"""``tftrade orders | positions | reconcile | kill``: the journal beside the broker, and the kill switch.

``orders`` and ``positions`` show both views — the order-intent journal (and its ledger) and
the broker's — and the differences. With ``--broker paper`` the broker view is empty (the paper
broker lives inside the trading process); ``--broker alpaca`` reads Alpaca (read-only).
``kill`` writes the kill file every worker checks, cancels open orders and, with
``--flatten``, closes positions with tagged orders; ``kill --release`` removes the file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, settings, stderr, table

BrokerOption = typer.Option("paper", "--broker", help="paper | alpaca")
LiveOption = typer.Option(False, "--live", help="allow a live (non-paper) Alpaca account (with TFTRADE_LIVE_TRADING)")


def register(app: typer.Typer) -> None:
    """Add the commands to the top-level app."""
    app.command("orders")(orders)
    app.command("positions")(positions)
    app.command("reconcile")(reconcile_cmd)
    app.command("kill")(kill_cmd)


def _open(broker: str, live: bool, *, trading: bool) -> Any:
    """The journaled broker for ``broker``; read-only views of Alpaca skip the live opt-in (they send nothing)."""
    from tftrade.execution.factory import BROKERS
    from tftrade.execution.journal import OrderJournal
    from tftrade.execution.journaled import JournaledBroker

    if broker not in BROKERS:
        raise ValueError(f"unknown broker {broker!r}; choose one of {', '.join(BROKERS)}")
    cfg = settings()
    eng = engine(cfg)
    if trading:
        from tftrade.execution.factory import make_broker

        return make_broker(broker, cfg, live=live, engine=eng, stream=False,
                           announce=lambda line: stderr.print(line, highlight=False))
    if broker == "paper":
        return JournaledBroker(_NoBroker(), OrderJournal(eng), name="paper")
    from tftrade.execution.alpaca import AlpacaBroker
    from tftrade.execution.settings import AlpacaConfig

    return JournaledBroker(AlpacaBroker(AlpacaConfig.from_settings(cfg), stream=False), OrderJournal(eng),
                           name="alpaca")


class _NoBroker:
    """The broker view when the broker lives in another process (paper): nothing to show."""

    name = "paper"

    def submit(self, order: Any) -> Any:
        raise ValueError("the paper broker lives inside `tftrade live`; it cannot be reached from here")

    cancel = status = submit

    def positions(self) -> dict[str, float]:
        return {}

    def cash(self) -> float:
        return 0.0

    def orders(self, *, open_only: bool = False, since_ns: int | None = None) -> list[Any]:
        return []

    def position_details(self) -> dict[str, Any]:
        return {}


@command
def orders(broker: str = BrokerOption, show_all: bool = typer.Option(False, "--all", help="closed orders too"),
           as_json: bool = JsonOption) -> None:
    """Orders: the journal's and the broker's, and where they differ."""
    jb = _open(broker, False, trading=False)
    try:
        journal = jb.journal.orders() if show_all else jb.journal.open_orders()
        theirs = jb.orders(open_only=not show_all)
    finally:
        jb.close()
    known = {o.intent.client_order_id for o in jb.journal.orders()}
    by_cid = {b.client_order_id: b for b in theirs}
    rows = [{"client_order_id": o.intent.client_order_id, "ticker": o.intent.ticker, "quantity": o.intent.quantity,
             "type": o.intent.order_type, "limit": o.intent.limit_price, "journal_state": o.state,
             "filled": o.filled, "broker_state": by_cid[o.intent.client_order_id].state
             if o.intent.client_order_id in by_cid else None, "tag": o.intent.tag, "reason": o.reason}
            for o in journal]
    differences = [r for r in rows if broker != "paper" and r["broker_state"] != _comparable(r["journal_state"])]
    external = [{"client_order_id": b.client_order_id, "ticker": b.ticker, "quantity": b.quantity,
                 "state": b.state} for b in theirs if b.client_order_id not in known]
    result = {"broker": broker, "journal": rows, "broker_orders": theirs, "differences": differences,
              "external": external}

    def render(r: dict[str, Any]) -> None:
        table("journal orders", r["journal"])
        table("external orders", r["external"])
        table("differences", r["differences"])

    emit(result, as_json, render)


def _exact(q: float) -> Decimal:
    d = Decimal(repr(q))
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d


def _comparable(state: str) -> str | None:
    return {"carried": "partially_filled", "abandoned": None, "refused": None, "intent": None}.get(state, state)


@command
def positions(broker: str = BrokerOption, as_json: bool = JsonOption) -> None:
    """Positions: the ledger (journaled fills) beside the broker's, and the differences."""
    jb = _open(broker, False, trading=False)
    try:
        theirs = jb.position_details()
    finally:
        jb.close()
    ledger = jb.journal.positions()
    rows = []
    for t in sorted(set(ledger) | set(theirs)):
        mine = ledger.get(t, Decimal(0))
        other = _exact(theirs[t].quantity) if t in theirs else Decimal(0)
        rows.append({"ticker": t, "ledger": mine, "broker": other if broker != "paper" else None,
                     "difference": other - mine if broker != "paper" else None})
    result = {"broker": broker, "positions": rows,
              "differences": [r for r in rows if r["difference"] not in (None, Decimal(0))]}

    def render(r: dict[str, Any]) -> None:
        table("positions (ledger = journaled fills)", r["positions"])
        table("differences", r["differences"])

    emit(result, as_json, render)


@command
def reconcile_cmd(broker: str = BrokerOption,
                  policy: str = typer.Option("halt", "--policy", help="halt | adopt | correct"),
                  live: bool = LiveOption, as_json: bool = JsonOption) -> None:
    """Reconcile the journal with the broker now (adopt missed fills, report external orders and differences)."""
    import time

    from tftrade.execution.reconcile import reconcile
    from tftrade.execution.settings import ExecutionConfig

    days = ExecutionConfig.from_settings(settings()).recent_orders_days
    jb = _open(broker, live, trading=policy == "correct")
    try:
        report = reconcile(jb, policy=policy, since_ns=time.time_ns() - int(days * 86_400e9))
    finally:
        jb.close()
    result = {"broker": broker, "in_sync": report.in_sync, "policy": report.policy, "halted": report.halted,
              "adopted_fills": report.adopted_fills, "resolved": report.resolved, "abandoned": report.abandoned,
              "external_orders": report.external_orders, "position_differences": report.position_differences,
              "order_differences": report.order_differences, "corrections": report.corrections,
              "seconds": round(report.seconds, 4)}
    emit(result, as_json, lambda r: print(("in sync" if r["in_sync"] else f"NOT in sync: {r['halted'] or 'see --json'}")
                                          + f" ({len(r['adopted_fills'])} fills adopted, "
                                            f"{len(r['external_orders'])} external orders)"))


@command
def kill_cmd(broker: str = BrokerOption, flatten: bool = typer.Option(False, "--flatten", help="close every position"),
             release: bool = typer.Option(False, "--release", help="remove the kill file (trading may resume)"),
             reason: str = typer.Option("operator kill", "--reason"), live: bool = LiveOption,
             as_json: bool = JsonOption) -> None:
    """Engage the kill switch: no new orders anywhere, cancel open ones, optionally flatten."""
    from tftrade.execution.killswitch import KillSwitch, kill
    from tftrade.execution.settings import ExecutionConfig

    cfg = ExecutionConfig.from_settings(settings())
    switch = KillSwitch(cfg.kill_file)
    if release:
        switch.release()
        emit({"released": True, "kill_file": cfg.kill_file}, as_json, lambda r: print(f"released: {r['kill_file']}"))
        return
    switch.engage(reason)  # first: whatever fails below, no worker sends another order
    if broker == "paper":
        result: dict[str, Any] = {"engaged": True, "kill_file": cfg.kill_file, "reason": reason, "cancelled": [],
                                  "note": "the paper broker lives in `tftrade live`; it cancels when it sees the file"}
    else:
        jb = _open(broker, live, trading=flatten)
        try:
            report = kill(jb, switch, reason=reason, flatten=flatten)
        finally:
            jb.close()
        result = {"engaged": True, "kill_file": cfg.kill_file, "reason": reason, "cancelled": report.cancelled,
                  "broker_cancelled": report.broker_cancelled, "flatten_orders": report.flatten_orders}
    emit(result, as_json, lambda r: print(f"kill switch engaged ({r['kill_file']}); cancelled "
                                          f"{len(r['cancelled'])} journaled order(s)"))
