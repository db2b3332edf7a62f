"""Backtests on the store: small universes and short histories on both timeframes, settings recorded,
costs adding up, strict JSON, atomic runs and a locked SQLite database."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from tftrade.backtest.config import trading_setup
from tftrade.backtest.runs import load_run, runs_dir, save_run
from tftrade.backtest.workflow import ForecastSetup, backtest_store
from tftrade.core.config import Settings
from tftrade.core.errors import ConfigError
from tftrade.data.ingest import ingest_synthetic
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade
from tftrade.store.schema import trade_executions

FAST = ForecastSetup(epochs=1, max_samples=400, seed=0)


def _store(tmp_path: Path, *, tickers: int, days: int, timeframe: str, seed: int = 3) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(eng)
    ingest_synthetic(eng, generate_market(SyntheticConfig(n_tickers=tickers, days=days, seed=seed,
                                                          timeframe=timeframe)))  # type: ignore[arg-type]
    return eng


@pytest.mark.parametrize(("timeframe", "tickers", "days"), [("1day", 8, 320), ("1day", 2, 300), ("1min", 3, 4)])
def test_tft_backtest_runs_on_small_universes_and_short_histories(tmp_path: Path, timeframe: str, tickers: int,
                                                                 days: int) -> None:
    """`ingest synthetic --tickers 8 --days 320 --timeframe 1day --seed 3` + `backtest` failed with
    "operands could not be broadcast together with shapes (176,8) (177,8)": the first decisions see fewer
    than `lookback + 1` bars and the volume history was one row longer than the close returns."""
    eng = _store(tmp_path, tickers=tickers, days=days, timeframe=timeframe)
    setup = trading_setup(Settings(home=tmp_path), timeframe)  # type: ignore[arg-type]
    run = backtest_store(eng, timeframe=timeframe, strategy="tft", forecast=FAST, setup=setup)  # type: ignore[arg-type]
    res = run.result
    assert res.decisions > 0 and np.all(np.isfinite(res.equity))
    assert np.all(np.abs(res.weights).max(axis=1) <= setup.risk.max_position + 0.02)  # hard cap (+ price drift)


def test_run_records_effective_settings_and_costs_equal_the_sum_of_fills(tmp_path: Path) -> None:
    eng = _store(tmp_path, tickers=6, days=120, timeframe="1day")
    setup = trading_setup(Settings(home=tmp_path), "1day", {"risk.max_position": 0.1, "stops.mode": "fixed",
                                                            "costs.commission_per_share": 0.005,
                                                            "costs.commission_min": 1.0})
    run = backtest_store(eng, timeframe="1day", strategy="sma", setup=setup)
    res = run.result
    assert res.trades, "the SMA run must trade for this test to mean anything"
    # every fill's cost: |q| |price - open| + commission (incl. fees); the run's costs are their sum
    m = res.market
    col = {t: i for i, t in enumerate(m.tickers)}
    expected = 0.0
    for r in res.trades:
        row = int(np.searchsorted(m.timestamps, r.timestamp_ns))
        expected += r.quantity * abs(r.price - m.open[row, col[r.ticker]]) + r.commission
    costs = res.costs()
    assert costs["total"] == pytest.approx(expected, rel=1e-9)
    assert costs["commission"] >= len(res.trades) * 1.0 - 1e-9  # the $1 minimum per fill
    sells = [r for r in res.trades if r.action in ("SELL", "SHORT")]
    assert costs["fees"] == pytest.approx(sum(r.quantity * r.price * 27.8e-6 + min(r.quantity * 0.000166, 8.3)
                                              for r in sells), rel=1e-6)
    summary = res.summary()
    gross, net = summary["gross_total_return"], summary["total_return"]
    assert isinstance(gross, float) and isinstance(net, float)
    assert gross - net == pytest.approx(costs["total"] / res.config.initial_cash, rel=1e-9)
    assert summary["settings"]["risk"]["max_position"] == 0.1  # type: ignore[index]
    assert summary["settings"]["stops"]["mode"] == "fixed"  # type: ignore[index]
    path = save_run(tmp_path, run, "bt-x", eng)
    text = (path / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in summary.json"))
    assert loaded["settings"]["costs"]["commission_min"] == 1.0
    with eng.connect() as conn:
        assert conn.execute(select(func.count()).select_from(trade_executions)).scalar_one() == len(res.trades)
    _check_trade_cost_columns(res, load_run(tmp_path, "bt-x").trades)


def _check_trade_cost_columns(res: object, saved: object) -> None:
    """trades.parquet splits each fill's charge: broker commission, SEC fee, FINRA TAF, spread, impact; exact sums."""
    import pandas as pd

    frame = saved
    assert isinstance(frame, pd.DataFrame)
    for col in ("commission", "sec_fee", "finra_taf", "spread_cost", "impact_cost", "cost"):
        assert col in frame.columns
    assert "commission_only" not in frame.columns and "fees" not in frame.columns
    trades = res.trades  # type: ignore[attr-defined]
    for (_, row), r in zip(frame.iterrows(), trades, strict=True):
        q = r.quantity
        assert row["commission"] == pytest.approx(max(1.0, q * 0.005), rel=1e-9)  # the broker's only
        if r.action == "SELL":
            assert row["sec_fee"] == pytest.approx(q * r.price * 27.8e-6, rel=1e-9)
            assert row["finra_taf"] == pytest.approx(min(q * 0.000166, 8.3), rel=1e-9)
        else:
            assert row["sec_fee"] == 0.0 and row["finra_taf"] == 0.0
        assert row["commission"] + row["sec_fee"] + row["finra_taf"] == pytest.approx(r.commission, abs=1e-12)
    parts = frame[["commission", "sec_fee", "finra_taf", "spread_cost", "impact_cost"]].sum(axis=1)
    assert np.allclose(parts, frame["cost"], rtol=0, atol=1e-12)
    costs = res.costs()  # type: ignore[attr-defined]
    assert costs["total"] == pytest.approx(float(frame["cost"].sum()), rel=1e-12)
    assert costs["fees"] == pytest.approx(float((frame["sec_fee"] + frame["finra_taf"]).sum()), rel=1e-12)
    assert costs["commission"] == pytest.approx(float(frame["commission"].sum()), rel=1e-12)


