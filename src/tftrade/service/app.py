"""The HTTP API (FastAPI): forecasts, the desk's state, control, metrics and the dashboard.

Every route but ``/health`` and the dashboard's page shell needs an API key
(``X-API-Key`` or ``Authorization: Bearer``); control routes need the ``admin`` scope.
Answers are JSON; errors are ``{"error": ..., "kind": ...}`` with no stack trace; request
bodies are capped; each key has a request budget per minute; CORS is closed unless origins
are configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Protocol

from fastapi import BackgroundTasks, Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, text

from tftrade.core.clock import Clock
from tftrade.core.config import ServiceSettings
from tftrade.core.errors import NotFoundError, TftradeError, first_line
from tftrade.core.gc_tuning import freeze_startup_objects
from tftrade.service import timing
from tftrade.service.alerts import Alerter
from tftrade.service.events import EventHub
from tftrade.service.keys import KeyRejected, Principal, Scope
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictAnswers, PredictionBook, not_modified
from tftrade.service.ratelimit import RateLimiter
from tftrade.service.security import BodyLimit, KeyStore, allows, key_from_headers
from tftrade.service.watcher import Watcher
from tftrade.stream.bus import Bus
from tftrade.stream.desk import Control, Desk, DeskKind, EventType

NO_CHAMPION = "no champion set: serving the newest registered version"


class ModelPort(Protocol):
    """What the API needs of the served model (see :class:`tftrade.service.serving.ServingModel`)."""

    version: str | None

    @property
    def selection(self) -> str | None:
        """``champion`` or ``newest`` (no champion set): why :attr:`version` is served."""

    @property
    def champion(self) -> str | None:
        """The registry's champion (``None``: none set)."""

    def versions(self) -> list[str]: ...
    def refresh(self) -> str | None: ...
    def predict(self, tickers: list[str] | None) -> list[dict[str, Any]]: ...
    def explain(self, ticker: str) -> dict[str, Any]: ...


@dataclass
class ServiceContext:
    """Everything the API reads and writes, injected (tests pass fakes of the model and clock)."""

    engine: Engine
    settings: ServiceSettings
    desk: Desk
    book: PredictionBook
    metrics: Metrics
    alerter: Alerter
    clock: Clock
    model: ModelPort | None = None
    bus: Bus | None = None
    in_session: Callable[[int], bool] = lambda _ns: True
    poll_s: float = 0.5
    model_poll_s: float = 5.0
    """Seconds between two looks in the registry for a newer model (each costs a registry query)."""
    freeze_gc: bool = False
    """Once a model is loaded and warmed, move the process's objects out of the garbage collector's
    sight (:func:`gc.freeze`): a full collection over the half million objects of the loaded libraries
    and model stalled a request ~0.4 s about every 15 new bars. The served process sets it (``build``)."""
    hub: EventHub = field(default_factory=EventHub)


class PredictRequest(BaseModel):
    """Body of ``POST /predict``."""

    model_config = ConfigDict(extra="forbid")
    tickers: list[Annotated[str, Field(min_length=1, max_length=16)]] | None = Field(None, max_length=1000)


