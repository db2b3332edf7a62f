"""Bar times as files write them, to UTC, row by row.

* Epoch numbers (s, ms, µs or ns, told apart by magnitude) are UTC.
* A time with an offset (``-05:00``, ``Z``, ``+0100``, `` UTC``) is converted with
  *its own* offset, so a file spanning a DST switch (``-05:00`` then ``-04:00``) reads right.
* A naive time is wall-clock time in the source's zone (``--tz``; New York by default).
  A naive time that does not exist there (the hour skipped when DST starts) or that
  happens twice (the hour repeated when it ends) is not guessed: the row gets a reason.
* Numeric dates ``D/M/YYYY`` or ``M/D/YYYY`` are read in one order for the whole file:
  the order the file proves (a first field above 12 means day first), or the one given.
  A file that proves both orders, or neither while some dates could be read either
  way, is refused.

The *wall* time (as written, before any zone) is kept too: a daily bar's session is
the date written in the file, whatever the zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pandas._libs.tslibs.nattype import NaTType

from tftrade.core.errors import DataError
from tftrade.data.reason_text import quoted

DateOrder = Literal["auto", "dmy", "mdy", "ymd"]
_ZONE = r"\s*(?:[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
_TAIL_OFFSET = r".*?(?:\d\s*(?:[Zz]|UTC|GMT)|[+-]\d{2}:?\d{2}|\d[+-]\d{2})"  # also ISO's hour-only '+01'
_NUMERIC_DATE = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(.*)$"
_YMD_SLASH = r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(.*)$"
_ZONE_NAME = r"(?:UTC|GMT)\s*[+-]\d|\b(?:UTC|GMT|[A-Z]{2,4}T)\b"  # UTC+1, GMT-5, EST, CEST, 'UTC 2024'
_WRITTEN_YEAR = r"(?<!\d)\d{4}(?!\d)|^\d{8}"  # a date names its year (or is yyyymmdd[...])
FIRST_YEAR, LAST_YEAR = 1900, 2199
"""Bar times outside these years are quarantined (pandas cannot hold most of them at all)."""

_STR = "string[pyarrow]"


@dataclass(frozen=True)
class ParsedTimes:
    """Per row: UTC time, wall time as written, and why a time is unusable ("" if it is fine)."""

    utc: pd.Series
    wall: pd.Series
    error: pd.Series
    naive: bool
    epoch: bool
    date_only: bool


def check_zone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone, else raise ``ValueError`` with examples."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {name!r} is unknown; use an IANA name such as UTC, America/New_York, "
                         "Europe/London") from None
    return name


def parse_times(col: pd.Series, tz: str, date_order: DateOrder = "auto", where: str = "<input>") -> ParsedTimes:
    """Parse a time column (see the module docstring).

    Raises
    ------
    DataError
        If the day/month order of numeric dates is contradictory or cannot be told.

    Examples
    --------
    >>> p = parse_times(pd.Series(["2024-03-08 09:30-05:00", "2024-03-11 09:30-04:00"]), "UTC")
    >>> [str(t) for t in p.utc]
    ['2024-03-08 14:30:00+00:00', '2024-03-11 13:30:00+00:00']
    """
    col = col.reset_index(drop=True)
    if isinstance(col.dtype, pd.DatetimeTZDtype):  # e.g. Parquet timestamps with a zone
        utc = _in_years(col.dt.tz_convert("UTC"))
        error = _unparseable(col.astype(_STR), utc.isna() & col.notna()).where(col.notna(), "missing time")
        return _done(utc, utc.dt.tz_localize(None), error, False, False, False)
    if pd.api.types.is_datetime64_dtype(col):
        return _localize(_in_years(col).astype("datetime64[ns]"), col.astype(_STR), tz, epoch=False,
                         date_only=False)
    if pd.api.types.is_numeric_dtype(col) or _all_digits(col):
        return _epoch(pd.to_numeric(col, errors="coerce"))
    text = col.astype(_STR).str.strip()
    text = _normalise_dates(text, date_order, where)
    has_offset = (text.str.slice(-7).str.fullmatch(_TAIL_OFFSET).fillna(False).astype(bool)
                  & text.str.contains(":", regex=False).fillna(False).astype(bool))
    date_only = bool(text.dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{8}").all())
    if not has_offset.any():
        return _localize(_wall(text), col.astype(_STR), tz, epoch=False, date_only=date_only)
    wall = _wall(text.where(~has_offset, text.str.replace(_ZONE, "", regex=True)).str.strip())
    offset = _offset_minutes(text.where(has_offset))
    aware_utc = (wall - pd.to_timedelta(offset, unit="min")).dt.tz_localize("UTC")
    local = _localize(wall.where(~has_offset), col.astype(_STR).where(~has_offset), tz, epoch=False,
                      date_only=date_only)
    utc = aware_utc.where(has_offset, local.utc)
    error = local.error.where(~has_offset, "")
    unread = utc.isna() & (error == "")
    error = error.where(~unread, _unparseable(col.astype(_STR), unread))
    return _done(utc, wall, error, naive=bool((~has_offset).any()), epoch=False, date_only=date_only)


def _done(utc: pd.Series, wall: pd.Series, error: pd.Series, naive: bool, epoch: bool,
          date_only: bool) -> ParsedTimes:
    return ParsedTimes(utc.dt.as_unit("ns"), wall.astype("datetime64[ns]"), error, naive, epoch, date_only)


def _wall(text: pd.Series) -> pd.Series:
    """Wall times as written; ``NaT`` where unreadable, without a year, or outside FIRST_YEAR..LAST_YEAR.

    The lenient second pass (``Tue, 06 Feb 2024``) only takes texts that write a year: it
    would read ``10:30`` as today and ``Feb 6`` as year 1.
    """
    wall = _in_years(_naive(text, "ISO8601"))
    retry = wall.isna() & text.notna()
    if retry.any():  # the patterns are looked for in the unread rows only
        left = text[retry]
        retry[retry] = (~left.str.contains(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d", regex=True).fillna(False).astype(bool)
                        & left.str.contains(_WRITTEN_YEAR, regex=True).fillna(False).astype(bool)
                        & ~left.str.contains(_ZONE_NAME, regex=True).fillna(False).astype(bool)).to_numpy()
    if retry.any():
        again = _naive(text[retry], "mixed")
        wall = wall.astype("datetime64[ns]")
        wall.loc[retry] = _in_years(again).astype("datetime64[ns]")
    return wall.astype("datetime64[ns]")


def _naive(text: pd.Series, fmt: str) -> pd.Series:
    """``text`` read with ``fmt``; a time this finds a zone in (which offsets did not catch) is ``NaT``.

    Such zones are not trusted ('UTC+1' is read the POSIX way, an hour the wrong side), and rows
    with different zones would otherwise fail the whole column ('Mixed timezones detected').
    """
    try:
        out = pd.to_datetime(text, errors="coerce", format=fmt)
    except ValueError:  # rows with different zones: one at a time
        out = pd.Series([_one_naive(t, fmt) for t in text], index=text.index, dtype="datetime64[ns]")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if out.dtype == object:
        out = pd.Series([_one_naive(t, fmt) for t in text], index=text.index, dtype="datetime64[ns]")
    return out


def _one_naive(text: object, fmt: str) -> pd.Timestamp | NaTType:
    try:
        t = pd.to_datetime(text, errors="coerce", format=fmt)
    except (ValueError, OverflowError):
        return pd.NaT
    if t is pd.NaT or t.tzinfo is not None or not FIRST_YEAR <= t.year <= LAST_YEAR:
        return pd.NaT
    return t


def _in_years(wall: pd.Series) -> pd.Series:
    """``wall`` with times outside FIRST_YEAR..LAST_YEAR as ``NaT`` (before any cast to nanoseconds)."""
    year = wall.dt.year
    return wall.where((year >= FIRST_YEAR) & (year <= LAST_YEAR))


def _localize(wall: pd.Series, raw: pd.Series, tz: str, *, epoch: bool, date_only: bool) -> ParsedTimes:
    """Naive wall times in ``tz`` to UTC; skipped or repeated local times get a reason instead."""
    first = wall.dt.tz_localize(tz, ambiguous=np.ones(len(wall), bool), nonexistent="NaT")
    second = wall.dt.tz_localize(tz, ambiguous=np.zeros(len(wall), bool), nonexistent="NaT")
    error = pd.Series("", index=wall.index, dtype=object)
    if wall.isna().any():
        error = _unparseable(raw, wall.isna())
    ambiguous = wall.notna() & first.notna() & (first != second)
    missing = wall.notna() & first.isna()
    if (ambiguous | missing).any():
        stamp = wall.dt.strftime("%Y-%m-%d %H:%M")
        twice = f" happens twice in {tz} (DST ends); write it with its offset"
        error = error.where(~ambiguous, "time " + stamp + twice)
        error = error.where(~missing, "time " + stamp + f" does not exist in {tz} (skipped when DST starts)")
    utc = first.where(~ambiguous).dt.tz_convert("UTC")
    return _done(utc, wall, error, naive=True, epoch=epoch, date_only=date_only)


def _unparseable(raw: pd.Series, where: pd.Series) -> pd.Series:
    """Why each time is unusable, for the rows of ``where``; ``""`` elsewhere (only those are looked at)."""
    out = pd.Series("", index=raw.index, dtype=object)
    text = raw.astype(_STR)
    rows = where.to_numpy(dtype=bool, copy=True)
    out[rows & text.isna().to_numpy(dtype=bool)] = "missing time"
    rows &= text.notna().to_numpy(dtype=bool)
    if rows.any():
        out[rows] = text[rows].map(_why_unusable).astype(object).to_numpy()
    return out


def _why_unusable(s: str) -> str:
    if not s.strip():
        return "missing time"
    if re.search(_ZONE_NAME, s):
        return (f"time {quoted(s)} names its zone in a form that is not read; write an offset such as -05:00, "
                "or naive times with --tz")
    years = [int(y) for y in re.findall(r"(?<!\d)\d{4}(?!\d)", s)]
    if not years and any(ch.isdigit() for ch in s) and not s.strip().lstrip("+-").replace(".", "").isdigit():
        return f"time {quoted(s)} has no date with a year"
    if years and not any(FIRST_YEAR <= y <= LAST_YEAR for y in years):
        return f"time {quoted(s)} is outside the years {FIRST_YEAR}-{LAST_YEAR}"
    return f"unparseable time {quoted(s)}"


def _epoch(values: pd.Series) -> ParsedTimes:
    mag = values.abs().median() if values.notna().any() else 0
    unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
    ns = values * {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}[unit]
    first, after = (pd.Timestamp(f"{y}-01-01", tz="UTC").value for y in (FIRST_YEAR, LAST_YEAR + 1))
    fits = (ns >= first) & (ns < after)
    utc = pd.to_datetime(values.where(fits), unit=unit, utc=True, errors="coerce")
    error = pd.Series("", index=values.index, dtype=object).where(utc.notna(), "unparseable time")
    error = error.where(~(values.notna() & ~fits), f"epoch time outside the years {FIRST_YEAR}-{LAST_YEAR} ("
                        + values.astype(str) + f" read as {unit})")
    return _done(utc, utc.dt.tz_localize(None), error, naive=False, epoch=True, date_only=False)


def _all_digits(col: pd.Series) -> bool:
    sample = col.dropna().astype(str).str.strip().head(200)
    return len(sample) > 0 and bool(sample.str.fullmatch(r"-?\d{9,19}(?:\.\d+)?").all())


def _offset_minutes(text: pd.Series) -> pd.Series:
    found = text.str.extract(r"(?:(?P<z>[Zz]|UTC|GMT)|(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})?)$")
    hours = pd.to_numeric(found["h"], errors="coerce").fillna(0)
    minutes = pd.to_numeric(found["m"], errors="coerce").fillna(0)
    sign = np.where((found["sign"] == "-").fillna(False).to_numpy(dtype=bool), -1, 1)
    return (sign * (hours * 60 + minutes)).astype(float)


def _normalise_dates(text: pd.Series, order: DateOrder, where: str) -> pd.Series:
    """Rewrite numeric ``a/b/yyyy`` and ``yyyy/m/d`` dates as ISO ``yyyy-mm-dd`` in the file's one order."""
    candidates = text.str.match(r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}|\d{4}[/.]\d").fillna(False).astype(bool)
    if not candidates.any():
        return text
    text = text.copy()
    text[candidates] = _normalise_some(text[candidates], order, where)
    return text


