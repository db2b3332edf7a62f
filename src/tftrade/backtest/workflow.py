"""Backtests on the store: load bars, make walk-forward TFT forecasts, read sentiment, run, save.

Used by ``tftrade backtest`` and ``tftrade demo``. ``strategy="tft"`` trains the TFT on the
bars before the backtest start (training and validation rows) and forecasts every bar from the
start on out of sample; ``strategy="sma"`` runs the 10/30 moving-average crossover.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from tftrade.backtest.config import BacktestConfig, TradingSetup
from tftrade.backtest.engine import Backtest
from tftrade.backtest.errors import BacktestError
from tftrade.backtest.forecasts import ForecastPanel
from tftrade.backtest.market import MarketData, market_of, read_stored
from tftrade.backtest.result import BacktestResult
from tftrade.backtest.strategy import Strategy
from tftrade.core.types import Timeframe
from tftrade.execution.costs import CostModel
from tftrade.features.bar_sentiment import SentimentWindows
from tftrade.features.dataset import Panel
from tftrade.features.stored import StoredMarket
from tftrade.risk.gate import GateLimits, RiskGate
from tftrade.strategy.forecast_strategy import ForecastStrategy, StrategyConfig
from tftrade.strategy.sentiment_input import SentimentPanel
from tftrade.strategy.sma import SmaCrossover
from tftrade.trading.loop import OrderCheck
from tftrade.trading.recorder import Recorder


@dataclass(frozen=True)
class ForecastSetup:
    """How the TFT is trained for a backtest."""

    preset: str = "default"
    epochs: int = 5
    max_samples: int | None = 20_000
    seed: int = 0
    train_fraction: float = 0.5
    """Share of the bars used for training + validation when no start is given."""
    force: bool = False
    """Trade a model that loses to a baseline on validation (otherwise its forecasts carry confidence 0:
    no Black–Litterman views)."""
    learning_rate: float = 1e-3
    batch_size: int = 256
    without_sentiment: bool = False
    """Train on the panel with its sentiment inputs left out (the no-sentiment comparison retrains so)."""


@dataclass(frozen=True)
class BacktestRun:
    """A finished backtest with what went into it."""

    result: BacktestResult
    forecasts: ForecastPanel | None
    sentiment: SentimentPanel | None
    strategy: str
    comparison: list[dict[str, object]] | None = None
    """Headline numbers of the same run with other forecasts, without sentiment or without stops
    (see :func:`tftrade.backtest.comparisons.comparison_runs`)."""
    audit: RunAudit | None = None
    """The run's audit chain when it was recorded (saved with the run by :func:`~tftrade.backtest.runs.save_run`)."""
    stored: StoredMarket | None = field(default=None, repr=False, compare=False)
    """What the run read from the store (bars, sectors, sentiment): the comparison runs reuse it."""
    model: dict[str, object] | None = None
    """Whether the forecasts gave views and what the run traded on (:func:`~tftrade.backtest.verdict.model_verdict`)."""
    compared: tuple[str, ...] = ()
    """The comparison runs asked for (``stops``, ``ridge``, ``no-sentiment``)."""
    stops_effect: dict[str, object] | None = None
    """This run minus the same run without stops: return, turnover and drawdown (the ``stops`` comparison)."""
    comparison_equity: dict[str, np.ndarray] | None = None
    """Equity of each comparison run on this run's bars, by comparison name."""


class RunAudit(Protocol):
    """A backtest's audit trail (implemented by :class:`tftrade.compliance.run_audit.BacktestAudit`).

    The backtest asks it for a recorder once the universe is known, and the run's save
    transaction asks it to store the chain.
    """

    def recorder(self, tickers: tuple[str, ...], *, gated: bool, model_version: str | None = None) -> Recorder:
        """The recorder the loop writes to beside the result's arrays (``model_version``: the forecaster's)."""
        ...

    def summary(self, result: BacktestResult | None = None) -> dict[str, object]:
        """What the run's summary keeps about the chain (name, length, head hash) and, given the
        result, the run's compliance figures (tax alpha)."""
        ...

    def store(self, conn: Connection) -> int:
        """Write the chain in ``conn``'s open transaction; return the number of entries."""
        ...


