"""Builders shared by the execution tests: the fake Alpaca, brokers on it, and one driver per broker.

A *driver* lets the conformance suite make the market trade the same way for every broker:
``driver.trade(ticker, price, max_qty)`` fills the paper broker through a bar and the fake
Alpaca through its matching; ``driver.settle()`` waits until the broker has reported the fills.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the loopback fakes

from fakes.alpaca_server import FakeAlpaca

from tests.waiting import eventually as wait_for
from tftrade.core.orders import Fill
from tftrade.execution.alpaca import AlpacaBroker
from tftrade.execution.costs import CostModel
from tftrade.execution.paper import PaperBroker
from tftrade.execution.ratelimit import RetryPolicy, TokenBucket
from tftrade.execution.settings import AlpacaConfig

__all__ = ["AlpacaDriver", "FakeAlpaca", "PaperDriver", "alpaca_config", "make_alpaca", "wait_for"]


def alpaca_config(fake: FakeAlpaca, **kw: Any) -> AlpacaConfig:
    """An AlpacaConfig pointing at ``fake`` with a short timeout."""
    values: dict[str, Any] = {"url": fake.rest_url, "stream_url": fake.stream_url, "key_id": fake.key_id,
                              "secret_key": fake.secret_key, "timeout_s": 2.0}
    values.update(kw)
    return AlpacaConfig(**values)


def make_alpaca(fake: FakeAlpaca, *, stream: bool = True, sleeps: list[float] | None = None,
                bucket: TokenBucket | None = None, **kw: Any) -> AlpacaBroker:
    """An AlpacaBroker on ``fake``; back-off sleeps are recorded in ``sleeps`` and kept tiny."""
    record = sleeps if sleeps is not None else []

    def sleep(s: float) -> None:
        record.append(s)
        time.sleep(min(s, 0.01))

    broker = AlpacaBroker(alpaca_config(fake, **kw), stream=stream, sleep=sleep,
                          retry=RetryPolicy(max_attempts=4, base_s=0.01, cap_s=0.05, max_rate_limit_wait_s=3.0),
                          bucket=bucket or TokenBucket(per_minute=60_000))
    if stream:
        fake.wait_listening()
    return broker


class PaperDriver:
    """Drives a PaperBroker: a trade is one bar (open = price, volume caps the quantity)."""

    name = "paper"

    def __init__(self, shorting: bool = True) -> None:
        costs = CostModel(slippage_bps=0.0, impact_coefficient=0.0, max_volume_share=1.0)  # volume = max quantity
        self.broker = PaperBroker(cash=1_000_000.0, costs=costs, allow_short=shorting)
        self._ts = 0

    def trade(self, ticker: str, price: float, max_qty: float | None = None) -> None:
        self._ts += 1
        vol = np.inf if max_qty is None else max_qty
        p = np.array([price])
        self.broker.on_bar(self._ts, [ticker], p, p, p, p, np.array([vol]))

    def settle(self, expect_fills: int = 0) -> None:
        return

    def hold(self, ticker: str, qty: float, price: float) -> None:
        """A position the trader does not know about (bought outside the journal)."""
        from tftrade.core.orders import Order

        self.broker.submit(Order(f"outside-{ticker}", ticker, qty))
        self.trade(ticker, price)

    def close(self) -> None:
        return


class AlpacaDriver:
    """Drives an AlpacaBroker on a fake Alpaca: a trade is the fake's matching of open orders."""

    name = "alpaca"

    def __init__(self, shorting: bool = True) -> None:
        self.fake = FakeAlpaca(shorting=shorting).start()
        self.broker = make_alpaca(self.fake)
        self._seen = 0

    def trade(self, ticker: str, price: float, max_qty: float | None = None) -> None:
        self.fake.trade(ticker, price, max_qty)

    def settle(self, expect_fills: int = 0) -> None:
        """Wait until the stream delivered what the fake executed."""
        def delivered() -> bool:
            with self.fake.lock:
                filled = {o["client_order_id"]: Decimal(o["filled_qty"]) for o in self.fake.orders.values()}
            booked = {cid: q for cid, (q, _) in self.broker._booked.items()}
            return all(booked.get(cid, Decimal(0)) == q for cid, q in filled.items() if q)

        wait_for(delivered)

    def hold(self, ticker: str, qty: float, price: float) -> None:
        self.fake.set_position(ticker, qty, price)

    def close(self) -> None:
        self.broker.close()
        self.fake.stop()


def fills_of(broker: Any) -> list[Fill]:
    return list(broker.drain_fills())
