"""Ingest bars: validate, store good rows, quarantine bad ones, log the run — one transaction per batch.

A batch (one file, or one synthetic market) is atomic: if anything fails, no bar,
quarantine row or count of it is kept, and the run is logged as ``failed`` with the
reason — a file that cannot be read at all included. A run whose process dies is
marked ``aborted`` by the next ingest to start (:func:`~tftrade.store.runs.start_run`).

Each row ends up *inserted*, a *duplicate* (the same bar is stored, or repeated in
the file), *quarantined* (with a reason), *updated* (``update=True``: it corrected a
stored bar, recorded in ``bar_corrections``) or *held back* (the run looked shifted
in time and ``force`` was not given). A bar that disagrees with the stored one is a
*conflict*: quarantined and counted, or applied with ``update``. Rows of one batch for
the same bar that disagree are all quarantined, each reason naming the others.

The run's status is ``ok`` or ``suspect`` (see :mod:`tftrade.data.diagnosis`). When
the times look shifted (most bars outside the session, and another zone or offset
would fix it), nothing is stored unless ``force``: storing bars at wrong times is
the one mistake nobody notices.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from tftrade.core.errors import DataError, StoreError
from tftrade.data.diagnosis import Verdict, judge
from tftrade.data.quality import QualityReport, quality_report
from tftrade.data.synthetic import SyntheticMarket
from tftrade.data.tabular import BarFile, ReadOptions, read_bar_file
from tftrade.data.timeframes import BarTimeframe
from tftrade.data.validation import PRICE_FIELDS, Session, validate_bars
from tftrade.store.bars import insert_bars, stored_bars, update_bars
from tftrade.store.runs import finish_run, quarantine_rows, start_run
from tftrade.store.securities import upsert_securities

_COUNTS = ("rows_read", "inserted", "duplicates", "quarantined", "conflicts", "updated")


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest did.

    ``rows_read == inserted + duplicates + quarantined + updated + held_back`` always holds;
    ``conflicts`` (bars disagreeing with stored ones) are among ``quarantined``, or are
    ``updated`` when applied.
    """

    source: str
    timeframe: str
    rows_read: int
    inserted: int
    duplicates: int
    quarantined: int
    conflicts: int = 0
    updated: int = 0
    held_back: int = 0
    status: str = "ok"
    cause: str | None = None
    top_reason: dict[str, object] | None = None
    price_only: bool = False
    run_id: int | None = None
    quality: QualityReport = field(default_factory=QualityReport)
    ticker_ignored: str | None = None
    """``--ticker`` was given but the file's ticker column (which is used) names other tickers."""

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["quality"] = {"missing_bars": self.quality.total_missing, "spikes": self.quality.total_spikes,
                          "missing_by_ticker": self.quality.missing_bars, "spike_examples": self.quality.spike_examples}
        return out


@dataclass(frozen=True)
class IngestOptions:
    """How to judge and store a batch: the session, corrections, and storing a suspect run anyway."""

    session: Session = "regular"
    update: bool = False
    force: bool = False
    spike_z: float = 12.0
    batch_rows: int = 200_000


def ingest_frame(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    timeframe: BarTimeframe | str,
    source: str,
    kind: str,
    spike_z: float = 12.0,
    batch_rows: int = 200_000,
    on_rows: Callable[[int], None] | None = None,
    price_only: bool = False,
    options: IngestOptions | None = None,
    run_id: int | None = None,
    extra_rejects: pd.DataFrame | None = None,
    naive_tz: str | None = None,
    epoch_times: bool = False,
) -> IngestSummary:
    """Validate and store a normalised bar frame as one atomic batch.

    Parameters
    ----------
    extra_rejects
        Rows already rejected while reading (ragged lines), quarantined with the rest.
    naive_tz
        The zone naive times were read in (for the time-shift diagnosis); ``None`` if aware.

    Raises
    ------
    StoreError
        If the database rejects the batch; nothing of it is kept.
    """
    opts = options or IngestOptions(spike_z=spike_z, batch_rows=batch_rows)
    run_id = run_id if run_id is not None else start_run(engine, kind, source)
    try:
        checked = validate_bars(frame, timeframe, opts.session, contradictions="reject_all")
        ragged = _with_kind(extra_rejects)
        rejects = checked.rejects if ragged is None else pd.concat([checked.rejects, ragged], ignore_index=True)
        rows_read = checked.rows_read + (0 if extra_rejects is None else len(extra_rejects))

        def verdict_on(final_rejects: pd.DataFrame) -> Verdict:
            return judge(rows_read, final_rejects, frame["window_start"], timeframe, opts.session, naive_tz,
                         epoch_times)

        with engine.begin() as conn:
            summary = _store(conn, checked.good, rejects, checked.duplicates, rows_read, timeframe, source, kind,
                             opts, run_id, verdict_on, on_rows)
            report = QualityReport() if summary.held_back else quality_report(
                checked.good.assign(close=checked.good["close"] / 1e4), timeframe, opts.spike_z, opts.session)
            summary = IngestSummary(**{**asdict(summary), "quality": report, "price_only": price_only})
            finish_run(conn, run_id, summary.status, {k: getattr(summary, k) for k in _COUNTS},
                       report=_run_report(summary), error=summary.cause)
    except DataError as e:
        finish_run(engine, run_id, "failed", {}, error=str(e)[:2000])
        raise
    except Exception as e:
        finish_run(engine, run_id, "failed", {}, error=f"{type(e).__name__}: {e}"[:2000])
        raise StoreError(f"ingest of {source} failed and was rolled back: {type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}") from e
    return summary


