"""Proof of one code path: a replay through the live workers makes the backtest's decisions, orders and fills.

:func:`replay_parity` runs the same market twice:

* **backtest**: :class:`~tftrade.backtest.engine.Backtest` (historical feed, simulated clock,
  paper broker); with a predictor, its forecasts are the predictor applied bar by bar
  (:func:`~tftrade.live.predictor.forecast_panel`);
* **live**: the bars replayed onto a bus (``market_data``), the ingest worker storing them (when a
  database is given), the predict worker forecasting each closed bar onto ``predictions``, and
  the trade worker stepping the trading loop on a clock the replay drives, with a paper broker
  filling at the replayed prices (orders and fills published on ``orders`` and ``fills``).

and compares what each did: every decision's target weights (bit for bit), every order
(client id, ticker, quantity) and every fill (id, quantity, price, commission, time).

A model fitted with sentiment inputs (:func:`~tftrade.forecast.rolling.uses_sentiment`) sees the
comments on both sides through the lookup the live predict worker uses
(:func:`~tftrade.live.predict_worker.stored_sentiment`: the stored aggregates mapped onto each
bar); without a store to read them from, the check refuses to run rather than compare two
predictors blind to sentiment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine

from tftrade.backtest.config import BacktestConfig
from tftrade.backtest.engine import Backtest, trading_config
from tftrade.backtest.market import MarketData
from tftrade.core.clock import SimulatedClock
from tftrade.core.orders import Fill, Order
from tftrade.core.types import Timeframe
from tftrade.execution.costs import CostModel
from tftrade.live.brokers import BrokerSettings, make_broker
from tftrade.live.bus_broker import PublishingBroker
from tftrade.live.errors import LiveError
from tftrade.live.predict_worker import PredictWorker, stored_sentiment
from tftrade.live.predictor import Predictor, TftPredictor, forecast_panel
from tftrade.live.replay import replay_bars
from tftrade.live.runner import LiveConfig, Service, StrategyFactory, Work, build_trade_worker, run_workers
from tftrade.risk.gate import GateLimits, RiskGate
from tftrade.strategy.contract import AccountState, Strategy, Targets
from tftrade.strategy.view import MarketView
from tftrade.stream.bus import Bus
from tftrade.stream.memory import InMemoryBus

Decision = tuple[int, tuple[float | None, ...]]


class RecordingStrategy:
    """Passes decisions through and keeps ``(bar time, target weights)`` of each."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.decisions: list[Decision] = []

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        """The inner strategy's targets, recorded."""
        targets = self.inner.decide(view, account)
        if targets is not None:
            w = np.asarray(targets.weights, dtype=np.float64).tolist()
            self.decisions.append((view.now_ns, tuple(None if x != x else x for x in w)))  # NaN → None (comparable)
        return targets


@dataclass
class Side:
    """What one path did."""

    decisions: list[Decision] = field(default_factory=list)
    orders: list[tuple[str, str, float]] = field(default_factory=list)
    fills: list[tuple[str, str, float, float, float, int]] = field(default_factory=list)
    final_equity: float = float("nan")


@dataclass
class ParityReport:
    """Both sides and where they differ (empty ``differences``: the same decisions, orders and fills)."""

    backtest: Side
    live: Side
    bars_published: int
    bars_stored: int | None
    predictions_published: int
    prediction_waits_timed_out: int = 0
    """Decision bars the trade worker gave up waiting for predictions on (a stall; 0 when every bar was said)."""

    @property
    def differences(self) -> list[str]:
        """Human-readable differences, first of each kind."""
        out = []
        for name in ("decisions", "orders", "fills"):
            a, b = getattr(self.backtest, name), getattr(self.live, name)
            if a != b:
                first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
                out.append(f"{name}: backtest {len(a)}, live {len(b)}, first difference at #{first}")
        return out

    @property
    def same(self) -> bool:
        """True when decisions, orders and fills agree exactly."""
        return not self.differences

    def summary(self) -> dict[str, object]:
        """Counts on both sides and the verdict."""
        return {"same": self.same, "decisions": [len(self.backtest.decisions), len(self.live.decisions)],
                "orders": [len(self.backtest.orders), len(self.live.orders)],
                "fills": [len(self.backtest.fills), len(self.live.fills)],
                "final_equity": [self.backtest.final_equity, self.live.final_equity],
                "bars_published": self.bars_published, "bars_stored": self.bars_stored,
                "predictions_published": self.predictions_published,
                "prediction_waits_timed_out": self.prediction_waits_timed_out, "differences": self.differences}


