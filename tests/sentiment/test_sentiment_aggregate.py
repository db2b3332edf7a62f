"""Aggregation: exact percentages, a hand-computed window, empty windows, idempotent writes."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tftrade.sentiment import SentimentError
from tftrade.sentiment.aggregate import (
    aggregate,
    calculate_exact_sentiment_percentages,
    read_aggregates,
    write_aggregates,
)
from tftrade.store.schema import reddit_sentiment_aggregated

counts = st.integers(min_value=0, max_value=10**9)


@given(counts, counts, counts)
def test_percentages_sum_to_exactly_100(b: int, r: int, n: int) -> None:
    pct = calculate_exact_sentiment_percentages(b, r, n)
    if b + r + n == 0:
        assert pct is None
        return
    assert pct is not None
    assert sum(pct) == Decimal("100.00")
    for p, c in zip(pct, (b, r, n), strict=True):
        assert p == p.quantize(Decimal("0.01"))
        assert abs(p - Decimal(c) * 100 / (b + r + n)) < Decimal("0.01")  # never more than a hundredth off
        assert (p == 0) <= (c * 10_000 < b + r + n)  # a share of 0.01% or more never shows as zero
        assert (c == 0) <= (p == 0)  # and no comments never shows as a share


def test_percentages_reject_negative() -> None:
    with pytest.raises(SentimentError, match="bearish=-1"):
        calculate_exact_sentiment_percentages(1, -1, 0)


def _mentions() -> pd.DataFrame:
    t = pd.Timestamp("2024-01-02 14:30", tz="UTC")
    return pd.DataFrame({
        "ticker": ["AAPL"] * 5 + ["TSLA"],
        "timestamp": [t + pd.Timedelta(seconds=s) for s in (0, 60, 120, 299, 300, 10)],
        "sentiment_score": [0.3, 0.31, -0.3, -0.9, 0.5, -0.5],
        "upvotes": [1, 10, 0, 3, 1, 2],
        "weight": [1.0, 1.0, 1.0, 0.5, 1.0, 1.0],
    })


def test_matches_hand_computed_window() -> None:
    frame = aggregate(_mentions(), "5min").frame
    first = frame[(frame["ticker"] == "AAPL")].iloc[0]
    assert first["time_window"] == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    # 0.3 and -0.3 are neutral (thresholds are strict); 0.31 bullish; -0.9 bearish
    assert (first["bullish_count"], first["bearish_count"], first["neutral_count"], first["total_comments"]) == (
        1, 1, 2, 4)
    assert first["avg_sentiment"] == round((0.3 + 0.31 - 0.3 - 0.5 * 0.9) / 3.5, 3)
    wu = [1 * 1, 1 * 10, 1 * 1, 0.5 * 3]
    expect = (0.3 * wu[0] + 0.31 * wu[1] - 0.3 * wu[2] - 0.9 * wu[3]) / sum(wu)
    assert first["weighted_sentiment"] == round(expect, 3)
    assert (first["bullish_pct"], first["bearish_pct"], first["neutral_pct"]) == (
        Decimal("25.00"), Decimal("25.00"), Decimal("50.00"))
    second = frame[(frame["ticker"] == "AAPL")].iloc[1]
    assert second["total_comments"] == 1 and second["bullish_pct"] == Decimal("100.00")


def test_zero_comment_windows_are_explicit() -> None:
    result = aggregate(_mentions(), "1min")
    aapl = result.frame[result.frame["ticker"] == "AAPL"]
    assert list(aapl["total_comments"]) == [1, 1, 1, 0, 1, 1]
    empty = aapl[aapl["total_comments"] == 0].iloc[0]
    assert empty["avg_sentiment"] is None and empty["bullish_pct"] is None
    assert result.empty_windows == 1
    assert aggregate(_mentions(), "1min", fill_empty=False).empty_windows == 0


@pytest.mark.parametrize("window", ["1min", "5min", "1h", "1d"])
def test_every_window_counts_every_mention(window: str) -> None:
    frame = aggregate(_mentions(), window).frame
    assert frame["total_comments"].sum() == 6
    assert (frame["time_window"].dt.tz is not None)


def test_unknown_window() -> None:
    with pytest.raises(SentimentError, match="unknown window '2min'"):
        aggregate(_mentions(), "2min")


def test_empty_input() -> None:
    empty = _mentions().iloc[:0]
    result = aggregate(empty, "5min")
    assert result.windows == 0 and list(result.frame.columns)[:3] == ["ticker", "window", "time_window"]


def test_write_is_idempotent(any_engine: Engine) -> None:
    frame = aggregate(_mentions(), "1min").frame
    assert write_aggregates(any_engine, frame) == len(frame)
    write_aggregates(any_engine, frame)
    with any_engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(reddit_sentiment_aggregated)).scalar_one()
    assert n == len(frame)
    stored = read_aggregates(any_engine, "1min", "AAPL")
    assert list(stored["total_comments"]) == [1, 1, 1, 0, 1, 1]
    assert sum(stored.iloc[0][["bullish_pct", "bearish_pct", "neutral_pct"]]) == Decimal("100.00")
    changed = frame.assign(bullish_count=frame["bullish_count"] + 1)
    write_aggregates(any_engine, changed)
    assert read_aggregates(any_engine, "1min", "AAPL")["bullish_count"].iloc[0] == frame["bullish_count"].iloc[0] + 1


def test_intraday_empty_windows_are_filled_only_inside_sessions() -> None:
    m = pd.DataFrame({"ticker": ["X", "X"], "sentiment_score": [0.5, -0.5],
                      "timestamp": pd.to_datetime(["2024-01-05 20:58:30", "2024-01-08 14:31:10"], utc=True)})
    frame = aggregate(m, "1min").frame
    # Friday 15:58 and 15:59 New York, then Monday 09:30 and 09:31: no weekend minutes
    assert [str(t) for t in frame["time_window"]] == [
        "2024-01-05 20:58:00+00:00", "2024-01-05 20:59:00+00:00", "2024-01-08 14:30:00+00:00",
        "2024-01-08 14:31:00+00:00"]
    assert list(frame["total_comments"]) == [1, 0, 0, 1]
    weekend = pd.DataFrame({"ticker": ["X"], "sentiment_score": [0.1],
                            "timestamp": pd.to_datetime(["2024-01-06 12:00:00"], utc=True)})
    both = aggregate(pd.concat([m, weekend]), "1h").frame
    assert "2024-01-06 12:00:00+00:00" in [str(t) for t in both["time_window"]]  # a comment keeps its window
    assert len(both) == 3  # Fri 20:00, Sat 12:00, Mon 14:00: no empty night or weekend hours
