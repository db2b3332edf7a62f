"""Brokers by name: ``paper`` now; other brokers (``alpaca``) register a factory here.

A factory returns the broker and the source of its fills: the paper broker fills against
each closed bar (:class:`~tftrade.trading.fills.BarFills`), a real broker reports executions.

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
from dataclasses import dataclass

from tftrade.execution.broker import Broker
from tftrade.execution.costs import CostModel
from tftrade.execution.paper import PaperBroker
from tftrade.live.errors import LiveError
from tftrade.trading.fills import BarFills, FillSource


@dataclass(frozen=True)
class BrokerSettings:
    """What a broker factory may need: starting cash (paper), costs (simulated fills), and ``live`` opt-in."""

    cash: float = 1_000_000.0
    costs: CostModel | None = None
    live: bool = False
    """Real money: only with an explicit flag; paper brokers ignore it."""


@dataclass(frozen=True)
class BrokerKit:
    """A broker and where its fills come from."""

    broker: Broker
    fills: FillSource


BrokerFactory = Callable[[BrokerSettings], BrokerKit]


def _paper(settings: BrokerSettings) -> BrokerKit:
    broker = PaperBroker(cash=settings.cash, costs=settings.costs or CostModel())
    return BrokerKit(broker, BarFills(broker))


_FACTORIES: dict[str, BrokerFactory] = {"paper": _paper}


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