def cold_start() -> None:
    """Drop the optimiser's per-process compiled problems, as a fresh process starts.

    The cached problems keep their last risk parameters between calls, so a solve can differ in
    the last bits depending on what the process solved before; each side starts cold here, as
    ``tftrade backtest`` and ``tftrade live`` each do in their own process.
    """
    from tftrade.portfolio import optimizer, qp_clarabel

    qp_clarabel.clarabel_qp.cache_clear()
    optimizer._problem.cache_clear()


def _orders(orders: Sequence[Order]) -> list[tuple[str, str, float]]:
    return [(o.client_order_id, o.ticker, o.quantity) for o in orders]


def _fills(fills: Sequence[Fill]) -> list[tuple[str, str, float, float, float, int]]:
    return [(f.client_order_id, f.ticker, f.quantity, f.price, f.commission, f.timestamp_ns) for f in fills]


def with_stored_sentiment(make: Callable[[], Predictor], store: Engine | None,
                          timeframe: Timeframe) -> Callable[[], Predictor]:
    """``make``, whose :class:`~tftrade.live.predictor.TftPredictor` of a sentiment-fitted model is handed the
    predict worker's :func:`~tftrade.live.predict_worker.stored_sentiment` of ``store`` (as the worker does).

    A predictor that already has a lookup, or whose model has no sentiment inputs, is left as built.

    Raises
    ------
    LiveError
        If the model uses sentiment, has no lookup and there is no ``store`` to read it from.
    """
    from tftrade.forecast.rolling import uses_sentiment

    def build() -> Predictor:
        p = make()
        if isinstance(p, TftPredictor) and p.sentiment is None and uses_sentiment(p.trained):
            if store is None:
                raise LiveError("the model was fitted with sentiment inputs: give the store its comments are read "
                                "from (engine= or sentiment_store=), or a predictor with its own lookup")
            p.sentiment = stored_sentiment(store, timeframe)
        return p

    return build


def replay_parity(market: MarketData, make_strategy: StrategyFactory, *,
                  predictor: Callable[[], Predictor] | None = None, config: BacktestConfig | None = None,
                  limits: GateLimits | None = None, costs: CostModel | None = None, bus: Bus | None = None,
                  engine: Engine | None = None, window: int | None = None,
                  series: dict[str, str] | None = None, sentiment_store: Engine | None = None,
                  wait_predictions_s: float = 30.0) -> ParityReport:
    """Run ``market`` through the backtest and through the live workers; compare (see the module docstring).

    ``predictor`` builds a fresh predictor for each side (the strategy then reads forecasts);
    ``engine`` adds the ingest worker storing the replayed bars; ``window`` is the live window
    (default: the whole market); ``series`` names the tickers the market's benchmark and
    volatility index travel under (``{"benchmark": "^MKT", "vix": "^VIX"}``; none by default).
    ``sentiment_store`` (default ``engine``) is where a sentiment-fitted model's predictors read
    the stored comment aggregates, on both sides (:func:`with_stored_sentiment`). ``wait_predictions_s`` is
    the trade worker's wait for a decision bar's predictions (the report counts the waits that timed out).

    Raises
    ------
    LiveError
        If the model uses sentiment and neither ``sentiment_store`` nor ``engine`` is given.
    """
    cfg = config or BacktestConfig()
    costs = costs or CostModel()
    if predictor is not None:
        predictor = with_stored_sentiment(predictor, sentiment_store or engine, market.timeframe)
    # -- the backtest --------------------------------------------------------------------
    cold_start()
    panel = forecast_panel(predictor(), market) if predictor is not None else None
    bt_strategy = RecordingStrategy(make_strategy(panel))
    bt = Backtest(market, bt_strategy, config=cfg, costs=costs, gate=RiskGate(limits or GateLimits()))
    bt_orders: list[Order] = []
    bt.manager.broker = PublishingBroker(bt.broker, None, on_orders=bt_orders.extend)
    result = bt.run()
    backtest = Side(bt_strategy.decisions, _orders(bt_orders), _fills(bt.broker.fills), float(result.equity[-1]))
    # -- the live path -------------------------------------------------------------------
    cold_start()
    bus = bus or InMemoryBus()
    live_orders: list[Order] = []
    recording: list[RecordingStrategy] = []

    def strategy(forecasts: object) -> Strategy:
        s = RecordingStrategy(make_strategy(forecasts))  # type: ignore[arg-type]
        recording.append(s)
        return s

    kit = make_broker("paper", BrokerSettings(cash=cfg.initial_cash, costs=costs))
    live_cfg = LiveConfig(trading=trading_config(cfg), strategy_version=cfg.strategy_version,
                          window=window or market.n_times, wait_predictions_s=wait_predictions_s)
    stack = build_trade_worker(bus, market.tickers, market.sectors, market.timeframe, strategy, kit,
                               SimulatedClock(int(market.timestamps[0])), config=live_cfg,
                               gate=RiskGate(limits or GateLimits()),
                               horizon=panel.horizon if panel is not None else None, on_orders=live_orders.extend,
                               series=series)
    workers: list[tuple[str, Work]] = [("trade", stack.worker.run)]
    pw = None
    if predictor is not None:
        pw = PredictWorker(bus, predictor(), market.tickers, market.sectors, market.timeframe)
        workers.append(("predict", pw.run))
    iw = None
    published: list[int] = []
    services: list[tuple[str, Service, Callable[[], bool]]] = []
    if engine is not None:
        from tftrade.live.ingest_worker import IngestWorker

        ingest = iw = IngestWorker(bus, engine)
        services.append(("ingest", ingest.run, lambda: bool(published) and ingest.counters.bars >= published[0]))
    run_workers(workers, threading.Event(), source=lambda stop: published.append(replay_bars(bus, market, stop=stop,
                                                                                  series=series)),
                services=services)
    live = Side(recording[0].decisions, _orders(live_orders), _fills(getattr(stack.kit.broker, "fills", [])),
                stack.worker.counters.equity)
    recon = stack.loop.reconcile()
    if not recon.in_sync:
        raise AssertionError(f"live book and broker disagree: {recon.differences}")
    return ParityReport(backtest, live, published[0] if published else 0,
                        None if iw is None else iw.counters.inserted,
                        0 if pw is None else pw.counters.predictions_published,
                        stack.worker.counters.prediction_waits_timed_out)


