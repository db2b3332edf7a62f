"""Helpers for execution tests: one-ticker-or-more cross-sections as arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from tftrade.core.orders import Fill
from tftrade.execution.paper import PaperBroker

Bar = tuple[float, ...]  # open, high, low, close, volume


def feed(broker: PaperBroker, ts: int, bars: dict[str, Bar]) -> list[Fill]:
    """Send one cross-section ``{ticker: (o, h, l, c, v)}`` to the broker."""
    tickers = list(bars)
    cols = np.array([bars[t] for t in tickers], dtype=np.float64).reshape(len(tickers), 5).T
    return broker.on_bar(ts, tickers, cols[0], cols[1], cols[2], cols[3], cols[4])


@pytest.fixture
def bar() -> Callable[[PaperBroker, int, dict[str, Bar]], list[Fill]]:
    return feed


@pytest.fixture
def fake_alpaca() -> Iterator[object]:
    """A started loopback fake Alpaca (REST + trade-updates stream), stopped afterwards."""
    from alpaca_harness import FakeAlpaca

    with FakeAlpaca() as fake:
        yield fake
