"""``Assembler.add_many`` closes exactly the cross-sections one ``add`` per bar closes, whatever the reads hold."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.live.assembler import Assembler, CrossSection
from tftrade.stream.bus import Delivery
from tftrade.stream.messages import BarMessage

TICKERS = tuple(f"T{i}" for i in range(6))
SERIES = {"benchmark": "^GSPC"}


def _key(cs: CrossSection) -> tuple[object, ...]:
    return (cs.timestamp_ns, *(a.tobytes() for a in (cs.open, cs.high, cs.low, cs.close, cs.volume)), cs.ids,
            cs.received_ns, sorted(cs.series.items()))


def _feed(rng: np.random.Generator) -> list[tuple[BarMessage, str]]:
    """Minutes of bars in shuffled reads: gaps, duplicates, late and foreign bars, series tickers."""
    out: list[tuple[BarMessage, str]] = []
    for minute in range(12):
        ts = 60_000_000_000 * (minute + 1)
        names = [t for t in (*TICKERS, "^GSPC") if rng.random() > 0.15]
        if rng.random() < 0.2:
            names.append("FOREIGN")
        if names and rng.random() < 0.3:
            names.append(str(rng.choice(names)))  # a duplicate
        for t in names:
            x = float(rng.uniform(10, 20))
            out.append((BarMessage(t, ts, x, x + 1, x - 1, x + 0.5, float(rng.integers(0, 9)), "1min",
                                   received_ns=int(rng.integers(0, 3)) * ts), f"{minute}-{t}-{len(out)}"))
        if minute >= 2 and rng.random() < 0.3:  # a late bar of an earlier minute
            out.append((BarMessage(TICKERS[0], ts - 120_000_000_000, 1.0, 1.0, 1.0, 1.0, 0.0, "1min"),
                        f"late-{len(out)}"))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_add_many_equals_one_add_per_bar(seed: int) -> None:
    rng = np.random.default_rng(seed)
    feed = _feed(rng)
    one, many = Assembler(TICKERS, SERIES), Assembler(TICKERS, SERIES)
    want = [cs for m, i in feed for cs in one.add(m, i, read_ns=7)]
    got: list[CrossSection] = []
    k = 0
    while k < len(feed):  # reads of random sizes, as a bus hands them out
        n = int(rng.integers(1, 12))
        part = feed[k : k + n]
        got += many.add_many([m for m, _ in part], [i for _, i in part], read_ns=7)
        k += n
    want += one.flush()
    got += many.flush()
    assert [_key(c) for c in got] == [_key(c) for c in want]
    assert (many.late, many.duplicates, many.foreign, many.last_closed, many.late_ids) == (
        one.late, one.duplicates, one.foreign, one.last_closed, one.late_ids)


def test_a_whole_minute_in_one_read_closes_it_at_once() -> None:
    a = Assembler(TICKERS)
    msgs = [BarMessage(t, 60, float(k + 1), float(k + 2), float(k), float(k + 1), 5.0, "1min", received_ns=9)
            for k, t in enumerate(TICKERS)]
    (cs,) = a.add_many(msgs, [f"id{k}" for k in range(len(msgs))], read_ns=3)
    assert cs.timestamp_ns == 60 and cs.received_ns == 9 and cs.ids == tuple(f"id{k}" for k in range(6))
    np.testing.assert_array_equal(cs.close, np.arange(1.0, 7.0))
    assert a.add_many([], []) == []


def test_a_read_is_added_with_its_non_bars_acked_one_by_one() -> None:
    a = Assembler(TICKERS)
    bars = [BarMessage(t, 60, 1.0, 2.0, 0.5, 1.5, 5.0, "1min") for t in TICKERS]
    batch = [Delivery("market_data", f"b{k}", b"", m) for k, m in enumerate(bars)]
    batch.insert(2, Delivery("market_data", "undecodable", b"?", None, error="bad"))
    acked: list[list[str]] = []
    n, (cs,) = a.add_read(batch, acked.append, read_ns=3)
    assert n == 6 and acked == [["undecodable"]]
    assert cs.ids == tuple(f"b{k}" for k in range(6)) and cs.received_ns == 3
