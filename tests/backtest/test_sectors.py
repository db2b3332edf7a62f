"""Tickers without a sector: renamed ones get theirs, the rest are named in the run's summary."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from tftrade.backtest import BacktestConfig, run_backtest
from tftrade.data.securities_file import read_securities_file

from .conftest import make_market
from .test_engine import BuyOnce


def test_renamed_sp500_tickers_take_the_sector_of_their_new_ticker(shared_data: Path) -> None:
    folder = shared_data / "sp500_daily"
    sectors = {s.ticker: s.sector for s in read_securities_file(folder / "constituents_2018-04-02.csv")}
    assert (sectors["PCLN"], sectors["HCN"], sectors["CBG"]) == ("Consumer Discretionary", "Real Estate",
                                                                  "Real Estate")
    with gzip.open(folder / "all_stocks_5yr.csv.gz", "rt") as f:
        next(f)
        priced = {line.rstrip("\n").rsplit(",", 1)[1] for line in f}
    assert len(priced) == 505
    assert sorted(priced - set(sectors)) == ["CHK", "PDCO", "SIG", "SNI"]  # left the index before the snapshot


def test_the_summary_names_the_tickers_without_a_sector() -> None:
    m = make_market(np.full((10, 3), 100.0), sectors=("Tech", "Unknown", "Unknown"))
    res = run_backtest(m, BuyOnce(at=1), config=BacktestConfig(stop_loss=None, take_profit=None))
    s = res.summary()
    assert s["unsectored_tickers"] == ["T1", "T2"]
    notes = s["notes"]
    assert isinstance(notes, list)
    assert notes[0].startswith("2 ticker(s) have no sector in the securities master: T1, T2")
    full = make_market(np.full((10, 2), 100.0), sectors=("Tech", "Energy"))
    assert run_backtest(full, BuyOnce(at=1)).summary()["unsectored_tickers"] == []
