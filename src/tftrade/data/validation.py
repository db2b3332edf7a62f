"""Row-level checks on bars, vectorised: each row is kept, counted as a duplicate, or rejected with a reason.

Checks: a ticker of printable ticker characters (no control, zero-width or
right-to-left characters); every field present and parseable; a bar time on the
timeframe's grid (no seconds inside a minute bar); prices positive and storable at
four decimals without losing more than 0.01 % (so nothing rounds to 0); volume a
whole number ≥ 0 that fits a 64-bit integer; low ≤ open, close ≤ high (on the
stored ticks); intraday bars start inside an XNYS session (regular 09:30–16:00, or
extended 04:00–20:00 New York with ``session="extended"``) and daily bars fall on a
session; no two rows of one file share a (ticker, time). A row that repeats an
earlier one exactly is a duplicate; rows that disagree are rejected (the later ones, or
all of them with ``contradictions="reject_all"``, as a file import asks). A bad row
never takes a good neighbour with it.

Each reject carries ``reason`` (the text, naming values) and ``kind`` (the first
failed check's name, for counting).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache, partial
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tftrade.core.calendar import TradingCalendar
from tftrade.core.types import PRICE_SCALE
from tftrade.data.reason_text import quoted
from tftrade.data.timeframes import MINUTES, BarTimeframe, is_intraday

Session = Literal["regular", "extended"]
PRICE_FIELDS = ("open", "high", "low", "close")
_TICK = 10**PRICE_SCALE
_MAX_TICKS = 10**14  # NUMERIC(18, 4)
_INT64_LIMIT = 2.0**63  # the first float volume a BIGINT cannot hold
_ROUNDING_TOLERANCE = 1e-4
_NS_MIN = 60_000_000_000
_PRE_MARKET_NS = 330 * _NS_MIN  # 04:00 is 5.5 h before the 09:30 open
_AFTER_HOURS_NS = 240 * _NS_MIN  # 20:00 is 4 h after the 16:00 close
_TICKER_BODY = r"\^?[A-Z0-9][A-Z0-9.\-/=_:]*"
TICKER_PATTERN = rf"(?=.{{1,16}}$){_TICKER_BODY}"  # at most 16 characters (the column), '^' included
_TICKER_RE = re.compile(TICKER_PATTERN)
OUTSIDE_SESSION = "outside trading hours"
_MISSING_MARKS = frozenset({".", "-", "--", "na", "n/a", "#n/a", "nan", "null", "none", "nil"})

_STR = "string[pyarrow]"


@dataclass(frozen=True)
class ValidationResult:
    """Rows split three ways; ``good`` has integer price ticks (1/10,000) and int volume."""

    good: pd.DataFrame
    rejects: pd.DataFrame
    duplicates: int

    @property
    def rows_read(self) -> int:
        return len(self.good) + len(self.rejects) + self.duplicates


def validate_bars(frame: pd.DataFrame, timeframe: BarTimeframe | str, session: Session = "regular", *,
                  contradictions: Contradictions = "keep_first") -> ValidationResult:
    """Check every row of a normalised bar frame (see :mod:`tftrade.data.tabular`).

    ``contradictions`` says what happens to rows of one (ticker, time) that disagree:
    ``keep_first`` keeps the first and rejects the others (the stream's rule: the same as
    :func:`check_bar_columns`); ``reject_all`` rejects every row of that bar, each with a
    reason naming the rows it disagrees with (a file import: storing either would be a guess).

    Examples
    --------
    >>> f = pd.DataFrame({"ticker": ["X", "X"], "window_start": pd.to_datetime(
    ...     ["2024-01-02 15:00", "2024-01-02 15:01"], utc=True), "open": [10.0, 10.0],
    ...     "high": [11.0, 9.0], "low": [9.0, 9.5], "close": [10.5, 10.0], "volume": [5.0, 5.0]})
    >>> r = validate_bars(f, "1min")
    >>> len(r.good), r.rejects["reason"].tolist()
    (1, ['high 9.0 below max(open, close) 10.0'])
    """
    frame = frame.reset_index(drop=True)
    reasons, kinds, bad = _field_reasons(frame, timeframe, session)
    dup_exact, dup_conflict = _in_file_duplicates(frame, ~bad)
    if dup_conflict.any() and contradictions == "reject_all":
        every = _contradicting_rows(frame, ~bad)
        dup_conflict = every.notna()
        dup_exact &= ~dup_conflict
        reasons = reasons.where(~dup_conflict, every)
        kinds = kinds.where(~dup_conflict, CONFLICT_KIND)
    elif dup_conflict.any():
        reasons = reasons.where(~dup_conflict, CONFLICT_REASON)
        kinds = kinds.where(~dup_conflict, CONFLICT_KIND)
    rejected = bad | dup_conflict
    keep = ~rejected & ~dup_exact
    return ValidationResult(
        good=_to_ticks(frame if keep.all() else frame.loc[keep]),
        rejects=_rejects(frame.loc[rejected], reasons[rejected], kinds[rejected]),
        duplicates=int(dup_exact.sum()),
    )


CONFLICT_REASON = "conflicts with an earlier row for the same ticker and time"
CONFLICT_KIND = "conflicting repeat in the file"
Contradictions = Literal["keep_first", "reject_all"]


@dataclass(frozen=True)
class ColumnCheck:
    """The outcome of :func:`check_bar_columns` on a batch whose every row passed the field checks.

    ``keep`` are the positions of the bars to store, in input order, with their prices in
    1/10,000 ticks and whole volumes; ``conflicts`` the positions rejected (with
    :data:`CONFLICT_REASON`) for repeating an earlier row's (ticker, time) with other values;
    ``duplicates`` how many rows repeated an earlier row exactly.
    """

    keep: npt.NDArray[np.intp]
    ticks: dict[str, npt.NDArray[np.int64]]
    volume: npt.NDArray[np.int64]
    conflicts: npt.NDArray[np.intp]
    duplicates: int


def check_bar_columns(ticker: npt.NDArray[np.object_], start_ns: npt.NDArray[np.int64],
                      values: dict[str, npt.NDArray[np.float64]], timeframe: BarTimeframe | str,
                      session: Session = "regular") -> ColumnCheck | None:
    """:func:`validate_bars` on columns (a stream batch), with NumPy only, when no row fails a field check.

    The same checks and the same split into kept, duplicate and conflicting rows as
    :func:`validate_bars` on the frame of these columns; ``None`` when any row fails a field
    check (then call :func:`validate_bars` for the reasons — texts are its job).

    Examples
    --------
    >>> ns = np.array([pd.Timestamp("2024-01-02 15:00", tz="UTC").value] * 2)
    >>> v = {"open": np.array([10.0, 10.0]), "high": np.array([11.0, 11.0]), "low": np.array([9.0, 9.0]),
    ...      "close": np.array([10.5, 10.5]), "volume": np.array([5.0, 5.0])}
    >>> c = check_bar_columns(np.array(["X", "X"], object), ns, v, "1min")
    >>> c.keep.tolist(), c.ticks["close"].tolist(), c.duplicates
    ([0], [105000], 1)
    >>> check_bar_columns(np.array(["X"], object), ns[:1], {k: a[:1] * -1 for k, a in v.items()}, "1min") is None
    True
    """
    if not _fields_pass(ticker, start_ns, values, timeframe, session):
        return None
    ticks = {n: np.rint(values[n] * _TICK).astype(np.int64) for n in PRICE_FIELDS}
    volume = values["volume"].astype(np.int64)
    everything = np.arange(len(ticker))
    if not _repeated_keys(ticker, start_ns):
        return ColumnCheck(everything, ticks, volume, everything[:0], 0)
    frame = pd.DataFrame({"ticker": ticker, "window_start": start_ns, **values})
    exact, conflict = _in_file_duplicates(frame, pd.Series(True, index=frame.index))
    keep = np.flatnonzero(~(exact | conflict).to_numpy())
    return ColumnCheck(keep, {n: t[keep] for n, t in ticks.items()}, volume[keep],
                       np.flatnonzero(conflict.to_numpy()), int(exact.sum()))


def _fields_pass(ticker: npt.NDArray[np.object_], start_ns: npt.NDArray[np.int64],
                 values: dict[str, npt.NDArray[np.float64]], timeframe: str, session: Session) -> bool:
    """Whether every row passes every field check of :func:`_field_reasons` (same order of cheapness)."""
    if len(ticker) == 0:
        return True
    if not all(_is_ticker(t) for t in set(ticker.tolist())):
        return False
    if (start_ns == np.iinfo(np.int64).min).any():  # NaT
        return False
    if is_intraday(timeframe):
        step = min(MINUTES[timeframe], 30) * _NS_MIN  # type: ignore[index]
        if (start_ns % _NS_MIN != 0).any() or (start_ns % step != 0).any():
            return False
    with np.errstate(all="ignore"):
        for name in PRICE_FIELDS:
            v = values[name]
            if not (v > 0).all() or not (v * _TICK < _MAX_TICKS).all():  # also False for NaN
                return False
            if (np.abs(np.rint(v * _TICK) / _TICK - v) > _ROUNDING_TOLERANCE * v).any():
                return False
        o, h, low, c = (np.rint(values[n] * _TICK) for n in PRICE_FIELDS)
        if (h < np.maximum(o, c)).any() or (low > np.minimum(o, c)).any():
            return False
        vol = values["volume"]
        if not ((vol >= 0) & (vol == np.floor(vol)) & (vol < _INT64_LIMIT)).all():
            return False
    return not _outside_session_ns(start_ns, timeframe, session).any()


def _repeated_keys(ticker: npt.NDArray[np.object_], start_ns: npt.NDArray[np.int64]) -> bool:
    """Whether two rows share a (ticker, time) — on NumPy arrays (a frame's string column costs more)."""
    tickers, _ = pd.factorize(ticker, sort=False)
    times, distinct = pd.factorize(start_ns, sort=False)
    return bool(pd.Index(tickers.astype(np.int64) * max(len(distinct), 1) + times).has_duplicates)


@lru_cache(maxsize=65_536)
def _is_ticker(value: object) -> bool:
    return isinstance(value, str) and _TICKER_RE.fullmatch(value) is not None


def _outside_session_ns(ns: npt.NDArray[np.int64], timeframe: str, session: Session) -> npt.NDArray[np.bool_]:
    first, last = (pd.Timestamp(int(x), tz="UTC").tz_convert("America/New_York").date() for x in (ns.min(), ns.max()))
    cal = session_calendar(first, last)
    if not is_intraday(timeframe):
        return ~np.isin(ns, cal.session_midnights_ns())
    return ~in_session(cal, ns, session)


_Text = Callable[[pd.DataFrame], "pd.Series | str"]


def _field_reasons(frame: pd.DataFrame, timeframe: str,
                   session: Session) -> tuple[pd.Series, pd.Series, npt.NDArray[np.bool_]]:
    """One reason string per row ("" when the row passed), the first failed check's name, and the failed rows.

    The masks are computed on NumPy arrays (one conversion per column); the texts only for failed rows.
    """
    checks: list[tuple[str, np.ndarray, _Text]] = []

    def add(kind: str, mask: pd.Series | np.ndarray, text: _Text) -> None:
        hit = np.asarray(mask, dtype=bool)
        if hit.any():  # a check no row fails adds nothing to any row's reason
            checks.append((kind, hit, text))

    ticker = frame["ticker"].astype(_STR).fillna("")
    no_ticker = (ticker == "").to_numpy(dtype=bool)
    add("missing ticker", no_ticker, lambda f: "ticker missing")
    bad_ticker = ~no_ticker & ~ticker.str.fullmatch(TICKER_PATTERN).fillna(False).to_numpy(dtype=bool)
    add("invalid ticker", bad_ticker, lambda f: f["ticker"].map(_ticker_text))
    ts = frame["window_start"]
    time_error = _has_text(frame, "time_error")
    add("unusable time", time_error, lambda f: _column(f, "time_error"))
    add("unusable time", ts.isna().to_numpy() & ~time_error, lambda f: _raw_or_missing(f, "window_start", "time"))
    values = {name: _floats(frame[name]) for name in (*PRICE_FIELDS, "volume")}
    present = {name: ~np.isnan(v) for name, v in values.items()}
    value_error = _has_text(frame, "value_error")
    for name in (*PRICE_FIELDS, "volume"):
        add(f"missing or unparseable {name}", ~present[name] & ~value_error,
            partial(_raw_or_missing, field=name, label=name))
    add("volume does not fit", value_error, lambda f: _column(f, "value_error"))
    if is_intraday(timeframe):
        _time_grid_checks(add, ts, timeframe)
    ticks = {n: _ticks(values[n]) for n in PRICE_FIELDS}
    with np.errstate(all="ignore"):  # NaN and inf are masked by ``present``; pandas ignored them the same way
        for name in PRICE_FIELDS:
            v, ok = values[name], present[name]
            add("non-positive price", ok & (v <= 0), partial(_value_text, field=name, prefix=f"non-positive {name} "))
            add("price too large", ok & ~(v * _TICK < _MAX_TICKS),
                partial(_value_text, field=name, prefix=f"{name} too large for NUMERIC(18,4) "))
            lost = ok & (v > 0) & (np.abs(ticks[name] / _TICK - v) > _ROUNDING_TOLERANCE * v)
            add("price below 4-decimal resolution", lost, partial(_rounding_text, field=name))
        o, h, low, c = (ticks[n] for n in PRICE_FIELDS)
        add("high below open/close", h < np.maximum(o, c), lambda f: "high " + f["high"].astype(str)
            + " below max(open, close) " + np.maximum(f["open"], f["close"]).astype(str))
        add("low above open/close", low > np.minimum(o, c), lambda f: "low " + f["low"].astype(str)
            + " above min(open, close) " + np.minimum(f["open"], f["close"]).astype(str))
        vol, ok = values["volume"], present["volume"]
        add("negative volume", ok & (vol < 0), lambda f: "negative volume " + f["volume"].astype(str))
        add("fractional volume", ok & (vol != np.floor(vol)), lambda f: "fractional volume " + f["volume"].astype(str))
        if "volume_exact" not in frame:  # a file's reader checked its text; numbers (stream, frames) are checked here
            add("volume does not fit", ok & (vol >= _INT64_LIMIT),
                lambda f: "volume " + f["volume"].astype(str) + " does not fit a 64-bit integer")
    add(OUTSIDE_SESSION if is_intraday(timeframe) else "not a trading day", _outside_session(ts, timeframe, session),
        lambda f: _session_text(f["window_start"], timeframe, session))
    return _collect(frame, checks)


def _time_grid_checks(add: Callable[[str, np.ndarray, _Text], None], ts: pd.Series, timeframe: str) -> None:
    ns = ts.dt.as_unit("ns").astype("int64").to_numpy()
    valid = ts.notna().to_numpy()
    seconds = valid & (ns % _NS_MIN != 0)
    add("seconds inside a minute bar", seconds,
        lambda f: "time " + _local(f["window_start"], "%H:%M:%S.%f").str.rstrip("0").str.rstrip(".")
        + f" has seconds inside a {timeframe} bar")
    step = min(MINUTES[timeframe], 30) * _NS_MIN  # type: ignore[index]
    if step > _NS_MIN:
        off_grid = valid & ~seconds & (ns % step != 0)
        add("off the bar grid", off_grid,
            lambda f: "time " + _local(f["window_start"], "%H:%M") + f" is not on a {timeframe} boundary")


def _collect(frame: pd.DataFrame,
             checks: list[tuple[str, np.ndarray, _Text]]) -> tuple[pd.Series, pd.Series, npt.NDArray[np.bool_]]:
    any_bad = np.logical_or.reduce([m for _, m, _ in checks]) if checks else np.zeros(len(frame), bool)
    out = pd.Series("", index=frame.index, dtype=object)
    kinds = pd.Series("", index=frame.index, dtype=object)
    if not any_bad.any():
        return out, kinds, any_bad
    bad = frame.loc[any_bad]
    columns = []
    first = np.full(len(bad), "", dtype=object)
    for kind, mask, text in checks:
        sub = mask[any_bad]
        if sub.any():
            msg = text(bad)
            values = np.asarray(msg.astype(str), dtype=object) if isinstance(msg, pd.Series) \
                else np.full(len(bad), msg, dtype=object)
            columns.append(np.where(sub, values, ""))
            first = np.where(sub & (first == ""), kind, first)
    joined = ["; ".join(x for x in parts if x) for parts in zip(*columns, strict=True)]
    out.loc[bad.index] = joined
    kinds.loc[bad.index] = first
    failed = any_bad.copy()
    failed[any_bad] = np.array([len(r) > 0 for r in joined], dtype=bool)
    return out, kinds, failed


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[name].fillna("").astype(object)


def _has_text(frame: pd.DataFrame, name: str) -> npt.NDArray[np.bool_]:
    """Rows whose optional text column ``name`` (set by the file reader) is non-empty."""
    if name not in frame:
        return np.zeros(len(frame), dtype=bool)
    return np.asarray(_column(frame, name) != "", dtype=bool)


def _floats(values: pd.Series) -> npt.NDArray[np.float64]:
    """A numeric column as float64, NaN where missing (``None``, ``NaN``, ``pd.NA``)."""
    return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _ticks(values: pd.Series | np.ndarray) -> np.ndarray:
    v = _floats(values) if isinstance(values, pd.Series) else np.asarray(values, dtype=float)
    finite = np.isfinite(v) & (np.abs(v) < 1e15)
    return np.where(finite, np.rint(np.where(finite, v, 0) * _TICK), np.nan)


def _ticker_text(value: object) -> str:
    text = str(value)
    if len(text) > 16 and re.fullmatch(_TICKER_BODY, text):
        return f"ticker {text[:40]!a} is longer than 16 characters"
    odd = sorted({f"U+{ord(ch):04X}" for ch in text if not (ch.isascii() and ch.isprintable())})
    what = f" ({', '.join(odd)})" if odd else ""
    return f"ticker {text[:40]!a} is not a ticker: letters, digits and . - / = _ : only{what}"


def _rounding_text(frame: pd.DataFrame, field: str) -> pd.Series:
    stored = (_ticks(frame[field]) / _TICK).round(PRICE_SCALE)
    return (field + " " + frame[field].astype(str) + " would be stored as "
            + pd.Series(stored, index=frame.index).map(lambda x: f"{x:.4f}") + " (4 decimals)")


def _value_text(frame: pd.DataFrame, field: str, prefix: str) -> pd.Series:
    return prefix + frame[field].astype(str)


def _raw_or_missing(frame: pd.DataFrame, field: str, label: str) -> pd.Series:
    raw_col = f"raw_{field}"
    if raw_col not in frame:
        return pd.Series(f"missing {label}", index=frame.index)
    raw = frame[raw_col]
    text = raw.astype(str).map(lambda s: f"unparseable {label} {quoted(str(s))}")  # Parquet nulls stay floats
    marked = raw.astype(str).str.strip().str.lower().isin(_MISSING_MARKS)
    text = text.where(~marked, f"missing {label} (" + raw.astype(str).str.strip().map(repr) + ")")
    return text.where(raw.notna() & (raw.astype(str).str.strip() != ""), f"missing {label}")


def _local(ts: pd.Series, fmt: str) -> pd.Series:
    return ts.dt.tz_convert("America/New_York").dt.strftime(fmt).astype(object)


def _outside_session(ts: pd.Series, timeframe: str, session: Session) -> np.ndarray:
    valid = ts.notna().to_numpy()
    out = np.zeros(len(ts), dtype=bool)
    if not valid.any():
        return out
    ns = ts[valid].dt.as_unit("ns").astype("int64").to_numpy()
    first = pd.Timestamp(ns.min(), tz="UTC").tz_convert("America/New_York").date()
    last = pd.Timestamp(ns.max(), tz="UTC").tz_convert("America/New_York").date()
    cal = session_calendar(first, last)
    if not is_intraday(timeframe):
        out[valid] = ~np.isin(ns, cal.session_midnights_ns())
        return out
    out[valid] = ~in_session(cal, ns, session)
    return out


@lru_cache(maxsize=64)
def session_calendar(first: date, last: date) -> TradingCalendar:
    """The XNYS calendar from ``first`` to ``last`` (New York dates), built once per range.

    A stream validates batch after batch of the same day or two; the calendar (an immutable
    schedule) is reused instead of being sliced again for every batch.
    """
    return TradingCalendar(first, last)


def in_session(cal: TradingCalendar, ts_ns: np.ndarray, session: Session) -> np.ndarray:
    """True where a bar starting at ``ts_ns`` lies inside a regular or extended-hours session."""
    if session == "regular":
        return cal.in_session(ts_ns)
    opens, closes = cal.opens_ns() - _PRE_MARKET_NS, cal.closes_ns() + _AFTER_HOURS_NS
    if len(opens) == 0:
        return np.zeros(len(ts_ns), dtype=bool)
    idx = np.searchsorted(opens, ts_ns, side="right") - 1
    safe = np.clip(idx, 0, len(opens) - 1)
    return np.asarray((idx >= 0) & (ts_ns < closes[safe]), dtype=bool)


def _session_text(ts: pd.Series, timeframe: str, session: Session) -> pd.Series:
    if not is_intraday(timeframe):
        return ts.dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d").astype(object) + \
            " is not an XNYS trading day"
    hours = "XNYS extended hours (04:00-20:00 New York)" if session == "extended" else "XNYS trading hours"
    local = _local(ts, "%Y-%m-%d %H:%M")
    return ts.astype(str) + " (" + local + " New York) is outside " + hours


def _in_file_duplicates(frame: pd.DataFrame, eligible: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Among rows that passed the field checks: exact repeats, and repeats that disagree."""
    key = ["ticker", "window_start"]
    values = [*key, *PRICE_FIELDS, "volume"]
    exact = pd.Series(False, index=frame.index)
    conflict = pd.Series(False, index=frame.index)
    if not _any_repeated_key(frame.loc[eligible, key] if not eligible.all() else frame[key]):
        return exact, conflict
    sub = frame.loc[eligible, values]
    repeat_key = sub.duplicated(key, keep="first")
    repeat_row = sub.duplicated(values, keep="first")
    exact.loc[sub.index] = repeat_row
    conflict.loc[sub.index] = repeat_key & ~repeat_row
    return exact, conflict


_SHOWN_VERSIONS = 3
"""A contradicting row's reason names at most this many other versions of its bar (then "and N more")."""


def _contradicting_rows(frame: pd.DataFrame, eligible: pd.Series) -> pd.Series:
    """For every eligible row of a (ticker, time) whose rows disagree: a reason naming the rows it disagrees
    with and the values that differ; NaN for the other rows."""
    key = ["ticker", "window_start"]
    values = [*key, *PRICE_FIELDS, "volume"]
    out = pd.Series(np.nan, index=frame.index, dtype=object)
    sub = frame.loc[eligible, values]
    sub = sub.loc[sub.duplicated(key, keep=False)]
    label = frame["raw_row"] if "raw_row" in frame else pd.Series(frame.index + 1, index=frame.index)
    fields = (*PRICE_FIELDS, "volume")
    for _, group in sub.groupby(key, sort=False):
        distinct = group.drop_duplicates()  # each different version of the bar, at its first row
        if len(distinct) < 2:
            continue
        rows = distinct[list(fields)].itertuples(index=False)
        versions = [(j, tuple(v)) for j, v in zip(distinct.index, rows, strict=True)]
        counts = group.groupby(list(fields), sort=False, dropna=False).size()
        for i, row in zip(group.index, group[list(fields)].itertuples(index=False), strict=True):
            own = tuple(row)
            shown: list[str] = []
            for j, other in versions:
                if other == own:
                    continue
                if len(shown) == _SHOWN_VERSIONS:
                    break
                diffs = [f"{c} {a:g} vs {b:g}" for c, a, b in zip(fields, own, other, strict=True) if a != b]
                shown.append(f"row {_plain(label.at[j])} ({', '.join(diffs)})")
            rest = len(group) - int(counts.get(own, 1)) - len(shown)
            more = f" and {rest} more row{'s' if rest != 1 else ''}" if rest > 0 else ""
            out.at[i] = ("disagrees with " + "; ".join(shown) + more + " for the same ticker and time; none of "
                         "them stored (fix the file, or import the right row alone)")
    return out


def _any_repeated_key(keys: pd.DataFrame) -> bool:
    """Whether two rows share a (ticker, window_start); rows here have both (they passed the field checks)."""
    tickers, _ = pd.factorize(keys["ticker"], sort=False)
    times, distinct_times = pd.factorize(keys["window_start"], sort=False)
    combined = tickers.astype(np.int64) * max(len(distinct_times), 1) + times
    return bool(pd.Index(combined).has_duplicates)


def _to_ticks(good: pd.DataFrame) -> pd.DataFrame:
    volume = good["volume_exact"].to_numpy(dtype=np.int64) if "volume_exact" in good \
        else good["volume"].to_numpy().astype(np.int64)
    columns: dict[str, object] = {
        "ticker": good["ticker"].astype(str).to_numpy(),
        "window_start": good["window_start"].dt.as_unit("us").reset_index(drop=True),
        "volume": volume,
        "price_only": good["price_only"].to_numpy(dtype=bool) if "price_only" in good else False,
    }
    for name in PRICE_FIELDS:
        columns[name] = np.rint(good[name].to_numpy(dtype=float) * _TICK).astype(np.int64)
    if "raw_row" in good:
        columns["raw_row"] = good["raw_row"].to_numpy()
    return pd.DataFrame(columns)


def _rejects(bad: pd.DataFrame, reasons: pd.Series, kinds: pd.Series) -> pd.DataFrame:
    if bad.empty:  # the usual case: skip building records
        rows_dtype = bad["raw_row"].dtype if "raw_row" in bad else object
        return pd.DataFrame({"row_number": np.empty(0, dtype=rows_dtype), "raw": np.empty(0, dtype=np.float64),
                             "reason": np.empty(0, dtype=object), "kind": np.empty(0, dtype=object)})
    raw_cols = [c for c in bad.columns if c.startswith("raw_") and c != "raw_row"]
    source_cols = raw_cols or [c for c in bad.columns if c not in ("price_only", "time_error", "value_error",
                                                                   "volume_exact")]
    raws = [
        json.dumps({c.removeprefix("raw_"): _plain(v) for c, v in row.items()}, sort_keys=True)
        for row in bad[source_cols].to_dict("records")
    ]
    rows = bad["raw_row"] if "raw_row" in bad else pd.Series([None] * len(bad), index=bad.index)
    return pd.DataFrame({"row_number": rows.to_numpy(), "raw": raws, "reason": reasons.to_numpy(),
                         "kind": kinds.to_numpy()})


def _plain(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v if isinstance(v, int | float | str | bool) else str(v)
