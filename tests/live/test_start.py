"""A live start reads the stored bars once: the universe and every warm window, as each read them alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, event

from tests.forecast.tiny_model import tiny_model
from tftrade.backtest.market import load_market
from tftrade.data.ingest import ingest_synthetic
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.forecast.persistence import save_model
from tftrade.live.app import LiveOptions, run_live
from tftrade.live.assembler import Assembler
from tftrade.live.predict_worker import PredictWorker
from tftrade.live.runner import TradeStack
from tftrade.live.warm import warm_window
from tftrade.live.window import RollingMarket

_READ_BARS = re.compile(r"\bFROM stocks_minute_candlesticks\b", re.IGNORECASE)  # the bars table


class _Started(Exception):
    """Raised by the test's ``on_stack`` once the workers are built and warmed: the run goes no further."""


@pytest.fixture
def recent(sqlite_engine: Engine) -> Engine:
    """Five tickers, one recent session of minute bars (a warm start reads the days before now)."""
    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=5, days=1, seed=6,
                                                                    start=date.today() - timedelta(days=3))))
    return sqlite_engine


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for _, trained in tiny_model(5, 6):
        yield save_model(trained, tmp_path_factory.mktemp("model"))


def _count_bar_reads(engine: Engine) -> list[str]:
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if _READ_BARS.search(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen


def _start(engine: Engine, opts: LiveOptions) -> tuple[TradeStack, PredictWorker | None]:
    got: list[tuple[TradeStack, PredictWorker | None]] = []

    def on_stack(stack: TradeStack, pw: PredictWorker | None) -> None:
        got.append((stack, pw))
        raise _Started

    import threading

    with pytest.raises(_Started):
        run_live(engine, opts, lambda e: None, threading.Event(), on_stack)
    return got[0]


def _todays_warm(engine: Engine, window: RollingMarket, series: dict[str, str]) -> tuple[RollingMarket, Assembler]:
    """What a warm start read on its own gives (``live.warm.warm_window``): the reference."""
    w = RollingMarket(window.tickers, window.sectors, window.timeframe, capacity=window.capacity)
    a = Assembler(window.tickers, series)
    warm_window(engine, w, a)
    return w, a


def _assert_same_window(got: RollingMarket, got_assembler: Assembler, want: tuple[RollingMarket, Assembler]) -> None:
    w, a = want
    assert len(got) == len(w) > 0
    np.testing.assert_array_equal(got.timestamps, w.timestamps)
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(got, f), getattr(w, f))
    assert got_assembler.last_closed == a.last_closed > 0


@pytest.mark.parametrize("with_start", [False, True])
def test_a_live_start_reads_the_bars_once_and_warms_as_before(recent: Engine, model_dir: Path,
                                                              with_start: bool) -> None:
    last = pd.Timestamp(int(load_market(recent, timeframe="1min").timestamps[-1]), tz="UTC")
    start = (last - pd.Timedelta(minutes=30)).to_pydatetime() if with_start else None
    opts = LiveOptions(source="massive", strategy="tft", model=model_dir, window=100, start=start)
    reads = _count_bar_reads(recent)
    stack, pw = _start(recent, opts)
    assert len(reads) == 1  # was three: the universe, the trade window, the predict window
    want = load_market(recent, timeframe="1min", start=start)
    assert stack.worker.window.tickers == want.tickers and stack.worker.window.sectors == want.sectors
    assert pw is not None and pw.window.capacity == 165  # 3 x (warm-up + context)
    for window, assembler in ((stack.worker.window, stack.worker.assembler), (pw.window, pw.assembler)):
        _assert_same_window(window, assembler, _todays_warm(recent, window, assembler.series))
    assert len(stack.worker.window) == 100 and len(pw.window) == 165  # more history than --start's 30 minutes


def test_without_a_warm_start_the_universe_is_load_market(recent: Engine) -> None:
    from tftrade.live.start import read_start

    reads = _count_bar_reads(recent)
    for tickers in ((), ("AAPL", "TSLA")):
        got = read_start(recent, tickers, "1min").market
        want = load_market(recent, tickers=list(tickers) or None, timeframe="1min")
        assert got.tickers == want.tickers and got.sectors == want.sectors
        np.testing.assert_array_equal(got.timestamps, want.timestamps)
        np.testing.assert_array_equal(got.close, want.close)
        assert (got.benchmark is None) == (want.benchmark is None) and (got.vix is None) == (want.vix is None)
    assert len(reads) == 4  # one read each, and load_market's own


def test_an_end_before_the_look_back_leaves_the_windows_their_own_read(sqlite_engine: Engine) -> None:
    from tftrade.live.start import read_start

    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=3, days=8, seed=2,
                                                                    start=date.today() - timedelta(days=14))))
    first = pd.Timestamp(int(load_market(sqlite_engine, timeframe="1min").timestamps[0]), tz="UTC")
    end = (first + pd.Timedelta(minutes=45)).to_pydatetime()
    reads = _count_bar_reads(sqlite_engine)
    got = read_start(sqlite_engine, (), "1min", end=end, warm=[60])
    assert len(reads) == 1 and got.end == end  # not the days between --end and the look-back
    assert got.market.n_times == 45
    window = RollingMarket(got.market.tickers, got.market.sectors, "1min", capacity=60)
    assembler = Assembler(window.tickers)
    assert got.warm(sqlite_engine, window, assembler) == 60 and len(reads) == 2
    _assert_same_window(window, assembler, _todays_warm(sqlite_engine, window, {}))
