"""A moving-average crossover: the reference strategy of the peer benchmark and of engine tests.

At the close of each bar a ticker is "in" when its ``fast``-bar simple moving average of closes is
above its ``slow``-bar one. On a change the strategy targets ``weight`` of equity (entry) or 0
(exit); tickers whose state did not change are left alone (NaN targets). Its standing targets
(``weight`` for every "in" ticker, 0 otherwise) tell the trading loop which stopped-out names
still have their signal on (see ``stops.reentry``).
"""

from __future__ import annotations

import numpy as np

from tftrade.core.errors import ConfigError
from tftrade.core.types import BoolArray
from tftrade.strategy.contract import AccountState, Targets
from tftrade.strategy.view import MarketView


class SmaCrossover:
    """Fast/slow SMA crossover, long-only, ``weight`` of equity per position (``1/n`` by default)."""

    def __init__(self, fast: int = 10, slow: int = 30, weight: float | None = None) -> None:
        if not 0 < fast < slow:
            raise ConfigError(f"need 0 < fast < slow, got fast={fast}, slow={slow}")
        self.fast, self.slow, self.weight = fast, slow, weight
        self._state: BoolArray | None = None

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        """Targets for the tickers whose crossover state changed at this bar."""
        n = len(view.tickers)
        if self._state is None:
            self._state = np.zeros(n, dtype=bool)
        close = view.history("close", self.slow)
        if close.shape[0] < self.slow:
            return None
        with np.errstate(invalid="ignore"):
            now = close[-self.fast:].mean(axis=0) > close.mean(axis=0)
        changed = now != self._state
        if not changed.any():
            return None
        self._state = now
        size = self.weight if self.weight is not None else 1.0 / n
        w = np.full(n, np.nan)
        w[changed] = np.where(now[changed], size, 0.0)
        return Targets(w, standing=np.where(now, size, 0.0))
