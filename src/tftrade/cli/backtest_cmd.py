"""``tftrade backtest`` and ``tftrade report``: run the trading core on stored bars, render the tearsheet."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from tftrade.analytics.metric_labels import TURNOVER_PER_SESSION, format_metric, metric_label
from tftrade.cli._common import JsonOption, command, emit, engine, progress, settings, stderr, table, tune_compute
from tftrade.core.config import Settings
from tftrade.core.errors import ConfigError
from tftrade.core.types import parse_timeframe

# Flags that override the configuration's risk, costs and stops sections; `live` reuses them
# through `risk_overrides` (unset flags keep the configured values).
MaxPositionOption = typer.Option(None, "--max-position", help="Hard cap per stock (fraction of equity).")
MaxSectorOption = typer.Option(None, "--max-sector", help="Hard cap per sector (fraction of equity).")
BetaMinOption = typer.Option(None, "--beta-min", help="Portfolio beta band, lower edge.")
BetaMaxOption = typer.Option(None, "--beta-max", help="Portfolio beta band, upper edge (hard).")
MaxVarOption = typer.Option(None, "--max-var", help="One-period VaR limit (fraction of equity).")
MaxDrawdownOption = typer.Option(None, "--max-drawdown", help="Drawdown that trips the circuit breaker.")
TurnoverPenaltyOption = typer.Option(None, "--turnover-penalty", help="Soft: extra cost per unit traded weight.")
RebalanceOption = typer.Option(None, "--rebalance-every", help="Decide every k-th bar (default risk.rebalance_every).")
CommissionPerShareOption = typer.Option(None, "--commission-per-share", help="Commission, dollars per share.")
CommissionMinOption = typer.Option(None, "--commission-min", help="Minimum commission per fill, dollars.")
CommissionBpsOption = typer.Option(None, "--commission-bps", help="Commission in bps of notional.")
HalfSpreadOption = typer.Option(None, "--half-spread-bps", help="Half the bid-ask spread, bps (paid on every fill).")
ImpactOption = typer.Option(None, "--impact", help="Square-root impact coefficient (Y * daily volatility).")
StopsOption = typer.Option(None, "--stops", help="fixed, atr or off (default: fixed on 1min, atr on 1day).")
StopLossOption = typer.Option(None, "--stop-loss", help="Fixed stop as a fraction of entry.")
TakeProfitOption = typer.Option(None, "--take-profit", help="Fixed take-profit as a fraction of entry.")
AtrStopOption = typer.Option(None, "--atr-stop", help="ATR stop multiple.")
AtrTakeOption = typer.Option(None, "--atr-take", help="ATR take-profit multiple.")
RiskFreeOption = typer.Option(None, "--risk-free-rate", help="Annual risk-free rate for Sharpe, Sortino, alpha.")
CompareOption = typer.Option(
    None, "--compare", help="Comparison runs, comma-separated: stops (the same run with stops off), ridge (price-only "
    "ridge forecasts), no-sentiment (TFT retrained without sentiment); all; none. Default: stops, plus ridge for tft.")
SetOption = typer.Option(None, "--set", help="Any risk/costs/stops key, e.g. --set risk.max_var=0.02 (repeatable).")


def risk_overrides(*, max_position: float | None = None, max_sector: float | None = None,
                   beta_min: float | None = None, beta_max: float | None = None, max_var: float | None = None,
                   max_drawdown: float | None = None, turnover_penalty: float | None = None,
                   rebalance_every: int | None = None, commission_per_share: float | None = None,
                   commission_min: float | None = None, commission_bps: float | None = None,
                   half_spread_bps: float | None = None, impact: float | None = None, stops: str | None = None,
                   stop_loss: float | None = None, take_profit: float | None = None, atr_stop: float | None = None,
                   atr_take: float | None = None, risk_free_rate: float | None = None,
                   set_: list[str] | None = None) -> dict[str, Any]:
    """The ``"section.key"`` overrides of the risk/costs/stops flags (for `backtest` and `live`).

    Raises
    ------
    ConfigError
        If a ``--set`` item is not ``section.key=value``.
    """
    out: dict[str, Any] = {
        "risk.max_position": max_position, "risk.max_sector": max_sector, "risk.beta_min": beta_min,
        "risk.beta_max": beta_max, "risk.max_var": max_var, "risk.max_drawdown": max_drawdown,
        "risk.turnover_penalty": turnover_penalty, "risk.rebalance_every": rebalance_every,
        "costs.commission_per_share": commission_per_share, "costs.commission_min": commission_min,
        "costs.commission_bps": commission_bps, "costs.half_spread_bps": half_spread_bps,
        "costs.impact_coefficient": impact, "stops.mode": stops, "stops.stop_loss": stop_loss,
        "stops.take_profit": take_profit, "stops.atr_stop": atr_stop, "stops.atr_take": atr_take,
        "risk.risk_free_rate": risk_free_rate,
    }
    for item in set_ or []:
        key, eq, value = item.partition("=")
        if not eq or "." not in key:
            raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. risk.max_var=0.02")
        out[key.strip()] = value.strip()
    return {k: v for k, v in out.items() if v is not None}


def register(app: typer.Typer) -> None:
    """Add ``backtest`` and ``report`` to the top-level app."""
    app.command("backtest")(backtest)
    app.command("report")(report)


@command
def backtest(
    tickers: list[str] | None = typer.Argument(None, help="Universe (default: every stored ticker)."),
    timeframe: str = typer.Option("1day", "--timeframe", help="1min, 5min, 15min, 30min, 1h or 1day."),
    start: datetime | None = typer.Option(None, "--start", help="First bar traded (naive = New York time); "
                                          "the TFT trains on the bars before it."),
    end: datetime | None = typer.Option(None, "--end", help="Only bars before this time (naive = New York time)."),
    strategy: str = typer.Option("tft", "--strategy", help="tft (forecasts + sentiment → Black–Litterman) or sma."),
    epochs: int = typer.Option(5, "--epochs", min=1, help="TFT training epochs (tft strategy)."),
    max_samples: int = typer.Option(20_000, "--max-samples", min=1, help="TFT training windows per epoch."),
    preset: str = typer.Option("default", "--preset", help="TFT preset: default or institutional."),
    rebalance_every: int | None = RebalanceOption,
    cash: float = typer.Option(1_000_000.0, "--cash", min=1.0, help="Initial cash."),
    seed: int = typer.Option(0, "--seed"),
    max_position: float | None = MaxPositionOption,
    max_sector: float | None = MaxSectorOption,
    beta_min: float | None = BetaMinOption,
    beta_max: float | None = BetaMaxOption,
    max_var: float | None = MaxVarOption,
    max_drawdown: float | None = MaxDrawdownOption,
    turnover_penalty: float | None = TurnoverPenaltyOption,
    commission_per_share: float | None = CommissionPerShareOption,
    commission_min: float | None = CommissionMinOption,
    commission_bps: float | None = CommissionBpsOption,
    half_spread_bps: float | None = HalfSpreadOption,
    impact: float | None = ImpactOption,
    stops: str | None = StopsOption,
    stop_loss: float | None = StopLossOption,
    take_profit: float | None = TakeProfitOption,
    atr_stop: float | None = AtrStopOption,
    atr_take: float | None = AtrTakeOption,
    risk_free_rate: float | None = RiskFreeOption,
    set_: list[str] | None = SetOption,
    force_model: bool = typer.Option(False, "--force-model", help="Trade the TFT's views even when it loses to a "
                                     "baseline on validation (otherwise its confidence is 0: no views)."),
    compare: str | None = CompareOption,
    as_json: bool = JsonOption,
) -> None:
    """Backtest a strategy on the stored bars; save the run and its trades (report it with `tftrade report`).

    Risk limits, costs and stops come from the configuration's ``risk``, ``costs`` and ``stops``
    sections; the flags override them for this run, and the run records the effective values.
    """
    cfg = settings()
    tune_compute(cfg)
    overrides = risk_overrides(
        max_position=max_position, max_sector=max_sector, beta_min=beta_min, beta_max=beta_max, max_var=max_var,
        max_drawdown=max_drawdown, turnover_penalty=turnover_penalty, rebalance_every=rebalance_every,
        commission_per_share=commission_per_share, commission_min=commission_min, commission_bps=commission_bps,
        half_spread_bps=half_spread_bps, impact=impact, stops=stops, stop_loss=stop_loss, take_profit=take_profit,
        atr_stop=atr_stop, atr_take=atr_take, risk_free_rate=risk_free_rate, set_=set_)
    tf = parse_timeframe(timeframe)
    from tftrade.backtest.config import trading_setup

    trading_setup(cfg, tf, overrides)  # validate before touching the store
    from tftrade.backtest.comparisons import parse_compare

    parse_compare(compare, strategy if strategy in ("tft", "sma") else "tft")
    eng = engine(cfg)
    result = run_and_save(eng, cfg.home, tickers=tickers or None, timeframe=tf, start=start,
                          end=end, strategy=strategy, epochs=epochs, max_samples=max_samples, preset=preset,
                          rebalance_every=None, cash=cash, seed=seed, settings_=cfg, overrides=overrides,
                          force_model=force_model, compare=compare)
    emit(result, as_json, render_summary)


def run_and_save(eng: Any, home: Path, *, tickers: list[str] | None, timeframe: Any, start: datetime | None,
                 end: datetime | None, strategy: str, epochs: int, max_samples: int, preset: str,
                 rebalance_every: int | None, cash: float, seed: int, settings_: Settings | None = None,
                 overrides: dict[str, Any] | None = None, compare: str | None = None,
                 force_model: bool = False, learning_rate: float = 1e-3, batch_size: int = 256) -> dict[str, Any]:
    """Run a store backtest with progress on stderr, save it and its trades atomically; return the summary
    (led by the ``banner`` when the model gave no views).

    ``compare`` names the comparison runs (see :func:`~tftrade.backtest.comparisons.parse_compare`):
    the same backtest with stops off, with ridge forecasts, with the TFT retrained without sentiment;
    their headline numbers and the stops' effect are stored in the run's summary.
    """
    from tftrade.backtest import BacktestConfig
    from tftrade.backtest.comparisons import comparison_runs, parse_compare
    from tftrade.backtest.config import trading_setup
    from tftrade.backtest.runs import new_run_id, run_header, save_run
    from tftrade.backtest.workflow import ForecastSetup, backtest_store
    from tftrade.compliance.run_audit import BacktestAudit

    run_id = new_run_id(strategy)
    audit = BacktestAudit(run_id, strategy_version=run_id)
    more = dict(overrides or {})
    if rebalance_every is not None:
        more.setdefault("risk.rebalance_every", rebalance_every)
    setup = trading_setup(settings_ or settings(), timeframe, more)
    config = BacktestConfig(initial_cash=cash, strategy_version=run_id)
    forecast = ForecastSetup(preset=preset, epochs=epochs, max_samples=max_samples, seed=seed, force=force_model,
                             learning_rate=learning_rate, batch_size=batch_size)
    which = parse_compare(compare, strategy)
    check = wash_sale_check(setup.risk.wash_sale)

    def epoch(row: dict[str, float]) -> None:
        stderr.print(f"TFT epoch {int(row['epoch'])}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}")

    with progress(f"backtest ({strategy})", None) as advance:
        run = backtest_store(eng, timeframe=timeframe, start=start, end=end, tickers=tickers, strategy=strategy,
                             forecast=forecast, config=config, setup=setup, on_epoch=epoch,
                             on_step=lambda _t: advance(1), audit=audit, order_check=check)
    if which:
        with progress(f"comparison runs: {', '.join(which)}", None):
            run = comparison_runs(eng, run, which, timeframe=timeframe, start=start, end=end, tickers=tickers,
                                  forecast=forecast, config=config, setup=setup, order_check=check)
    path = save_run(home, run, run_id, eng)
    header = run_header(run)
    return {"banner": header.pop("banner"), "run_id": run_id, "path": str(path), "timeframe": timeframe,
            "trades_stored": len(run.result.trades), **audit.summary(run.result), **run.result.summary(), **header}


def wash_sale_check(mode: str) -> Any:
    """A factory of the post-gate wash-sale check for ``risk.wash_sale`` (``None`` when it is off)."""
    if mode == "off":
        return None
    from tftrade.compliance.wash_check import WashSaleCheck

    return lambda: WashSaleCheck(mode)  # type: ignore[arg-type]


def render_summary(r: dict[str, Any]) -> None:
    """Print a run's banner, headline numbers, the stops' effect and its metrics next to the benchmark's."""
    if r.get("banner"):
        print(f"!! {r['banner']}")
    print(f"backtest {r['run_id']}: {r['tickers']} tickers, {r['bars']} bars from {r['start']} to {r['end']}")
    bench_total = r.get("benchmark_total_return")
    print(f"total return {r['total_return']:+.2%} net of costs, {r['gross_total_return']:+.2%} gross"
          + ("" if bench_total is None else f" (benchmark {bench_total:+.2%})")
          + f" over {r['sessions']:.1f} sessions")
    c = r["costs"]
    print(f"costs paid {c['total']:,.2f} ({c['total_bps_of_initial_equity']:.1f} bps of initial equity): spread "
          f"{c['spread']:,.2f}, impact {c['impact']:,.2f}, fees {c['fees']:,.2f}, commission {c['commission']:,.2f}")
    st = r["stops"]
    print(f"stops: {st['stop_loss_exits']:.0f} stop-loss exits (P&L {st['stop_loss_pnl']:,.2f}, turnover "
          f"{st['stop_loss_turnover']:.2f}x mean equity), {st['take_profit_exits']:.0f} take-profit exits "
          f"(P&L {st['take_profit_pnl']:,.2f})")
    if r.get("stops_effect"):
        print(r["stops_effect"]["text"])
    if not r["annualised"]:
        print(f"note: {r['sessions']:.1f} sessions < {r['annualise_min_sessions']}: returns are for the period, "
              f"not annualised; per session {r['per_session_return']:+.3%}")
    print(f"equity {r['initial_equity']:,.0f} -> {r['final_equity']:,.2f}; {r['decisions']} decisions, "
          f"{r['trades']} trades, {r['gate_events']} orders resized or rejected by the risk gate")
    bench = r.get("benchmark_metrics") or {}
    annualised = ("annual_return", "annual_volatility", "sharpe", "sortino", "calmar", "alpha", "tracking_error",
                  "information_ratio")
    shown = {k: v for k, v in r["metrics"].items() if r.get("annualised", True) or k not in annualised}
    table(f"metrics vs benchmark {r.get('benchmark') or '(none)'}"
          + ("" if r.get("annualised", True) else " (annualised figures omitted: see the tearsheet)"),
          [{"metric": _label(k, r), "strategy": _metric_text(k, v, r), "benchmark": _metric_text(k, bench.get(k), r)}
           for k, v in shown.items()])
    for c in r.get("comparison") or []:
        print(f"compare: {c['variant']}: total return {c['total_return']:+.2%} (gross {c['gross_total_return']:+.2%}), "
              f"max drawdown {c['max_drawdown']:.2%}, turnover {c['turnover']:.2f}x mean equity, {c['trades']} trades")
    for note in r.get("notes", [])[:10]:
        print(f"note: {note}")
    print(f"saved to {r['path']}; render the tearsheet with: tftrade report {r['run_id']}")
    if r.get("audit_chain"):
        print(f"audit chain {r['audit_chain']}: {r['audit_entries']} entries; check it with: tftrade audit verify "
              f"--chain {r['audit_chain']}")


