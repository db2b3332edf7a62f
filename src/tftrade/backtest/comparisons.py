"""Comparison runs: the same backtest with one thing changed, to show where the return comes from.

``stops``
    the run with stops off (same forecasts, bars, costs and limits): the stops' *effect* on net return,
    turnover and drawdown, which their realised P&L is not (the cash a stop leaves idle is not in it).
``ridge``
    price-only ridge forecasts (pooled ridge of the h-bar return on 5 lagged returns, fitted before
    the first forecast) and no sentiment in the strategy.
``no-sentiment``
    the TFT retrained without its sentiment inputs (same preset, epochs, windows and seed) and no
    sentiment in the strategy: what sentiment adds, with the model not fed it at all.

``ridge`` and ``no-sentiment`` need forecasts (the TFT strategy); ``stops`` needs stops on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine

from tftrade.backtest.errors import BacktestError
from tftrade.backtest.market import load_market, market_of
from tftrade.backtest.result import BacktestResult
from tftrade.backtest.workflow import BacktestRun, ForecastSetup, backtest_store

COMPARISONS = ("stops", "ridge", "no-sentiment")
"""Every comparison run, in the order they are run and shown."""

LABELS = {
    "this": "this run",
    "stops": "same run, stops off",
    "ridge": "ridge on past returns, no sentiment",
    "no-sentiment": "TFT retrained without sentiment, no sentiment in the strategy",
}


def parse_compare(text: str | None, strategy: str) -> tuple[str, ...]:
    """The comparison runs named by ``--compare`` (comma-separated; ``none``; ``all``; ``None``: the default).

    The default is ``stops`` and, for the TFT strategy, ``ridge`` (neither retrains); ``all`` adds
    ``no-sentiment``, which trains a second TFT.

    Raises
    ------
    BacktestError
        On an unknown name, or a forecast comparison asked of the SMA strategy.

    Examples
    --------
    >>> parse_compare(None, "tft"), parse_compare("none", "tft"), parse_compare("no-sentiment, stops", "tft")
    (('stops', 'ridge'), (), ('stops', 'no-sentiment'))
    >>> parse_compare("all", "sma")
    ('stops',)
    """
    forecasts = strategy == "tft"
    if text is None or text.strip() in ("", "default"):
        return ("stops", "ridge") if forecasts else ("stops",)
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return ()
    if names == ["all"]:
        return COMPARISONS if forecasts else ("stops",)
    unknown = [n for n in names if n not in COMPARISONS]
    if unknown:
        raise BacktestError(f"--compare {text!r}: unknown comparison {', '.join(unknown)}; choose from "
                            f"{', '.join(COMPARISONS)}, all or none")
    if not forecasts and (wrong := [n for n in names if n != "stops"]):
        raise BacktestError(f"--compare {', '.join(wrong)} needs forecasts: use it with --strategy tft")
    return tuple(n for n in COMPARISONS if n in names)


def stops_on(run: BacktestRun) -> bool:
    """Whether ``run`` had stops (its recorded stop mode, else its levels)."""
    mode = (run.result.setup.get("stops") or {}).get("mode")
    if mode is not None:
        return bool(mode != "off")
    c = run.result.config
    return c.stop_loss is not None or c.take_profit is not None or c.stop_mode == "atr"


def comparison_runs(engine: Engine, run: BacktestRun, which: Sequence[str], *, forecast: ForecastSetup | None = None,
                    **kwargs: Any) -> BacktestRun:
    """``run`` with ``comparison`` (one row per run, this run first), ``compared`` and ``stops_effect`` filled.

    ``kwargs`` are the other :func:`backtest_store` arguments of ``run`` (timeframe, start, end, tickers,
    config, setup, order_check, ...); ``forecast`` is how its TFT was trained (the no-sentiment run
    retrains the same way).
    """
    rows: list[dict[str, object]] = [headline("this", run.result, run.model)]
    curves: dict[str, np.ndarray] = {}
    notes: list[str] = []
    effect = None
    for name in which:
        if name == "stops" and not stops_on(run):
            notes.append("stops are off in this run: no stops comparison")
            continue
        other = _variant(engine, run, name, forecast or ForecastSetup(), {"stored": run.stored, **kwargs})
        if other is None:
            notes.append(f"no {name} comparison: the run has no forecasts")
            continue
        rows.append(headline(name, other.result, other.model))
        if other.result.equity.shape == run.result.equity.shape:
            curves[name] = other.result.equity
        if name == "stops":
            effect = stops_effect(run.result, other.result)
    result = run.result
    if notes:
        result = dataclasses.replace(result, notes=(*result.notes, *notes))
    return dataclasses.replace(run, result=result, comparison=rows, compared=tuple(which), stops_effect=effect,
                               comparison_equity=curves or None)


def _variant(engine: Engine, run: BacktestRun, name: str, forecast: ForecastSetup,
             kwargs: dict[str, Any]) -> BacktestRun | None:
    if name == "stops":
        setup = kwargs.pop("setup", None)
        if setup is not None:
            kwargs["setup"] = dataclasses.replace(setup, stops=dataclasses.replace(setup.stops, mode="off"))
        else:
            base = kwargs.pop("config", None) or run.result.config
            kwargs["config"] = base.model_copy(update={"stop_loss": None, "take_profit": None, "stop_mode": "fixed"})
        if run.strategy == "sma":
            return backtest_store(engine, strategy="sma", **kwargs)
        return backtest_store(engine, strategy="tft", forecasts_given=run.forecasts, training=run.model,
                              use_sentiment=run.sentiment is not None, **kwargs)
    if run.forecasts is None:
        return None
    if name == "ridge":
        from tftrade.backtest.walkforward import ridge_forecasts

        stored = kwargs.get("stored")
        m = (market_of(stored, tickers=kwargs.get("tickers")) if stored is not None else
             load_market(engine, tickers=kwargs.get("tickers"), timeframe=kwargs.get("timeframe", "1day")))
        panel = ridge_forecasts(m.timestamps, m.tickers, m.close, run.forecasts)
        return backtest_store(engine, strategy="tft", forecasts_given=panel, use_sentiment=False, **kwargs)
    return backtest_store(engine, strategy="tft", forecast=dataclasses.replace(forecast, without_sentiment=True),
                          use_sentiment=False, **kwargs)


def headline(key: str, res: BacktestResult, model: dict[str, object] | None = None) -> dict[str, object]:
    """One comparison row: returns, drawdown, turnover, trades, costs, stop exits and the model's verdict."""
    s = res.summary()
    exposure, stops = res.exposure(), res.stops()
    row: dict[str, object] = {
        "key": key, "variant": LABELS.get(key, key), "total_return": s["total_return"],
        "gross_total_return": s["gross_total_return"], "benchmark_total_return": s["benchmark_total_return"],
        "max_drawdown": res.metrics()["max_drawdown"], "turnover": exposure["traded_notional_x_mean_equity"],
        "trades": s["trades"], "costs": res.costs()["total"],
        "stop_exits": stops["stop_loss_exits"] + stops["take_profit_exits"],
    }
    if model is not None:
        row["model"] = {k: model.get(k) for k in ("name", "status", "gives_views", "views_share", "inputs_left_out")}
    return row


