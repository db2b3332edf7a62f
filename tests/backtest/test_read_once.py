"""A backtest reads the store once: the TFT's training, the traded market, the strategy's sentiment and
the comparison runs all take their bars and sentiment from one read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tftrade.store.bars as bars_module
import tftrade.store.sentiment_windows as sentiment_module
from tftrade.backtest.comparisons import comparison_runs
from tftrade.backtest.workflow import ForecastSetup, backtest_store
from tftrade.data.ingest import ingest_synthetic
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade


def test_a_tft_backtest_with_comparisons_reads_bars_once_and_each_sentiment_window_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(eng)
    ingest_synthetic(eng, generate_market(SyntheticConfig(n_tickers=3, days=320, seed=3, timeframe="1day")))
    bar_reads: list[tuple[Any, ...]] = []
    window_reads: list[str] = []
    read_bars, read_windows = bars_module.read_bars, sentiment_module.read_sentiment_windows

    def counted_bars(*args: Any, **kwargs: Any) -> Any:
        bar_reads.append(args)
        return read_bars(*args, **kwargs)

    def counted_windows(*args: Any, **kwargs: Any) -> Any:
        window_reads.append(args[2])
        return read_windows(*args, **kwargs)

    monkeypatch.setattr(bars_module, "read_bars", counted_bars)
    monkeypatch.setattr(sentiment_module, "read_sentiment_windows", counted_windows)
    fast = ForecastSetup(epochs=1, max_samples=200, seed=0)
    run = backtest_store(eng, strategy="tft", timeframe="1day", forecast=fast)
    run = comparison_runs(eng, run, ("stops", "ridge", "no-sentiment"), forecast=fast, timeframe="1day")
    assert run.comparison is not None and len(run.comparison) == 4
    assert np.isfinite(run.result.equity).all()
    assert len(bar_reads) == 1  # was 5: market, TFT panel, comparison market, two comparison markets
    assert sorted(window_reads) == ["1h", "1min"]  # the TFT's daily bars (1h) and the strategy's windows (1min)
