"""A synthetic market with known, recoverable structure.

Deterministic by seed. Each ticker's one-bar log return is

.. math::

    r_{i,t} = \\beta_i m_t + \\gamma_i f_{k(i),t} + a_i S_{i,t-L} + e_{i,t} + J_{i,t}

where :math:`m_t` is a market factor with GARCH(1,1) volatility scaled up in a
high-volatility regime, :math:`f_k` a sector factor, :math:`S_i` a standardised
AR(1) sentiment process that **leads** returns by :math:`L` bars, :math:`e_i`
GARCH idiosyncratic noise and :math:`J` jumps (larger on earnings days).
:math:`a_i` is set so lagged sentiment explains ``sentiment_r2`` of the
variance of the non-jump return. Comments are drawn from the same sentiment
process, so the lead shows up in aggregated social data too. Every planted
parameter comes back in :class:`PlantedParameters`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tftrade.core.calendar import TradingCalendar
from tftrade.core.timeframes import bar_minutes, bar_ns, bar_starts_ns, is_intraday, periods_per_year
from tftrade.core.types import BoolArray, Float64Array, Int64Array, Security, Timeframe
from tftrade.data.universe import synthetic_universe

_NY = "America/New_York"


class SyntheticConfig(BaseModel):
    """What to generate. Frozen; unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_tickers: int = Field(10, ge=1, le=2000)
    days: int = Field(20, ge=1, le=5000, description="trading sessions")
    seed: int = 0
    timeframe: Timeframe = Field("1min", description="bar length: 1min, 5min, 15min, 30min, 1h or 1day")
    start: date = date(2024, 1, 2)
    sentiment_lead: int = Field(5, ge=0, description="bars by which sentiment leads returns")
    sentiment_r2: float = Field(0.25, ge=0, lt=1, description="share of return variance explained by lagged sentiment")
    sentiment_persistence: float = Field(0.9, ge=0, lt=1, description="AR(1) coefficient of the sentiment process")
    comments_per_bar: float = Field(0.3, ge=0, description="mean comments per ticker per bar")
    jump_prob: float = Field(0.0005, ge=0, le=1)
    jump_scale: float = Field(8.0, gt=0, description="jump size in units of the bar's volatility")
    earnings_every: int = Field(63, ge=1, description="sessions between earnings dates")
    high_vol_prob: float = Field(0.001, ge=0, le=1, description="chance per bar of entering the high-vol regime")
    high_vol_stay: float = Field(0.995, ge=0, lt=1, description="chance per bar of staying in it")
    spam_bursts: int = Field(3, ge=0, description="single-author duplicate-comment bursts to plant")


@dataclass(frozen=True)
class PlantedParameters:
    """The structure the generator planted, for tests to recover."""

    market_beta: Float64Array
    sector_beta: Float64Array
    sentiment_coef: Float64Array
    sentiment_lead: int
    sentiment_r2: float
    earnings_sessions: dict[str, list[date]]
    high_vol_regime: BoolArray
    jump_mask: BoolArray


@dataclass(frozen=True)
class SyntheticMarket:
    """A generated market: arrays are time × ticker, times are UTC nanoseconds."""

    config: SyntheticConfig
    securities: list[Security]
    timestamps: Int64Array
    open: Float64Array
    high: Float64Array
    low: Float64Array
    close: Float64Array
    volume: Int64Array
    returns: Float64Array
    market_returns: Float64Array
    sentiment: Float64Array
    vix: Float64Array
    comments: pd.DataFrame
    planted: PlantedParameters
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def tickers(self) -> list[str]:
        return [s.ticker for s in self.securities]

    def bars_frame(self) -> pd.DataFrame:
        """Return the bars in long form: ticker, window_start (UTC), open, high, low, close, volume."""
        n_t, n = self.close.shape
        return pd.DataFrame(
            {
                "ticker": np.tile(np.array(self.tickers, dtype=object), n_t),
                "window_start": pd.to_datetime(np.repeat(self.timestamps, n), utc=True),
                "open": self.open.ravel(),
                "high": self.high.ravel(),
                "low": self.low.ravel(),
                "close": self.close.ravel(),
                "volume": self.volume.ravel(),
            }
        )

    def vix_frame(self) -> pd.DataFrame:
        """Return the VIX-like series, one value per bar."""
        return pd.DataFrame({"window_start": pd.to_datetime(self.timestamps, utc=True), "vix": self.vix})


