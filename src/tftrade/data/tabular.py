"""Reading bar files (CSV in any common dialect, compressed or not, or Parquet) into one normalised frame.

Headers are recognised case-insensitively (``timestamp/datetime/date/window_start``, or
``Date`` and ``Time`` columns read together,
``open/high/low/close/volume`` or ``o/h/l/c/v``, ``ticker/symbol/name``), or given
by an explicit column map. A ``price`` column without OHLC makes price-only bars
(open = high = low = close, volume 0, flagged). A ``minute_idx`` column next to a
date counts minutes from the 09:30 New York open. Dialects, numbers and times are
read by :mod:`~tftrade.data.csv_dialect`, :mod:`~tftrade.data.numeric_text` and
:mod:`~tftrade.data.timestamps`; the timeframe is detected from the bar spacing
(:mod:`~tftrade.data.timeframes`) and a contradicting ``timeframe`` is refused.

The normalised frame has the columns of :data:`NORMALISED_COLUMNS`, ``raw_row`` (the
line in the file), the untouched text of each field in ``raw_*`` columns (so
rejected rows are quarantined exactly as they came), ``volume_exact`` (int64) and
``time_error`` / ``value_error`` (why a time or a volume cannot be used; empty when fine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tftrade.core.errors import DataError, first_line
from tftrade.data.csv_dialect import CsvFormat, RawTable, read_text, split_table
from tftrade.data.numeric_text import decimal_comma, parse_numbers, parse_volume
from tftrade.data.timeframes import BarTimeframe, check_daily_spacing, detect_spacing
from tftrade.data.timestamps import DateOrder, ParsedTimes, check_zone, parse_times

NY = "America/New_York"
FIELDS = ("ticker", "window_start", "open", "high", "low", "close", "volume")
NORMALISED_COLUMNS = (*FIELDS, "price_only")

_ALIASES: dict[str, tuple[str, ...]] = {
    "window_start": ("window_start", "timestamp", "datetime", "date", "time", "t", "date_time", "timestamp_utc"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "vol"),
    "ticker": ("ticker", "symbol", "name", "sym"),
    "price": ("price", "last", "px"),
    "minute_idx": ("minute_idx", "minute_index", "minute"),
}

_STR = "string[pyarrow]"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file: the zone of its naive times, date order, and CSV dialect."""

    tz: str = NY
    date_order: DateOrder = "auto"
    csv: CsvFormat = field(default_factory=CsvFormat)

    def __post_init__(self) -> None:
        check_zone(self.tz)


@dataclass(frozen=True)
class BarFile:
    """A bar file read and normalised, before validation."""

    path: str
    frame: pd.DataFrame
    timeframe: BarTimeframe
    price_only: bool
    ragged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row_number", "raw", "reason"]))
    naive_times: bool = False
    tz: str = NY
    spacing: str = "unknown"
    epoch_times: bool = False
    ticker_ignored: str | None = None
    """Set when ``ticker`` was given but the file's ticker column names other tickers: the column
    wins, and this says so (one line, for a warning)."""


def read_bar_file(
    path: str | Path,
    *,
    ticker: str | None = None,
    timeframe: BarTimeframe | None = None,
    column_map: Mapping[str, str] | None = None,
    options: ReadOptions | None = None,
) -> BarFile:
    """Read ``path`` and return its rows normalised (see the module docstring).

    Raises
    ------
    DataError
        If the file cannot be read, no column gives the time, the ticker or a price,
        its dates are ambiguous, or its bar spacing contradicts ``timeframe``.
    """
    p = Path(path)
    opts = options or ReadOptions()
    table = _read_raw(p, opts.csv)
    raw = table.frame
    cols = resolve_columns(list(raw.columns), column_map, p)
    given = ticker
    ticker = ticker or table.header_ticker
    if "ticker" not in cols and ticker is None:
        raise DataError(f"{p}: no ticker column (ticker/symbol/Name) and no --ticker given")
    frame = pd.DataFrame({"raw_row": table.line_numbers})
    for name, col in cols.items():
        frame[f"raw_{name}"] = raw[col].to_numpy()
    frame["ticker"] = (raw[cols["ticker"]].astype(_STR).str.strip().str.upper().to_numpy()
                       if "ticker" in cols else str(ticker).strip().upper())
    times = _times(raw, cols, opts, p)
    tf, spacing = _timeframe(frame["ticker"], times, timeframe, p)
    frame["window_start"] = (_session_midnight(times) if tf == "1day" else times.utc).reset_index(drop=True)
    frame["time_error"] = times.error.to_numpy()
    price_only = "price" in cols and not {"open", "high", "low", "close"} <= cols.keys()
    _prices(frame, raw, cols, price_only, table.delimiter, p)
    frame["price_only"] = price_only
    return BarFile(str(p), frame, tf, price_only, _ragged(table), times.naive, opts.tz, spacing, times.epoch,
                   _ticker_ignored(given, frame["ticker"]) if "ticker" in cols else None)


