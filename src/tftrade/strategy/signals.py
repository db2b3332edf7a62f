r"""Signals: per ticker, what the forecast says, how sure it is, whether sentiment agrees, and whether it may trade.

For each ticker at decision time:

* **expected return** — the TFT's P50 of the cumulative log return over the traded horizon;
  the 10–90 spread and the forecast's ``confidence`` (see :mod:`tftrade.forecast.prediction`)
  travel with it.
* **sentiment confidence** :math:`c \in [0, 1]` — how much social sentiment and its momentum
  support the forecast's direction: with :math:`s \in [-1, 1]` the ticker's smoothed sentiment
  (fast EWMA) and :math:`m \in \{-1, 0, 1\}` its momentum (sign of fast − slow EWMA),
  :math:`c = \mathrm{clip}(0.5 + \mathrm{sign}(q_{50})(s + 0.1\,m), 0, 1)`; 0.5 when there is no
  sentiment. It feeds the Black–Litterman view uncertainty Ω. Comment-volume bursts
  (z > 3 against the trailing windows) are reported in the rationale.
* **tradable** — a finite forecast, a price, dollar ADV ≥ ``min_dollar_adv`` and forecast
  confidence ≥ ``min_confidence``.
* **regime** — while VIX > ``vix_block`` no new positions are opened (the strategy holds).

Every ticker keeps a one-line rationale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tftrade.core.types import BoolArray, Float64Array


class SignalConfig(BaseModel):
    """Thresholds of :func:`make_signals` (frozen, unknown keys rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_dollar_adv: float = Field(default=0.0, ge=0, description="skip names trading less per day")
    min_confidence: float = Field(default=0.0, ge=0, le=1, description="skip forecasts less confident")
    vix_block: float = Field(default=35.0, gt=0, description="no new positions while VIX is above this")


@dataclass(frozen=True, slots=True)
class Signals:
    """Signals of one cross-section (arrays over the universe)."""

    expected: Float64Array
    q_low: Float64Array
    q_high: Float64Array
    confidence: Float64Array
    sentiment: Float64Array
    sentiment_confidence: Float64Array
    tradable: BoolArray
    vix_blocked: bool
    reasons: tuple[str, ...]


MOMENTUM_WEIGHT = 0.1
BURST_Z = 3.0


def sentiment_confidence(expected: Float64Array, sentiment: Float64Array,
                         trend: Float64Array | None = None) -> Float64Array:
    """``clip(0.5 + sign(expected) · (s + 0.1 · trend), 0, 1)``; 0.5 where sentiment is unknown.

    >>> sentiment_confidence(np.array([0.01, 0.01, -0.01, 0.01]), np.array([0.3, -0.3, -0.8, np.nan])).tolist()
    [0.8, 0.2, 1.0, 0.5]
    >>> sentiment_confidence(np.array([0.01, 0.01]), np.array([0.3, 0.3]), np.array([1.0, -1.0])).round(2).tolist()
    [0.9, 0.7]
    """
    s = np.nan_to_num(sentiment, nan=0.0)
    if trend is not None:
        s = s + MOMENTUM_WEIGHT * np.where(np.isnan(sentiment), 0.0, np.nan_to_num(trend))
    out: Float64Array = np.clip(0.5 + np.sign(np.nan_to_num(expected)) * s, 0.0, 1.0)
    return out


def make_signals(
    q10: Float64Array, q50: Float64Array, q90: Float64Array, confidence: Float64Array,
    sentiment: Float64Array | None, dollar_adv: Float64Array, prices: Float64Array, vix: float,
    config: SignalConfig, trend: Float64Array | None = None, volume_z: Float64Array | None = None,
) -> Signals:
    """Combine forecasts, sentiment (level and momentum), liquidity and regime into :class:`Signals`."""
    n = q50.shape[0]
    sent = np.full(n, np.nan) if sentiment is None else sentiment
    finite = np.isfinite(q10) & np.isfinite(q50) & np.isfinite(q90) & np.isfinite(prices) & (prices > 0)
    liquid = dollar_adv >= config.min_dollar_adv
    sure = np.nan_to_num(confidence) >= config.min_confidence
    tradable = finite & liquid & sure
    blocked = bool(np.isfinite(vix) and vix > config.vix_block)
    c_sent = sentiment_confidence(q50, sent, trend)
    reasons = []
    # Python floats and bools (``tolist``): the same text as NumPy scalars give, formatted several times faster
    q10_, q50_, q90_, conf_, sent_, c_sent_ = (a.tolist() for a in (q10, q50, q90, confidence, sent, c_sent))
    finite_, liquid_, sure_, adv_ = finite.tolist(), liquid.tolist(), sure.tolist(), dollar_adv.tolist()
    extra = trend is not None or volume_z is not None
    for i in range(n):
        if not finite_[i]:
            reasons.append("no forecast or price")
            continue
        s = sent_[i]
        text = (f"P50 {q50_[i]:+.3%} [{q10_[i]:+.3%}, {q90_[i]:+.3%}] conf {conf_[i]:.2f}; "
                f"sentiment {'n/a' if math.isnan(s) else f'{s:+.2f}'}"
                f"{_momentum_text(trend, volume_z, i) if extra else ''} (support {c_sent_[i]:.2f})")
        if not liquid_[i]:
            text += f"; illiquid (ADV ${adv_[i]:,.0f} < ${config.min_dollar_adv:,.0f})"
        if not sure_[i]:
            text += f"; confidence below {config.min_confidence:.2f}"
        if blocked:
            text += f"; VIX {vix:.1f} > {config.vix_block:.0f}: no new positions"
        reasons.append(text)
    return Signals(q50, q10, q90, confidence, sent, c_sent, tradable, blocked, tuple(reasons))


def _momentum_text(trend: Float64Array | None, volume_z: Float64Array | None, i: int) -> str:
    parts = []
    if trend is not None and np.isfinite(trend[i]):
        parts.append({1: "momentum up", -1: "momentum down"}.get(int(trend[i]), "momentum flat"))
    if volume_z is not None and np.isfinite(volume_z[i]) and volume_z[i] > BURST_Z:
        parts.append(f"comment burst z {volume_z[i]:.1f}")
    return "".join(f", {p}" for p in parts)