def generate_market(config: SyntheticConfig | None = None) -> SyntheticMarket:
    """Generate a market from ``config`` (deterministic by ``config.seed``).

    Examples
    --------
    >>> m = generate_market(SyntheticConfig(n_tickers=3, days=2, seed=1))
    >>> m.close.shape
    (780, 3)
    >>> generate_market(SyntheticConfig(n_tickers=2, days=2, timeframe="15min")).close.shape
    (52, 2)
    >>> bool((m.low <= np.minimum(m.open, m.close)).all())
    True
    """
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    securities = synthetic_universe(cfg.n_tickers)
    times, minute_of_day, session_idx, sessions = _bar_times(cfg)
    n_t, n = len(times), cfg.n_tickers
    bar_vol = 0.2 / np.sqrt(periods_per_year(cfg.timeframe))  # 20 % annualised market volatility

    regime = _regime(rng, n_t, cfg)
    market = _garch(rng, n_t, 1, bar_vol, regime)[:, 0]
    sector_names = sorted({s.sector for s in securities})
    sector_of = np.array([sector_names.index(s.sector) for s in securities])
    sector_f = _garch(rng, n_t, len(sector_names), 0.6 * bar_vol, regime)[:, sector_of]
    idio = _garch(rng, n_t, n, 1.2 * bar_vol, regime)
    beta = rng.uniform(0.6, 1.4, n)
    gamma = rng.uniform(0.5, 1.0, n)
    base = beta * market[:, None] + gamma * sector_f + idio

    sentiment = _ar1(rng, n_t, n, cfg.sentiment_persistence)
    lagged = np.zeros_like(sentiment)
    lead = min(cfg.sentiment_lead, n_t)
    lagged[lead:] = sentiment[: n_t - lead] if lead else sentiment
    coef = np.sqrt(cfg.sentiment_r2 / (1 - cfg.sentiment_r2)) * base.std(axis=0)
    jumps, jump_mask, earnings = _jumps(rng, cfg, securities, session_idx, minute_of_day, sessions, bar_vol)
    returns = base + coef * lagged + jumps

    prices = _prices(rng, returns, bar_vol, minute_of_day)
    volume = _volume(rng, returns, minute_of_day, bar_vol, cfg.timeframe)
    vix = _vix(rng, market, regime, bar_vol, cfg.timeframe)
    comments = _comments(rng, cfg, securities, times, sentiment)
    planted = PlantedParameters(
        market_beta=beta,
        sector_beta=gamma,
        sentiment_coef=coef,
        sentiment_lead=cfg.sentiment_lead,
        sentiment_r2=cfg.sentiment_r2,
        earnings_sessions=earnings,
        high_vol_regime=regime,
        jump_mask=jump_mask,
    )
    securities = [
        Security(s.ticker, s.name, s.sector, float(np.round(np.exp(rng.normal(25, 1)), -6)))
        for s in securities
    ]
    return SyntheticMarket(
        config=cfg,
        securities=securities,
        timestamps=times,
        open=prices[0],
        high=prices[1],
        low=prices[2],
        close=prices[3],
        volume=volume,
        returns=returns,
        market_returns=market,
        sentiment=sentiment,
        vix=vix,
        comments=comments,
        planted=planted,
    )


def _bar_times(cfg: SyntheticConfig) -> tuple[Int64Array, Int64Array, Int64Array, list[date]]:
    """Bar start times (UTC ns), minute of session, session index, and the sessions."""
    # Ask for enough calendar days to hold cfg.days sessions (≈ 252 of 365, plus holidays).
    span = pd.Timestamp(cfg.start) + pd.Timedelta(days=int(cfg.days * 1.6) + 10)
    cal = TradingCalendar(cfg.start, span.date())
    sessions = cal.sessions[: cfg.days]
    if len(sessions) < cfg.days:
        raise ValueError(f"calendar has only {len(sessions)} sessions after {cfg.start}; asked for {cfg.days}")
    cal = TradingCalendar(sessions[0], sessions[-1])
    times = bar_starts_ns(cal, cfg.timeframe)
    if not is_intraday(cfg.timeframe):
        return times, np.zeros(len(times), dtype=np.int64), np.arange(len(times)), sessions
    opens = cal.opens_ns()
    session_idx = np.searchsorted(opens, times, side="right") - 1
    minute = (times - opens[session_idx]) // 60_000_000_000
    return times, minute.astype(np.int64), session_idx.astype(np.int64), sessions