def backtest_store(
    engine: Engine,
    *,
    timeframe: Timeframe = "1day",
    start: datetime | None = None,
    end: datetime | None = None,
    tickers: list[str] | None = None,
    strategy: str = "tft",
    forecast: ForecastSetup | None = None,
    config: BacktestConfig | None = None,
    strategy_config: StrategyConfig | None = None,
    limits: GateLimits | None = None,
    costs: CostModel | None = None,
    setup: TradingSetup | None = None,
    forecasts_given: ForecastPanel | None = None,
    training: Mapping[str, object] | None = None,
    use_sentiment: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    audit: RunAudit | None = None,
    order_check: Callable[[], OrderCheck] | None = None,
    stored: StoredMarket | None = None,
) -> BacktestRun:
    """Run a backtest on the stored bars (see the module docstring).

    ``setup`` (from :func:`~tftrade.backtest.config.trading_setup`) supplies the risk limits, the
    optimiser's hard caps, the costs and the stops; explicit ``limits``/``costs`` win over it.
    ``forecasts_given`` skips training and trades those forecasts (``training``: what their training
    reported, for the run's model verdict); ``use_sentiment=False`` gives
    the strategy no sentiment (neutral confidence). ``audit`` records the run's decisions, gate
    checks, orders and fills in its own chain (it changes neither the results nor the trades).
    ``order_check`` makes the rule applied after the gate (the wash-sale rule of ``risk.wash_sale``),
    a fresh one per run. ``stored`` is an earlier read of the store to reuse (a
    :func:`~tftrade.backtest.market.read_stored` of these tickers and timeframe, without ``end``);
    otherwise the store is read once here: bars, sectors and sentiment for the market, the TFT's
    training and the strategy's sentiment alike.

    Raises
    ------
    BacktestError
        If the store lacks bars, the range is empty, or the strategy name is unknown.
    """
    if strategy not in ("tft", "sma"):
        raise BacktestError(f"unknown strategy {strategy!r}; choose tft or sma")
    end_ns = None if end is None else utc_ns(end)
    if stored is None:  # the TFT trains on every stored bar of the universe (its split ends before the start)
        trains = strategy == "tft" and forecasts_given is None
        read_end = None if trains or end_ns is None else pd.Timestamp(end_ns, tz="UTC").to_pydatetime()
        stored = read_stored(engine, tickers=tickers, timeframe=timeframe, end=read_end)
    market = market_of(stored, tickers=tickers, end_ns=end_ns)
    first = 0 if start is None else int(np.searchsorted(market.timestamps, utc_ns(start)))
    if first >= market.n_times - 1:
        last = pd.Timestamp(int(market.timestamps[-1]), tz="UTC")
        raise BacktestError(f"--start {start} leaves fewer than two bars to trade; the last stored {timeframe} "
                            f"bar is {last}")
    forecasts = sentiment = None
    strat: Strategy
    cfg = config or BacktestConfig()
    model_notes: tuple[str, ...] = ()
    info: Mapping[str, object] | None = training
    if setup is not None:
        cfg = setup.backtest_config(cfg)
        limits = limits or setup.gate_limits()
        costs = costs or setup.cost_model()
        strategy_config = setup.strategy(strategy_config)
    if strategy == "tft":
        if forecasts_given is None:
            forecasts, forecast_first, model_notes, info = _forecasts(
                engine, market, timeframe, forecast or ForecastSetup(), first if start is not None else None, on_epoch,
                stored)
        else:
            forecasts = forecasts_given
            start_ns = forecasts.timestamps[int(np.argmax(np.isfinite(forecasts.q50).any(axis=1)))]
            forecast_first = int(np.searchsorted(market.timestamps, start_ns))
        first = max(first, forecast_first)
        sentiment = sentiment_panel(stored.sentiment, market) if use_sentiment else None
        cut = max(0, first - (strategy_config or StrategyConfig()).lookback - 1)
        market = market_from(market, cut)
        strat = ForecastStrategy(forecasts, sentiment, strategy_config)
        cfg = cfg.model_copy(update={"warmup": max(cfg.warmup, first - cut)})
    else:
        strat = SmaCrossover()
        cut = max(0, first - strat.slow)  # the bars before the start feed its averages: it trades from the start
        market = market_from(market, cut)
        cfg = cfg.model_copy(update={"warmup": max(cfg.warmup, first - cut)})
    if market.n_times < 2:
        raise BacktestError("the backtest range holds fewer than two bars")
    bt = Backtest(market, strat, config=cfg, costs=costs, gate=RiskGate(limits or GateLimits()), on_step=on_step,
                  audit=None if audit is None else audit.recorder(
                      market.tickers, gated=True, model_version=forecasts.model_version or None if forecasts else None),
                  check=None if order_check is None else order_check())
    result = dataclasses.replace(bt.run(), cost_model=bt.broker.costs,
                                 setup=setup.effective() if setup is not None else {})
    if model_notes:
        result = replace(result, notes=(*model_notes, *result.notes))
    verdict = None
    if forecasts is not None:
        from tftrade.backtest.verdict import model_verdict

        verdict = model_verdict(forecasts, info, first_ns=int(market.timestamps[min(first - cut, market.n_times - 1)]),
                                min_confidence=(strategy_config or StrategyConfig()).signals.min_confidence,
                                name="ridge" if forecasts.model_version == "ridge" else "TFT")
    return BacktestRun(result, forecasts, sentiment, strategy, audit=audit, model=verdict,
                       stored=stored)


