"""Every route is guarded: no key, a wrong key, a revoked key, a read key on a control route (issue #17)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tftrade.service.app import create_app
from tftrade.service.keys import Scope, create_key, hash_secret, split_key
from tftrade.store.apikeys import list_keys, revoke_key

from .conftest import Service, make_context

READ_ROUTES = ["/ready", "/predictions", "/status", "/signals", "/portfolio", "/risk", "/orders", "/positions", "/pnl",
               "/models", "/explain/AAPL", "/metrics", "/events"]
CONTROL_ROUTES = ["/kill", "/pause", "/resume"]


def _all_routes(service: Service) -> list[tuple[str, str]]:
    return [("GET", r) for r in READ_ROUTES] + [("POST", "/predict")] + [("POST", r) for r in CONTROL_ROUTES]


def test_openapi_lists_every_guarded_route(service: Service) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    for route in [*READ_ROUTES, "/predict", *CONTROL_ROUTES]:
        assert route.replace("AAPL", "{ticker}") in paths, route


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "tft_00000000_wrong"}, {"X-API-Key": "garbage"},
                                     {"Authorization": "Bearer tft_deadbeef_nope"}, {"Authorization": "Basic abc"}])
def test_every_route_refuses_a_missing_or_wrong_key(service: Service, headers: dict[str, str]) -> None:
    for method, route in _all_routes(service):
        r = service.client.request(method, route, headers=headers, json={})
        assert r.status_code == 401, (method, route, r.text)
        assert r.json()["kind"] == "unauthorized" and "Traceback" not in r.text
        assert "wrong" not in r.text and "nope" not in r.text  # the key is never echoed


def test_a_right_id_with_a_wrong_secret_is_refused(service: Service) -> None:
    key_id, _ = split_key(service.keys["admin"])
    r = service.client.get("/predictions", headers={"X-API-Key": f"tft_{key_id}_not-the-secret"})
    assert r.status_code == 401


def test_read_and_trade_keys_cannot_use_control_routes(service: Service) -> None:
    for scope in ("read", "trade"):
        for route in CONTROL_ROUTES:
            r = service.client.post(route, headers={"X-API-Key": service.keys[scope]}, json={})
            assert r.status_code == 403 and r.json()["kind"] == "forbidden", (scope, route)
    assert service.ctx.desk.control().killed is False


def test_admin_kills_pauses_resumes_and_it_is_recorded(service: Service) -> None:
    h = {"X-API-Key": service.keys["admin"]}
    assert service.client.post("/kill", headers=h, json={"reason": "bad fills", "flatten": True}).status_code == 200
    c = service.ctx.desk.control()
    assert (c.killed, c.paused, c.flatten, c.reason) == (True, True, True, "bad fills")
    assert service.client.post("/pause", headers=h, json={}).status_code == 409
    assert service.client.post("/resume", headers=h, json={}).status_code == 200
    assert service.ctx.desk.control().killed is False
    assert service.client.post("/pause", headers=h, json={}).json()["control"]["paused"] is True
    types = [e["type"] for e in service.ctx.desk.events()]
    assert types == ["kill_switch", "resumed", "paused"]


def test_bearer_header_works_and_keys_are_stored_hashed(service: Service) -> None:
    r = service.client.get("/predictions", headers={"Authorization": f"Bearer {service.keys['read']}"})
    assert r.status_code == 200
    stored = {k.name: k for k in list_keys(service.ctx.engine)}
    _, secret = split_key(service.keys["read"])
    assert stored["read"].secret_hash == hash_secret(secret) and secret not in stored["read"].secret_hash


def test_a_revoked_key_stops_working(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    assert service.client.get("/predictions", headers=h).status_code == 200
    revoke_key(service.ctx.engine, split_key(service.keys["read"])[0], datetime.now(UTC))
    import time

    time.sleep(2.1)  # the key cache's time to live
    r = service.client.get("/predictions", headers=h)
    assert r.status_code == 401 and r.json()["error"] == "API key revoked"


def test_rate_limit_per_key(sqlite_engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(sqlite_engine, Engine)
    ctx = make_context(sqlite_engine, rate_limit_per_minute=5)
    a = create_key(sqlite_engine, "a", Scope.READ)[0]
    b = create_key(sqlite_engine, "b", Scope.READ)[0]
    with TestClient(create_app(ctx)) as client:
        codes = [client.get("/predictions", headers={"X-API-Key": a}).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429, 429]
        r = client.get("/predictions", headers={"X-API-Key": a})
        assert r.json()["kind"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
        assert client.get("/predictions", headers={"X-API-Key": b}).status_code == 200  # per key


def test_request_bodies_are_capped(service: Service) -> None:
    h = {"X-API-Key": service.keys["admin"], "Content-Type": "application/json"}
    big = b'{"tickers": [' + b",".join(b'"AAPL"' for _ in range(300_000)) + b"]}"
    r = service.client.post("/predict", headers=h, content=big)
    assert r.status_code == 413 and r.json()["kind"] == "too_large"

    def chunks():  # no content-length: the streamed body is counted as it arrives
        for _ in range(40):
            yield b" " * 50_000

    r = service.client.post("/kill", headers=h, content=chunks())
    assert r.status_code == 413 and service.ctx.desk.control().killed is False


def test_errors_carry_no_stack_trace(service: Service) -> None:
    def boom(_t: object) -> object:
        raise RuntimeError("secret internals /etc/passwd")

    service.model.explain = boom  # type: ignore[method-assign,assignment]
    r = service.client.get("/explain/AAPL", headers={"X-API-Key": service.keys["read"]})
    assert r.status_code == 500 and r.json() == {"error": "internal error", "kind": "internal"}
    bad = service.client.post("/predict", headers={"X-API-Key": service.keys["read"]}, json={"tickers": "AAPL", "x": 1})
    assert bad.status_code == 422 and "Traceback" not in bad.text and bad.json()["kind"] == "invalid_input"


def test_cors_is_closed_by_default(service: Service) -> None:
    r = service.client.options("/predictions", headers={"Origin": "https://evil.example",
                                                        "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


def test_control_routes_need_no_body(service: Service) -> None:
    h = {"X-API-Key": service.keys["admin"]}
    r = service.client.post("/pause", headers=h)  # curl -X POST /pause
    assert r.status_code == 200, r.text
    assert r.json()["control"]["paused"] is True
    assert service.client.post("/resume", headers=h).json()["control"]["paused"] is False
    killed = service.client.post("/kill", headers=h)
    assert killed.status_code == 200 and killed.json()["control"]["killed"] is True
    assert service.client.post("/pause", headers=h, json={"bogus": 1}).status_code == 422  # still strict


def test_unknown_routes_and_methods_answer_in_the_error_shape(service: Service) -> None:
    h = {"X-API-Key": service.keys["read"]}
    r = service.client.get("/no-such-route", headers=h)
    assert r.status_code == 404 and r.json() == {"error": "no such route", "kind": "not_found"}
    r = service.client.delete("/predictions", headers=h)
    assert r.status_code == 405 and r.json()["kind"] == "method_not_allowed" and "allow" in r.headers
