"""Brokers by name: ``paper`` (in process) and ``alpaca``; other brokers register a factory here.

A factory returns the broker and the source of its fills: the paper broker fills against
each closed bar (:class:`~tftrade.trading.fills.BarFills`), a real broker reports executions.
``alpaca`` is execution's journaled :class:`~tftrade.execution.alpaca.AlpacaBroker`
(``execution.factory.make_broker``: the order-intent journal, the kill switch, the live opt-in
rules — Alpaca's paper endpoints unless ``live`` and every other opt-in), whose fill source is
:class:`~tftrade.live.duties.BrokerDuties` (drain fills, reconcile on its timer, order care).

Examples
--------
>>> kit = make_broker("paper", BrokerSettings(cash=1e5))
>>> kit.broker.cash()
100000.0
>>> "paper" in broker_names()
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from tftrade.core.clock import Clock, SystemClock
from tftrade.execution.broker import Broker
from tftrade.execution.costs import CostModel
from tftrade.execution.killswitch import KillSwitch
from tftrade.execution.paper import PaperBroker
from tftrade.live.errors import LiveError
from tftrade.trading.fills import BarFills, FillSource


@dataclass(frozen=True)
class BrokerSettings:
    """What a broker factory may need: starting cash (paper), costs (simulated fills), and ``live`` opt-in."""

    cash: float = 1_000_000.0
    costs: CostModel | None = None
    live: bool = False
    """Real money: only with an explicit flag (``--live``); the paper broker refuses it."""
    settings: Any = None
    """:class:`tftrade.core.config.Settings` (endpoints, keys, execution knobs, kill file); ``None``: defaults."""
    engine: Engine | None = None
    """The order journal's database (default: the configured one)."""
    clock: Clock = field(default_factory=SystemClock)
    """The loop's clock (order care ages orders by it)."""
    announce: Callable[[str], None] | None = None
    """Receives the one line saying what is about to happen (paper or LIVE, which endpoint)."""


@dataclass(frozen=True)
class BrokerKit:
    """A broker and where its fills come from."""

    broker: Broker
    fills: FillSource
    switch: KillSwitch = field(default_factory=KillSwitch)
    """Execution's kill switch (file and setting) the live control watches and engages."""
    cash: Callable[[], float] | None = None
    """The account's cash without a request per bar (real brokers); ``None``: ask the broker."""
    start: Callable[[], object] | None = None
    """Run once before the first bar (a real broker reconciles)."""
    settle: Callable[[float], list[Any]] | None = None
    """Drain the fills still in flight when a run stops (timeout in seconds)."""
    close: Callable[[], None] | None = None
    """Release the broker (stream threads, sessions)."""
    ledger: Callable[[], Any] | None = None
    """The journal's position ledger (a ``LotBook``) a restarted loop starts from."""


BrokerFactory = Callable[[BrokerSettings], BrokerKit]


def _switch(settings: BrokerSettings) -> KillSwitch:
    if settings.settings is None:
        return KillSwitch()
    from tftrade.execution.settings import ExecutionConfig

    execution = ExecutionConfig.from_settings(settings.settings)
    return KillSwitch(execution.kill_file, engaged=execution.kill_switch)


def _paper(settings: BrokerSettings) -> BrokerKit:
    if settings.live:
        raise LiveError("--live needs --broker alpaca; the paper broker never trades real money")
    broker = PaperBroker(cash=settings.cash, costs=settings.costs or CostModel())
    return BrokerKit(broker, BarFills(broker), switch=_switch(settings))


def alpaca_kit(settings: BrokerSettings) -> BrokerKit:
    """Alpaca through execution's journaled broker, with its per-bar duties as the fill source.

    Raises
    ------
    tftrade.execution.errors.LiveTradingRefused
        ``live`` without every opt-in, or a live endpoint without ``live``.
    """
    from tftrade.execution.care import OrderCare
    from tftrade.execution.factory import make_broker as make_journaled
    from tftrade.execution.reconcile import Reconciler
    from tftrade.execution.settings import ExecutionConfig
    from tftrade.live.duties import BrokerDuties

    if settings.settings is None:
        raise LiveError("the alpaca broker needs the settings (endpoints and keys)")
    execution = ExecutionConfig.from_settings(settings.settings)
    broker = make_journaled("alpaca", settings.settings, live=settings.live, engine=settings.engine,
                            announce=settings.announce)
    duties = BrokerDuties(broker, Reconciler(broker, policy=execution.reconcile_policy,
                                             interval_s=execution.reconcile_interval_s,
                                             since_days=execution.recent_orders_days),
                          OrderCare(broker, stale_limit_s=execution.stale_limit_s,
                                    partial_timeout_s=execution.partial_timeout_s,
                                    partial_policy=execution.partial_policy), settings.clock)
    return BrokerKit(broker, duties, switch=broker.kill_switch, cash=duties.cash, start=duties.start,
                     settle=duties.settle, close=broker.close, ledger=broker.journal.ledger)


_FACTORIES: dict[str, BrokerFactory] = {"paper": _paper, "alpaca": alpaca_kit}


def register_broker(name: str, factory: BrokerFactory) -> None:
    """Make ``--broker name`` build its broker with ``factory`` (replaces an existing name)."""
    _FACTORIES[name] = factory


def broker_names() -> tuple[str, ...]:
    """Names a broker can be chosen by."""
    return tuple(_FACTORIES)


def make_broker(name: str, settings: BrokerSettings | None = None) -> BrokerKit:
    """Build the broker called ``name``.

    Raises
    ------
    LiveError
        If no broker has that name.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise LiveError(f"unknown broker {name!r}; choose one of {', '.join(_FACTORIES)}")
    return factory(settings or BrokerSettings())
