"""The strategy port: what the trading loop (backtest or live) asks a strategy at each decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tftrade.core.types import Float64Array
from tftrade.strategy.view import MarketView


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account at decision time: ``positions`` in shares per ticker, ``weights`` of equity."""

    cash: float
    equity: float
    positions: Float64Array
    weights: Float64Array


@dataclass(frozen=True, slots=True)
class Targets:
    """Target weights of equity per ticker; NaN means "leave this position alone".

    ``rationale`` holds one line per ticker (empty for untouched ones); ``notes`` are
    portfolio-level remarks (e.g. relaxed optimiser limits). ``standing`` is the weight the
    strategy wants held in every ticker now, including those it leaves alone (a crossover
    strategy's "in" names); ``None`` means ``weights`` where they are finite. The trading loop
    re-opens a stopped-out position at its standing weight when the stop's cool-down is over.
    """

    weights: Float64Array
    rationale: Sequence[str] = ()
    notes: Sequence[str] = field(default=())
    standing: Float64Array | None = None


class Strategy(Protocol):
    """Turns what is known at the close of bar ``t`` into target weights (or ``None``: no change)."""

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        """Return targets for the universe, or ``None`` to keep the book as it is."""
        ...