def test_a_500_percent_position_limit_and_unknown_keys_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"risk\.max_position"):
        trading_setup(Settings(home=tmp_path), "1day", {"risk.max_position": 5.0})
    with pytest.raises(ConfigError, match=r"risk\.max_postion"):
        trading_setup(Settings(home=tmp_path), "1day", {"risk.max_postion": 0.1})
    s = Settings(home=tmp_path, risk={"max_position": 0.04}, stops={"mode": "atr"})  # type: ignore[arg-type]
    setup = trading_setup(s, "1min")
    assert setup.gate_limits().max_weight == 0.04 and setup.optimizer().max_weight == 0.04
    assert setup.backtest_config().stop_mode == "atr"
    assert trading_setup(Settings(home=tmp_path), "1min").stops.mode == "fixed"  # 2 %/4 % on minute bars
    assert trading_setup(Settings(home=tmp_path), "1day").stops.mode == "atr"


def _run(tmp_path: Path, eng: Engine):  # type: ignore[no-untyped-def]
    return backtest_store(eng, timeframe="1day", strategy="sma",
                          setup=trading_setup(Settings(home=tmp_path), "1day"))


def test_a_failed_commit_leaves_neither_folder_nor_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = _store(tmp_path, tickers=5, days=80, timeframe="1day")
    run = _run(tmp_path, eng)
    assert run.result.trades
    from sqlalchemy import event

    def fail(_conn: object) -> None:
        raise RuntimeError("disk full at commit")

    event.listen(eng, "commit", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        save_run(tmp_path, run, "bt-fail", eng)
    event.remove(eng, "commit", fail)
    assert not (runs_dir(tmp_path) / "bt-fail").exists()
    assert not list(runs_dir(tmp_path).glob(".*tmp"))
    with eng.connect() as conn:
        assert conn.execute(select(func.count()).select_from(trade_executions)).scalar_one() == 0
    save_run(tmp_path, run, "bt-ok", eng)  # and the same run saves fine afterwards
    assert len(load_run(tmp_path, "bt-ok").trades) == len(run.result.trades)


def test_a_run_saves_while_another_process_writes_to_the_sqlite_store(tmp_path: Path) -> None:
    """An ingest holding the write lock for a while: the backtest waits (busy timeout) instead of failing."""
    eng = _store(tmp_path, tickers=5, days=80, timeframe="1day")
    run = _run(tmp_path, eng)
    locked, release = threading.Event(), threading.Event()

    def writer() -> None:
        con = sqlite3.connect(tmp_path / "store.db", timeout=30)
        con.execute("BEGIN IMMEDIATE")
        con.execute("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)")
        con.execute("INSERT INTO scratch VALUES (1)")
        locked.set()
        release.wait(10)
        con.commit()
        con.close()

    t = threading.Thread(target=writer)
    t.start()
    assert locked.wait(10)
    threading.Timer(1.5, release.set).start()
    started = time.monotonic()
    try:
        with eng.connect() as conn:  # readers are not blocked by the writer (WAL)
            assert conn.execute(select(func.count()).select_from(trade_executions)).scalar_one() == 0
        path = save_run(tmp_path, run, "bt-busy", eng)
    finally:
        release.set()
        t.join()
    assert time.monotonic() - started >= 0  # (no wall-time assertion: the save waited for the lock, not failed)
    assert path.exists()
    with eng.connect() as conn:
        assert conn.execute(select(func.count()).select_from(trade_executions)).scalar_one() == len(run.result.trades)


def test_sma_with_a_start_warms_up_on_earlier_bars_and_trades_from_the_start(tmp_path: Path) -> None:
    """The bars before ``--start`` feed the SMA's averages: its first decision is the start bar, not 30 bars later."""
    import pandas as pd

    from tftrade.backtest.market import load_market

    eng = _store(tmp_path, tickers=4, days=120, timeframe="1day")
    stamps = load_market(eng, timeframe="1day").timestamps
    start = pd.Timestamp(int(stamps[60]), tz="UTC").tz_convert("America/New_York").tz_localize(None).to_pydatetime()
    res = backtest_store(eng, timeframe="1day", strategy="sma", start=start).result
    assert int(res.market.timestamps[0]) == int(stamps[60])  # results begin at the start, not before
    assert min(int(t.timestamp_ns) for t in res.trades) <= int(stamps[62])  # no 30-bar idle wait
