"""A champion promoted while ``tftrade live`` runs takes over at a bar boundary, or is refused in one event.

A replay of one synthetic session through every worker, on a real MLflow registry of a tiny TFT:
version 1 (the champion at start), 2 (the same weights), 3 (forecasts 2 bars ahead: the run trades
on 3) and 4 (tagged ``loses_to_baseline``). The test promotes at the third forecast bar and makes the
follower look then (its own look is an hour away), from the predict worker's thread; later forecast
bars wait until the follower is not warming, so the switch lands within the session. Each run keeps
the audit chain as ``tftrade live`` does: every decision names the model version of the forecasts it read.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from tests.forecast.tiny_model import tiny_model
from tests.waiting import eventually as _wait
from tftrade.cli import app
from tftrade.cli.live_cmd import audit_recorders
from tftrade.compliance.audit_log import AuditLog
from tftrade.core.clock import SystemClock
from tftrade.data.ingest import ingest_synthetic
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.forecast.persistence import save_model
from tftrade.forecast.registry import ModelRegistry
from tftrade.live.app import LiveOptions, run_live
from tftrade.live.champion import ChampionFollower
from tftrade.live.predict_worker import PredictWorker
from tftrade.live.predictor import TftPredictor
from tftrade.live.runner import TradeStack
from tftrade.store.schema import tft_predictions
from tftrade.stream.cache import InMemoryCache
from tftrade.stream.desk import Desk


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Versions 1 (champion), 2 (same weights), 3 (horizon 2), 4 (loses_to_baseline); a saved copy of 1 in ``dir``."""
    root = tmp_path_factory.mktemp("registered")
    _market, trained = next(tiny_model(5, 6))
    _market, short = next(tiny_model(5, 6, horizon=2, samples=32))
    registry = ModelRegistry(root)
    assert registry.register(trained, {}, {}, {"status": "ok"}) == "1"
    assert registry.register(trained, {}, {}, {"status": "ok"}) == "2"
    assert registry.register(short, {}, {}, {"status": "ok"}) == "3"
    assert registry.register(trained, {}, {}, {"status": "loses_to_baseline"}) == "4"
    registry.promote("1", approved_by="test")
    save_model(trained, root / "dir")
    return root


@pytest.fixture
def home(registered: Path, tmp_path: Path) -> Path:
    """This test's registry database (artifacts shared, read only)."""
    mine = tmp_path / "home"
    mine.mkdir()
    shutil.copy(registered / "mlflow.db", mine / "mlflow.db")
    return mine


@pytest.fixture
def market(sqlite_engine: Engine) -> Engine:
    """The tiny model's five tickers, one session of minute bars."""
    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=5, days=1, seed=6)))
    return sqlite_engine