def _normalise_some(text: pd.Series, order: DateOrder, where: str) -> pd.Series:
    ymd = text.str.extract(_YMD_SLASH)
    if ymd[0].notna().any():
        hit = ymd[0].notna()
        iso = ymd[0] + "-" + ymd[1].str.zfill(2) + "-" + ymd[2].str.zfill(2) + ymd[3]
        text = text.where(~hit, iso)
    parts = text.str.extract(_NUMERIC_DATE)
    hit = parts[0].notna()
    if not hit.any():
        return text
    a = pd.to_numeric(parts[0], errors="coerce")
    b = pd.to_numeric(parts[1], errors="coerce")
    order = _date_order(text[hit], a[hit], b[hit], order, where)
    day, month = (parts[0], parts[1]) if order == "dmy" else (parts[1], parts[0])
    iso = parts[2] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts[3]
    return text.where(~hit, iso)


def _date_order(text: pd.Series, a: pd.Series, b: pd.Series, order: DateOrder, where: str) -> DateOrder:
    if order in ("dmy", "mdy"):
        return order
    day_first, month_first = text[a > 12], text[b > 12]
    if len(day_first) and len(month_first):
        raise DataError(f"{where}: dates are written in both day/month order ({day_first.iloc[0]!r}) and "
                        f"month/day order ({month_first.iloc[0]!r}); fix the file or pass --date-order dmy|mdy")
    if len(day_first):
        return "dmy"
    if len(month_first):
        return "mdy"
    either = text[a != b]
    if len(either):
        raise DataError(f"{where}: day/month order cannot be told: {either.iloc[0]!r} reads as either; "
                        "pass --date-order dmy or --date-order mdy")
    return "mdy"