def _ticker_ignored(given: str | None, tickers: pd.Series) -> str | None:
    """The warning when ``--ticker`` names other tickers than the file's ticker column (which wins)."""
    if given is None:
        return None
    found = sorted({str(t) for t in tickers.dropna().unique()})
    if found == [given.strip().upper()]:
        return None
    shown = ", ".join(ascii(t)[1:-1] for t in found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return f"--ticker {given} ignored: the file has a ticker column ({shown}), which is used"


def resolve_columns(
    columns: list[str], column_map: Mapping[str, str] | None, path: Path | str = "<input>"
) -> dict[str, str]:
    """Map our field names to the file's column names.

    Examples
    --------
    >>> resolve_columns(["Date", "Open", "High", "Low", "Close", "Volume", "Name"], None)["ticker"]
    'Name'
    """
    lower = {c.strip().lower(): c for c in reversed(columns)}
    given = column_map or {}
    for name, names in _ALIASES.items():
        same = [c for c in columns if re.sub(r"\.\d+$", "", c.strip().lower()) == next(
            (n for n in names if n in lower), None)]
        if len(same) > 1 and name not in given:
            raise DataError(f"{path}: {len(same)} columns could be {name!r} ({', '.join(map(repr, same))}); "
                            f"pick one with --map {name}=COLUMN")
    out: dict[str, str] = {}
    for name, names in _ALIASES.items():
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is not None:
            out[name] = hit
    for name, col in (column_map or {}).items():
        if name not in _ALIASES:
            raise DataError(f"column map names unknown field {name!r}; expected one of {sorted(_ALIASES)}")
        if col not in columns:
            raise DataError(f"{path}: column map points {name!r} at {col!r}, which is not in {columns}")
        out[name] = col
    if (out.get("window_start", "").strip().lower() == "date" and "time" in lower
            and "window_start" not in (column_map or {})):
        out["time_of_day"] = lower["time"]  # Date,Time files: the time is in a column of its own
    shown = ascii(columns)[:300]
    if "window_start" not in out:
        raise DataError(f"{path}: no time column (timestamp/datetime/date/window_start); found {shown}")
    if not ({"open", "high", "low", "close"} & out.keys()) and "price" not in out:
        raise DataError(f"{path}: no price columns (open/high/low/close or price); found {shown}")
    return out


def _read_raw(path: Path, fmt: CsvFormat) -> RawTable:
    if path.suffix.lower() in (".parquet", ".pq"):
        if not path.exists():
            raise DataError(f"{path}: no such file")
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read as Parquet: {first_line(e)}") from None
        return RawTable(frame.reset_index(drop=True), np.arange(1, len(frame) + 1))
    return split_table(read_text(path), fmt, path)


def _times(raw: pd.DataFrame, cols: dict[str, str], opts: ReadOptions, path: Path) -> ParsedTimes:
    when = raw[cols["window_start"]]
    if "time_of_day" in cols and not when.astype(_STR).str.contains(":", regex=False).fillna(False).any():
        when = (when.astype(_STR).str.strip() + " " + raw[cols["time_of_day"]].astype(_STR).str.strip()).str.strip()
    parsed = parse_times(when, opts.tz, opts.date_order, str(path))
    if "minute_idx" not in cols:
        return parsed
    minutes = pd.to_numeric(raw[cols["minute_idx"]].reset_index(drop=True), errors="coerce")
    local_open = (parsed.wall.dt.normalize() + pd.Timedelta(hours=9, minutes=30)).dt.tz_localize(NY)
    utc = (local_open + pd.to_timedelta(minutes, unit="min")).dt.tz_convert("UTC").dt.as_unit("ns")
    error = parsed.error.where(minutes.notna() | (parsed.error != ""), "unparseable minute index")
    wall = utc.dt.tz_convert(NY).dt.tz_localize(None)
    return ParsedTimes(utc, wall, error, naive=False, epoch=False, date_only=False)


def _timeframe(tickers: pd.Series, times: ParsedTimes, given: BarTimeframe | None,
               path: Path) -> tuple[BarTimeframe, str]:
    detected, spacing = detect_spacing(tickers, times.utc, _daily_like(tickers, times))
    if detected == "1day" and given is None:  # weekly or monthly bars are not days (an explicit 1day is trusted)
        try:
            check_daily_spacing(tickers, times.utc)
        except DataError as e:
            raise DataError(f"{path}: {e}; pass --timeframe 1day if they are daily bars with gaps") from None
    if given is not None and detected is not None and detected != given:
        raise DataError(f"{path}: the bars are {spacing} apart but --timeframe {given} was given; "
                        f"use --timeframe {detected} (or leave it out to detect it)")
    return given or detected or "1min", spacing


def _daily_like(tickers: pd.Series, times: ParsedTimes) -> bool:
    """Dates only, or every bar at one time of day with at most one bar per ticker and day."""
    if times.date_only:
        return True
    utc = times.utc.dropna()
    walls = [times.wall.dropna()] if not times.epoch else \
        [utc.dt.tz_localize(None), utc.dt.tz_convert(NY).dt.tz_localize(None)]  # epochs: UTC or NY midnights
    for wall in walls:
        if wall.empty:
            continue
        tod = wall - wall.dt.normalize()
        if tod.nunique() != 1:
            continue
        if tod.iloc[0] == pd.Timedelta(0):
            return True
        days = pd.DataFrame({"t": tickers[wall.index].to_numpy(), "d": wall.dt.normalize().to_numpy()})
        if days["d"].nunique() > 1 and not days.duplicated().any():
            return True
    return False


def _session_midnight(times: ParsedTimes) -> pd.Series:
    """Daily bars are stamped at New York midnight of the date the file gives, in UTC.

    The date is the one written (in the row's own zone); for epoch numbers it is the UTC
    date when every time is a UTC midnight, else the New York date.
    """
    if times.epoch:
        utc = times.utc
        at_utc_midnight = bool((utc.dropna() == utc.dropna().dt.normalize()).all())
        day = utc.dt.tz_localize(None).dt.normalize() if at_utc_midnight \
            else utc.dt.tz_convert(NY).dt.tz_localize(None).dt.normalize()
    else:
        day = times.wall.dt.normalize()
    day = day.where(times.utc.notna())
    return day.dt.tz_localize(NY).dt.tz_convert("UTC").dt.as_unit("ns")


def _prices(frame: pd.DataFrame, raw: pd.DataFrame, cols: dict[str, str], price_only: bool, delimiter: str,
            path: Path) -> None:
    names = ("price",) if price_only else ("open", "high", "low", "close")
    comma = decimal_comma([raw[cols[n]] for n in names if n in cols], delimiter)
    if price_only:
        price = parse_numbers(raw[cols["price"]].reset_index(drop=True), comma)
        for name in ("open", "high", "low", "close"):
            frame[name] = price.to_numpy()
            frame[f"raw_{name}"] = raw[cols["price"]].to_numpy()
        frame["volume"] = 0.0
        frame["volume_exact"] = np.zeros(len(frame), dtype=np.int64)
        frame["raw_volume"] = 0
        return
    for name in ("open", "high", "low", "close", "volume"):
        if name not in cols:
            raise DataError(f"{path}: no {name!r} column; found {list(raw.columns)}")
    for name in ("open", "high", "low", "close"):
        frame[name] = parse_numbers(raw[cols[name]].reset_index(drop=True), comma).to_numpy(dtype=float)
    volume, exact, problem = parse_volume(raw[cols["volume"]].reset_index(drop=True), comma)
    frame["volume"] = volume.to_numpy(dtype=float)
    frame["volume_exact"] = exact
    frame["value_error"] = problem.to_numpy(dtype=object)


def _ragged(table: RawTable) -> pd.DataFrame:
    rows = [(line, json.dumps({"line": text}), reason) for line, text, reason in table.ragged]
    return pd.DataFrame(rows, columns=["row_number", "raw", "reason"])
