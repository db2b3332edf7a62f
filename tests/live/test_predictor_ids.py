"""The predictor looks the model's category ids up once per universe, and again when the universe changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from tests.forecast.tiny_model import tiny_model
from tftrade.backtest import MarketData
from tftrade.forecast.errors import UnknownTickerError
from tftrade.forecast.training import Trained
from tftrade.live.predictor import TftPredictor


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[MarketData, Trained]]:
    yield from tiny_model(5, 4, horizon=2, comments=True)


def _reordered(m: MarketData, order: list[int], tickers: tuple[str, ...] | None = None) -> MarketData:
    return replace(m, tickers=tickers or tuple(m.tickers[i] for i in order),
                   sectors=tuple(m.sectors[i] for i in order),
                   **{f: getattr(m, f)[:, order] for f in ("open", "high", "low", "close", "volume")})


def test_a_reordered_universe_gets_its_own_ids(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    order = list(range(len(m.tickers)))[::-1]
    flipped = _reordered(m, order)
    used = TftPredictor(trained)
    first = used.predict(m, 80)
    again = used.predict(flipped, 80)  # the cached ids of ``m`` must not be reused
    fresh = TftPredictor(trained).predict(flipped, 80)
    assert first is not None and again is not None and fresh is not None
    np.testing.assert_array_equal(again.q50, fresh.q50)
    # the same windows in another row order: equal up to float32 rounding (the kernels block rows)
    np.testing.assert_allclose(again.q50, first.q50[order], rtol=1e-5, atol=1e-9)
    back = used.predict(m, 80)
    assert back is not None
    np.testing.assert_array_equal(back.q50, first.q50)


def test_an_unknown_ticker_is_still_refused_after_the_ids_were_cached(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    p = TftPredictor(trained)
    assert p.predict(m, 80) is not None
    renamed = _reordered(m, list(range(len(m.tickers))), ("NOPE", *m.tickers[1:]))
    with pytest.raises(UnknownTickerError, match="NOPE"):
        p.predict(renamed, 80)
