"""Row-level checks on bars, vectorised: each row is kept, counted as a duplicate, or rejected with a reason.

Checks: every field present and parseable; prices positive; low ≤ open, close ≤ high;
volume ≥ 0; minute bars start inside an XNYS session and daily bars fall on a
session; no two rows of one file share a (ticker, time). A row that repeats an
earlier one exactly is a duplicate; one that disagrees with it is rejected. A bad
row never takes a good neighbour with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from tftrade.core.calendar import TradingCalendar
from tftrade.core.types import PRICE_SCALE, Timeframe

PRICE_FIELDS = ("open", "high", "low", "close")
_TICK = 10**PRICE_SCALE
_MAX_TICKS = 10**14  # NUMERIC(18, 4)


@dataclass(frozen=True)
class ValidationResult:
    """Rows split three ways; ``good`` has integer price ticks (1/10,000) and int volume."""

    good: pd.DataFrame
    rejects: pd.DataFrame
    duplicates: int

    @property
    def rows_read(self) -> int:
        return len(self.good) + len(self.rejects) + self.duplicates


def validate_bars(frame: pd.DataFrame, timeframe: Timeframe) -> ValidationResult:
    """Check every row of a normalised bar frame (see :mod:`tftrade.data.tabular`).

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
    reasons = _field_reasons(frame, timeframe)
    bad = reasons.str.len() > 0
    dup_exact, dup_conflict = _in_file_duplicates(frame, ~bad)
    reasons = reasons.where(~dup_conflict, "conflicts with an earlier row for the same ticker and time")
    rejected = bad | dup_conflict
    keep = ~rejected & ~dup_exact
    return ValidationResult(
        good=_to_ticks(frame.loc[keep]),
        rejects=_rejects(frame.loc[rejected], reasons[rejected]),
        duplicates=int(dup_exact.sum()),
    )


def _field_reasons(frame: pd.DataFrame, timeframe: Timeframe) -> pd.Series:
    """One reason string per row ("" when the row passed); text is built only for failing rows."""
    checks: list[tuple[np.ndarray, Callable[[pd.DataFrame], pd.Series | str]]] = []

    def add(mask: pd.Series | np.ndarray, text: Callable[[pd.DataFrame], pd.Series | str]) -> None:
        checks.append((np.asarray(mask, dtype=bool), text))

    ticker = frame["ticker"].astype("string").fillna("")
    add((ticker == "") | (ticker.str.len() > 16), lambda f: "ticker missing or longer than 16 characters")
    ts = frame["window_start"]
    add(ts.isna(), lambda f: _raw_or_missing(f, "window_start", "time"))
    for field in (*PRICE_FIELDS, "volume"):
        add(frame[field].isna(), partial(_raw_or_missing, field=field, label=field))
    for field in PRICE_FIELDS:
        v = frame[field]
        add(v.notna() & (v <= 0), partial(_value_text, field=field, prefix=f"non-positive {field} "))
        add(v.notna() & (v * _TICK >= _MAX_TICKS), partial(_value_text, field=field, prefix=f"{field} too large "))
    o, h, low, c = (frame[f] for f in PRICE_FIELDS)
    add(h < np.maximum(o, c), lambda f: "high " + f["high"].astype(str) + " below max(open, close) "
        + np.maximum(f["open"], f["close"]).astype(str))
    add(low > np.minimum(o, c), lambda f: "low " + f["low"].astype(str) + " above min(open, close) "
        + np.minimum(f["open"], f["close"]).astype(str))
    vol = frame["volume"]
    add(vol.notna() & (vol < 0), lambda f: "negative volume " + f["volume"].astype(str))
    add(vol.notna() & (vol != np.floor(vol)), lambda f: "fractional volume " + f["volume"].astype(str))
    add(_outside_session(ts, timeframe), lambda f: _session_text(f["window_start"], timeframe))

    any_bad = np.logical_or.reduce([m for m, _ in checks]) if checks else np.zeros(len(frame), bool)
    out = pd.Series("", index=frame.index, dtype=object)
    if not any_bad.any():
        return out
    bad = frame.loc[any_bad]
    columns = []
    for mask, text in checks:
        sub = mask[any_bad]
        if sub.any():
            msg = text(bad)
            if isinstance(msg, pd.Series):
                values = np.asarray(msg.astype(str), dtype=object)
            else:
                values = np.full(len(bad), msg, dtype=object)
            columns.append(np.where(sub, values, ""))
    out.loc[bad.index] = ["; ".join(x for x in parts if x) for parts in zip(*columns, strict=True)]
    return out


