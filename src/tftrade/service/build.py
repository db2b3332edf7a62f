"""Assemble the service from settings: store, cache, bus, served model, alerts, calendar.

:func:`build_context` is what ``tftrade serve`` runs with. :func:`desk_cache` is the cache both
``tftrade live`` and ``tftrade serve`` use (Redis when ``redis_url`` is set, so a separate API
process sees the live desk). :func:`live_context` and :class:`BackgroundServer` run the API
inside the live process (``tftrade live --serve``), sharing its desk and bus.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine

from tftrade.core.calendar import TradingCalendar
from tftrade.core.clock import SystemClock
from tftrade.core.config import Settings
from tftrade.service.alerts import Alerter, RedisAlertGate, sinks_from_settings
from tftrade.service.app import ServiceContext
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictionBook
from tftrade.service.serving import ServingModel
from tftrade.store.prediction_rows import latest_predictions
from tftrade.stream.bus import Bus
from tftrade.stream.cache import Cache, InMemoryCache, RedisCache
from tftrade.stream.desk import Desk


def session_check(today: date | None = None) -> TradingCalendar:
    """An XNYS calendar around ``today`` (for "is the market open now")."""
    today = today or date.today()
    return TradingCalendar(today - timedelta(days=7), today + timedelta(days=7))


def desk_cache(redis_url: str | None, prefix: str = "tftrade:cache") -> Cache:
    """The desk's cache: Redis (shared by every process of a deployment) when a URL is given, else in process."""
    return RedisCache(redis_url, prefix=prefix) if redis_url else InMemoryCache()


def build_context(cfg: Settings, engine: Engine, *, with_model: bool = True) -> ServiceContext:
    """The :class:`ServiceContext` ``tftrade serve`` runs with: Redis cache and bus when ``redis_url`` is set."""
    cache: Cache
    bus: Bus | None = None
    if cfg.redis_url is not None:
        from tftrade.stream.redis_bus import RedisStreamsBus

        url = cfg.redis_url.get_secret_value()
        cache, bus = RedisCache(url), RedisStreamsBus(url)
    else:
        cache = InMemoryCache()
    return live_context(cfg, engine, Desk(cache, SystemClock()), bus, with_model=with_model)


def live_context(cfg: Settings, engine: Engine, desk: Desk, bus: Bus | None, *,
                 with_model: bool = True) -> ServiceContext:
    """A :class:`ServiceContext` around an existing desk and bus (those of a live process, or of ``serve``)."""
    from tftrade.forecast.workflows import RegistryRef

    cache = desk.cache
    clock = SystemClock()
    book = PredictionBook(cache)
    book.update(latest_predictions(engine))
    alerts = cfg.service.alerts
    calendar = session_check()
    model = ServingModel(engine, cfg.home, RegistryRef(cfg.forecast.model_name, cfg.forecast.tracking_uri(cfg.home)),
                         threads=cfg.service.predict_threads) if with_model else None
    return ServiceContext(
        engine=engine, settings=cfg.service, desk=Desk(cache, clock), book=book, metrics=Metrics(),
        alerter=Alerter(sinks_from_settings(alerts), min_interval_s=alerts.min_interval_s,
                        max_per_hour=alerts.max_per_hour,
                        # every process of a desk (serve, live --serve) decides dedupe and budget together
                        shared=RedisAlertGate(cfg.redis_url.get_secret_value()) if cfg.redis_url else None),
        clock=clock, model=model, bus=bus,
        in_session=lambda ns: bool(calendar.in_session(np.array([ns], dtype=np.int64))[0]),
        freeze_gc=True,
    )


class BackgroundServer:
    """The API on a thread of this process (``tftrade live --serve``), bound to ``host:port``.

    ``port=0`` takes an ephemeral port; :attr:`port` is the one bound once :meth:`start` returns.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8787) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                     access_log=False, lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, name="service", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout_s: float = 20.0) -> BackgroundServer:
        """Start serving; return once the socket listens.

        Raises
        ------
        RuntimeError
            If the server did not start within ``timeout_s`` (e.g. the port is taken).
        """
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start on {self.host}:{self.port} (port in use?)")
            time.sleep(0.02)
        servers = getattr(self._server, "servers", [])
        for srv in servers:
            for sock in srv.sockets:
                self.port = int(sock.getsockname()[1])
                break
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