def utc_ns(when: datetime) -> int:
    """Epoch ns of ``when``; a naive time is New York time, as in the bar files.

    >>> utc_ns(datetime(2024, 1, 2)) == pd.Timestamp("2024-01-02 05:00", tz="UTC").value
    True
    """
    ts = pd.Timestamp(when)
    ts = ts.tz_localize("America/New_York") if ts.tzinfo is None else ts
    return int(ts.tz_convert("UTC").as_unit("ns").value)


def market_from(market: MarketData, first: int) -> MarketData:
    """The market from row ``first`` on."""
    return market if first <= 0 else market.rows(first, market.n_times)


def _forecasts(engine: Engine, market: MarketData, timeframe: Timeframe, setup: ForecastSetup,
               first: int | None, on_epoch: Callable[[dict[str, float]], None] | None,
               stored: StoredMarket) -> tuple[ForecastPanel, int, tuple[str, ...], dict[str, object]]:
    from tftrade.backtest.walkforward import walk_forward
    from tftrade.features.dataset import WARMUP
    from tftrade.forecast.tft.config import preset
    from tftrade.forecast.training import TrainConfig
    from tftrade.forecast.workflows import store_panel

    mc = preset(setup.preset)
    panel, _ = store_panel(engine, list(market.tickers), timeframe, WARMUP + 4 * (mc.context + mc.horizon), stored)
    if setup.without_sentiment:
        panel = without_sentiment(panel)
    usable = panel.n_times - WARMUP
    if first is None:
        fit_share = setup.train_fraction
    else:
        row = int(np.searchsorted(panel.timestamps, market.timestamps[min(first, market.n_times - 1)]))
        fit_share = (row - WARMUP) / usable
    if not 0.2 < fit_share < 1:
        raise BacktestError(f"the bars before the backtest start are {max(fit_share, 0.0):.0%} of the history "
                            f"({panel.n_times} bars of tickers with full history); the TFT needs "
                            "between 20 % and 100 % of it for training and validation")
    tc = TrainConfig(max_epochs=setup.epochs, max_samples_per_epoch=setup.max_samples, seed=setup.seed,
                     split=(0.85 * fit_share, 0.15 * fit_share), learning_rate=setup.learning_rate,
                     batch_size=setup.batch_size)
    forecasts, trained = walk_forward(panel, mc, tc, on_epoch=on_epoch)
    notes: tuple[str, ...] = ()
    if trained.status == "loses_to_baseline" and trained.calibration is not None:
        risk = trained.calibration.validation_q_risk
        beaten = ", ".join(f"{b} {risk[b]:.4f}" for b in trained.calibration.beaten_by)
        lost = f"the TFT loses to a baseline on validation (P50 q-risk {risk['tft']:.4f} vs {beaten})"
        if setup.force:
            notes = (f"{lost}: traded anyway (forced)",)
        else:
            forecasts = replace(forecasts, confidence=np.where(np.isfinite(forecasts.confidence), 0.0, np.nan))
            notes = (f"{lost}: its forecasts carry confidence 0 and give no views (force to trade them)",)
    cal = trained.calibration
    training: dict[str, object] = {
        "status": trained.status, "forced": setup.force, "epochs": len(trained.history),
        "beaten_by": list(cal.beaten_by) if cal is not None else [],
        "validation_q_risk": dict(cal.validation_q_risk) if cal is not None else {},
        "inputs_left_out": list(trained.schema.absent)}
    start_ns = forecasts.timestamps[int(np.argmax(np.isfinite(forecasts.q50).any(axis=1)))]
    return forecasts, int(np.searchsorted(market.timestamps, start_ns)), notes, training


def without_sentiment(panel: Panel) -> Panel:
    """``panel`` with its sentiment inputs zeroed: constant on every row, training leaves them out of the model
    (:func:`~tftrade.features.dataset.absent_inputs`), as for a market without comments."""
    from tftrade.features.sentiment import SENTIMENT_FEATURES

    cols = [i for i, n in enumerate(panel.observed_names) if n in SENTIMENT_FEATURES]
    observed = panel.observed.copy()
    observed[..., cols] = 0.0
    return replace(panel, observed=observed)


def sentiment_from_store(engine: Engine, market: MarketData, window: str = "1min") -> SentimentPanel | None:
    """Sentiment level, momentum and volume surprise of the stored windows; ``None`` when nothing is stored."""
    names = list(market.tickers)
    ts = market.timestamps
    return sentiment_panel(SentimentWindows.from_store(engine, names, int(ts[0]), int(ts[-1])), market, window)


def sentiment_panel(windows: SentimentWindows, market: MarketData, window: str = "1min") -> SentimentPanel | None:
    """:func:`sentiment_from_store` from aggregates already read (a ``StoredMarket``'s)."""
    score, count = windows.on_windows(market.timestamps, list(market.tickers), window)
    if not np.isfinite(score).any():
        return None
    return SentimentPanel.from_windows(market.timestamps, market.tickers, score, count)
