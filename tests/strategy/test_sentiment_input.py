"""Sentiment as a strategy input: momentum features per ticker, causal, aligned by ticker."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.strategy.sentiment_input import SentimentPanel
from tftrade.strategy.signals import SignalConfig, make_signals, sentiment_confidence

T = 80


def _windows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = np.arange(T, dtype=np.int64) * 60_000_000_000
    raw = np.full((T, 2), np.nan)
    raw[:40, 0], raw[40:, 0] = -0.5, 0.8  # ZZZ turns bullish half-way
    count = np.zeros((T, 2))
    count[:, 0] = 2
    count[:, 1] = np.r_[np.ones(T - 1), 30.0]  # AAA: one comment a minute, then a burst
    raw[:, 1] = 0.0
    return ts, raw, count


def test_momentum_features_are_per_ticker_and_causal() -> None:
    ts, raw, count = _windows()
    p = SentimentPanel.from_windows(ts, ("ZZZ", "AAA"), raw, count)  # not in alphabetical order
    assert p.trend is not None and p.volume_z is not None
    assert p.score[-1, 0] > 0.7 and p.trend[-1, 0] == 1 and p.trend[39, 0] <= 0
    assert p.volume_z[-1, 1] > 3 and abs(p.score[-1, 1]) < 1e-12
    prefix = SentimentPanel.from_windows(ts[:50], ("ZZZ", "AAA"), raw[:50], count[:50])
    np.testing.assert_allclose(prefix.score, p.score[:50])
    got = p.rows(int(ts[-1]) + 30_000_000_000, ("AAA", "NEW", "ZZZ"))
    assert got is not None
    score, trend, vol = got
    assert trend[2] == 1 and trend[0] == p.trend[-1, 1]
    assert np.isnan(score[1]) and score[2] == p.score[-1, 0] and vol[0] == p.volume_z[-1, 1]


def test_signals_carry_momentum_and_bursts_in_confidence_and_rationale() -> None:
    ts, raw, count = _windows()
    p = SentimentPanel.from_windows(ts, ("ZZZ", "AAA"), raw, count)
    sent, trend, vol = p.rows(int(ts[-1]), ("ZZZ", "AAA"))  # type: ignore[misc]
    q50 = np.array([0.01, 0.01])
    sig = make_signals(q50 - 0.01, q50, q50 + 0.01, np.full(2, 0.5), sent, np.full(2, 1e9), np.full(2, 10.0),
                       15.0, SignalConfig(), trend, vol)
    assert sig.sentiment_confidence[0] == 1.0  # strong, rising, agreeing sentiment: full support
    weak = sentiment_confidence(q50, 0.2 * sent, trend)
    assert weak[0] == pytest.approx(0.5 + 0.2 * sent[0] + 0.1)  # rising momentum adds 0.1 to the level's support
    assert "momentum up" in sig.reasons[0] and "comment burst z" in sig.reasons[1]