class ControlRequest(BaseModel):
    """Body of the control routes."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500)
    flatten: bool = False


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "kind": kind}, status_code=status, headers=headers)


class _Denied(Exception):
    def __init__(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers


def create_app(ctx: ServiceContext) -> FastAPI:
    """Build the API around ``ctx``."""
    keys = KeyStore(ctx.engine)
    limiter = RateLimiter(ctx.settings.rate_limit_per_minute)
    watcher = Watcher(ctx.desk, ctx.book, ctx.metrics, ctx.alerter, ctx.clock, ctx.hub.publish,
                      feed_stale_s=ctx.settings.feed_stale_s, in_session=ctx.in_session)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(_poll_forever(ctx, watcher, stop))]
        thread = None
        if ctx.bus is not None:
            thread = threading.Thread(target=watcher.consume_bus, name="service-bus", daemon=True,
                                      args=(ctx.bus, stop, lambda e: loop.call_soon_threadsafe(ctx.hub.publish, e)))
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            if thread is not None:
                thread.join(timeout=2.0)

    app = FastAPI(title="tftrade", version="0.1.0", lifespan=lifespan,
                  description="Forecasts, the desk's state and its controls. Send an API key as `X-API-Key`.")
    app.state.ctx, app.state.watcher = ctx, watcher

    def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
        async def guard(request: Request) -> Principal:
            try:
                principal = keys.principal(key_from_headers(request.headers))
            except KeyRejected as e:
                raise _Denied(401, str(e), "unauthorized", {"WWW-Authenticate": "Bearer"}) from None
            if not allows(principal, scope):
                raise _Denied(403, f"this route needs the {scope.name.lower()} scope", "forbidden")
            if not limiter.allow(principal.key_id):
                wait = max(1, int(limiter.retry_after(principal.key_id) + 0.999))
                raise _Denied(429, "rate limit exceeded", "rate_limited", {"Retry-After": str(wait)})
            return principal

        return guard

    read, admin = Depends(require(Scope.READ)), Depends(require(Scope.ADMIN))
    _register_errors(app)
    _register_data_routes(app, ctx, read)
    _register_control_routes(app, ctx, admin)
    _register_dashboard(app, ctx, read)
    if ctx.settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(ctx.settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, max_bytes=ctx.settings.max_request_bytes)
    app.add_middleware(_Measure, metrics=ctx.metrics)
    return app


async def _poll_forever(ctx: ServiceContext, watcher: Watcher, stop: threading.Event) -> None:
    """Every ``poll_s``: the watcher's round and the served model's ``warm`` (a new bar forecast before anyone
    asks); every ``model_poll_s``: the version to serve (a new champion), announced when it changes after the
    first one loaded."""
    checked, frozen, served = -float("inf"), None, None
    while not stop.is_set():
        try:
            watcher.poll()
            if ctx.model is not None and time.monotonic() - checked >= ctx.model_poll_s:
                checked = time.monotonic()
                await asyncio.to_thread(ctx.model.refresh)
                if (version := ctx.model.version) not in (None, served):  # also a first load made by a request
                    watcher.model_served(version, ctx.model.selection, initial=served is None)
                    served = version
            if ctx.model is not None and (warm := getattr(ctx.model, "warm", None)) is not None:
                await asyncio.to_thread(warm)
            if ctx.freeze_gc and ctx.model is not None and ctx.model.version not in (None, frozen):
                frozen = ctx.model.version  # the model and its window are in memory now (and after a promotion)
                await asyncio.to_thread(freeze_startup_objects, collect_first=False, defer_full=False)
        except Exception as e:  # the watcher must outlive a bad document or a registry hiccup
            ctx.metrics.alerts.labels(type="watcher_error", outcome=type(e).__name__).inc()
        await asyncio.sleep(ctx.poll_s)


def _register_errors(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(_Denied)
    async def denied(_r: Request, e: _Denied) -> JSONResponse:
        return _error(e.status, e.message, e.kind, e.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_r: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return _error(422, f"{where}: {first['msg']}", "invalid_input")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, e: StarletteHTTPException) -> JSONResponse:
        kinds = {404: "not_found", 405: "method_not_allowed"}
        message = {404: "no such route", 405: "method not allowed on this route"}.get(e.status_code, str(e.detail))
        return _error(e.status_code, message, kinds.get(e.status_code, "http_error"), dict(e.headers or {}))

    @app.exception_handler(NotFoundError)
    async def not_found(_r: Request, e: NotFoundError) -> JSONResponse:
        return _error(404, str(e), "not_found")

    @app.exception_handler(TftradeError)
    async def refused(_r: Request, e: TftradeError) -> JSONResponse:
        return _error(400, first_line(e), type(e).__name__)

    @app.exception_handler(Exception)
    async def internal(_r: Request, _e: Exception) -> JSONResponse:
        return _error(500, "internal error", "internal")


class _Measure:
    """ASGI middleware: count and time every request by its route template (cheaper than ``BaseHTTPMiddleware``)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            with timing.timed():  # the request's stages (answered as Server-Timing by POST /predict)
                await self.app(scope, receive, send_status)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route=name, status=str(status[0])).inc()
            self.metrics.request_duration.labels(route=name).observe(time.perf_counter() - start)