def _regime(rng: np.random.Generator, n_t: int, cfg: SyntheticConfig) -> BoolArray:
    u = rng.random(n_t)
    state = np.zeros(n_t, dtype=bool)
    for t in range(1, n_t):
        state[t] = u[t] < cfg.high_vol_stay if state[t - 1] else u[t] < cfg.high_vol_prob
    return state


def _garch(rng: np.random.Generator, n_t: int, n: int, vol: float, regime: BoolArray) -> Float64Array:
    """GARCH(1,1) shocks with unconditional volatility ``vol``, ×2.5 in the high-vol regime."""
    alpha, beta_g = 0.08, 0.9
    omega = vol**2 * (1 - alpha - beta_g)
    z = rng.standard_normal((n_t, n))
    out = np.empty((n_t, n))
    var = np.full(n, vol**2)
    scale = np.where(regime, 2.5, 1.0)
    for t in range(n_t):
        out[t] = np.sqrt(var) * z[t] * scale[t]
        var = omega + alpha * (out[t] / scale[t]) ** 2 + beta_g * var
    return out


def _ar1(rng: np.random.Generator, n_t: int, n: int, phi: float) -> Float64Array:
    """A unit-variance AR(1) process per column."""
    eps = rng.standard_normal((n_t, n)) * np.sqrt(1 - phi**2)
    out = np.empty((n_t, n))
    out[0] = rng.standard_normal(n)
    for t in range(1, n_t):
        out[t] = phi * out[t - 1] + eps[t]
    return out


def _jumps(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    securities: list[Security],
    session_idx: Int64Array,
    minute_of_day: Int64Array,
    sessions: list[date],
    bar_vol: float,
) -> tuple[Float64Array, BoolArray, dict[str, list[date]]]:
    n_t, n = len(session_idx), len(securities)
    mask = rng.random((n_t, n)) < cfg.jump_prob
    size = rng.standard_normal((n_t, n)) * cfg.jump_scale * bar_vol
    offsets = rng.integers(0, cfg.earnings_every, n)
    earnings: dict[str, list[date]] = {}
    first_bar = minute_of_day == 0
    for i, sec in enumerate(securities):
        days = np.arange(offsets[i], len(sessions), cfg.earnings_every)
        earnings[sec.ticker] = [sessions[d] for d in days]
        hit = np.isin(session_idx, days) & first_bar
        mask[hit, i] = True
        size[hit, i] = rng.standard_normal(int(hit.sum())) * 0.04  # ~4 % earnings move
    return np.where(mask, size, 0.0), mask, earnings


def _prices(
    rng: np.random.Generator, returns: Float64Array, bar_vol: float, minute_of_day: Int64Array
) -> tuple[Float64Array, Float64Array, Float64Array, Float64Array]:
    n = returns.shape[1]
    start = rng.uniform(20, 500, n)
    close = np.round(start * np.exp(np.cumsum(returns, axis=0)), 4)
    prev = np.vstack([np.round(start, 4)[None, :], close[:-1]])
    gap = np.where(minute_of_day[:, None] == 0, rng.normal(0, bar_vol, returns.shape), 0.0)
    open_ = np.round(prev * np.exp(gap), 4)
    wick = np.abs(rng.normal(0, bar_vol / 2, (2, *returns.shape)))
    high = np.round(np.maximum(open_, close) * (1 + wick[0]), 4)
    low = np.round(np.minimum(open_, close) * (1 - wick[1]), 4)
    return open_, high, low, close


def _volume(
    rng: np.random.Generator, returns: Float64Array, minute_of_day: Int64Array, bar_vol: float,
    timeframe: Timeframe = "1min",
) -> Int64Array:
    """Intraday U-shaped volume that rises with the size of the move (a bar of k minutes trades ~k minutes' worth)."""
    n = returns.shape[1]
    base = np.exp(rng.normal(9, 0.5, n)) * (bar_minutes(timeframe) if is_intraday(timeframe) else 1)
    x = (minute_of_day - 195) / 195.0
    u_shape = 1.0 + 2.0 * x**2
    noise = np.exp(rng.normal(0, 0.3, returns.shape))
    volume: Int64Array = np.round(base * u_shape[:, None] * (1 + np.abs(returns) / bar_vol) * noise).astype(np.int64)
    return volume


