"""Benchmark: tftrade's TFT against pytorch-forecasting's TemporalFusionTransformer.

Prints (never asserts) training samples/s, time to predict every ticker's latest window
(p50/p99 over repeats) and test q-risk after the same number of epochs, on one synthetic
daily market (default 500 tickers, context 60, horizon 5, 2 CPU threads).

    python benchmarks/tft_vs_peer.py [--tickers 500] [--days 400] [--epochs 1] [--hidden 64]

The peer runs only when ``pytorch_forecasting`` is importable (the optional ``bench`` extra);
install it in a separate environment if it would change this one's pins.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.features.dataset import Panel, WindowIndex, gather
from tftrade.forecast.data import panel_from_market
from tftrade.forecast.evaluation import evaluate
from tftrade.forecast.tft.config import ModelConfig, preset
from tftrade.forecast.training import TrainConfig, fit, to_tensors


def _latency(model: torch.nn.Module, panel: Panel, config: ModelConfig, repeats: int) -> tuple[float, float]:
    n = len(panel.tickers)
    idx = WindowIndex(np.full(n, panel.n_times - config.horizon - 1), np.arange(n))
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(*to_tensors(gather(panel, idx, config.context, config.horizon)))
            times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def run_ours(raw: Panel, config: ModelConfig, epochs: int, label: str, repeats: int) -> dict[str, float]:
    tc = TrainConfig(max_epochs=epochs, patience=epochs + 1, batch_size=128)
    t0 = time.perf_counter()
    trained = fit(raw, config, tc)
    seconds = time.perf_counter() - t0
    n_train = len(trained.splits.origins("train", len(raw.tickers), config.context, config.horizon))
    p50, p99 = _latency(trained.model, raw.scaled(trained.standardizer), config, repeats)
    scores = evaluate(trained, raw)
    out = {"train_samples_per_s": n_train * len(trained.history) / seconds, "predict_p50_ms": p50,
           "predict_p99_ms": p99, "test_q_risk_p50": scores["tft"]["q_risk_p50"],
           "zero_return_q_risk_p50": scores["zero_return"]["q_risk_p50"],
           "ridge_q_risk_p50": scores["ridge"]["q_risk_p50"]}
    print(f"\n[{label}] hidden {config.hidden_size}, heads {config.attention_heads}, layers {config.lstm_layers}")
    for k, v in out.items():
        print(f"  {k:>24}: {v:10.3f}")
    return out


def run_peer(market_frame: object, hidden: int, epochs: int) -> None:  # pragma: no cover - optional
    try:
        import pytorch_forecasting  # noqa: F401
    except ImportError:
        print("\n[peer] pytorch-forecasting is not installed in this environment: skipped "
              "(installing 1.8.0 here would change the pandas pin; use a separate venv)")
        return
    print("\n[peer] pytorch-forecasting found, but the side-by-side runner is not implemented yet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--institutional", action="store_true", help="also run the institutional preset")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    market = generate_market(SyntheticConfig(n_tickers=args.tickers, days=args.days, seed=0, timeframe="1day"))
    raw = panel_from_market(market, "comments")
    print(f"market: {args.tickers} tickers × {args.days} days, context 60, horizon 5, {args.threads} threads")
    run_ours(raw, preset("default").model_copy(update={"hidden_size": args.hidden}), args.epochs,
             f"tftrade default (hidden {args.hidden})", args.repeats)
    run_ours(raw, preset("default"), args.epochs, "tftrade preset default", args.repeats)
    if args.institutional:
        run_ours(raw, preset("institutional"), args.epochs, "tftrade preset institutional", max(args.repeats // 5, 3))
    run_peer(market, args.hidden, args.epochs)


if __name__ == "__main__":
    main()
