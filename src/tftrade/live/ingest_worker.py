"""The ingest worker: ``market_data`` → validation → store, one transaction per batch.

Each batch read from the bus is split into bars and everything else. Bars are checked by
the same :func:`~tftrade.data.validation.validate_bars` as a file import and stored with
:func:`~tftrade.store.bars.insert_bars`, which skips a (ticker, timeframe, minute) already
stored — so a redelivered, replayed, backfilled or duplicated bar is never doubled. Rows the
validation rejects, payloads that do not decode, and :class:`MalformedFrame` records from the
sources go to the quarantine with the raw frame and the reason. Bars and quarantine rows of
a batch commit together, and only then is the batch acked: a crash between the two replays
the batch and the store's key absorbs it.

Minute bars outside the XNYS session (vendors stream pre- and post-market) are counted in
``outside_session`` and not stored, unless ``extended_hours="quarantine"``. A bar older than
the newest bar this worker has seen of its ticker is counted and logged as ``late``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.calendar import TradingCalendar
from tftrade.core.types import Timeframe
from tftrade.data.validation import validate_bars
from tftrade.store.bars import insert_bars
from tftrade.store.runs import finish_run, quarantine_rows, start_run
from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.consumer import ConsumerConfig, ConsumerStats, run_consumer
from tftrade.stream.messages import BarMessage, MalformedFrame

log = logging.getLogger(__name__)
_SOURCE = "bus:market_data"
_TIMEFRAMES: dict[str, Timeframe] = {"1min": "1min", "1m": "1min", "minute": "1min", "1day": "1day", "1d": "1day",
                                     "day": "1day", "5min": "5min", "15min": "15min", "30min": "30min", "1h": "1h"}


@dataclass
class IngestCounters:
    """What the worker has done since it started."""

    messages: int = 0
    bars: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    malformed: int = 0
    outside_session: int = 0
    late: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class IngestWorkerConfig:
    """Consumer group and batch settings of the ingest worker."""

    group: str = "ingest"
    consumer: str = "ingest-1"
    count: int = 2048
    block_ms: int = 200
    reclaim_idle_ms: int = 30_000
    extended_hours: Literal["skip", "quarantine"] = "skip"


class IngestWorker:
    """Consume ``market_data`` into the store.

    Parameters
    ----------
    bus, engine
        The bus to read and the migrated database to write.
    config
        Group, consumer name and batch size.
    on_stored
        Called after each committed batch with the bars that were new in the store
        (e.g. to wake the predict worker).
    """

    def __init__(self, bus: Bus, engine: Engine, config: IngestWorkerConfig | None = None,
                 on_stored: Callable[[list[BarMessage]], None] | None = None) -> None:
        self.bus = bus
        self.engine = engine
        self.config = config or IngestWorkerConfig()
        self.counters = IngestCounters()
        self.consumer_stats = ConsumerStats()
        self._on_stored = on_stored
        self._newest: dict[str, int] = {}
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> ConsumerStats:
        """Consume until ``stop`` is set; the run is logged in ``ingest_runs`` (kind ``stream``) with its counts."""
        cfg = self.config
        run_id = start_run(self.engine, "stream", f"{_SOURCE}/{cfg.group}/{cfg.consumer}")
        status, error = "ok", None
        try:
            return run_consumer(self.bus, ConsumerConfig("market_data", cfg.group, cfg.consumer, count=cfg.count,
                                                         block_ms=cfg.block_ms, reclaim_idle_ms=cfg.reclaim_idle_ms),
                                self.handle, stop, stats=self.consumer_stats, dead_letter=self.dead_letter)
        except BaseException as e:
            status, error = "failed", f"{type(e).__name__}: {e}"[:2000]
            raise
        finally:
            c = self.counters
            counts = {"rows_read": c.bars, "inserted": c.inserted, "duplicates": c.duplicates,
                      "quarantined": c.quarantined}
            try:
                finish_run(self.engine, run_id, status, counts, report=c.as_dict(), error=error)
            except Exception as e:  # the database may be what failed; the counters were logged anyway
                log.error("could not close ingest run %d: %s", run_id, e)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Quarantine a message the handler fails on every time (so it does not stall the topic)."""
        row = pd.DataFrame({"row_number": [None], "raw": [delivery.raw.decode("utf-8", "replace")],
                            "reason": [reason[:2000]]})
        with self.engine.begin() as conn:
            quarantine_rows(conn, _SOURCE, row)

    def handle(self, batch: list[Delivery]) -> None:
        """Validate and store one batch atomically (raises, storing nothing, if the database fails)."""
        bars: list[BarMessage] = []
        raws: dict[int, bytes] = {}
        bad: list[tuple[str, str]] = []
        for d in batch:
            m = d.message
            if isinstance(m, BarMessage) and m.timeframe not in _TIMEFRAMES:
                bad.append((d.raw.decode("utf-8", "replace"),
                            f"timeframe {m.timeframe!r} is not one of 1min, 5min, 15min, 30min, 1h, 1day"))
            elif isinstance(m, BarMessage):
                bars.append(m)
                raws[id(m)] = d.raw
            elif isinstance(m, MalformedFrame):
                bad.append((m.raw, f"{m.source}: {m.reason}"))
            elif m is None:
                bad.append((d.raw.decode("utf-8", "replace"), f"undecodable bus message: {d.error}"))
            else:
                bad.append((d.raw.decode("utf-8", "replace"), f"unexpected {type(m).__name__} on market_data"))
        received = len(bars)
        bars = self._drop_outside_session(bars, bad)
        frames = _frames(bars)
        checked = {(tf, src): validate_bars(f, tf) for (tf, src), f in frames.items()}
        inserted = dups = 0
        payloads = [raws[id(b)] for b in bars]
        rejects = [_bad_frame(bad)] + [_with_payloads(c.rejects, payloads) for c in checked.values()]
        all_rejects = pd.concat([r for r in rejects if not r.empty] or [rejects[0]], ignore_index=True)
        with self.engine.begin() as conn:
            for (tf, src), c in checked.items():
                n = insert_bars(conn, c.good, tf, src or "stream")
                inserted += n
                dups += c.duplicates + len(c.good) - n
            quarantine_rows(conn, _SOURCE, all_rejects)
        self._count(batch, received, bars, inserted, dups, all_rejects)
        if self._on_stored is not None and inserted:
            self._on_stored(bars)

    def _drop_outside_session(self, bars: list[BarMessage], bad: list[tuple[str, str]]) -> list[BarMessage]:
        minute = [b for b in bars if _TIMEFRAMES.get(b.timeframe, "1day") != "1day"]
        if not minute:
            return bars
        ns = np.fromiter((b.start_ns for b in minute), dtype=np.int64, count=len(minute))
        lo, hi = (pd.Timestamp(int(x), tz="UTC").tz_convert("America/New_York").date() for x in (ns.min(), ns.max()))
        inside = TradingCalendar(lo, hi).in_session(ns)
        if inside.all():
            return bars
        outside = {id(b) for b, ok in zip(minute, inside, strict=True) if not ok}
        if self.config.extended_hours == "skip":
            with self._lock:
                self.counters.outside_session += len(outside)
            return [b for b in bars if id(b) not in outside]
        return bars

    def _count(self, batch: list[Delivery], received: int, bars: list[BarMessage], inserted: int, dups: int,
               rejects: pd.DataFrame) -> None:
        late = 0
        for b in bars:
            newest = self._newest.get(b.ticker)
            if newest is not None and b.start_ns < newest:
                late += 1
            if newest is None or b.start_ns > newest:
                self._newest[b.ticker] = b.start_ns
        with self._lock:
            c = self.counters
            c.batches += 1
            c.messages += len(batch)
            c.bars += received
            c.inserted += inserted
            c.duplicates += dups
            c.quarantined += len(rejects)
            c.late += late
            for reason in rejects["reason"] if not rejects.empty else []:
                key = str(reason).split(":")[0][:60]
                c.by_reason[key] = c.by_reason.get(key, 0) + 1
        if late:
            log.info("%d late (out-of-order) bars in a batch of %d", late, len(bars))
        if not rejects.empty:
            log.warning("quarantined %d market_data messages: %s", len(rejects), rejects["reason"].iloc[0])


