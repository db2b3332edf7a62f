"""The predict worker: each closed cross-section of ``market_data`` → forecasts → ``predictions`` (and the store).

It keeps its own rolling window of bars (as long as the predictor's history), runs the
predictor on every closed cross-section, publishes one :class:`PredictionMessage` per ticker of
the universe (``horizon=0`` where there is no forecast, so a reader knows when a bar is
complete), writes the forecasts to ``tft_predictions`` when given a database, and only then
acks the bars. A cross-section the predictor cannot forecast at all (warm-up, a reset after
rejected inputs) is published too: one ``horizon=0`` message per ticker with the ``reason``
(:func:`~tftrade.live.predictor.no_forecast_reason`), so the trade worker decides on that bar at
once, as the backtest does on a bar without forecasts, rather than waiting its timeout. The
reason is logged when it changes, counted (``no_forecast``) and, given ``on_event``, an event.

Once it has published a bar and the bus has stayed quiet for ``prepare_after_ms`` (250 ms by
default: the trade worker's decision on that bar, a Black-Litterman solve over the universe, has
the cores first), it lets the predictor get ahead for the next bar
(:meth:`~tftrade.live.predictor.Predictor.prepare`) while waiting for it. Bars coming faster
than that (a replay at full speed) are forecast on the whole window: the same numbers. After
that, still quiet, it calls ``on_idle``: in ``tftrade live`` and ``tftrade worker``, which defer full
garbage collections once loaded, their :meth:`~tftrade.core.gc_tuning.IdleCollector.collect_when_idle`,
so none lands on a bar.

Given a database and a :class:`~tftrade.live.predictor.TftPredictor` whose model was fitted with
sentiment inputs, the worker hands the predictor :func:`stored_sentiment`: each new bar's comment
score and count are read from the per-minute aggregates the sentiment worker writes
(``reddit_sentiment_aggregated``), mapped onto the bar by the rule training and ``tftrade
backtest`` use (:class:`~tftrade.features.bar_sentiment.SentimentWindows`).

Given a :attr:`PredictWorker.switch` (``tftrade live`` on the registry's champion:
:mod:`tftrade.live.champion`), the worker asks it once each bar is published whether another
predictor, loaded and warmed elsewhere, forecasts the bars that follow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
from sqlalchemy import Engine

from tftrade.core.timeframes import bar_ns, is_intraday
from tftrade.core.types import Float64Array, Int64Array, Timeframe
from tftrade.live.assembler import Assembler, CrossSection
from tftrade.live.forecasts import NO_FORECAST_HORIZON
from tftrade.live.predictor import Predictor, Quantiles, TftPredictor, no_forecast_reason
from tftrade.live.reader import ReaderConfig, TopicReader
from tftrade.live.window import RollingMarket
from tftrade.stream.bus import Bus
from tftrade.stream.messages import PredictionMessage

log = logging.getLogger(__name__)
_DAY_NS = 86_400_000_000_000


def stored_sentiment(engine: Engine, timeframe: Timeframe) -> Callable[
        [Int64Array, list[str]], tuple[Float64Array | None, Float64Array | None]]:
    """A :data:`~tftrade.forecast.data.SentimentLookup` reading the stored aggregates, one query per call.

    Intraday bars read the ``1min`` aggregates inside ``[first bar, last bar's end)``; daily bars
    the ``1h`` aggregates from two days before (the hours after the previous close). A failing read
    is logged and gives no sentiment (the forecasts go on, sentiment inputs 0).
    """
    from tftrade.features.bar_sentiment import SentimentWindows
    from tftrade.store.sentiment_windows import read_sentiment_windows

    def lookup(timestamps: Int64Array, tickers: list[str]) -> tuple[Float64Array | None, Float64Array | None]:
        ts = np.asarray(timestamps, dtype=np.int64)
        if not len(ts):
            return None, None
        if is_intraday(timeframe):
            lo, hi = int(ts[0]), int(ts[-1]) + bar_ns(timeframe) - 1
        else:
            lo, hi = int(ts[0]) - 2 * _DAY_NS, int(ts[-1]) + 2 * _DAY_NS
        start, end = (datetime.fromtimestamp(x // 1_000_000_000, tz=UTC) for x in (lo, hi))
        windows = SentimentWindows(lambda window: read_sentiment_windows(engine, tickers, window, start, end))
        try:
            return windows.on_bars(ts, tickers, timeframe)
        except Exception as e:  # a store outage costs the bar its sentiment, not its forecast
            log.error("could not read the sentiment of %d bar(s) at %d: %s", len(ts), int(ts[-1]), e)
            return None, None

    return lookup


@dataclass
class PredictCounters:
    """What the predict worker has done."""

    bars: int = 0
    cross_sections: int = 0
    forecasts: int = 0
    predictions_published: int = 0
    """Messages carrying a forecast."""
    no_forecast: int = 0
    """Cross-sections the predictor gave no forecast for (published as ``horizon=0`` messages with the reason)."""
    no_forecast_published: int = 0
    """Messages saying "no forecast" for a whole cross-section."""
    last_no_forecast_reason: str = ""
    stored: int = 0
    late: int = 0
    last_latency_ms: float = float("nan")
    latencies_ms: list[float] = field(default_factory=list)
    assembly_ms: list[float] = field(default_factory=list)
    """With ``keep_latencies``: from a cross-section's arrival until the worker starts on it (bus, assembly, queue)."""
    forecast_ms: list[float] = field(default_factory=list)
    """With ``keep_latencies``: the predictor's time per cross-section (features, network)."""
    forecast_cpu_ms: list[float] = field(default_factory=list)
    """With ``keep_latencies``: the predictor's CPU time (this thread's) per cross-section: ``forecast_ms`` less
    the time it waited for a core or the GIL."""
    prepare_ms: list[float] = field(default_factory=list)
    """With ``keep_latencies``: the predictor's time getting ahead for the next bar, once idle after publishing."""


class ModelSwitch(Protocol):
    """What the predict worker asks at each bar boundary (:class:`~tftrade.live.champion.ChampionFollower`)."""

    def after_bar(self, window: RollingMarket) -> Predictor | None:
        """Once the bar last appended to ``window`` is published: the predictor that forecasts the next bars, or
        ``None`` to keep the current one."""
        ...


class PredictWorker:
    """Consume ``market_data``, forecast each closed bar, publish ``predictions`` (see the module docstring)."""

    def __init__(self, bus: Bus, predictor: Predictor, tickers: tuple[str, ...], sectors: tuple[str, ...],
                 timeframe: Timeframe = "1min", *, engine: Engine | None = None, group: str = "predict",
                 consumer: str = "predict-1", on_event: Callable[[dict[str, object]], None] | None = None,
                 keep_latencies: bool = False, prepare_after_ms: float = 250.0,
                 on_idle: Callable[[], object] | None = None) -> None:
        self.bus, self.predictor, self.engine = bus, predictor, engine
        self.prepare_after_s = prepare_after_ms / 1e3
        self._published_at = 0.0  # time.monotonic() when the last cross-section was published
        self.tickers = tickers
        self.window = RollingMarket(tickers, sectors, timeframe, capacity=max(predictor.history, 2))
        self.assembler = Assembler(tickers)
        self.reader = TopicReader(bus, ReaderConfig("market_data", group, consumer))
        self.counters = PredictCounters()
        self._on_event = on_event
        self.on_idle = on_idle  # called when quiet and ahead (the idle full collection of a live process)
        self._keep = keep_latencies
        self._idle_work = False  # a bar was forecast since the predictor last got ahead
        self._miss_kind = ""  # the kind of reason of the current stretch of bars without forecasts
        self.switch: ModelSwitch | None = None
        """Asked after every bar for a predictor to take over (``tftrade live`` following the champion)."""
        self.use_stored_sentiment(predictor)

    def use_stored_sentiment(self, predictor: Predictor) -> None:
        """Give a :class:`TftPredictor` fitted with sentiment inputs :func:`stored_sentiment` (with a database)."""
        if self.engine is not None and isinstance(predictor, TftPredictor) and predictor.sentiment is None:
            from tftrade.forecast.rolling import uses_sentiment

            if uses_sentiment(predictor.trained):
                predictor.sentiment = stored_sentiment(self.engine, self.window.timeframe)

    def run(self, stop: threading.Event, end: threading.Event | None = None) -> PredictCounters:
        """Work until ``stop``; or, once ``end`` is set (source finished) and the topic is drained, flush and return."""
        while not stop.is_set():
            batch = self.reader.read()
            if not batch:
                if end is not None and end.is_set():
                    self._process(self.assembler.flush())
                    return self.counters
                if time.monotonic() - self._published_at >= self.prepare_after_s:
                    if self._idle_work:
                        self._prepare()
                    elif self.on_idle is not None:
                        self.on_idle()  # e.g. the full collection held back once loaded (freeze_gc), if due
                continue
            n, sections = self.assembler.add_read(batch, self.reader.ack, time.time_ns())
            self.counters.bars += n
            self._process(sections, stop)
        return self.counters

    def _process(self, sections: list[CrossSection], stop: threading.Event | None = None) -> None:
        for cs in sections:
            if stop is not None and stop.is_set():  # the rest stays pending (unacked)
                return
            start, cpu = time.time_ns(), time.thread_time_ns()
            row = self.window.append(cs.timestamp_ns, cs.open, cs.high, cs.low, cs.close, cs.volume)
            q = self.predictor.predict(self.window, row)
            if self._keep and cs.received_ns:
                self.counters.assembly_ms.append((start - cs.received_ns) / 1e6)
                self.counters.forecast_ms.append((time.time_ns() - start) / 1e6)
                self.counters.forecast_cpu_ms.append((time.thread_time_ns() - cpu) / 1e6)
            self._publish(cs, q)
            self.reader.ack(cs.ids)
            self._idle_work = True
            self._published_at = time.monotonic()
            if self.switch is not None:  # a new champion, loaded and warmed, takes over at a bar boundary
                successor = self.switch.after_bar(self.window)
                if successor is not None:
                    self.predictor, self._miss_kind = successor, ""
        if self.assembler.late_ids:
            self.counters.late = self.assembler.late
            self.reader.ack(self.assembler.late_ids)
            self.assembler.late_ids.clear()

    def _prepare(self) -> None:
        """Let the predictor get ahead for the next bar (the bus is quiet)."""
        self._idle_work = False
        start = time.time_ns()
        self.predictor.prepare()
        if self._keep:
            self.counters.prepare_ms.append((time.time_ns() - start) / 1e6)

    def _publish(self, cs: CrossSection, q: Quantiles | None) -> None:
        c = self.counters
        c.cross_sections += 1
        if q is None or not np.isfinite(q.q50).any():
            self._publish_none(cs, no_forecast_reason(self.predictor) if q is None else "no finite forecast")
            return
        now = time.time_ns()
        latency = now - cs.received_ns if cs.received_ns else None
        h, version, tf = self.predictor.horizon, self.predictor.model_version, self.window.timeframe
        ok = np.isfinite(q.q50)
        close = np.nan_to_num(cs.close).tolist()
        lo, mid, hi, conf = (np.where(ok, a, 0.0).tolist() for a in (q.q10, q.q50, q.q90, q.confidence))
        msgs = [PredictionMessage(t, cs.timestamp_ns, h if good else NO_FORECAST_HORIZON, close[i], lo[i], mid[i],
                                  hi[i], mid[i], conf[i], tf, version, "", latency,
                                  "" if good else "no forecast for this ticker at this bar")
                for i, (t, good) in enumerate(zip(self.tickers, ok.tolist(), strict=True))]
        self.bus.publish_many("predictions", msgs)
        self._miss_kind = ""
        c.forecasts += 1
        c.predictions_published += len(msgs)
        if latency is not None:
            c.last_latency_ms = latency / 1e6
            if self._keep:
                c.latencies_ms.append(c.last_latency_ms)
        if self.engine is not None:
            c.stored += self._store(cs, q)
        if self._on_event is not None:
            self._on_event({"event": "prediction", "as_of_ns": cs.timestamp_ns,
                            "tickers": int(np.isfinite(q.q50).sum()),
                            "latency_ms": None if latency is None else round(latency / 1e6, 3)})

    def _publish_none(self, cs: CrossSection, reason: str) -> None:
        """Say on ``predictions`` that the bar at ``cs`` has no forecast, and why (one message per ticker)."""
        c = self.counters
        h, version, tf = NO_FORECAST_HORIZON, self.predictor.model_version, self.window.timeframe
        close = np.nan_to_num(cs.close).tolist()
        msgs = [PredictionMessage(t, cs.timestamp_ns, h, close[i], 0.0, 0.0, 0.0, 0.0, 0.0, tf, version, "", None,
                                  reason)
                for i, t in enumerate(self.tickers)]
        self.bus.publish_many("predictions", msgs)
        c.no_forecast += 1
        c.no_forecast_published += len(msgs)
        kind = reason.split(":", 1)[0]
        if kind != self._miss_kind:  # once per stretch of one kind, not per bar
            log.info("no forecast from the bar at %d on: %s", cs.timestamp_ns, reason)
            self._miss_kind = kind
        c.last_no_forecast_reason = reason
        if self._on_event is not None:
            self._on_event({"event": "no_forecast", "as_of_ns": cs.timestamp_ns, "reason": reason})

    def _store(self, cs: CrossSection, q: Quantiles) -> int:
        from tftrade.core.prediction import Prediction
        from tftrade.forecast.prediction import write_predictions

        as_of = datetime.fromtimestamp(cs.timestamp_ns / 1e9, tz=UTC)
        rows = [Prediction(ticker=t, horizon=self.predictor.horizon, as_of=as_of, current_price=float(cs.close[i]),
                           q10=float(q.q10[i]), q50=float(q.q50[i]), q90=float(q.q90[i]),
                           predicted_return=float(q.q50[i]), confidence_score=float(q.confidence[i]),
                           timeframe=self.window.timeframe, model_version=self.predictor.model_version,
                           features_hash="")
                for i, t in enumerate(self.tickers) if np.isfinite(q.q50[i]) and np.isfinite(cs.close[i])]
        try:
            return write_predictions(self.engine, rows) if self.engine is not None else 0
        except Exception as e:  # the bus copy is published; a store outage is logged, not fatal to trading
            log.error("could not store %d predictions at %d: %s", len(rows), cs.timestamp_ns, e)
            return 0