def _store(conn: Connection, good: pd.DataFrame, rejects: pd.DataFrame, file_duplicates: int, rows_read: int,
           timeframe: str, source: str, kind: str, opts: IngestOptions, run_id: int,
           verdict_on: Callable[[pd.DataFrame], Verdict], on_rows: Callable[[int], None] | None) -> IngestSummary:
    """Write one validated batch inside ``conn``'s transaction and say what happened to each row."""
    verdict = verdict_on(rejects)
    base = {"source": source, "timeframe": timeframe, "rows_read": rows_read, "run_id": run_id,
            "status": verdict.status, "cause": verdict.cause, "top_reason": verdict.top_reason}
    if verdict.time_shift_suspected and not opts.force:
        cause = f"{verdict.cause}; nothing stored (pass --force to store anyway)"
        return IngestSummary(**base | {"cause": cause}, inserted=0, duplicates=file_duplicates,  # type: ignore[arg-type]
                             quarantined=0, held_back=len(good) + len(rejects))
    fresh, same, conflicts = _against_stored(conn, good, timeframe)
    inserted = insert_bars(conn, fresh, timeframe, kind, batch_rows=opts.batch_rows, on_batch=on_rows)
    updated = 0
    if opts.update:
        updated = update_bars(conn, conflicts, timeframe, kind, run_id)
    else:
        rejects = pd.concat([rejects, _conflict_rejects(conflicts)], ignore_index=True) if len(conflicts) else rejects
        verdict = verdict_on(rejects)
        base |= {"status": verdict.status, "cause": verdict.cause, "top_reason": verdict.top_reason}
    quarantine_rows(conn, source, rejects)
    return IngestSummary(**base, inserted=inserted,  # type: ignore[arg-type]
                         duplicates=file_duplicates + same + len(fresh) - inserted,
                         quarantined=len(rejects), conflicts=len(conflicts), updated=updated)


def _against_stored(conn: Connection, good: pd.DataFrame, timeframe: str) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """Split validated rows into new ones, exact copies of stored bars, and conflicts (with ``old_*``)."""
    stored = stored_bars(conn, good, timeframe)
    if stored.empty or good.empty:
        return good, 0, good.iloc[0:0]
    keyed = good.assign(ts_us=good["window_start"].dt.as_unit("us").astype("int64"))
    old = stored.rename(columns={c: f"old_{c}" for c in (*PRICE_FIELDS, "volume", "price_only")})
    merged = keyed.merge(old, on=["ticker", "ts_us"], how="left", indicator=True)
    known = (merged["_merge"] == "both").to_numpy()
    differs = np.zeros(len(merged), dtype=bool)
    for c in (*PRICE_FIELDS, "volume"):
        differs |= known & (merged[c].to_numpy() != merged[f"old_{c}"].fillna(0).to_numpy(dtype=np.int64))
    differs |= known & (merged["price_only"].to_numpy(dtype=bool) != merged["old_price_only"].fillna(False)
                        .to_numpy(dtype=bool))
    fresh = good.loc[~known]
    conflicts = merged.loc[differs].drop(columns=["_merge"])
    return fresh, int((known & ~differs).sum()), conflicts