def demo_parity(engine: Engine, *, bars: int = 120, seed: int = 0) -> dict[str, object]:
    """The parity check on the stored 1-minute market's last ``bars`` bars, with a small TFT fitted on the rest.

    What ``tftrade demo`` ends with: the live workers fed a replay make the backtest's decisions,
    orders and fills. The model is fitted briefly (it only has to be the same model on both sides),
    with the stored comment sentiment when there is some, as ``tftrade forecast train`` fits it;
    both sides then read that sentiment as the live predict worker does.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend
    try:
        return _demo_parity(engine, bars, seed)
    finally:
        torch.set_num_threads(threads)


def _demo_parity(engine: Engine, bars: int, seed: int) -> dict[str, object]:
    import time

    from tftrade.backtest.market import from_frame
    from tftrade.features.bar_sentiment import SentimentWindows
    from tftrade.features.dataset import WARMUP
    from tftrade.forecast.data import panel_from_bars
    from tftrade.forecast.rolling import uses_sentiment
    from tftrade.forecast.tft.config import ModelConfig
    from tftrade.forecast.training import TrainConfig, fit
    from tftrade.live.predictor import TftPredictor
    from tftrade.store.bars import read_bars
    from tftrade.store.securities import read_securities
    from tftrade.strategy.forecast_strategy import ForecastStrategy, StrategyConfig

    t0 = time.perf_counter()
    stored = read_bars(engine, None, "1min", None, None)
    universe = stored[~stored["ticker"].str.startswith("^")]
    sectors = {s.ticker: s.sector or "Unknown" for s in read_securities(engine)}
    market = from_frame(universe, timeframe="1min", sectors=sectors)
    mc = ModelConfig(hidden_size=8, variable_size=4, attention_heads=2, context=20, horizon=2)
    cut = max(0, market.n_times - bars - (WARMUP + mc.context))
    fit_rows = universe[universe["window_start"] < universe["window_start"].sort_values().unique()[cut]] \
        if cut > 0 else universe
    comments = SentimentWindows.from_store(engine, list(market.tickers))
    trained = fit(panel_from_bars(fit_rows, "1min", sectors, lambda ts, names: comments.on_bars(ts, names, "1min")),
                  mc, TrainConfig(max_epochs=1, max_samples_per_epoch=300, seed=seed))
    tail = market.rows(cut, market.n_times)
    report = replay_parity(tail, lambda f: ForecastStrategy(f, None, StrategyConfig(lookback=60)),  # type: ignore[arg-type]
                           predictor=lambda: TftPredictor(trained),
                           config=BacktestConfig(rebalance_every=5, warmup=WARMUP + mc.context), sentiment_store=engine)
    return {**report.summary(), "bars": tail.n_times, "tickers": tail.n_tickers, "sentiment": uses_sentiment(trained),
            "seconds": round(time.perf_counter() - t0, 2)}
