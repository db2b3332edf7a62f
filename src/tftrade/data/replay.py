"""Replay stored bars onto ``market_data`` through the live path, at N× speed or as fast as possible.

The replay publishes the same :class:`~tftrade.stream.messages.BarMessage` records the live
sources publish, one minute of all tickers at a time in time order, so everything downstream
(ingest worker, predict and trade workers) runs exactly as it would on a trading day. With
``speed > 0`` it waits ``Δt / speed`` between bar times (gaps longer than ``max_gap_s`` — nights,
weekends — count as ``max_gap_s``); with ``speed = 0`` it does not wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.types import Timeframe
from tftrade.store.bars import read_bars
from tftrade.stream.bus import Bus
from tftrade.stream.messages import BarMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay and how fast."""

    tickers: tuple[str, ...] = ()
    timeframe: Timeframe = "1min"
    start: datetime | None = None
    end: datetime | None = None
    speed: float = 0.0
    max_gap_s: float = 60.0
    source: str = "replay"


@dataclass
class ReplayStats:
    """What a replay published."""

    bars: int = 0
    steps: int = 0
    first_ns: int | None = None
    last_ns: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReplaySource:
    """Publish stored history onto the bus.

    Parameters
    ----------
    bus, engine
        Where to publish, and the store to read.
    config
        Tickers (all when empty), time range, speed.
    on_step
        Called after each time step with its time (epoch ns) and bars (drives a replay clock).
    sleep
        Waits between steps; defaults to ``stop.wait`` so a stop interrupts the wait.
    """

    def __init__(self, bus: Bus, engine: Engine, config: ReplayConfig | None = None, *,
                 on_step: Callable[[int, Sequence[BarMessage]], None] | None = None,
                 sleep: Callable[[float], Any] | None = None) -> None:
        self.bus = bus
        self.engine = engine
        self.config = config or ReplayConfig()
        self.stats = ReplayStats()
        self._on_step = on_step
        self._sleep = sleep

    def run(self, stop: threading.Event | None = None) -> ReplayStats:
        """Publish every stored bar in time order; return what was published."""
        stop = stop or threading.Event()
        wait = self._sleep or stop.wait
        cfg = self.config
        frame = read_bars(self.engine, list(cfg.tickers) or None, cfg.timeframe, cfg.start, cfg.end)
        frame = frame[~frame["price_only"]].sort_values(["window_start", "ticker"], kind="stable")
        times = frame["window_start"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        bounds = np.flatnonzero(np.diff(times)) + 1
        previous: int | None = None
        for part in np.split(np.arange(len(frame)), bounds):
            if stop.is_set() or not len(part):
                break
            t = int(times[part[0]])
            if cfg.speed > 0 and previous is not None:
                wait(min((t - previous) / 1e9, cfg.max_gap_s) / cfg.speed)
            bars = _messages(frame.iloc[part], t, cfg)
            self.bus.publish_many("market_data", bars)
            self._count(t, len(bars))
            if self._on_step is not None:
                self._on_step(t, bars)
            previous = t
        log.info("replay published %d bars in %d steps", self.stats.bars, self.stats.steps)
        return self.stats

    def _count(self, t: int, n: int) -> None:
        s = self.stats
        s.bars += n
        s.steps += 1
        s.first_ns = t if s.first_ns is None else s.first_ns
        s.last_ns = t


def _messages(rows: pd.DataFrame, t: int, cfg: ReplayConfig) -> list[BarMessage]:
    return [BarMessage(ticker, t, o, h, lo, c, float(v), timeframe=cfg.timeframe, source=cfg.source)
            for ticker, o, h, lo, c, v in zip(rows["ticker"], rows["open"], rows["high"], rows["low"],
                                              rows["close"], rows["volume"], strict=True)]
