"""The rolling forecaster's hashes finished from prefixes taken between bars are the full hashes, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.forecast.tiny_model import tiny_model
from tftrade.backtest.market import MarketData
from tftrade.forecast.rolling import RollingForecaster
from tftrade.forecast.training import Trained

FIELDS = ("open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[MarketData, Trained]]:
    yield from tiny_model(6, 8, samples=300)


def test_hashes_from_a_prefix_taken_one_bar_before_equal_the_full_hashes(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    r = RollingForecaster(trained, m.tickers, m.sectors, "1min")
    c = trained.config.context
    r.extend(m.timestamps[:c - 1], *(getattr(m, f)[:c - 1] for f in FIELDS))
    assert r.hash_prefixes() is None  # fewer than C bars: no window to start from
    r.append(int(m.timestamps[c - 1]), *(getattr(m, f)[c - 1] for f in FIELDS))
    seen = set()
    for t in range(c, c + 6):
        prefix = r.hash_prefixes()
        assert prefix is not None and len(prefix.hashers) == len(m.tickers)
        r.append(int(m.timestamps[t]), *(getattr(m, f)[t] for f in FIELDS))
        full = r.features_hashes()
        assert r.features_hashes_from(prefix) == full
        seen.update(full)
    assert len(seen) == 6 * len(m.tickers)  # every ticker and bar hashes differently: the new row is in the hash


def test_a_prefix_of_another_window_is_not_used(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    c = trained.config.context
    r, other = (RollingForecaster(trained, m.tickers, m.sectors, "1min") for _ in range(2))
    for f in (r, other):
        f.extend(m.timestamps[:c + 5], *(getattr(m, x)[:c + 5] for x in FIELDS))
    old, foreign = r.hash_prefixes(), other.hash_prefixes()
    assert old is not None and foreign is not None
    r.extend(m.timestamps[c + 5:c + 7], *(getattr(m, x)[c + 5:c + 7] for x in FIELDS))  # two bars since
    assert r.features_hashes_from(old) == r.features_hashes() == r.features_hashes_from(None)
    other.append(int(m.timestamps[c + 5]), *(getattr(m, x)[c + 5] for x in FIELDS))
    r2 = RollingForecaster(trained, m.tickers, m.sectors, "1min")
    r2.extend(m.timestamps[:c + 6], *(getattr(m, x)[:c + 6] for x in FIELDS))
    assert r2.features_hashes_from(foreign) == r2.features_hashes()  # another forecaster's rows: ignored
    swapped = foreign._replace(hashers=tuple(h.copy() for h in foreign.hashers[::-1]))
    assert other.features_hashes_from(swapped) != other.features_hashes()  # its own rows: the prefix is used
    assert other.features_hashes_from(foreign) == other.features_hashes()
