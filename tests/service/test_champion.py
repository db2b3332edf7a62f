"""The service serves the registry's champion (MLflow alias ``champion``), the newest version only while none is
set, and alerts when the champion served changes after start, once (audit G4: it served the newest version and
sent ``model_promoted`` on every start). A real MLflow registry of two versions; alerts to a loopback webhook."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.webhook_server import FakeWebhook
from fastapi.testclient import TestClient
from forecast.conftest import store_market
from sqlalchemy import Engine

from tests.waiting import eventually as _wait
from tftrade.core.clock import SystemClock
from tftrade.core.config import ServiceSettings
from tftrade.forecast import workflows
from tftrade.forecast.registry import ModelRegistry
from tftrade.service.alerts import Alerter, SlackSink
from tftrade.service.app import ServiceContext, create_app
from tftrade.service.keys import Scope, create_key
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictionBook
from tftrade.service.serving import ServingModel
from tftrade.service.watcher import Watcher
from tftrade.store.engine import make_engine
from tftrade.stream.cache import Cache, InMemoryCache
from tftrade.stream.desk import Desk


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store and a registry holding versions 1 and 2 (the same weights registered twice), no champion."""
    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        home = store_market(root, mp, 3, 300)
        engine = make_engine(f"sqlite:///{home / 'tftrade.db'}")
        workflows.train(engine, home, None, "1day", epochs=1, max_samples=64)
        engine.dispose()
    assert isinstance(home, Path)
    registry = ModelRegistry(home)
    trained, _ = registry.load("1")
    assert registry.register(trained, {}, {}) == "2"
    return home


@pytest.fixture
def home(trained_home: Path, tmp_path: Path) -> Path:
    """A copy of the registry's database per test (the artifacts stay where they were logged: read only)."""
    mine = tmp_path / "served"
    mine.mkdir()
    for name in ("tftrade.db", "mlflow.db"):
        shutil.copy(trained_home / name, mine / name)
    return mine


def _promote(home: Path, version: str) -> None:
    ModelRegistry(home).promote(version, approved_by="test", force=True)  # a one-epoch model loses to the baselines


class CountingModel(ServingModel):
    """The served model, counting the poll loop's looks in the registry."""

    refreshed = 0

    def refresh(self) -> str | None:
        try:
            return super().refresh()
        finally:
            self.refreshed += 1


def _context(home: Path, engine: Engine, cache: Cache, hook: FakeWebhook) -> ServiceContext:
    clock = SystemClock()
    return ServiceContext(engine=engine, settings=ServiceSettings(), desk=Desk(cache, clock),
                          book=PredictionBook(cache), metrics=Metrics(), alerter=Alerter([SlackSink(hook.url)]),
                          clock=clock, model=CountingModel(engine, home, workflows.RegistryRef()), poll_s=0.02,
                          model_poll_s=0.02)



def _serves(model: ServingModel, version: str) -> Callable[[], bool]:
    return lambda: model.version == version


def _rounds(model: CountingModel, n: int = 3) -> None:
    """Let the poll loop look in the registry ``n`` more times (each round's watcher poll comes before its look)."""
    start = model.refreshed
    _wait(lambda: model.refreshed >= start + n)


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    yield eng
    eng.dispose()


def test_the_champion_is_served_over_a_newer_version(home: Path) -> None:
    served = ServingModel(make_engine(f"sqlite:///{home / 'tftrade.db'}"), home, workflows.RegistryRef())
    assert served.refresh() == "2" and (served.selection, served.champion) == ("newest", None)
    _promote(home, "1")
    assert served.refresh() == "1" and (served.version, served.selection, served.champion) == ("1", "champion", "1")
    assert served.refresh() is None  # unchanged


def test_models_and_ready_say_which_version_is_served_and_why(home: Path, engine: Engine) -> None:
    key = {"X-API-Key": create_key(engine, "desk", Scope.READ)[0]}
    with FakeWebhook() as hook:
        ctx = _context(home, engine, InMemoryCache(), hook)
        assert isinstance(ctx.model, CountingModel)
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            _wait(lambda: ctx.model is not None and ctx.model.version == "2")
            models = client.get("/models", headers=key).json()
            assert models == {"versions": ["1", "2"], "champion": None, "served": "2", "selection": "newest",
                              "detail": "no champion set: serving the newest registered version"}
            assert client.get("/ready", headers=key).json()["checks"]["model"]["detail"] == models["detail"]
            _promote(home, "1")
            _wait(lambda: ctx.model is not None and ctx.model.version == "1")
            models = client.get("/models", headers=key).json()
            assert models == {"versions": ["1", "2"], "champion": "1", "served": "1", "selection": "champion"}
            ready = client.get("/ready", headers=key).json()["checks"]["model"]
            assert ready == {"ok": True, "required": True, "version": "1", "selection": "champion"}
            _wait(lambda: len(hook.received) >= 1)
            _rounds(ctx.model)
        assert hook.received == [{"text": "[tftrade critical] model version 1 is now the champion served"}]


def test_a_promotion_switches_the_served_model_and_alerts_once(home: Path, engine: Engine) -> None:
    _promote(home, "1")
    with FakeWebhook() as hook:
        ctx = _context(home, engine, InMemoryCache(), hook)
        model = ctx.model
        assert isinstance(model, CountingModel)
        with TestClient(create_app(ctx)):
            _wait(lambda: model.version == "1")
            _rounds(model)
            assert hook.received == []  # the model loaded at start is not a promotion
            _promote(home, "2")
            _wait(lambda: len(hook.received) >= 1)
            assert model.version == "2" and model.selection == "champion"
            _rounds(model)
        assert len(hook.received) == 1 and "model version 2 is now the champion served" in hook.received[0]["text"]
        assert [e["detail"]["key"] for e in ctx.desk.events() if e["type"] == "model_promoted"] == ["2"]


def test_a_restart_does_not_alert(home: Path, engine: Engine) -> None:
    cache = InMemoryCache()  # the desk outlives the API process (Redis in a deployment)
    _promote(home, "2")
    with FakeWebhook() as hook:
        for champion in ("2", "2", "1"):  # the same champion again, then one named while the service was down
            _promote(home, champion)
            ctx = _context(home, engine, cache, hook)
            model = ctx.model
            assert isinstance(model, CountingModel)
            with TestClient(create_app(ctx)):
                _wait(_serves(model, champion))
                _rounds(model)
            assert hook.received == [], champion
    assert [e for e in cache.items("desk:events") if e["type"] == "model_promoted"] == []


def test_a_promotion_another_process_announced_is_not_announced_again() -> None:
    with FakeWebhook() as hook:
        clock = SystemClock()
        desk = Desk(InMemoryCache(), clock)  # two API processes on one desk

        def watcher() -> Watcher:
            return Watcher(desk, PredictionBook(InMemoryCache()), Metrics(), Alerter([SlackSink(hook.url)]), clock,
                           lambda _e: None)

        a, b = watcher(), watcher()
        a.model_served("4", "champion", initial=False)
        b.model_served("4", "champion", initial=False)
        a.model_served("5", "newest", initial=False)  # the champion alias removed: the newest is no promotion
        assert [e["detail"]["key"] for e in desk.events()] == ["4"]
        a.poll()
        assert len(hook.received) == 1