def _vix(
    rng: np.random.Generator, market: Float64Array, regime: BoolArray, bar_vol: float, timeframe: Timeframe
) -> Float64Array:
    """A VIX-like index: ~15 in calm markets, above 35 in the high-volatility regime."""
    window = max(5, 30 // bar_minutes(timeframe)) if is_intraday(timeframe) else 5  # ~30 minutes, at least 5 bars
    realised = pd.Series(market**2).rolling(window, min_periods=1).mean().to_numpy() ** 0.5 / bar_vol
    level = 13.0 + 2.0 * np.clip(realised, 0, 3) + np.where(regime, 25.0, 0.0)
    vix: Float64Array = np.round(level + rng.normal(0, 0.5, len(market)), 2)
    return vix


_BULL = ("{t} to the moon 🚀🚀", "loading up on {t} calls, tendies incoming", "{t} is breaking out, bullish",
         "bought more {t}, this is going up", "{t} crushing it, strong buy")
_BEAR = ("{t} is going to zero", "puts on {t}, this will crash", "{t} bagholders getting wrecked",
         "selling all my {t}, bearish", "{t} looks terrible, dumping it")
_NEUTRAL = ("anyone watching {t} today?", "{t} earnings next week", "what do you think about {t}",
            "{t} trading sideways", "holding {t} for now")


def _comments(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    securities: list[Security],
    times: Int64Array,
    sentiment: Float64Array,
) -> pd.DataFrame:
    """Comments whose tone follows each ticker's sentiment process at the bar they are posted."""
    n_t, n = sentiment.shape
    counts = rng.poisson(cfg.comments_per_bar, (n_t, n))
    t_idx, i_idx = np.nonzero(counts)
    reps = counts[t_idx, i_idx]
    t_idx, i_idx = np.repeat(t_idx, reps), np.repeat(i_idx, reps)
    tone = np.tanh(1.2 * sentiment[t_idx, i_idx] + rng.normal(0, 0.5, len(t_idx)))
    length = bar_ns(cfg.timeframe) if is_intraday(cfg.timeframe) else 23_400_000_000_000
    created = times[t_idx] + (rng.random(len(t_idx)) * length).astype(np.int64)
    tickers = np.array([s.ticker for s in securities], dtype=object)
    names = np.array([s.name.split()[0].rstrip(".,") for s in securities], dtype=object)
    use_name = rng.random(len(t_idx)) < 0.3
    mention = np.where(use_name, names[i_idx], "$" + tickers[i_idx].astype(str))
    template_pick = rng.integers(0, 5, len(t_idx))
    bodies = [
        (_BULL if s > 0.3 else _BEAR if s < -0.3 else _NEUTRAL)[k].format(t=m)
        for s, k, m in zip(tone, template_pick, mention, strict=True)
    ]
    frame = pd.DataFrame(
        {
            "id": [f"syn{cfg.seed}_{k:08d}" for k in range(len(t_idx))],
            "body": bodies,
            "author": [f"user{a}" for a in rng.integers(0, 5000, len(t_idx))],
            "created_utc": created // 1_000_000_000,
            "score": rng.geometric(0.2, len(t_idx)),
            "subreddit": "wallstreetbets",
            "link_id": [f"t3_syn{d}" for d in created // 86_400_000_000_000],
            "ticker": tickers[i_idx],
            "true_tone": tone,
        }
    )
    frame = pd.concat([frame, _spam(rng, cfg, tickers, times)], ignore_index=True)
    return frame.sort_values(["created_utc", "id"], kind="stable").reset_index(drop=True)


def _spam(rng: np.random.Generator, cfg: SyntheticConfig, tickers: np.ndarray, times: Int64Array) -> pd.DataFrame:
    """Bursts of one author posting the same pump comment, to exercise noise control."""
    rows = []
    for b in range(cfg.spam_bursts if len(times) > 1 else 0):
        t0 = int(times[rng.integers(0, len(times))]) // 1_000_000_000
        ticker = str(tickers[rng.integers(0, len(tickers))])
        for k in range(20):
            rows.append({"id": f"spam{cfg.seed}_{b}_{k}", "body": f"${ticker} to the moon 🚀 buy now!!!",
                         "author": f"pumper{b}", "created_utc": t0 + k, "score": 1,
                         "subreddit": "wallstreetbets", "link_id": f"t3_spam{b}", "ticker": ticker,
                         "true_tone": np.nan})
    return pd.DataFrame(rows)