def _value_text(frame: pd.DataFrame, field: str, prefix: str) -> pd.Series:
    return prefix + frame[field].astype(str)


def _raw_or_missing(frame: pd.DataFrame, field: str, label: str) -> pd.Series:
    raw_col = f"raw_{field}"
    if raw_col not in frame:
        return pd.Series(f"missing {label}", index=frame.index)
    raw = frame[raw_col]
    text = raw.astype(str).map(lambda s: f"unparseable {label} {s!r}")
    return text.where(raw.notna() & (raw.astype(str).str.strip() != ""), f"missing {label}")


def _outside_session(ts: pd.Series, timeframe: Timeframe) -> np.ndarray:
    valid = ts.notna().to_numpy()
    out = np.zeros(len(ts), dtype=bool)
    if not valid.any():
        return out
    ns = ts[valid].dt.as_unit("ns").astype("int64").to_numpy()
    first = pd.Timestamp(ns.min(), tz="UTC").tz_convert("America/New_York").date()
    last = pd.Timestamp(ns.max(), tz="UTC").tz_convert("America/New_York").date()
    cal = TradingCalendar(first, last)
    if timeframe == "1min":
        out[valid] = ~cal.in_session(ns)
    else:
        out[valid] = ~np.isin(ns, cal.session_midnights_ns())
    return out


def _session_text(ts: pd.Series, timeframe: Timeframe) -> pd.Series:
    what = "outside XNYS trading hours" if timeframe == "1min" else "not an XNYS trading day"
    return ts.astype(str) + f" is {what}"


def _in_file_duplicates(frame: pd.DataFrame, eligible: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Among rows that passed the field checks: exact repeats, and repeats that disagree."""
    key = ["ticker", "window_start"]
    values = [*key, *PRICE_FIELDS, "volume"]
    exact = pd.Series(False, index=frame.index)
    conflict = pd.Series(False, index=frame.index)
    keys = frame.loc[eligible, key]
    if not keys.duplicated(keep=False).any():
        return exact, conflict
    sub = frame.loc[eligible, values]
    repeat_key = sub.duplicated(key, keep="first")
    repeat_row = sub.duplicated(values, keep="first")
    exact.loc[sub.index] = repeat_row
    conflict.loc[sub.index] = repeat_key & ~repeat_row
    return exact, conflict


def _to_ticks(good: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "ticker": good["ticker"].astype(str).to_numpy(),
            "window_start": good["window_start"].dt.as_unit("us").reset_index(drop=True),
            "volume": good["volume"].to_numpy().astype(np.int64),
            "price_only": good["price_only"].to_numpy(dtype=bool) if "price_only" in good else False,
        }
    )
    for field in PRICE_FIELDS:
        out[field] = np.rint(good[field].to_numpy(dtype=float) * _TICK).astype(np.int64)
    return out


def _rejects(bad: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    raw_cols = [c for c in bad.columns if c.startswith("raw_") and c != "raw_row"]
    source_cols = raw_cols or [c for c in bad.columns if c != "price_only"]
    raws = [
        json.dumps({c.removeprefix("raw_"): _plain(v) for c, v in row.items()}, sort_keys=True)
        for row in bad[source_cols].to_dict("records")
    ]
    rows = bad["raw_row"] if "raw_row" in bad else pd.Series([None] * len(bad), index=bad.index)
    return pd.DataFrame({"row_number": rows.to_numpy(), "raw": raws, "reason": reasons.to_numpy()})


def _plain(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v if isinstance(v, int | float | str | bool) else str(v)
