"""Assemble the service from settings: store, cache, bus, served model, alerts, calendar."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import Engine

from tftrade.core.calendar import TradingCalendar
from tftrade.core.clock import SystemClock
from tftrade.core.config import Settings
from tftrade.service.alerts import Alerter, sinks_from_settings
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


def build_context(cfg: Settings, engine: Engine, *, with_model: bool = True) -> ServiceContext:
    """The :class:`ServiceContext` ``tftrade serve`` runs with: Redis cache and bus when ``redis_url`` is set."""
    from tftrade.forecast.workflows import RegistryRef

    cache: Cache
    bus: Bus | None = None
    if cfg.redis_url is not None:
        from tftrade.stream.redis_bus import RedisStreamsBus

        url = cfg.redis_url.get_secret_value()
        cache, bus = RedisCache(url), RedisStreamsBus(url)
    else:
        cache = InMemoryCache()
    clock = SystemClock()
    book = PredictionBook(cache)
    book.update(latest_predictions(engine))
    alerts = cfg.service.alerts
    calendar = session_check()
    model = ServingModel(engine, cfg.home, RegistryRef(cfg.forecast.model_name, cfg.forecast.tracking_uri(cfg.home))) \
        if with_model else None
    return ServiceContext(
        engine=engine, settings=cfg.service, desk=Desk(cache, clock), book=book, metrics=Metrics(),
        alerter=Alerter(sinks_from_settings(alerts), min_interval_s=alerts.min_interval_s,
                        max_per_hour=alerts.max_per_hour),
        clock=clock, model=model, bus=bus,
        in_session=lambda ns: bool(calendar.in_session(np.array([ns], dtype=np.int64))[0]),
    )
