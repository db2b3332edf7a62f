"""The platform's strategy: TFT forecasts + sentiment → Black–Litterman → constrained weights.

At each decision (the close of bar ``t``):

1. :func:`~tftrade.strategy.signals.make_signals` reads the forecasts made at ``t``, the smoothed
   sentiment up to ``t``, dollar ADV and VIX; while VIX is above the block level the strategy holds;
2. over the tradable names: Ledoit–Wolf covariance of the trailing ``lookback`` bar returns
   (annualised), the equilibrium prior :math:`\\pi = \\delta\\Sigma w_{eq}` (equal weights; caps are
   rarely known intraday), one absolute view per name from its quantile forecast with Ω from the
   quantile spread, the forecast's confidence (its demonstrated skill; 0 gives no view) and the
   sentiment confidence
   (:func:`~tftrade.portfolio.views_from_forecasts`), the BL posterior;
3. :func:`~tftrade.portfolio.optimize` under the stock, sector and beta limits with the turnover cost
   from the current weights; names not tradable are targeted at 0. With ``tax`` set, the optimiser
   also subtracts the tax of selling the account's open lots (:func:`~tftrade.strategy.tax_inputs.tax_term`);
4. with ``harvest`` set, tax-loss harvesting on top (:class:`~tftrade.strategy.tax_inputs.Harvester`).

Every target carries its rationale; relaxed optimiser limits become notes of the decision.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tftrade.core.types import Float64Array, Timeframe
from tftrade.portfolio import OptimizerConfig, bl_posterior, ledoit_wolf, market_implied_prior, optimize
from tftrade.portfolio._validate import as_covariance
from tftrade.portfolio.threads import single_threaded_blas
from tftrade.portfolio.views import views_from_forecasts
from tftrade.strategy.bars import BARS_PER_DAY, periods_per_year
from tftrade.strategy.contract import AccountState, Targets
from tftrade.strategy.estimates import betas, dollar_adv, simple_returns
from tftrade.strategy.forecasts import ForecastRows
from tftrade.strategy.sentiment_input import SentimentPanel
from tftrade.strategy.signals import SignalConfig, Signals, make_signals
from tftrade.strategy.tax_inputs import HarvestConfig, Harvester, TaxAwareConfig, tax_term
from tftrade.strategy.view import MarketView


class StrategyConfig(BaseModel):
    """Settings of :class:`ForecastStrategy` (frozen, unknown keys rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signals: SignalConfig = SignalConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    tau: float = Field(default=0.05, gt=0)
    risk_aversion: float = Field(default=2.5, gt=0, description="delta of the equilibrium prior")
    lookback: int = Field(default=390, ge=10, description="bars of returns for covariance and betas")
    sentiment_penalty: float = Field(default=1.0, ge=0, description="Ω multiplier 1 + λ(1 - c)")
    tax: TaxAwareConfig | None = Field(default=None, description="tax of selling in the optimiser (None: off)")
    harvest: HarvestConfig | None = Field(default=None, description="tax-loss harvesting (None: off)")


class ForecastStrategy:
    """Black–Litterman on TFT forecasts and sentiment (see the module docstring)."""

    def __init__(self, forecasts: ForecastRows, sentiment: SentimentPanel | None = None,
                 config: StrategyConfig | None = None) -> None:
        self.forecasts, self.sentiment = forecasts, sentiment
        self.config = config or StrategyConfig()
        h = self.config.harvest
        self.harvester = None if h is None else Harvester(h, self.config.optimizer.max_weight)

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        """Target weights at the close of ``view.t`` (``None`` when no forecast was made then)."""
        row = self.forecasts.row(view.now_ns, view.tickers)
        if row is None:
            return None
        cfg, tf = self.config, _timeframe(view.timeframe)
        q10, q50, q90, conf = row
        sent = trend = vol_z = None
        if self.sentiment is not None and (got := self.sentiment.rows(view.now_ns, view.tickers)) is not None:
            sent, trend, vol_z = got
        close = view.history("close", cfg.lookback + 1)
        volume = view.history("volume", close.shape[0] - 1)  # the bars of the returns (fewer early on)
        prices = view.last_prices()
        adv = dollar_adv(close[1:], volume, BARS_PER_DAY[tf])
        sig = make_signals(q10, q50, q90, conf, sent, adv, prices, view.vix, cfg.signals, trend, vol_z)
        if sig.vix_blocked:
            return Targets(np.full(len(view.tickers), np.nan), sig.reasons,
                           (f"VIX {view.vix:.1f} above {cfg.signals.vix_block:.0f}: holding, no new positions",),
                           model_version=self.forecasts.version_at(view.now_ns))
        sub = np.flatnonzero(sig.tradable)
        if sub.shape[0] < 2 or close.shape[0] < 10:
            return None
        with single_threaded_blas():  # small dense algebra: more BLAS threads only contend (portfolio.threads)
            return self._allocate(view, account, sig, sub, simple_returns(close), tf)

    def _allocate(self, view: MarketView, account: AccountState, sig: Signals, sub: np.ndarray,
                  returns: Float64Array, tf: Timeframe) -> Targets:
        cfg, ppy = self.config, periods_per_year(tf)
        r = returns[:, sub]
        cov = as_covariance(ledoit_wolf(r, ppy).cov)  # checked once: the prior, posterior and optimiser reuse it
        prior = market_implied_prior(cov, cfg.risk_aversion)
        views = views_from_forecasts(sig.expected[sub], sig.q_low[sub], sig.q_high[sub],
                                     sig.sentiment_confidence[sub], horizon=self.forecasts.horizon,
                                     periods_per_year=ppy, sentiment_penalty=cfg.sentiment_penalty,
                                     forecast_confidence=np.clip(np.nan_to_num(sig.confidence[sub]), 0.0, 1.0))
        post = bl_posterior(cov, prior, views.P, views.Q, views.omega, tau=cfg.tau)  # Ω as its diagonal, (k,)
        bench = view.benchmark_history(cfg.lookback + 1)
        b = betas(r, None if bench is None else simple_returns(bench[:, None])[:, 0])
        tax = None if cfg.tax is None else tax_term(account, [view.tickers[i] for i in sub],
                                                     view.last_prices()[sub], view.now_ns, cfg.tax)
        res = optimize(post.mean, cov, sectors=np.asarray(view.sectors)[sub], betas=b,
                       prev_weights=account.weights[sub], config=cfg.optimizer, tax=tax)
        n = len(view.tickers)
        w = np.zeros(n)
        w[sub] = res.weights
        mu = np.full(n, np.nan)
        mu[sub] = post.mean
        why = [f"{r}; BL {m:+.1%}/yr; target {x:.2%}" if math.isfinite(m) else f"{r}; not tradable: target 0"
               for r, m, x in zip(sig.reasons, mu.tolist(), w.tolist(), strict=True)]
        notes = tuple(f"optimiser relaxed {x.limit} from {x.requested} to {x.applied}: {x.reason}"
                      for x in res.relaxations)
        if self.harvester is not None:
            w, harvest_why, harvest_notes = self.harvester.apply(w, view.tickers, view.last_prices(), account,
                                                                 view.now_ns)
            why = [h or y for h, y in zip(harvest_why, why, strict=True)]
            notes = (*notes, *harvest_notes)
        return Targets(w, tuple(why), notes, model_version=self.forecasts.version_at(view.now_ns))


def _timeframe(value: str) -> Timeframe:
    return value if value in BARS_PER_DAY else "1day"
