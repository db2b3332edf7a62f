"""Reading bar files (CSV, gzipped CSV, Parquet) into one normalised frame.

Headers are recognised case-insensitively (``timestamp/datetime/date/window_start``,
``open/high/low/close/volume`` or ``o/h/l/c/v``, ``ticker/symbol/name``), or given
by an explicit column map. A ``price`` column without OHLC makes price-only bars
(open = high = low = close, volume 0, flagged). A ``minute_idx`` column next to a
date counts minutes from the 09:30 open. Naive times are read as New York time;
every time is converted to UTC.

The normalised frame has the columns of :data:`NORMALISED_COLUMNS` plus
``raw_row`` (the 1-based line in the file) and the untouched text of each field
in ``raw_*`` columns, so rejected rows can be quarantined exactly as they came.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tftrade.core.errors import DataError
from tftrade.core.types import Timeframe

NY = "America/New_York"
FIELDS = ("ticker", "window_start", "open", "high", "low", "close", "volume")
NORMALISED_COLUMNS = (*FIELDS, "price_only")

_ALIASES: dict[str, tuple[str, ...]] = {
    "window_start": ("window_start", "timestamp", "datetime", "date", "time", "t"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "vol"),
    "ticker": ("ticker", "symbol", "name", "sym"),
    "price": ("price", "last", "px"),
    "minute_idx": ("minute_idx", "minute_index", "minute"),
}


@dataclass(frozen=True)
class BarFile:
    """A bar file read and normalised, before validation."""

    path: str
    frame: pd.DataFrame
    timeframe: Timeframe
    price_only: bool


def read_bar_file(
    path: str | Path,
    *,
    ticker: str | None = None,
    timeframe: Timeframe | None = None,
    column_map: Mapping[str, str] | None = None,
) -> BarFile:
    """Read ``path`` and return its rows normalised (see the module docstring).

    Raises
    ------
    DataError
        If the file cannot be read, or no column gives the time, the ticker or a price.
    """
    p = Path(path)
    raw = _read_raw(p)
    cols = resolve_columns(list(raw.columns), column_map, p)
    if "ticker" not in cols and ticker is None:
        raise DataError(f"{p}: no ticker column (ticker/symbol/Name) and no --ticker given")
    frame = pd.DataFrame({"raw_row": np.arange(2, len(raw) + 2)})
    for field, col in cols.items():
        frame[f"raw_{field}"] = raw[col].to_numpy()
    frame["ticker"] = (
        raw[cols["ticker"]].astype("string").str.strip().str.upper().to_numpy()
        if "ticker" in cols else ticker.upper()  # type: ignore[union-attr]
    )
    times = _parse_times(raw, cols)
    tf = timeframe or _infer_timeframe(times)
    frame["window_start"] = _ny_midnight(times) if tf == "1day" else times
    price_only = "price" in cols and not {"open", "high", "low", "close"} <= cols.keys()
    if price_only:
        price = pd.to_numeric(raw[cols["price"]], errors="coerce")
        for field in ("open", "high", "low", "close"):
            frame[field] = price.to_numpy()
            frame[f"raw_{field}"] = raw[cols["price"]].to_numpy()
        frame["volume"] = 0.0
        frame["raw_volume"] = 0
    else:
        for field in ("open", "high", "low", "close", "volume"):
            if field not in cols:
                raise DataError(f"{p}: no {field!r} column; found {list(raw.columns)}")
            frame[field] = pd.to_numeric(raw[cols[field]], errors="coerce").to_numpy(dtype=float)
    frame["price_only"] = price_only
    return BarFile(str(p), frame, tf, price_only)


def resolve_columns(
    columns: list[str], column_map: Mapping[str, str] | None, path: Path | str = "<input>"
) -> dict[str, str]:
    """Map our field names to the file's column names.

    Examples
    --------
    >>> resolve_columns(["Date", "Open", "High", "Low", "Close", "Volume", "Name"], None)["ticker"]
    'Name'
    """
    lower = {c.strip().lower(): c for c in columns}
    out: dict[str, str] = {}
    for field, names in _ALIASES.items():
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is not None:
            out[field] = hit
    for field, col in (column_map or {}).items():
        if field not in _ALIASES:
            raise DataError(f"column map names unknown field {field!r}; expected one of {sorted(_ALIASES)}")
        if col not in columns:
            raise DataError(f"{path}: column map points {field!r} at {col!r}, which is not in {columns}")
        out[field] = col
    if "window_start" not in out:
        raise DataError(f"{path}: no time column (timestamp/datetime/date/window_start); found {columns}")
    if not ({"open", "high", "low", "close"} & out.keys()) and "price" not in out:
        raise DataError(f"{path}: no price columns (open/high/low/close or price); found {columns}")
    return out


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{path}: cannot read as CSV/Parquet: {str(e).splitlines()[0]}") from None


def _parse_times(raw: pd.DataFrame, cols: dict[str, str]) -> pd.Series:
    """Parse the time column to UTC; unparseable or non-existent local times become NaT."""
    col = raw[cols["window_start"]]
    if pd.api.types.is_numeric_dtype(col) or _all_digits(col):
        return _epoch_to_utc(pd.to_numeric(col, errors="coerce"))
    text = col.astype("string").str.strip()
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=False)
    if parsed.isna().any() and not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=False)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        utc = parsed.dt.tz_convert("UTC")
    elif parsed.dtype == object:  # a mix of offsets and naive times
        utc = pd.Series([_one_to_utc(v) for v in text], index=col.index, dtype="datetime64[ns, UTC]")
    else:
        utc = parsed.dt.tz_localize(NY, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    if "minute_idx" in cols:
        minutes = pd.to_numeric(raw[cols["minute_idx"]], errors="coerce")
        local_open = utc.dt.tz_convert(NY).dt.normalize() + pd.Timedelta(hours=9, minutes=30)
        utc = (local_open + pd.to_timedelta(minutes, unit="min")).dt.tz_convert("UTC")
    return utc.dt.as_unit("ns")


def _one_to_utc(value: object) -> pd.Timestamp:
    ts = pd.to_datetime(value, errors="coerce")
    if ts is pd.NaT or ts is None:
        return pd.NaT
    if ts.tzinfo is None:
        try:
            ts = ts.tz_localize(NY, ambiguous="NaT", nonexistent="NaT")
        except (ValueError, TypeError):
            return pd.NaT
    return ts.tz_convert("UTC")


def _all_digits(col: pd.Series) -> bool:
    sample = col.dropna().astype(str).head(100)
    return len(sample) > 0 and bool(sample.str.fullmatch(r"\d{9,19}").all())


def _epoch_to_utc(values: pd.Series) -> pd.Series:
    """Epoch numbers in s, ms, µs or ns (told apart by magnitude) to UTC times."""
    mag = values.abs().median() if values.notna().any() else 0
    unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
    return pd.to_datetime(values, unit=unit, utc=True, errors="coerce")


def _ny_midnight(times: pd.Series) -> pd.Series:
    """Daily bars are stamped at New York midnight of their session, in UTC."""
    local = times.dt.tz_convert(NY).dt.tz_localize(None).dt.normalize()
    return local.dt.tz_localize(NY).dt.tz_convert("UTC")


def _infer_timeframe(times: pd.Series) -> Timeframe:
    local = times.dropna().dt.tz_convert(NY)
    if len(local) and bool((local.dt.normalize() == local).all()):
        return "1day"
    return "1min"
