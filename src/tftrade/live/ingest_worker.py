"""The ingest worker: ``market_data`` → validation → store, one transaction per batch.

Each batch read from the bus is split into bars and everything else. Bars are read into
columns once (:class:`BarColumns`) and checked with NumPy by
:func:`~tftrade.data.validation.check_bar_columns` — the checks of a file import's
:func:`~tftrade.data.validation.validate_bars`, which runs instead (for its reasons) when a row
fails one — then stored with :func:`~tftrade.store.bars.insert_bar_rows` (PostgreSQL: a binary
``COPY``), which skips a (ticker, timeframe, minute) already stored — so a redelivered,
replayed, backfilled or duplicated bar is never doubled. Rows the
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
from datetime import date
from operator import attrgetter
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.types import TIMEFRAMES, Timeframe
from tftrade.data.validation import (
    CONFLICT_KIND,
    CONFLICT_REASON,
    check_bar_columns,
    session_calendar,
    validate_bars,
)
from tftrade.store.bar_copy import BarRows
from tftrade.store.bars import bar_rows, insert_bar_rows
from tftrade.store.runs import finish_run, quarantine_rows, start_run
from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.consumer import ConsumerStats, WorkerSettings, run_consumer
from tftrade.stream.messages import BarMessage, MalformedFrame

log = logging.getLogger(__name__)
_MESSAGE = attrgetter("message")
_TIMEFRAME = attrgetter("timeframe")
_SOURCE = "bus:market_data"
_TIMEFRAMES: dict[str, Timeframe] = {
    **{tf: tf for tf in TIMEFRAMES}, "1m": "1min", "minute": "1min", "5m": "5min", "15m": "15min", "30m": "30min",
    "60min": "1h", "hour": "1h", "1d": "1day", "day": "1day"}


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
class IngestWorkerConfig(WorkerSettings):
    """Consumer group and batch settings of the ingest worker.

    ``count`` bounds a batch: a read returns at once with what is waiting (up to ``count``), so a
    batch is small while the worker keeps up (latency) and grows to ``count`` under a backlog
    (one transaction, one ``COPY`` per 5,000 bars: throughput). ``block_ms`` only applies when
    nothing is waiting.
    """

    group: str = "ingest"
    consumer: str = "ingest-1"
    count: int = 5000
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
            return run_consumer(self.bus, cfg.on("market_data"), self.handle, stop, stats=self.consumer_stats,
                                dead_letter=self.dead_letter)
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
        bars, carriers, bad = _split(batch)
        received = len(bars)
        cols = BarColumns.of(bars)
        keep = self._session_mask(cols)
        if not keep.all():
            bars = [b for b, ok in zip(bars, keep.tolist(), strict=True) if ok]
            carriers = [d for d, ok in zip(carriers, keep.tolist(), strict=True) if ok]
            cols = cols.take(keep)
        checked = {key: cols.check(key[0], idx) for key, idx in cols.groups().items()}
        inserted = dups = 0
        rejects = [_bad_frame(bad)] + [_with_payloads(c.rejects, carriers) for c in checked.values()]
        all_rejects = pd.concat([r for r in rejects if not r.empty] or [rejects[0]], ignore_index=True)
        with self.engine.begin() as conn:
            for (tf, src), c in checked.items():
                n = insert_bar_rows(conn, c.good, tf, src or "stream")
                inserted += n
                dups += c.duplicates + len(c.good) - n
            quarantine_rows(conn, _SOURCE, all_rejects)
        self._count(batch, received, cols, inserted, dups, all_rejects)
        if self._on_stored is not None and inserted:
            self._on_stored(bars)

    def _session_mask(self, cols: BarColumns) -> npt.NDArray[np.bool_]:
        """False for minute bars outside the XNYS session when those are skipped (and counted)."""
        keep = np.ones(len(cols), dtype=bool)
        minute = cols.is_minute()
        if self.config.extended_hours != "skip" or not minute.any():
            return keep  # with "quarantine" the validation rejects them
        ns = cols.start_ns[minute]
        inside = session_calendar(*_ny_dates(ns)).in_session(ns)
        if inside.all():
            return keep
        keep[np.flatnonzero(minute)[~inside]] = False
        with self._lock:
            self.counters.outside_session += int((~inside).sum())
        return keep

    def _count(self, batch: list[Delivery], received: int, cols: BarColumns, inserted: int, dups: int,
               rejects: pd.DataFrame) -> None:
        late = _late_bars(cols.ticker, cols.start_ns, self._newest)
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
            log.info("%d late (out-of-order) bars in a batch of %d", late, len(cols))
        if not rejects.empty:
            log.warning("quarantined %d market_data messages: %s", len(rejects), rejects["reason"].iloc[0])


@dataclass(frozen=True)
class BarColumns:
    """Bar messages as columns, read in one pass per field; row ``k`` is message ``k``.

    Examples
    --------
    >>> cols = BarColumns.of([BarMessage("X", 0, 1.0, 2.0, 0.5, 1.5, 10.0),
    ...                       BarMessage("Y", 60, 2.0, 2.0, 2.0, 2.0, 0.0)])
    >>> len(cols), cols.ticker.tolist(), cols.values["close"].tolist()
    (2, ['X', 'Y'], [1.5, 2.0])
    """

    ticker: npt.NDArray[np.object_]
    start_ns: npt.NDArray[np.int64]
    values: dict[str, npt.NDArray[np.float64]]
    """open, high, low, close, volume as the vendor sent them (floats)."""
    timeframe: npt.NDArray[np.object_]
    source: npt.NDArray[np.object_]

    @classmethod
    def of(cls, bars: list[BarMessage]) -> BarColumns:
        """The columns of ``bars``."""
        n = len(bars)

        def column(name: str) -> list[object]:
            return list(map(attrgetter(name), bars))
        return cls(
            ticker=np.array(column("ticker"), dtype=object),
            start_ns=np.fromiter(column("start_ns"), np.int64, n),
            values={k: np.fromiter(column(k), np.float64, n) for k in ("open", "high", "low", "close", "volume")},
            timeframe=np.array(column("timeframe"), dtype=object),
            source=np.array(column("source"), dtype=object),
        )

    def __len__(self) -> int:
        return len(self.ticker)

    def take(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> BarColumns:
        """The rows selected by a mask or positions."""
        return BarColumns(self.ticker[rows], self.start_ns[rows], {k: v[rows] for k, v in self.values.items()},
                          self.timeframe[rows], self.source[rows])

    def is_minute(self) -> npt.NDArray[np.bool_]:
        """True for intraday bars (every timeframe but ``1day``): the ones that must lie inside a session."""
        if len(self) and _all_equal(self.timeframe):
            return np.full(len(self), _TIMEFRAMES.get(self.timeframe[0]) not in (None, "1day"))
        return np.array([_TIMEFRAMES.get(t) not in (None, "1day") for t in self.timeframe], dtype=bool)

    def groups(self) -> dict[tuple[Timeframe, str], npt.NDArray[np.intp]]:
        """The rows of each (timeframe, source), sources cut to the store's 32 characters."""
        n = len(self)
        if n and _all_equal(self.timeframe) and _all_equal(self.source):
            return {(_TIMEFRAMES[self.timeframe[0]], str(self.source[0])[:32]): np.arange(n)}
        rows: dict[tuple[Timeframe, str], list[int]] = {}
        for k, (tf, src) in enumerate(zip(self.timeframe.tolist(), self.source.tolist(), strict=True)):
            rows.setdefault((_TIMEFRAMES[tf], src[:32]), []).append(k)
        return {key: np.asarray(ks, dtype=np.intp) for key, ks in rows.items()}

    def frame(self, idx: npt.NDArray[np.intp]) -> pd.DataFrame:
        """The normalised frame of rows ``idx`` (what :func:`validate_bars` takes); ``raw_row`` is each bar's row."""
        part = self if len(idx) == len(self) else self.take(idx)
        return pd.DataFrame({
            "ticker": part.ticker,
            "window_start": pd.to_datetime(part.start_ns, utc=True),
            **part.values,
            "price_only": False,
            "raw_row": idx.astype(np.int64),
        })

    def frames(self) -> dict[tuple[Timeframe, str], pd.DataFrame]:
        """Normalised frames per (timeframe, source); ``raw_row`` is each bar's row here."""
        return {key: self.frame(idx) for key, idx in self.groups().items()}

    def check(self, timeframe: Timeframe, idx: npt.NDArray[np.intp]) -> CheckedBars:
        """Validate rows ``idx``: columnar (:func:`check_bar_columns`) when every row passes the field checks,
        else by :func:`validate_bars` on their frame — the same bars kept, duplicates and rejects either way."""
        part = self if len(idx) == len(self) else self.take(idx)
        fast = check_bar_columns(part.ticker, part.start_ns, part.values, timeframe)
        if fast is None:
            slow = validate_bars(self.frame(idx), timeframe)
            return CheckedBars(bar_rows(slow.good), slow.rejects, slow.duplicates)
        k = fast.keep
        good = BarRows(part.ticker[k], part.start_ns[k] // 1000, fast.ticks, fast.volume, np.zeros(len(k), dtype=bool))
        if not len(fast.conflicts):
            return CheckedBars(good, _NO_REJECTS, fast.duplicates)
        rejects = pd.DataFrame({"row_number": idx[fast.conflicts].astype(np.int64), "raw": "",
                                "reason": CONFLICT_REASON, "kind": CONFLICT_KIND})
        return CheckedBars(good, rejects, fast.duplicates)


@dataclass(frozen=True)
class CheckedBars:
    """One (timeframe, source) group of a batch after validation: bars to store, rejects, exact repeats."""

    good: BarRows
    rejects: pd.DataFrame
    """row_number (the bar's row in the batch), raw, reason, kind."""
    duplicates: int


_NO_REJECTS = pd.DataFrame({"row_number": np.empty(0, np.int64), "raw": np.empty(0, object),
                            "reason": np.empty(0, object), "kind": np.empty(0, object)})


def _all_equal(values: npt.NDArray[np.object_]) -> bool:
    items = values.tolist()
    return bool(items.count(items[0]) == len(items))  # list.count: C loop, identity first (one interned text)


def _ny_dates(ns: npt.NDArray[np.int64]) -> tuple[date, date]:
    """The New York dates of the earliest and the latest of ``ns`` (UTC nanoseconds)."""
    lo, hi = (pd.Timestamp(int(x), tz="UTC").tz_convert("America/New_York").date() for x in (ns.min(), ns.max()))
    return lo, hi


def _late_bars(tickers: npt.NDArray[np.object_], start_ns: npt.NDArray[np.int64], newest: dict[str, int]) -> int:
    """Count the bars older than the newest bar of their ticker seen before them; update ``newest``.

    Vectorised when each ticker's bars in the batch are in time order (the usual case), else bar by bar.
    """
    if len(tickers) == 0:
        return 0
    codes, names = pd.factorize(tickers, sort=False)
    order = np.argsort(codes, kind="stable")
    by_code, times = codes[order], start_ns[order]
    same = by_code[1:] == by_code[:-1]
    late = 0
    if (same & (times[1:] < times[:-1])).any():
        for t, ns in zip(tickers.tolist(), start_ns.tolist(), strict=True):
            seen = newest.get(t)
            if seen is not None and ns < seen:
                late += 1
            if seen is None or ns > seen:
                newest[t] = ns
        return late
    floor = np.iinfo(np.int64).min
    before = np.array([newest.get(t, floor) for t in names.tolist()], dtype=np.int64)
    late = int((times < before[by_code]).sum())
    latest = np.maximum(before, np.maximum.reduceat(times, np.flatnonzero(np.r_[True, ~same])))
    newest.update(zip(names.tolist(), latest.tolist(), strict=True))
    return late


def _split(batch: list[Delivery]) -> tuple[list[BarMessage], list[Delivery], list[tuple[str, str]]]:
    """The batch's bars (of a known timeframe), the deliveries carrying them, and (raw, reason) of the rest."""
    msgs = list(map(_MESSAGE, batch))
    if set(map(type, msgs)) == {BarMessage} and set(map(_TIMEFRAME, msgs)) <= _TIMEFRAMES.keys():
        return msgs, batch, []  # the usual batch: bars only
    bars: list[BarMessage] = []
    carriers: list[Delivery] = []
    bad: list[tuple[str, str]] = []
    for d in batch:
        m = d.message
        if isinstance(m, BarMessage) and m.timeframe in _TIMEFRAMES:
            bars.append(m)
            carriers.append(d)
        elif isinstance(m, BarMessage):
            bad.append((d.raw.decode("utf-8", "replace"),
                        f"timeframe {m.timeframe!r} is not one of {', '.join(TIMEFRAMES)}"))
        elif isinstance(m, MalformedFrame):
            bad.append((m.raw, f"{m.source}: {m.reason}"))
        elif m is None:
            bad.append((d.raw.decode("utf-8", "replace"), f"undecodable bus message: {d.error}"))
        else:
            bad.append((d.raw.decode("utf-8", "replace"), f"unexpected {type(m).__name__} on market_data"))
    return bars, carriers, bad


def _with_payloads(rejects: pd.DataFrame, carriers: list[Delivery]) -> pd.DataFrame:
    """Replace each rejected row's raw text by the exact bus frame it came from (found by ``raw_row``)."""
    if rejects.empty:
        return rejects
    raw = [carriers[int(k)].raw.decode("utf-8", "replace") for k in rejects["row_number"]]
    return rejects.assign(raw=raw, row_number=None)


def _bad_frame(bad: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"row_number": [None] * len(bad), "raw": [r for r, _ in bad],
                         "reason": [why for _, why in bad]})
