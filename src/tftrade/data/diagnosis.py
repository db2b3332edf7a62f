"""Judging an ingest as a whole: is it ``ok`` or ``suspect``, and what is the likely cause.

A run is *suspect* when more than :data:`SUSPECT_SHARE` of its rows were quarantined,
or when most intraday bars fall outside the session. Whenever more than 5 % of the bars
fall outside it, the times are re-read under other assumptions — naive times in other
zones, or aware times shifted by whole hours — and when one puts at least 90 % of the
bars inside the session, and 10 points more than now, it is named ("times look like
UTC: try --tz UTC") and the run counts as shifted in time. Bars that the extended session
(04:00-20:00) would hold, read with the regular one, are named too ("try --session extended").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tftrade.core.calendar import TradingCalendar
from tftrade.data.timeframes import is_intraday
from tftrade.data.validation import Session, in_session

SUSPECT_SHARE = 0.02
"""More than this share of rows quarantined makes a run suspect."""
CANDIDATE_ZONES = ("UTC", "America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London",
                   "Europe/Berlin", "Asia/Tokyo", "Asia/Hong_Kong", "Asia/Kolkata", "Australia/Sydney")
_SAMPLE = 20_000
_MIN_TIMES = 30  # fewer distinct bar times than this fit too many zones to name one
_CHECK_BELOW = 0.95  # re-read the times when fewer than this share of bars is inside the session
_BETTER_AT_LEAST, _BETTER_BY = 0.9, 0.1  # a re-reading is named when it puts this many inside, this many more


@dataclass(frozen=True)
class Verdict:
    """``status`` (ok | suspect), a one-line ``cause`` when suspect, and the most common quarantine reason."""

    status: str
    cause: str | None
    top_reason: dict[str, object] | None
    time_shift_suspected: bool = False


def judge(rows_read: int, rejects: pd.DataFrame, times: pd.Series, timeframe: str, session: Session,
          naive_tz: str | None, epoch: bool = False) -> Verdict:
    """Judge a run from its rejects and the bar times it read.

    Parameters
    ----------
    rows_read
        Rows in the input.
    rejects
        Quarantined rows with ``reason`` and ``kind``.
    times
        UTC times of the rows that had one (for the time-zone hypotheses).
    naive_tz
        The zone naive times were read in, or ``None`` when the file carried offsets or epochs.
    """
    top = _top_reason(rejects)
    share = len(rejects) / rows_read if rows_read else 0.0
    cause = None
    shifted = False
    if is_intraday(timeframe) and len(times.dropna()):
        current = _inside_share(times, session)
        if current < _CHECK_BELOW and times.nunique() >= _MIN_TIMES:
            cause = _time_hypothesis(times, session, naive_tz, epoch, current)
            shifted = cause is not None
            if cause is None and current < 0.5:
                cause = f"{1 - current:.0%} of bars fall outside {session} trading hours"
            if (cause is None or not shifted) and session == "regular" \
                    and _inside_share(times, "extended") >= _BETTER_AT_LEAST:
                hint = "the bars look like extended hours (04:00-20:00 New York): try --session extended"
                cause = f"{cause or f'{share:.1%} of rows quarantined'}; {hint}"
    if is_intraday(timeframe) and not shifted and len(times.dropna()):
        end = _end_labelled(times, timeframe, session)
        if end:
            cause = f"{cause}; {end}" if cause else end
    if cause is None and share > SUSPECT_SHARE:
        cause = f"{share:.1%} of rows quarantined"
    if cause is None:
        return Verdict("ok", None, top)
    if top is not None:
        cause += f"; most common reason: {top['kind']} ({top['rows']} rows, e.g. {top['example']})"
    return Verdict("suspect", cause, top, shifted)


def _end_labelled(times: pd.Series, timeframe: str, session: Session) -> str | None:
    """A hint when most days have a bar at the session's close and none at its open: bars stamped by their end.

    Only the bar at the close is then quarantined (a fraction of a percent), and every other bar
    would be stored one bar late.
    """
    wall = times.dropna().dt.tz_convert("America/New_York").dt.tz_localize(None)
    ns = np.asarray(wall.dt.as_unit("ns").astype("int64").to_numpy(), dtype=np.int64)
    minute, day = (ns // 60_000_000_000) % 1440, ns // 86_400_000_000_000
    first, last = (570, 960) if session == "regular" else (240, 1200)
    n_days = len(np.unique(day))
    if n_days < 2:
        return None
    at_open = len(np.unique(day[minute == first])) / n_days
    at_close = len(np.unique(day[minute == last])) / n_days
    if at_close < 0.8 or at_open > 0.2:
        return None
    return (f"the bars look labelled by their end (a bar at {last // 60}:00 on {at_close:.0%} of days, none at "
            f"{first // 60:02d}:{first % 60:02d}): each is stored one bar late; write bar start times")


def _top_reason(rejects: pd.DataFrame) -> dict[str, object] | None:
    if rejects.empty:
        return None
    kinds = rejects["kind"].fillna("other") if "kind" in rejects else pd.Series("other", index=rejects.index)
    counts = kinds.value_counts()
    kind = str(counts.index[0])
    example = str(rejects.loc[kinds == kind, "reason"].iloc[0])
    return {"kind": kind, "rows": int(counts.iloc[0]), "example": example[:200]}


def _inside_share(times: pd.Series, session: Session) -> float:
    ns = _sample_ns(times)
    if len(ns) == 0:
        return 1.0
    return float(_inside(ns, session).mean())


def _inside(ns: np.ndarray, session: Session) -> np.ndarray:
    first = pd.Timestamp(ns.min(), tz="UTC").tz_convert("America/New_York").date()
    last = pd.Timestamp(ns.max(), tz="UTC").tz_convert("America/New_York").date()
    cal = TradingCalendar(first - pd.Timedelta(days=1), last + pd.Timedelta(days=1))
    return in_session(cal, ns, session)


def _sample_ns(times: pd.Series) -> np.ndarray:
    t = times.dropna()
    if len(t) > _SAMPLE:
        t = t.iloc[np.linspace(0, len(t) - 1, _SAMPLE).astype(int)]
    return np.asarray(t.dt.as_unit("ns").astype("int64").to_numpy(), dtype=np.int64)


def _time_hypothesis(times: pd.Series, session: Session, naive_tz: str | None, epoch: bool,
                     current: float) -> str | None:
    """The re-reading of the times that puts most bars inside the session, if clearly better."""
    t = times.dropna()
    if len(t) > _SAMPLE:
        t = t.iloc[np.linspace(0, len(t) - 1, _SAMPLE).astype(int)]
    best: tuple[float, str] = (current, "")
    if naive_tz is not None:
        wall = t.dt.tz_convert(naive_tz).dt.tz_localize(None)
        for zone in CANDIDATE_ZONES:
            if zone == naive_tz:
                continue
            local = wall.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dropna()
            share = _inside_share(local.dt.tz_convert("UTC"), session) if len(local) else 0.0
            if share > best[0]:
                best = (share, f"times look like {zone} time, not {naive_tz}: try --tz {zone}")
    else:
        for hours in range(-12, 13):
            if hours == 0:
                continue
            share = _inside_share(t + pd.Timedelta(hours=hours), session)
            if share > best[0]:
                what = "epoch times" if epoch else "the time offsets in the file"
                best = (share, f"times look {abs(hours)} h {'early' if hours > 0 else 'late'}: {what} may be "
                               "wrong (local times written as UTC?)")
    if best[1] and best[0] >= _BETTER_AT_LEAST and best[0] - current >= _BETTER_BY:
        return f"{1 - current:.0%} of bars fall outside {session} trading hours; {best[1]}"
    return None
