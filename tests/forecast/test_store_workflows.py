"""``train`` / ``predict`` on the store as a user meets them: misaligned last bars, checkpoints of other
runs, price-only series and index tickers, models marked as losing to a baseline (issue 13, section 3)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.forecast import workflows
from tftrade.forecast.registry import ModelRegistry
from tftrade.forecast.training import Trained

from .conftest import store_market

BARS = "stocks_minute_candlesticks"


def _engine(home: Path) -> Engine:
    from tftrade.store.engine import make_engine

    return make_engine(f"sqlite:///{home / 'tftrade.db'}")


def _tickers(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"select distinct ticker from {BARS} where ticker not like '^%' "
                                                "order by ticker"))]


class _Killed(Exception):
    pass


def test_predict_forecasts_each_ticker_from_its_own_window_and_flags_stale_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = store_market(tmp_path, monkeypatch, 4, 320)
    engine = _engine(home)
    workflows.train(engine, home, None, "1day", epochs=1, max_samples=128)
    stale, late, *_ = _tickers(engine)
    with engine.begin() as conn:  # one ticker stops 100 bars early, another's history starts 100 bars late
        cut = conn.execute(text(f"select window_start from {BARS} where ticker = :t order by window_start desc "
                                "limit 1 offset 100"), {"t": stale}).scalar()
        conn.execute(text(f"delete from {BARS} where ticker = :t and window_start > :c"), {"t": stale, "c": cut})
        first = conn.execute(text(f"select window_start from {BARS} where ticker = :t order by window_start "
                                  "limit 1 offset 100"), {"t": late}).scalar()
        conn.execute(text(f"delete from {BARS} where ticker = :t and window_start < :c"), {"t": late, "c": first})
    res = CliRunner().invoke(app, ["predict", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    by = {p["ticker"]: p for p in out["predictions"] if p["horizon"] == 1}
    assert set(by) == set(_tickers(engine)) and out["skipped"] == []
    assert by[stale]["stale"] and by[stale]["bar_age_seconds"] >= 100 * 86_400 and by[stale]["confidence_score"] == 0
    assert pd.Timestamp(by[stale]["as_of"]) < pd.Timestamp(by[late]["as_of"])
    assert not any(p["stale"] for t, p in by.items() if t != stale)
    with engine.connect() as conn:
        rows = conn.execute(text("select ticker, stale, bar_age_seconds from tft_predictions where horizon = 1")).all()
    assert {(r[0], bool(r[1])) for r in rows} == {(t, t == stale) for t in by}


def test_short_history_is_skipped_with_a_reason_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = store_market(tmp_path, monkeypatch, 3, 320)
    engine = _engine(home)
    workflows.train(engine, home, None, "1day", epochs=1, max_samples=128)
    short = _tickers(engine)[0]
    with engine.begin() as conn:
        conn.execute(text(f"delete from {BARS} where ticker = :t and window_start < (select window_start from {BARS} "
                          "where ticker = :t order by window_start desc limit 1 offset 40)"), {"t": short})
    res = workflows.predict(engine, home, None)
    assert [s["ticker"] for s in res.skipped] == [short] and "fewer than" in res.skipped[0]["reason"]
    assert short not in {p.ticker for p in res.predictions} and len(res.predictions) == 2 * 5


def test_checkpoints_resume_only_the_identical_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = store_market(tmp_path, monkeypatch, 4, 320)
    engine = _engine(home)

    def kill(row: dict[str, float]) -> None:
        raise _Killed

    with pytest.raises(_Killed):  # a run killed after its first epoch leaves its checkpoint
        workflows.train(engine, home, None, "1day", epochs=2, max_samples=128, on_epoch=kill)
    notes: list[str] = []
    other = workflows.train(engine, home, _tickers(engine)[:3], "1day", epochs=2, max_samples=128,
                            on_note=notes.append)  # other tickers: a fresh run, no size mismatch
    assert other.checkpoint["resumed_from_epoch"] == 0 and other.tickers == 3
    assert any("from scratch" in n for n in notes) and any("other runs" in n for n in notes)
    seeded = workflows.train(engine, home, None, "1day", epochs=2, max_samples=128, seed=7)  # other settings
    assert seeded.checkpoint["resumed_from_epoch"] == 0
    same = workflows.train(engine, home, None, "1day", epochs=2, max_samples=128)  # the identical run
    assert same.checkpoint["resumed_from_epoch"] == 1 and "resuming" in " ".join(same.checkpoint["notes"])
    assert not list((home / "checkpoints").glob(f"{same.checkpoint['key'][:24]}/checkpoint.pt"))


def test_price_only_series_are_trained_on_and_index_series_listed_as_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tftrade.data.ingest import ingest_frame
    from tftrade.store.bars import read_bars

    home = store_market(tmp_path, monkeypatch, 3, 320)
    engine = _engine(home)
    bars = read_bars(engine, _tickers(engine)[:1], "1day")
    price = bars.assign(ticker="PXO", open=bars["close"], high=bars["close"], low=bars["close"], volume=0.0,
                        price_only=True)
    ingest_frame(engine, price, timeframe="1day", source="test", kind="csv", price_only=True)
    result = workflows.train(engine, home, None, "1day", epochs=1, max_samples=128)
    assert result.tickers == 4 and result.price_only == ["PXO"]
    assert {s["ticker"] for s in result.skipped} == {"^VIX", "^MKT"}
    assert all("index series" in s["reason"] for s in result.skipped)
    assert {"sentiment_present", "earnings_day"} <= set(result.absent_inputs)
    assert result.reliability and result.status in ("ok", "loses_to_baseline")
    assert {"status", "beaten_by", "horizons"} <= set(result.skill)


def test_a_model_marked_as_losing_is_not_traded_unless_forced(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = store_market(tmp_path, monkeypatch, 15, 250)  # the market the session's model was trained on
    assert trained.calibration is not None
    losing = replace(trained, calibration=replace(trained.calibration, status="loses_to_baseline",
                                                   beaten_by=["ridge"]))
    reg = ModelRegistry(home)
    version = reg.register(losing, {"preset": "test"}, {}, {"status": losing.status, "beaten_by": "ridge"})
    assert reg.client.get_model_version(reg.name, version).tags["status"] == "loses_to_baseline"
    engine = _engine(home)
    plain = workflows.predict(engine, home, None, write=False)
    forced = workflows.predict(engine, home, None, write=False, force=True)
    assert plain.status == "loses_to_baseline" and all(p.confidence_score == 0 for p in plain.predictions)
    assert forced.forced and max(p.confidence_score for p in forced.predictions) > 0
    res = CliRunner().invoke(app, ["predict", "--force", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["forced"] is True


def test_a_backtest_does_not_trade_a_losing_model_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tftrade.backtest.walkforward as wf
    from tftrade.backtest.workflow import ForecastSetup, backtest_store
    from tftrade.strategy.forecast_strategy import StrategyConfig

    home = store_market(tmp_path, monkeypatch, 4, 320)
    real = wf.walk_forward

    def losing(*args, **kwargs):  # type: ignore[no-untyped-def]
        fc, t = real(*args, **kwargs)
        fc = replace(fc, confidence=np.where(np.isfinite(fc.confidence), 0.5, np.nan))
        return fc, replace(t, calibration=replace(t.calibration, status="loses_to_baseline", beaten_by=["ridge"]))

    monkeypatch.setattr(wf, "walk_forward", losing)
    setup, strategy = ForecastSetup(epochs=1, max_samples=128), StrategyConfig(lookback=60)
    plain = backtest_store(_engine(home), timeframe="1day", forecast=setup, strategy_config=strategy)
    assert plain.forecasts is not None and np.nanmax(plain.forecasts.confidence) == 0
    assert "loses to a baseline" in plain.result.notes[0] and "no views" in plain.result.notes[0]
    forced = backtest_store(_engine(home), timeframe="1day", forecast=replace(setup, force=True),
                            strategy_config=strategy)
    assert forced.forecasts is not None and np.nanmax(forced.forecasts.confidence) == 0.5
    assert "traded anyway" in forced.result.notes[0]
