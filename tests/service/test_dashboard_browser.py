"""The dashboard in a real browser (Debian's chromium through Playwright): it loads with a key, shows what the
API says, and an event published on the bus appears on the page."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import Engine

from tftrade.service.app import create_app
from tftrade.service.keys import Scope, create_key
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import FillMessage

from .conftest import make_context

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def live_service(sqlite_engine: Engine) -> Iterator[tuple[str, str, InMemoryBus, object]]:
    bus = InMemoryBus()
    ctx = make_context(sqlite_engine)
    ctx.bus = bus
    ctx.desk.publish("pnl", {"equity": 1_234_567.5, "drawdown": 0.031, "cash": 250_000.0,
                             "history": [[1_700_000_000_000_000_000, 1_200_000.0],
                                         [1_700_000_060_000_000_000, 1_234_567.5]]})
    ctx.desk.publish("positions", {"positions": [{"ticker": "AAPL", "quantity": 120, "price": 190.5,
                                                  "value": 22_860.0, "weight": 0.0185}]})
    ctx.desk.publish("status", {"paused": False, "killed": False})
    ctx.desk.publish("portfolio", {"sector_exposure": {"Technology": 0.18, "Financials": 0.09, "Energy": -0.04},
                                   "gross": 0.62, "net": 0.31, "beta": 0.93})
    ctx.desk.publish("risk", {"var_95": 0.012, "cvar_95": 0.018, "limits": [
        {"name": "max_position", "value": 0.0185, "limit": 0.05, "headroom": 0.0315}]})
    ctx.desk.publish("signals", {"signals": [{"ticker": "AAPL", "signal": 0.0012, "sentiment": 0.41,
                                              "confidence": 0.35}]})
    ctx.desk.publish("orders", {"orders": [{"client_order_id": "ord-7", "ticker": "AAPL", "quantity": 20,
                                            "status": "filled"}]})
    ctx.book.update([{"ticker": t, "horizon": 1, "as_of_ns": 1_700_000_060_000_000_000, "q10": -0.004 + i / 1e3,
                      "q50": 0.0005 * (i - 1), "q90": 0.004 + i / 1e3, "confidence_score": 0.2 + 0.1 * i,
                      "model_version": "3"} for i, t in enumerate(["AAPL", "MSFT", "NVDA"])])
    key = create_key(sqlite_engine, "browser", Scope.READ)[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", key, bus, ctx
    server.should_exit = True
    thread.join(timeout=5)


def test_dashboard_loads_matches_the_api_and_shows_bus_events(
    live_service: tuple[str, str, InMemoryBus, object],
) -> None:
    import os

    import httpx
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Debian's chromium is required in CI (make test installs it)")
        pytest.skip("Debian's chromium is not installed (make test installs it)")

    url, key, bus, _ctx = live_service
    api = httpx.get(f"{url}/pnl", headers={"X-API-Key": key}).json()["data"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/#key={key}")
        page.wait_for_selector("body[data-loaded='true']", timeout=30_000)
        assert page.text_content("#equity") == f"{api['equity']:,.2f}"
        assert page.text_content("#drawdown") == "3.10 %"
        assert "AAPL" in (page.text_content("#positions") or "")
        assert page.text_content("#control") == "trading"
        assert page.text_content("#exposure") == "gross 62.00 % · net 31.00 % · beta 0.93"
        assert "VaR 95 % 1.20 %" in (page.text_content("#var") or "")
        assert "NVDA" in (page.text_content("#predictions") or "") and "ord-7" in (page.text_content("#orders") or "")
        page.wait_for_selector("#conn.ok", timeout=15_000)
        bus.publish("fills", FillMessage("ord-browser-1", "MSFT", 25.0, 412.25, 0.0, 1_700_000_100_000_000_000))
        page.wait_for_selector("#events li:has-text('ord-browser-1')", timeout=15_000)
        assert "412.25" in (page.text_content("#events") or "")
        page.screenshot(path=str(_shot_path()), full_page=True)
        browser.close()
    assert errors == []


def _shot_path() -> object:
    import os
    import tempfile
    from pathlib import Path

    return Path(os.environ.get("TFTRADE_SCREENSHOT_DIR", tempfile.gettempdir())) / "tftrade-dashboard.png"