def _conflict_rejects(conflicts: pd.DataFrame) -> pd.DataFrame:
    def fmt(ticks: object) -> str:
        return f"{int(ticks) / 1e4:.4f}"  # type: ignore[call-overload]

    reasons, raws = [], []
    for r in conflicts.to_dict("records"):
        diffs = [f"{c} stored {fmt(r[f'old_{c}'])}, file {fmt(r[c])}" for c in PRICE_FIELDS if r[c] != r[f"old_{c}"]]
        if r["volume"] != r["old_volume"]:
            diffs.append(f"volume stored {int(r['old_volume'])}, file {int(r['volume'])}")
        if bool(r["price_only"]) != bool(r["old_price_only"]):
            diffs.append("price-only flag differs")
        reasons.append("conflicts with the stored bar: " + "; ".join(diffs) + " (use --update to apply it)")
        raws.append(json.dumps({"ticker": str(r["ticker"]), "window_start": pd.Timestamp(r["window_start"]).isoformat()}
                               | {c: fmt(r[c]) for c in PRICE_FIELDS} | {"volume": int(r["volume"])}))
    rows = conflicts["raw_row"].to_numpy() if "raw_row" in conflicts else [None] * len(conflicts)
    return pd.DataFrame({"row_number": rows, "raw": raws, "reason": reasons,
                         "kind": "conflicts with a stored bar"})


def _with_kind(rejects: pd.DataFrame | None) -> pd.DataFrame | None:
    if rejects is None or rejects.empty:
        return None
    return rejects.assign(kind="ragged row") if "kind" not in rejects else rejects


def _run_report(summary: IngestSummary) -> dict[str, object]:
    d = summary.as_dict()
    return {"quality": d["quality"], "held_back": summary.held_back, "top_reason": summary.top_reason,
            "cause": summary.cause}


def ingest_file(
    engine: Engine,
    path: str | Path,
    *,
    ticker: str | None = None,
    timeframe: BarTimeframe | None = None,
    column_map: dict[str, str] | None = None,
    spike_z: float = 12.0,
    batch_rows: int = 200_000,
    on_rows: Callable[[int], None] | None = None,
    read: ReadOptions | None = None,
    options: IngestOptions | None = None,
) -> IngestSummary:
    """Read, validate and store one bar file (see :func:`~tftrade.data.tabular.read_bar_file`).

    A file that cannot be read is logged as a ``failed`` run before the error is raised.

    Raises
    ------
    DataError
        If the file cannot be read or understood (one line naming the file and the problem).
    StoreError
        If the database rejects the batch; nothing of it is kept.
    """
    # the path as the run log and quarantine can store it: bytes of a non-UTF-8 file name escaped (\xe9)
    source = str(Path(path).resolve()).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    opts = options or IngestOptions(spike_z=spike_z, batch_rows=batch_rows)
    run_id = start_run(engine, "csv", source)
    try:
        bar_file: BarFile = read_bar_file(path, ticker=ticker, timeframe=timeframe, column_map=column_map,
                                          options=read)
    except Exception as e:
        message = str(e) if isinstance(e, DataError) else f"{source}: cannot read: {type(e).__name__}: {e}"
        finish_run(engine, run_id, "failed", {}, error=message[:2000])
        if isinstance(e, DataError | ValueError):
            raise
        raise DataError(message.splitlines()[0]) from e
    summary = ingest_frame(
        engine, bar_file.frame, timeframe=bar_file.timeframe, source=source, kind="csv", on_rows=on_rows,
        price_only=bar_file.price_only, options=opts, run_id=run_id, extra_rejects=bar_file.ragged,
        naive_tz=bar_file.tz if bar_file.naive_times else None, epoch_times=bar_file.epoch_times,
    )
    return replace(summary, ticker_ignored=bar_file.ticker_ignored) if bar_file.ticker_ignored else summary


def ingest_synthetic(
    engine: Engine,
    market: SyntheticMarket,
    *,
    batch_rows: int = 200_000,
    on_rows: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Store a synthetic market: securities, bars, and its VIX-like and market-index series.

    The VIX-like series is stored as price-only bars of ticker ``^VIX`` and the market
    factor as an index ``^MKT`` (level 1000 · exp(cumulative market return)).
    """
    cfg = market.config
    frame = market.bars_frame()
    times = pd.to_datetime(market.timestamps, utc=True)
    level = (1000.0 * np.exp(np.cumsum(market.market_returns))).round(4)
    extra = pd.concat([_price_only("^VIX", times, market.vix), _price_only("^MKT", times, level)])
    frame = pd.concat([frame.assign(price_only=False), extra], ignore_index=True)
    source = f"synthetic:seed={cfg.seed},tickers={cfg.n_tickers},days={cfg.days},timeframe={cfg.timeframe}"
    with engine.begin() as conn:
        upsert_securities(conn, market.securities)
    return ingest_frame(engine, frame, timeframe=cfg.timeframe, source=source, kind="synthetic",
                        batch_rows=batch_rows, on_rows=on_rows)


def _price_only(ticker: str, times: pd.DatetimeIndex, values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"ticker": ticker, "window_start": times, "open": values, "high": values, "low": values,
                         "close": values, "volume": 0, "price_only": True})
