"""``/ready`` requires a model only of a service that serves one (audit G3: ``serve --no-model`` and
``live --serve --strategy sma`` answered 503 "model" for ever)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tftrade.cli.live_cmd import live_desk, serve_in_process
from tftrade.core.config import Settings
from tftrade.service.app import create_app
from tftrade.service.build import live_context
from tftrade.service.keys import Scope, create_key
from tftrade.stream.memory import InMemoryBus

NOT_REQUIRED = {"ok": True, "required": False, "detail": "not required: this service serves no model"}


def test_live_serve_of_a_strategy_without_forecasts_is_ready(sqlite_engine: Engine, tmp_path: Path) -> None:
    key = create_key(sqlite_engine, "desk", Scope.READ)[0]
    bus = InMemoryBus()
    server = serve_in_process(Settings(home=tmp_path / "home"), sqlite_engine, live_desk(None), bus, 0,
                              with_model=False)  # what `tftrade live --serve --strategy sma` starts
    try:
        with httpx.Client(base_url=f"http://{server.host}:{server.port}", headers={"X-API-Key": key}) as client:
            ready = client.get("/ready")
            models = client.get("/models").json()
    finally:
        server.stop()
        bus.close()
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["model"] == NOT_REQUIRED and ready.json()["ready"] is True
    assert models["served"] is None and models["selection"] is None


def test_a_service_that_serves_a_model_is_not_ready_without_one(sqlite_engine: Engine, tmp_path: Path) -> None:
    key = create_key(sqlite_engine, "desk", Scope.READ)[0]
    ctx = live_context(Settings(home=tmp_path / "home"), sqlite_engine, live_desk(None), None, with_model=True)
    ctx.freeze_gc = False
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:  # nothing registered
        ready = client.get("/ready", headers={"X-API-Key": key})
    assert ready.status_code == 503
    assert ready.json()["checks"]["model"] == {"ok": False, "required": True, "version": None, "selection": None}
