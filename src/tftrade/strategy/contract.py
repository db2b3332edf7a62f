"""The strategy port: what the trading loop (backtest or live) asks a strategy at each decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from tftrade.core.types import Float64Array
from tftrade.strategy.view import MarketView


class OpenLotView(Protocol):
    """What a strategy may read of one open lot of the position ledger (``execution.lots.Lot`` is one)."""

    @property
    def quantity(self) -> Decimal:
        """Signed shares (negative: a short lot)."""
        ...

    @property
    def cost(self) -> Decimal:
        """Signed cost including the opening commission (a short lot's is the proceeds, negative)."""
        ...

    @property
    def opened_ns(self) -> int:
        """When the lot was opened (UTC nanoseconds)."""
        ...

    @property
    def order_id(self) -> str:
        """The order that opened it."""
        ...


class LotSource(Protocol):
    """The open lots of the one position ledger (``execution.lots.LotBook`` is one)."""

    def lots(self, ticker: str) -> Sequence[OpenLotView]:
        """Open lots of ``ticker``, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account at decision time: ``positions`` in shares per ticker, ``weights`` of equity.

    ``lots`` is the position ledger's open lots (read during the decision; ``None`` when the
    caller has no ledger): a tax-aware strategy builds its tax-of-selling schedules from them.
    """

    cash: float
    equity: float
    positions: Float64Array
    weights: Float64Array
    lots: LotSource | None = None


@dataclass(frozen=True, slots=True)
class Targets:
    """Target weights of equity per ticker; NaN means "leave this position alone".

    ``rationale`` holds one line per ticker (empty for untouched ones); ``notes`` are
    portfolio-level remarks (e.g. relaxed optimiser limits). ``standing`` is the weight the
    strategy wants held in every ticker now, including those it leaves alone (a crossover
    strategy's "in" names); ``None`` means ``weights`` where they are finite. The trading loop
    re-opens a stopped-out position at its standing weight when the stop's cool-down is over.
    ``model_version`` names the model whose forecasts the decision read (the audit trail records it);
    ``None`` when it read none (a strategy without a model, a flatten before the close).
    """

    weights: Float64Array
    rationale: Sequence[str] = ()
    notes: Sequence[str] = field(default=())
    standing: Float64Array | None = None
    model_version: str | None = None


class Strategy(Protocol):
    """Turns what is known at the close of bar ``t`` into target weights (or ``None``: no change)."""

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        """Return targets for the universe, or ``None`` to keep the book as it is."""
        ...
