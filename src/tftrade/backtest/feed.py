"""The historical feed: every row of :class:`~tftrade.backtest.market.MarketData`, in time order."""

from __future__ import annotations

from collections.abc import Iterator

from tftrade.backtest.market import MarketData
from tftrade.core.clock import SimulatedClock
from tftrade.trading.feed import BarEvent


class HistoricalFeed:
    """Replays stored bars as closed-bar events, moving a simulated clock to each bar as it goes.

    Examples
    --------
    >>> import numpy as np
    >>> m = MarketData(np.array([1, 2], dtype=np.int64), ("A",), ("S",), *(np.ones((2, 1)) for _ in range(5)))
    >>> clock = SimulatedClock()
    >>> [(e.step, clock.now_ns()) for e in HistoricalFeed(m, clock)]
    [(0, 1), (1, 2)]
    """

    def __init__(self, market: MarketData, clock: SimulatedClock) -> None:
        self.market, self.clock = market, clock

    def __iter__(self) -> Iterator[BarEvent]:
        """One event per timestamp; the clock is at the bar's timestamp when the event is handled."""
        m, clock = self.market, self.clock
        for t, ts in enumerate(m.timestamps.tolist()):
            clock.advance_to(ts)
            yield BarEvent(t, t, m)
