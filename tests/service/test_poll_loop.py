"""The API's poll loop warms the served model every round and freezes the heap once per model served."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.waiting import eventually as _wait
from tftrade.service import app as app_module
from tftrade.service.app import create_app

from .conftest import FakeModel, make_context


class WarmedModel(FakeModel):
    def __init__(self) -> None:
        super().__init__()
        self.warmed = 0

    def warm(self) -> bool:
        self.warmed += 1
        return False



def test_the_loop_warms_the_model_and_freezes_once_per_model(sqlite_engine: Engine,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[str | None] = []
    ctx = make_context(sqlite_engine)
    model = WarmedModel()
    ctx.model, ctx.freeze_gc = model, True
    monkeypatch.setattr(app_module, "freeze_startup_objects", lambda **_: frozen.append(model.version))
    with TestClient(create_app(ctx)):
        _wait(lambda: model.warmed >= 3)
        assert frozen == ["3"]  # once, not every round
        model.version = "4"  # a promotion: the new model's objects are frozen too
        _wait(lambda: frozen == ["3", "4"])
        n = model.warmed
        _wait(lambda: model.warmed > n + 2)
        assert frozen == ["3", "4"]


def test_a_context_built_by_hand_leaves_the_heap_alone(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[int] = []
    ctx = make_context(sqlite_engine)
    model = WarmedModel()
    ctx.model = model
    monkeypatch.setattr(app_module, "freeze_startup_objects", lambda **_: frozen.append(1))
    with TestClient(create_app(ctx)):
        _wait(lambda: model.warmed >= 3)
    assert not ctx.freeze_gc and frozen == []