def stops_effect(with_stops: BacktestResult, without: BacktestResult) -> dict[str, object]:
    """The stops' effect: this run minus the same run without stops.

    ``return_diff`` and ``gross_return_diff`` are fractions of initial equity (×100 = percentage
    points), ``turnover_ratio`` is traded notional with stops over without (``None`` when the run
    without stops traded nothing), ``max_drawdown_diff`` the change in max drawdown (negative: deeper).
    """
    a, b = with_stops.summary(), without.summary()
    ta = with_stops.exposure()["traded_notional_x_mean_equity"]
    tb = without.exposure()["traded_notional_x_mean_equity"]
    da, db = with_stops.metrics()["max_drawdown"], without.metrics()["max_drawdown"]
    ra, rb = float(a["total_return"]), float(b["total_return"])  # type: ignore[arg-type]
    ratio = ta / tb if tb > 0 else None
    turnover = f"{ratio:.2f}× turnover" if ratio is not None else f"turnover {ta:.2f}× mean equity (none without)"
    text = (f"Stops: {100 * (ra - rb):+.2f} pp net return, {turnover}, max drawdown {da:.2%} vs {db:.2%} "
            f"against the same run without stops ({ra:+.2%} vs {rb:+.2%} net)")
    return {"return_diff": ra - rb, "return_with": ra, "return_without": rb,
            "gross_return_diff": float(a["gross_total_return"]) - float(b["gross_total_return"]),  # type: ignore[arg-type]
            "turnover_with": ta, "turnover_without": tb, "turnover_ratio": ratio,
            "max_drawdown_with": da, "max_drawdown_without": db, "max_drawdown_diff": da - db,
            "costs_diff": with_stops.costs()["total"] - without.costs()["total"], "text": text}
