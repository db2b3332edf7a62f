"""Ingest bars: validate, store good rows, quarantine bad ones, log the run — one transaction per batch.

A batch (one file, or one synthetic market) is atomic: if anything fails, no bar,
quarantine row or count of it is kept, and the run is logged as failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.errors import StoreError
from tftrade.core.types import Timeframe
from tftrade.data.quality import QualityReport, quality_report
from tftrade.data.synthetic import SyntheticMarket
from tftrade.data.tabular import read_bar_file
from tftrade.data.validation import validate_bars
from tftrade.store.bars import insert_bars
from tftrade.store.runs import finish_run, quarantine_rows, start_run
from tftrade.store.securities import upsert_securities


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest did. ``rows_read == inserted + duplicates + quarantined`` always holds."""

    source: str
    timeframe: Timeframe
    rows_read: int
    inserted: int
    duplicates: int
    quarantined: int
    price_only: bool = False
    run_id: int | None = None
    quality: QualityReport = field(default_factory=QualityReport)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["quality"] = {"missing_bars": self.quality.total_missing, "spikes": self.quality.total_spikes,
                          "missing_by_ticker": self.quality.missing_bars, "spike_examples": self.quality.spike_examples}
        return out


def ingest_frame(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    timeframe: Timeframe,
    source: str,
    kind: str,
    spike_z: float = 12.0,
    batch_rows: int = 200_000,
    on_rows: Callable[[int], None] | None = None,
    price_only: bool = False,
) -> IngestSummary:
    """Validate and store a normalised bar frame as one atomic batch.

    Raises
    ------
    StoreError
        If the database rejects the batch; nothing of it is kept.
    """
    checked = validate_bars(frame, timeframe)
    report = quality_report(checked.good.assign(close=checked.good["close"] / 1e4), timeframe, spike_z)
    run_id = start_run(engine, kind, source)
    try:
        with engine.begin() as conn:
            inserted = insert_bars(conn, checked.good, timeframe, kind, batch_rows=batch_rows, on_batch=on_rows)
            quarantine_rows(conn, source, checked.rejects)
            summary = IngestSummary(
                source=source, timeframe=timeframe, rows_read=checked.rows_read, inserted=inserted,
                duplicates=checked.duplicates + len(checked.good) - inserted,
                quarantined=len(checked.rejects), price_only=price_only, run_id=run_id, quality=report,
            )
            counts = {k: getattr(summary, k) for k in ("rows_read", "inserted", "duplicates", "quarantined")}
            finish_run(conn, run_id, "ok", counts, report=summary.as_dict()["quality"])  # type: ignore[arg-type]
    except Exception as e:
        finish_run(engine, run_id, "failed", {}, error=f"{type(e).__name__}: {e}"[:2000])
        raise StoreError(f"ingest of {source} failed and was rolled back: {type(e).__name__}: {e}") from e
    return summary


def ingest_file(
    engine: Engine,
    path: str | Path,
    *,
    ticker: str | None = None,
    timeframe: Timeframe | None = None,
    column_map: dict[str, str] | None = None,
    spike_z: float = 12.0,
    batch_rows: int = 200_000,
    on_rows: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Read, validate and store one CSV/Parquet file of bars (see :func:`read_bar_file`)."""
    bar_file = read_bar_file(path, ticker=ticker, timeframe=timeframe, column_map=column_map)
    return ingest_frame(
        engine, bar_file.frame, timeframe=bar_file.timeframe, source=str(Path(path).resolve()), kind="csv",
        spike_z=spike_z, batch_rows=batch_rows, on_rows=on_rows, price_only=bar_file.price_only,
    )


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
