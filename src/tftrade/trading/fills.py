"""Where fills come from: simulated against each bar (paper broker) or reported by the broker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tftrade.core.orders import Fill
from tftrade.core.types import Float64Array
from tftrade.trading.feed import BarEvent


class BarFilledBroker(Protocol):
    """A broker that fills its open orders against bars (the :class:`~tftrade.execution.paper.PaperBroker`)."""

    def on_bar(self, timestamp_ns: int, tickers: Sequence[str], open: Float64Array, high: Float64Array,
               low: Float64Array, close: Float64Array, volume: Float64Array) -> list[Fill]:
        """Fill open orders against one cross-section; return the fills."""
        ...


class FillSource(Protocol):
    """Fills that happened up to a bar's close, handed to the loop before it decides."""

    def fills(self, event: BarEvent) -> list[Fill]:
        """Fills since the previous call (empty when none)."""
        ...


class BarFills:
    """Simulated fills: the broker matches its open orders against each closed bar.

    The backtest and live paper trading both use this, so orders placed at the close of bar
    ``t`` fill at the open of bar ``t + 1`` in either mode.
    """

    def __init__(self, broker: BarFilledBroker) -> None:
        self.broker = broker

    def fills(self, event: BarEvent) -> list[Fill]:
        """Run the broker's matching on ``event``'s bar."""
        f, t = event.frame, event.row
        return self.broker.on_bar(event.timestamp_ns, f.tickers, f.open[t], f.high[t], f.low[t], f.close[t],
                                  f.volume[t])