class _Run:
    """Events of a live run; at its ``at``-th forecast bar ``version`` is promoted and the follower looks."""

    def __init__(self, home: Path, version: str, at: int = 3) -> None:
        self.home, self.version, self.at = home, version, at
        self.events: list[dict[str, Any]] = []
        self.follower: ChampionFollower | None = None
        self.pw: PredictWorker | None = None
        self.forecasts = 0
        self.selects = 0

    def on_stack(self, stack: TradeStack, pw: PredictWorker | None) -> None:
        self.pw = pw
        self.follower = pw.switch if pw is not None and isinstance(pw.switch, ChampionFollower) else None
        self.selects = 0  # the start's own look is not counted

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if event["event"] != "prediction":
            return
        self.forecasts += 1
        if self.forecasts == self.at:
            ModelRegistry(self.home).promote(self.version, approved_by="desk", force=True)
            if self.follower is not None:
                self.follower.check()
        elif self.forecasts > self.at and self.follower is not None:
            follower = self.follower
            _wait(lambda: follower.state != "warming")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def _live(engine: Engine, run: _Run, desk: Desk, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> dict[str, object]:
    select_ = ModelRegistry.select

    def counted(registry: ModelRegistry, version: str | None = None) -> Any:
        run.selects += version is None  # a look for the champion (a load of a named version selects it too)
        return select_(registry, version)

    monkeypatch.setattr(ModelRegistry, "select", counted)
    opts = LiveOptions(source="replay", strategy="tft", cadence=5, home=run.home,
                       model_name=ModelRegistry(run.home).name, champion_poll_s=3600.0, **kw)
    return run_live(engine, opts, run.emit, threading.Event(), run.on_stack, desk=desk,
                    recorders=audit_recorders(engine, "paper"))


def _decided_versions(engine: Engine) -> list[tuple[int, str | None]]:
    """``(decided ns, model_version)`` of every ``decision`` in the live audit chain, which verifies."""
    log = AuditLog(engine, chain="live")
    assert log.verify().ok
    return [(e.payload["decided_ns"], e.payload["model_version"]) for e in log.entries(kinds=["decision"])]


def _stored_versions(engine: Engine) -> list[tuple[int, str]]:
    """``(as_of ns, model_version)`` of every forecast bar stored, in bar order."""
    with engine.connect() as conn:
        rows = conn.execute(select(tft_predictions.c.as_of, tft_predictions.c.model_version)).all()
    import pandas as pd

    by_bar = {int(pd.Timestamp(a, tz="UTC").value if pd.Timestamp(a).tzinfo is None else pd.Timestamp(a).value): v
              for a, v in rows}
    assert len(by_bar) == len({(a, v) for a, v in rows}), "one bar forecast by two versions"
    return sorted(by_bar.items())


def _desk() -> Desk:
    return Desk(InMemoryCache(), SystemClock())


def test_a_champion_promoted_mid_run_forecasts_the_later_bars(market: Engine, home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run, desk = _Run(home, "2"), _desk()
    summary = _live(market, run, desk, monkeypatch)

    assert run.of("start")[0]["model_version"] == "1" and run.of("start")[0]["follow_champion"] is True
    (switched,) = run.of("model_switched")
    assert (switched["from"], switched["to"]) == ("1", "2")
    assert not run.of("model_kept")
    stored = _stored_versions(market)
    versions = [v for _, v in stored]
    first_new = versions.index("2")
    assert set(versions[:first_new]) == {"1"} and set(versions[first_new:]) == {"2"}
    assert first_new >= run.at and len(versions) - first_new > 100  # switched soon after, traded on for long
    assert stored[first_new - 1][0] == switched["after_ns"]  # the event names the last bar the old version forecast
    assert run.pw is not None and run.pw.predictor.model_version == "2"
    (alert,) = [e for e in desk.events() if e["type"] == "model_promoted"]
    assert alert["detail"]["key"] == "2" and "was 1" in alert["message"]
    assert run.selects == 1  # the test's one look: no look in the registry per bar
    assert summary["predictions"] and summary["in_sync"]
    decided = _decided_versions(market)  # the audit trail: each decision names the version it traded on
    before = {v for ns, v in decided if ns <= switched["after_ns"]}
    after = {v for ns, v in decided if ns > switched["after_ns"]}
    assert before == {"1"} and after == {"2"}


def test_a_champion_forced_past_its_baseline_is_followed_with_its_confidence_muted(
        market: Engine, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, desk = _Run(home, "4"), _desk()  # tagged loses_to_baseline, promoted with --force: as a restart loads it
    _live(market, run, desk, monkeypatch)

    (switched,) = run.of("model_switched")
    assert (switched["from"], switched["to"]) == ("1", "4") and not run.of("model_kept")
    with market.connect() as conn:
        rows = conn.execute(select(tft_predictions.c.model_version, tft_predictions.c.confidence_score)).all()
    assert {float(c) for v, c in rows if v == "4"} == {0.0}
    assert run.pw is not None and isinstance(run.pw.predictor, TftPredictor)
    assert run.pw.predictor.model_version == "4" and run.pw.predictor.confidence_muted


@pytest.mark.parametrize(("version", "reason"), [
    ("3", "it forecasts at most 2 bars ahead, this run trades on 3-bar forecasts"),
    ("2", "artifact store unreachable"),
])
def test_a_champion_this_run_cannot_use_is_refused_and_the_current_model_goes_on(
        market: Engine, home: Path, monkeypatch: pytest.MonkeyPatch, version: str, reason: str) -> None:
    if reason == "artifact store unreachable":
        load = ModelRegistry.load

        def broken(registry: ModelRegistry, v: str | None = None) -> Any:
            if v == "2":
                raise OSError("artifact store unreachable")
            return load(registry, v)

        monkeypatch.setattr(ModelRegistry, "load", broken)
    run, desk = _Run(home, version), _desk()
    _live(market, run, desk, monkeypatch)

    (kept,) = run.of("model_kept")
    assert (kept["version"], kept["champion"]) == ("1", version) and reason in str(kept["reason"])
    assert not run.of("model_switched")
    assert {v for _, v in _stored_versions(market)} == {"1"}
    assert {v for _, v in _decided_versions(market)} == {"1"}
    (alert,) = [e for e in desk.events() if e["type"] == "model_not_followed"]
    load_failed = reason == "artifact store unreachable"  # alerted under its own key: a later refusal is alerted too
    assert alert["detail"]["key"] == (f"{version}:load" if load_failed else version)
    assert "keeps model version 1" in alert["message"]
    assert run.follower is not None
    run.follower.check()  # the refused champion is not looked at again
    assert len(run.of("model_kept")) == 1


@pytest.mark.parametrize("pinned", ["model_dir", "no_follow"])
def test_a_pinned_run_never_switches(market: Engine, home: Path, registered: Path, monkeypatch: pytest.MonkeyPatch,
                                     pinned: str) -> None:
    run, desk = _Run(home, "2"), _desk()
    kw: dict[str, Any] = {"model": registered / "dir"} if pinned == "model_dir" else {"follow_champion": False}
    _live(market, run, desk, monkeypatch, **kw)

    want = "dir" if pinned == "model_dir" else "1"
    assert run.pw is not None and run.pw.switch is None and run.forecasts > run.at
    assert run.of("start")[0]["follow_champion"] is False
    assert not run.of("model_switched") and not run.of("model_kept")
    assert {v for _, v in _stored_versions(market)} == {want}
    assert {v for _, v in _decided_versions(market)} == {want}  # a --model folder: its name
    assert ModelRegistry(home).champion() == "2"  # promoted meanwhile
    assert run.selects == 0


@pytest.mark.parametrize("command", ["live", "worker"])
def test_live_and_worker_help_offer_the_switch(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "1000", "TERMINAL_WIDTH": "1000"})
    assert result.exit_code == 0 and "--no-follow-champion" in result.output


class _Registry:
    """A registry whose champion is ``champion``, every version the same trained model."""

    def __init__(self, trained: Any, champion: str) -> None:
        self.trained, self.champion = trained, champion

    def select(self, version: str | None = None) -> Any:
        from tftrade.forecast.registry import Selected

        return Selected(version or self.champion, "named" if version else "champion")

    def promotable(self, version: str, *, force: bool = False) -> dict[str, Any]:
        return {"version": version, "tags": {}, "metrics": {}}

    def load(self, version: str | None = None) -> tuple[Any, str]:
        return self.trained, version or self.champion


def _window(engine: Engine, rows: int, tickers: tuple[str, ...] | None = None) -> tuple[Any, Any]:
    from tftrade.backtest.market import load_market
    from tftrade.live.window import RollingMarket

    m = load_market(engine, timeframe="1min")
    window = RollingMarket(tickers or m.tickers, m.sectors, "1min", capacity=165)
    for k in range(rows):
        window.append(int(m.timestamps[k]), m.open[k], m.high[k], m.low[k], m.close[k], m.volume[k])
    return window, m


def test_the_new_version_takes_over_warmed_and_caught_up_with_a_fresh_starts_forecasts(
        market: Engine, registered: Path) -> None:
    import numpy as np

    from tftrade.forecast.persistence import load_model
    from tftrade.live.predictor import TftPredictor

    trained = load_model(registered / "dir")
    window, m = _window(market, 69)  # fewer rows than the history: a cold start anywhere starts at row 0
    events: list[dict[str, Any]] = []
    follower = ChampionFollower(_Registry(trained, "2"), TftPredictor(trained, model_version="1"),  # type: ignore[arg-type]
                                window, make=lambda t, v, h: TftPredictor(t, h, model_version=v), emit=events.append)

    def bar(k: int) -> int:
        return window.append(int(m.timestamps[k]), m.open[k], m.high[k], m.low[k], m.close[k], m.volume[k])

    follower.check()
    assert follower.state == "copy" and follower.version == "1"
    bar(69)  # published by version 1; then the copy (rows 0-69) is taken
    assert follower.after_bar(window) is None and follower.state == "warming"
    bar(70)  # forecast by version 1 while version 2 warms on the copy
    assert follower.after_bar(window) is None
    follower.warm()
    assert follower.state == "ready"
    bar(71)
    new = follower.after_bar(window)  # fed rows 70 and 71, no forward pass
    assert new is not None and new.model_version == "2" and follower.state == "idle" and follower.version == "2"
    assert events == [{"event": "model_switched", "from": "1", "to": "2", "after_ns": int(m.timestamps[71])}]
    def cold(*_a: object) -> None:
        raise AssertionError("a cold start on the bar: the new version was not caught up")

    new._cold = cold  # type: ignore[method-assign]
    row = bar(72)
    got, want = new.predict(window, row), TftPredictor(trained, model_version="fresh").predict(window, row)
    assert got is not None and want is not None
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    follower.check()
    assert follower.state == "idle" and len(events) == 1  # the champion forecasts: nothing more to do


def test_a_window_too_far_ahead_is_copied_again_rather_than_fed_on_the_bar(market: Engine, registered: Path) -> None:
    from tftrade.forecast.persistence import load_model
    from tftrade.live.champion import MAX_CATCH_UP
    from tftrade.live.predictor import TftPredictor

    trained = load_model(registered / "dir")
    window, m = _window(market, 60)
    follower = ChampionFollower(_Registry(trained, "2"), TftPredictor(trained, model_version="1"),  # type: ignore[arg-type]
                                window, make=lambda t, v, h: TftPredictor(t, h, model_version=v), emit=lambda e: None)
    follower.check()
    follower.after_bar(window)  # the copy: rows 0-59
    follower.warm()
    for k in range(60, 61 + MAX_CATCH_UP):
        window.append(int(m.timestamps[k]), m.open[k], m.high[k], m.low[k], m.close[k], m.volume[k])
    assert follower.after_bar(window) is None and follower.state == "warming"  # 9 bars behind: copied again
    follower.warm()
    assert follower.after_bar(window) is not None  # caught up: switched


def test_a_champion_without_this_runs_tickers_is_refused(market: Engine, registered: Path) -> None:
    from tftrade.forecast.persistence import load_model
    from tftrade.live.predictor import TftPredictor

    trained = load_model(registered / "dir")
    window, _ = _window(market, 0, ("ZZZZ", *trained.schema.tickers[1:]))
    events: list[dict[str, Any]] = []
    follower = ChampionFollower(_Registry(trained, "2"), TftPredictor(trained, model_version="1"),  # type: ignore[arg-type]
                                window, make=lambda t, v, h: TftPredictor(t, h, model_version=v), emit=events.append)
    follower.check()
    assert follower.state == "idle" and follower.version == "1"
    assert events == [{"event": "model_kept", "version": "1", "champion": "2",
                       "reason": "it does not know this run's ticker(s) ZZZZ"}]


def _follower(engine: Engine, registered: Path, rows: int, registry: Any = None,
              events: list[dict[str, Any]] | None = None) -> tuple[ChampionFollower, Any, Any, _Registry]:
    from tftrade.forecast.persistence import load_model
    from tftrade.live.predictor import TftPredictor

    trained = load_model(registered / "dir")
    window, m = _window(engine, rows)
    reg = registry or _Registry(trained, "2")
    follower = ChampionFollower(reg, TftPredictor(trained, model_version="1"), window,
                                make=lambda t, v, h: TftPredictor(t, h, model_version=v),
                                emit=(events if events is not None else []).append)
    return follower, window, m, reg


def _bar(window: Any, m: Any, k: int) -> int:
    out: int = window.append(int(m.timestamps[k]), m.open[k], m.high[k], m.low[k], m.close[k], m.volume[k])
    return out


def test_a_version_no_longer_champion_before_it_takes_over_is_dropped(market: Engine, registered: Path) -> None:
    events: list[dict[str, Any]] = []
    follower, window, m, reg = _follower(market, registered, 69, events=events)
    follower.check()
    follower.after_bar(window)
    follower.warm()
    assert follower.state == "ready"
    reg.champion = "1"  # rolled back before the next bar
    follower.check()
    assert follower.state == "idle" and follower.version == "1"
    _bar(window, m, 69)
    assert follower.after_bar(window) is None and events == []


def test_a_version_whose_cold_start_rejects_the_inputs_is_refused(market: Engine, registered: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.live.predictor import TftPredictor

    events: list[dict[str, Any]] = []
    follower, window, _m, _reg = _follower(market, registered, 69, events=events)

    def rejected(self: TftPredictor, frame: Any, row: int) -> None:
        self.no_forecast_reason = "inputs rejected, the model's state starts afresh: close of AAA is nan"
        return None

    follower.check()
    monkeypatch.setattr(TftPredictor, "predict", rejected)
    follower.after_bar(window)
    follower.warm()
    assert follower.state == "idle" and follower.version == "1"
    assert [(e["event"], e["champion"]) for e in events] == [("model_kept", "2")]
    assert "close of AAA is nan" in events[0]["reason"]
    follower.check()  # refused once: not loaded nor reported again
    assert follower.state == "idle" and len(events) == 1


def test_a_window_short_of_the_warm_up_is_copied_again_once_the_bars_have_come(market: Engine,
                                                                              registered: Path) -> None:
    events: list[dict[str, Any]] = []
    follower, window, m, _reg = _follower(market, registered, 20, events=events)
    follower.check()
    follower.after_bar(window)
    follower.warm()  # 20 bars: not enough for a forecast
    assert follower.state == "copy" and events == []
    k = 20
    while follower.state == "copy":
        _bar(window, m, k)
        k += 1
        follower.after_bar(window)
    assert follower.state == "warming"
    follower.warm()
    assert follower.state == "ready"
    _bar(window, m, k)
    new = follower.after_bar(window)
    assert new is not None and new.model_version == "2" and new.warm_up_left() == 0
    assert [e["event"] for e in events] == ["model_switched"]


def test_an_error_while_taking_over_refuses_the_version_and_never_reaches_the_worker(
        market: Engine, registered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.live.predictor import TftPredictor

    events: list[dict[str, Any]] = []
    follower, window, m, _reg = _follower(market, registered, 69, events=events)
    follower.check()
    follower.after_bar(window)
    follower.warm()

    def broken(self: TftPredictor, frame: Any, limit: int | None = None) -> bool:
        raise MemoryError("out of memory")

    monkeypatch.setattr(TftPredictor, "catch_up", broken)
    _bar(window, m, 69)
    assert follower.after_bar(window) is None  # no exception on the predict worker's thread
    assert follower.state == "idle" and follower.version == "1"
    assert [(e["event"], e["reason"]) for e in events] == [("model_kept", "out of memory")]


def test_a_champion_whose_load_failed_is_loaded_again_later_and_reported_once(market: Engine,
                                                                             registered: Path) -> None:
    from tftrade.forecast.persistence import load_model
    from tftrade.live.predictor import TftPredictor

    trained = load_model(registered / "dir")
    now = [0.0]
    loads: list[str] = []

    class Flaky(_Registry):
        def load(self, version: str | None = None) -> tuple[Any, str]:
            loads.append(str(version))
            if len(loads) == 1:
                raise OSError("artifact store unreachable")
            return super().load(version)

    window, _m = _window(market, 69)
    events: list[dict[str, Any]] = []
    follower = ChampionFollower(Flaky(trained, "2"), TftPredictor(trained, model_version="1"), window,
                                make=lambda t, v, h: TftPredictor(t, h, model_version=v), emit=events.append,
                                retry_s=60.0, clock=lambda: now[0])
    follower.check()
    assert follower.state == "idle" and [e["event"] for e in events] == ["model_kept"]
    assert "artifact store unreachable (loaded again every 60 s)" in events[0]["reason"]
    now[0] = 59.0
    follower.check()  # not yet: no load, no second report
    assert loads == ["2"] and len(events) == 1
    now[0] = 61.0
    follower.check()  # the store answers now: it is loaded and warms as any champion
    assert loads == ["2", "2"] and follower.state == "copy" and len(events) == 1


def test_a_failing_event_sink_neither_undoes_nor_refuses_the_switch(market: Engine, registered: Path) -> None:
    def closed_pipe(event: dict[str, Any]) -> None:
        raise BrokenPipeError("stdout closed")

    follower, window, m, _reg = _follower(market, registered, 69)
    follower.emit = closed_pipe
    follower.check()
    follower.after_bar(window)
    follower.warm()
    _bar(window, m, 69)
    new = follower.after_bar(window)
    assert new is not None and new.model_version == "2" and follower.version == "2" and follower.state == "idle"
    follower.check()  # version 2 forecasts: nothing pending, nothing refused
    assert follower.state == "idle"


def test_each_refused_version_is_reported_once_even_when_champions_alternate(market: Engine,
                                                                            registered: Path) -> None:
    events: list[dict[str, Any]] = []
    follower, *_, reg = _follower(market, registered, 0, events=events)
    follower._unfit = lambda trained: "not for this run"  # type: ignore[method-assign]
    for champion in ("2", "3", "2", "3"):
        reg.champion = champion
        follower.check()
    assert [e["champion"] for e in events] == ["2", "3"]


@pytest.mark.integration
def test_the_predict_worker_on_redis_follows_the_champion_too(market: Engine, home: Path) -> None:
    """`tftrade worker predict`: the same follower, on a thread of the worker's process."""
    import uuid

    from tftrade.backtest.market import load_market
    from tftrade.live.app import open_bus, run_worker
    from tftrade.live.replay import replay_bars

    from .conftest import redis_or_skip

    redis_or_skip()
    prefix = f"test:{uuid.uuid4().hex}"
    opts = LiveOptions(strategy="tft", redis_url="redis://127.0.0.1:6379/0", bus_prefix=prefix, cadence=5,
                       warm_start=False, home=home, model_name=ModelRegistry(home).name, champion_poll_s=0.2)
    m = load_market(market, timeframe="1min", vix=None)
    bus = open_bus(opts.redis_url, prefix)
    events: list[dict[str, Any]] = []
    stop, result = threading.Event(), {}
    worker = threading.Thread(target=lambda: result.update(run_worker("predict", market, opts, events.append, stop)))
    worker.start()
    try:
        replay_bars(bus, m.rows(0, 80))
        _wait(lambda: sum(e["event"] == "prediction" for e in events) >= 3)
        ModelRegistry(home).promote("2", approved_by="desk")
        replay_bars(bus, m.rows(80, 240), speed=1200.0)  # a bar every 50 ms: the new version warms meanwhile
        _wait(lambda: any(e["event"] == "model_switched" for e in events))
        _wait(lambda: "2" in {v for _, v in _stored_versions(market)})
    finally:
        stop.set()
        worker.join(60)
        bus.close()
    (start,) = [e for e in events if e["event"] == "start"]
    assert start["model_version"] == "1" and start["follow_champion"] is True
    (switched,) = [e for e in events if e["event"] == "model_switched"]
    assert (switched["from"], switched["to"]) == ("1", "2") and not [e for e in events if e["event"] == "model_kept"]
    versions = [v for _, v in _stored_versions(market)]
    first_new = versions.index("2")
    assert set(versions[:first_new]) == {"1"} and set(versions[first_new:]) == {"2"}
    assert result["worker"] == "predict"