def _desk_doc(ctx: ServiceContext, kind: DeskKind) -> dict[str, Any]:
    doc = ctx.desk.read(kind)
    if doc is None:
        raise _Denied(404, f"nothing has published the desk's {kind} yet: is `tftrade live` running?", "not_published")
    return doc


def _register_data_routes(app: FastAPI, ctx: ServiceContext, read: Any) -> None:
    answers = PredictAnswers()

    @app.get("/health", tags=["status"])
    def health() -> dict[str, str]:
        """Liveness: the process answers (no key needed, nothing revealed)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["status"], dependencies=[read])
    def ready(response: Response) -> dict[str, Any]:
        """Readiness: database, bus, model loaded (when the service serves one), feed fresh."""
        checks = _readiness(ctx, app.state.watcher)
        response.status_code = 200 if all(c["ok"] for c in checks.values()) else 503
        return {"ready": response.status_code == 200, "checks": checks}

    @app.get("/predictions", tags=["forecasts"], dependencies=[read])
    async def predictions(request: Request,
                          tickers: str | None = Query(None, description="comma-separated tickers")) -> Response:
        """The latest forecast per ticker and horizon: quantiles, confidence, model version.

        The answer carries an ``ETag``: send it back as ``If-None-Match`` to be answered 304 (no body)
        while the forecasts are unchanged.
        """
        wanted = [t.strip() for t in tickers.split(",") if t.strip()] if tickers else None
        body, tag = ctx.book.answer(wanted)
        headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
        if not_modified(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @app.post("/predict", tags=["forecasts"], dependencies=[read])
    async def predict(body: PredictRequest, background: BackgroundTasks) -> Response:
        """Forecast the given tickers (default: the model's universe) from their latest bars, now."""
        if ctx.model is None:
            raise _Denied(503, "no model is served: start with a registered model (`tftrade train`)", "not_ready")
        model = ctx.model
        timing.mark("request")  # the key, the body, its validation
        rows = await asyncio.to_thread(model.predict, body.tickers)
        timing.mark("from_thread")
        payload, new = answers.answer(rows)
        if new:  # into the book (what /predictions serves) once the answer is out; then the next bar's groundwork
            background.add_task(ctx.book.update, rows)
            if (prepare := getattr(model, "prepare", None)) is not None:
                background.add_task(prepare)
        timing.mark("answer")
        stages = timing.current()
        return Response(payload, media_type="application/json",
                        headers={"Server-Timing": stages.header()} if stages is not None else None)

    for kind in ("signals", "portfolio", "risk", "orders", "positions", "pnl"):
        _desk_route(app, ctx, read, kind)

    @app.get("/status", tags=["desk"], dependencies=[read])
    def status() -> dict[str, Any]:
        """Operators' control flags, the trading loop's status and the feed's, as last published."""
        return {"control": ctx.desk.control().__dict__, "status": ctx.desk.read("status"),
                "feed": ctx.desk.read("feed")}

    @app.get("/models", tags=["forecasts"], dependencies=[read])
    def models() -> dict[str, Any]:
        """Registered versions, the registry's champion, the version served and why (``selection``:
        ``champion``, or ``newest`` while no champion is set; ``null`` when no model is served)."""
        if ctx.model is None:
            return {"versions": [], "champion": None, "served": None, "selection": None,
                    "detail": "this service serves no model"}
        m = ctx.model
        return {"versions": m.versions(), "champion": m.champion, "served": m.version, "selection": m.selection,
                **({"detail": NO_CHAMPION} if m.selection == "newest" else {})}

    @app.get("/explain/{ticker}", tags=["forecasts"], dependencies=[read])
    async def explain(ticker: str) -> dict[str, Any]:
        """Variable importance (static, encoder, decoder) and attention at the ticker's latest window."""
        if ctx.model is None:
            raise _Denied(503, "no model is served", "not_ready")
        return await asyncio.to_thread(ctx.model.explain, ticker)

    @app.get("/metrics", tags=["status"], dependencies=[read])
    def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4")


def _desk_route(app: FastAPI, ctx: ServiceContext, read: Any, kind: DeskKind) -> None:
    def route() -> dict[str, Any]:
        return _desk_doc(ctx, kind)

    route.__doc__ = f"The desk's latest {kind}, as the trading loop published it (``as_of_ns``, ``seq``, ``data``)."
    app.get(f"/{kind}", tags=["desk"], dependencies=[read], name=kind)(route)


def _readiness(ctx: ServiceContext, watcher: Watcher) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as e:
        checks["database"] = {"ok": False, "detail": type(e).__name__}
    if ctx.bus is not None:
        try:
            ctx.bus.length("market_data")
            checks["bus"] = {"ok": True}
        except Exception as e:
            checks["bus"] = {"ok": False, "detail": type(e).__name__}
    else:
        checks["bus"] = {"ok": True, "detail": "in-process (no bus configured)"}
    checks["model"] = _model_check(ctx.model)
    checks["feed"] = {"ok": not watcher.feed_down, "last_bar_ns": watcher.last_bar_ns}
    return checks


def _model_check(model: ModelPort | None) -> dict[str, Any]:
    """A model is required only when the service serves one (not ``serve --no-model``, ``live --serve`` of a
    strategy without forecasts)."""
    if model is None:
        return {"ok": True, "required": False, "detail": "not required: this service serves no model"}
    check: dict[str, Any] = {"ok": model.version is not None, "required": True, "version": model.version,
                             "selection": model.selection}
    if model.selection == "newest":
        check["detail"] = NO_CHAMPION
    return check


def _register_control_routes(app: FastAPI, ctx: ServiceContext, admin: Any) -> None:
    def act(principal: Principal, body: ControlRequest | None, *, paused: bool, killed: bool,
            event: str) -> dict[str, Any]:
        body = body or ControlRequest()  # every field has a default: `curl -X POST /pause` needs no body
        control = Control(paused=paused, killed=killed, flatten=body.flatten and killed, reason=body.reason,
                          by=principal.key_id, at_ns=ctx.clock.now_ns())
        ctx.desk.set_control(control)
        kind: EventType = "kill_switch" if killed else ("paused" if paused else "resumed")
        ctx.desk.event(kind, f"{event} by key {principal.key_id}" + (f": {body.reason}" if body.reason else ""))
        return {"control": control.__dict__}

    @app.post("/kill", tags=["control"])
    def kill(body: ControlRequest | None = None, principal: Principal = admin) -> dict[str, Any]:
        """Kill switch: cancel open orders, stop new ones (``flatten``: close positions too)."""
        return act(principal, body, paused=True, killed=True, event="kill switch")

    @app.post("/pause", tags=["control"])
    def pause(body: ControlRequest | None = None, principal: Principal = admin) -> dict[str, Any]:
        """Stop new decisions; open orders and positions stay."""
        if ctx.desk.control().killed:
            raise _Denied(409, "the kill switch is on: resume first", "conflict")
        return act(principal, body, paused=True, killed=False, event="paused")

    @app.post("/resume", tags=["control"])
    def resume(body: ControlRequest | None = None, principal: Principal = admin) -> dict[str, Any]:
        """Resume decisions (also clears the kill switch)."""
        return act(principal, body, paused=False, killed=False, event="resumed")


def _register_dashboard(app: FastAPI, ctx: ServiceContext, read: Any) -> None:
    @app.get("/", include_in_schema=False)
    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> HTMLResponse:
        """The desk's page (no data in it: it asks for an API key and reads the API)."""
        page = resources.files("tftrade.service").joinpath("dashboard.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'self'; "
                                           "script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
                                           "style-src 'self' 'unsafe-inline'; img-src 'self' data:"})

    @app.get("/static/plotly.js", include_in_schema=False)
    def plotly_js() -> Response:
        from plotly.offline import get_plotlyjs

        return Response(get_plotlyjs(), media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/events", tags=["desk"], dependencies=[read])
    def events() -> StreamingResponse:
        """Server-sent events: desk documents, predictions, orders, fills and significant events as they happen."""
        return StreamingResponse(ctx.hub.stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