def _turnover_periods(r: dict[str, Any]) -> float:
    """Bars per year (per session for a run too short to annualise): one-way turnover per bar times this."""
    from tftrade.core.timeframes import periods_per_year

    bars = periods_per_year(r.get("timeframe") or "1day")
    return bars if r.get("annualised", True) else bars / 252.0


def _label(key: str, r: dict[str, Any]) -> str:
    return TURNOVER_PER_SESSION if key == "turnover" and not r.get("annualised", True) else metric_label(key)


def _metric_text(key: str, value: Any, r: dict[str, Any]) -> str:
    if value is None:
        return "n/a"
    return format_metric(key, float(value) * (_turnover_periods(r) if key == "turnover" else 1.0))


@command
def report(
    run_id: str | None = typer.Argument(None, help="Run to report (default: the latest)."),
    out: Path | None = typer.Option(None, "--out", help="HTML file to write (default: in the run's folder)."),
    annualise_min_sessions: int | None = typer.Option(
        None, "--annualise-min-sessions", min=1,
        help="Shorter runs lead with period returns and set annualised figures apart (default 252)."),
    as_json: bool = JsonOption,
) -> None:
    """Render a backtest run's self-contained HTML tearsheet (works offline)."""
    from tftrade.backtest.report import render_run
    from tftrade.backtest.runs import load_run

    run = load_run(settings().home, run_id)
    s = run.summary
    if "tax_alpha" not in s and s.get("initial_equity") and s.get("total_return") is not None:  # an older run
        from tftrade.compliance.run_tax import run_tax_alpha

        s["tax_alpha"] = run_tax_alpha(run.trades, float(s["initial_equity"]), float(s["total_return"]))
    path = render_run(run, out, annualise_min_sessions)
    emit({"run_id": run.run_id, "report": str(path), "bytes": path.stat().st_size}, as_json,
         lambda r: print(f"report of {r['run_id']}: {r['report']}"))
