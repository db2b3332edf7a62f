"""The feed port: closed bars, one cross-section (every ticker at one timestamp) per event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from tftrade.strategy.view import MarketFrame


@dataclass(frozen=True, slots=True)
class BarEvent:
    """Bar ``row`` of ``frame`` just closed; it is bar number ``step`` since the feed started.

    ``frame`` holds at least the bars up to ``row`` (a backtest's whole history, or the live
    window of recent bars); the loop never reads rows after ``row``. ``step`` counts every bar
    the feed has delivered and drives the decision cadence; ``row`` only indexes ``frame``.
    """

    step: int
    row: int
    frame: MarketFrame

    @property
    def timestamp_ns(self) -> int:
        """Start of the bar (epoch ns UTC)."""
        return int(self.frame.timestamps[self.row])


class Feed(Protocol):
    """Yields :class:`BarEvent` in time order; the backtest's history or the live bus."""

    def __iter__(self) -> Iterator[BarEvent]:
        """Iterate over closed bars until the feed ends (a live feed ends on shutdown)."""
        ...