def _frames(bars: list[BarMessage]) -> dict[tuple[Timeframe, str], pd.DataFrame]:
    """Bars as normalised frames per (timeframe, source); ``raw_row`` is each bar's position in ``bars``."""
    groups: dict[tuple[Timeframe, str], list[tuple[int, BarMessage]]] = {}
    for k, b in enumerate(bars):
        groups.setdefault((_TIMEFRAMES[b.timeframe], b.source[:32]), []).append((k, b))
    out = {}
    for key, pairs in groups.items():
        items = [b for _, b in pairs]
        out[key] = pd.DataFrame({
            "ticker": [b.ticker for b in items],
            "window_start": pd.to_datetime(np.fromiter((b.start_ns for b in items), np.int64, len(items)), utc=True),
            "open": [b.open for b in items], "high": [b.high for b in items],
            "low": [b.low for b in items], "close": [b.close for b in items],
            "volume": [b.volume for b in items], "price_only": False,
            "raw_row": np.fromiter((k for k, _ in pairs), np.int64, len(pairs)),
        })
    return out


def _with_payloads(rejects: pd.DataFrame, payloads: list[bytes]) -> pd.DataFrame:
    """Replace each rejected row's raw text by the exact bus frame it came from (found by ``raw_row``)."""
    if rejects.empty:
        return rejects
    raw = [payloads[int(k)].decode("utf-8", "replace") for k in rejects["row_number"]]
    return rejects.assign(raw=raw, row_number=None)


def _bad_frame(bad: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"row_number": [None] * len(bad), "raw": [r for r, _ in bad],
                         "reason": [why for _, why in bad]})
