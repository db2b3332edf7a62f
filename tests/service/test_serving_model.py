"""The served model keeps the latest bars in memory and reads only what is new: same forecasts as ``predict``."""

from __future__ import annotations

from pathlib import Path

import pytest
from forecast.conftest import store_market
from sqlalchemy import text

from tftrade.forecast import workflows
from tftrade.service.serving import ServingModel
from tftrade.store.engine import make_engine

BARS = "stocks_minute_candlesticks"


def _by_key(rows: list[dict[str, object]]) -> dict[tuple[object, object], dict[str, object]]:
    return {(r["ticker"], r["horizon"]): r for r in rows}


def test_cached_bars_give_the_forecasts_of_predict_and_follow_new_bars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = store_market(tmp_path, monkeypatch, 3, 300)
    engine = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    with engine.begin() as conn:  # hold the last session back: it arrives later
        last = conn.execute(text(f"select max(window_start) from {BARS}")).scalar()
        held = conn.execute(text(f"select * from {BARS} where window_start = :w"), {"w": last}).mappings().all()
        conn.execute(text(f"delete from {BARS} where window_start = :w"), {"w": last})
    workflows.train(engine, home, None, "1day", epochs=1, max_samples=64)
    served = ServingModel(engine, home, workflows.RegistryRef())
    first = _by_key(served.predict(None))
    expected = workflows.predict(engine, home, None, write=False).predictions
    assert first.keys() == _by_key([vars_of(f) for f in expected]).keys()
    for f in expected:
        assert first[(f.ticker, f.horizon)]["q50"] == pytest.approx(f.q50, rel=1e-6, abs=1e-9)
    with engine.begin() as conn:  # the held-back session lands in the store
        conn.execute(text(f"insert into {BARS} ({', '.join(held[0].keys())}) values "
                          f"({', '.join(':' + k for k in held[0])})"), [dict(r) for r in held])
    second = _by_key(served.predict(None))
    again = workflows.predict(engine, home, None, write=False).predictions
    assert {r["as_of"] for r in second.values()} == {f.as_of for f in again} != {r["as_of"] for r in first.values()}
    for f in again:
        assert second[(f.ticker, f.horizon)]["q50"] == pytest.approx(f.q50, rel=1e-6, abs=1e-9)
    engine.dispose()


def vars_of(f: object) -> dict[str, object]:
    from dataclasses import fields

    return {x.name: getattr(f, x.name) for x in fields(f)}  # type: ignore[arg-type]
