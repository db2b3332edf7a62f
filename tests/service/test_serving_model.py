"""The served model keeps the latest bars in memory and reads only what is new: same forecasts as ``predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from forecast.conftest import store_market
from sqlalchemy import Engine, text

from tftrade.forecast import workflows
from tftrade.service.predictions import EncodedRows, PredictAnswers
from tftrade.service.serving import ServingModel
from tftrade.store.engine import make_engine

BARS = "stocks_minute_candlesticks"


def _by_key(rows: list[dict[str, object]]) -> dict[tuple[object, object], dict[str, object]]:
    return {(r["ticker"], r["horizon"]): r for r in rows}


def _minute_market(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold: int = 0, *,
                   index: bool = True) -> tuple[Engine, Path, list[list[Any]]]:
    """A 4-ticker one-day minute market stored without sentiment, its last ``hold`` minutes taken out of the store
    and returned in time order (each minute's rows by ticker; without the index's rows when ``index`` is false),
    and a model trained on the rest."""
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.store.migrate import upgrade

    home = tmp_path / "home"
    monkeypatch.setenv("TFTRADE_HOME", str(home))
    engine = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    upgrade(engine)
    ingest_synthetic(engine, generate_market(SyntheticConfig(n_tickers=4, days=1, seed=5, comments_per_bar=0)))
    held: list[list[Any]] = []
    tickers = "" if index else "and ticker not like '^%' "
    with engine.begin() as conn:  # hold the last minutes back: they arrive later
        stamps = [r[0] for r in conn.execute(text(f"select distinct window_start from {BARS} order by 1 desc "
                                                  "limit :n"), {"n": hold})][::-1]
        for w in stamps:
            minute = text(f"select * from {BARS} where window_start = :w {tickers}order by ticker")
            held.append(list(conn.execute(minute, {"w": w}).mappings().all()))
        if stamps:
            conn.execute(text(f"delete from {BARS} where window_start >= :w"), {"w": stamps[0]})
    workflows.train(engine, home, None, "1min", epochs=1, max_samples=64)
    return engine, home, held


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


def test_a_market_without_sentiment_is_served_from_the_rolling_window_with_predicts_forecasts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, home, held = _minute_market(tmp_path, monkeypatch, 2, index=False)  # the last two minutes arrive later
    served = ServingModel(engine, home, workflows.RegistryRef())

    def check(rows: list[dict[str, object]]) -> None:
        expected = workflows.predict(engine, home, None, write=False).predictions
        got = _by_key(rows)
        assert got.keys() == {(f.ticker, f.horizon) for f in expected}
        for f in expected:
            g = got[(f.ticker, f.horizon)]
            assert g.keys() == vars_of(f).keys()
            for k in ("q10", "q50", "q90", "confidence_score", "current_price"):
                assert g[k] == pytest.approx(getattr(f, k), rel=1e-6, abs=1e-9), (f.ticker, f.horizon, k)
            assert (g["as_of"], g["stale"]) == (f.as_of, f.stale)

    def land(rows: list[object]) -> None:
        with engine.begin() as conn:
            conn.execute(text(f"insert into {BARS} ({', '.join(held[0][0].keys())}) values "
                              f"({', '.join(':' + k for k in held[0][0])})"), [dict(r) for r in rows])  # type: ignore[call-overload]

    first = served.predict(None)
    check(first)
    assert served.built == 0 and served.window is not None and served.window.appended == 0
    assert isinstance(first, EncodedRows)  # made with its answer, the bytes the API would encode from the rows
    assert first.payload == PredictAnswers().answer(list(first))[0]
    assert served.predict(None) is first  # no new bar: the same rows (the API reuses their encoded answer)
    one = str(first[0]["ticker"])
    assert {r["ticker"] for r in served.predict([one.lower()])} == {one} and served.built == 0
    land(held[0])  # the next minute, every ticker
    assert served.warm() and served.window.appended == 1  # its answer is made before anyone asks
    assert not served.warm()  # nothing new since
    made = served.predict(None)
    check(made)
    assert served.predict(None) is made and made is not first
    assert served.built == 0 and served.window.appended == 1
    land(held[1][:2])  # the minute after it, half the tickers so far: predict groups them by last bar
    assert not served.warm()  # an incomplete minute is not the window's to answer
    check(served.predict(None))
    assert served.built == 1
    land(held[1][2:])
    check(served.predict(None))
    assert served.built == 1 and served.window.appended == 2
    engine.dispose()


def test_a_request_arriving_while_the_poll_loop_lands_a_minute_waits_for_that_answer_made_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from tftrade.service import timing
    from tftrade.service.rolling import RollingWindow

    engine, home, (held,) = _minute_market(tmp_path, monkeypatch, 1)  # the last minute arrives later
    served = ServingModel(engine, home, workflows.RegistryRef())
    first = served.predict(None)

    events: list[str] = []  # what held the window, in order
    made, entered, release = [], threading.Event(), threading.Event()
    make_rows, prepare, rows = RollingWindow._make_rows, RollingWindow.prepare, RollingWindow.rows

    def slow_make_rows(self: RollingWindow, r: object) -> object:  # the poll loop's forecast of the new minute
        made.append(1)
        entered.set()
        assert release.wait(30)
        return make_rows(self, r)  # type: ignore[arg-type]

    def counted_prepare(self: RollingWindow) -> None:
        events.append("prepare")
        prepare(self)

    def counted_rows(self: RollingWindow) -> object:
        events.append("rows")
        return rows(self)

    monkeypatch.setattr(RollingWindow, "_make_rows", slow_make_rows)
    monkeypatch.setattr(RollingWindow, "prepare", counted_prepare)
    monkeypatch.setattr(RollingWindow, "rows", counted_rows)
    with engine.begin() as conn:
        conn.execute(text(f"insert into {BARS} ({', '.join(held[0].keys())}) values "
                          f"({', '.join(':' + k for k in held[0])})"), [dict(r) for r in held])
    warmed: list[bool] = []
    loop = threading.Thread(target=lambda: warmed.append(served.warm()))
    loop.start()
    assert entered.wait(30)  # the poll loop is making the new minute's answer
    answers: list[object] = []
    waits: list[dict[str, float]] = []

    def request() -> None:
        with timing.timed() as stages:
            answers.append(served.predict(None))
        waits.append(stages.spans)

    asking = threading.Thread(target=request)
    asking.start()
    deadline = time.monotonic() + 30
    while not served._turn.requested:  # the request waits for the window
        assert time.monotonic() < deadline
        time.sleep(0.005)
    release.set()
    loop.join(30)
    asking.join(30)
    assert warmed == [True] and len(made) == 1  # made once, by the poll loop
    got = answers[0]
    assert got is served.predict(None) and got is not first and len(made) == 1
    assert {r["as_of"] for r in got} != {r["as_of"] for r in first}  # the new minute's forecasts
    assert "wait_warm" in waits[0]  # it waited for the poll loop's answer, not for the next bar's groundwork
    assert events[:2] == ["rows", "rows"], events  # the poll loop's, then the request's: the groundwork waited
    expected = workflows.predict(engine, home, None, write=False).predictions
    by_key = _by_key(got)
    for f in expected:
        assert by_key[(f.ticker, f.horizon)]["q50"] == pytest.approx(f.q50, rel=1e-6, abs=1e-9)
    engine.dispose()


def test_requests_are_answered_from_the_current_window_while_the_poll_loop_fills_it_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from tftrade.service import rolling

    engine, home, _ = _minute_market(tmp_path, monkeypatch)
    served = ServingModel(engine, home, workflows.RegistryRef(), threads=2)  # service.predict_threads
    first = served.predict(None)
    window = served.window
    assert window is not None and not window.due() and window._roller is not None
    assert window._roller.threads == 2
    old = window._roller
    building, release = threading.Event(), threading.Event()
    build = rolling.RollingWindow.build

    def slow_build(self: rolling.RollingWindow) -> object:
        building.set()
        assert release.wait(30)
        return build(self)

    monkeypatch.setattr(rolling.RollingWindow, "build", slow_build)
    window._filled_at = time.monotonic() - 1.5 * rolling.FULL_RELOAD_S  # due now, not overdue (refilled by requests)
    failed: list[BaseException] = []

    def poll_round() -> None:
        try:
            served.warm()
        except BaseException as e:  # reported below
            failed.append(e)
            building.set()

    loop = threading.Thread(target=poll_round)
    loop.start()
    assert building.wait(30) and not failed, failed  # the poll loop is filling a new window
    assert served.predict(None) is first  # answered at once from the current one (the refill does not hold it)
    release.set()
    loop.join(30)
    assert window._roller is not old and window._roller is not None  # the new one serves now
    assert window._roller.threads == 2
    again = served.predict(None)
    assert again is not first and _by_key(again).keys() == _by_key(first).keys()
    for key, row in _by_key(first).items():
        assert _by_key(again)[key]["q50"] == pytest.approx(row["q50"], rel=1e-6, abs=1e-9)
    engine.dispose()


def test_serve_gives_the_served_model_the_configured_torch_threads(sqlite_engine: Engine, tmp_path: Path) -> None:
    from tftrade.core.config import Settings
    from tftrade.service.build import build_context

    ctx = build_context(Settings(home=tmp_path, service={"predict_threads": 2}), sqlite_engine)
    assert isinstance(ctx.model, ServingModel) and ctx.model.threads == 2
    assert ServingModel(sqlite_engine, tmp_path, workflows.RegistryRef()).threads == 1  # the default
