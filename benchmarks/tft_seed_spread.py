"""How much one epoch's test q-risk depends on the seed: tftrade's TFT on the peer benchmark's panel.

Prints the P50 q-risk per horizon (1.0 = the zero-return forecast) for each seed; never asserts.

    python benchmarks/tft_seed_spread.py [--seeds 0 1 2] [--hidden 64] [--epochs 1]
"""

from __future__ import annotations

import argparse


def main() -> None:
    import torch

    from tftrade.core.memory import retain_freed_memory
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.features.dataset import gather
    from tftrade.forecast.data import panel_from_market
    from tftrade.forecast.inference import forecast_scaled
    from tftrade.forecast.metrics import q_risk
    from tftrade.forecast.tft.config import preset
    from tftrade.forecast.training import TrainConfig, fit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--days", type=int, default=160)
    args = ap.parse_args()
    torch.set_num_threads(2)
    retain_freed_memory()
    market = generate_market(SyntheticConfig(n_tickers=args.tickers, days=args.days, seed=0, timeframe="1day"))
    raw = panel_from_market(market, "comments")
    config = preset("default").model_copy(update={"hidden_size": args.hidden})
    for seed in args.seeds:
        tc = TrainConfig(max_epochs=args.epochs, patience=args.epochs + 1, batch_size=256, learning_rate=1e-3,
                         seed=seed)
        trained = fit(raw, config, tc)
        panel = raw.scaled(trained.standardizer)
        test = trained.splits.origins("test", len(raw.tickers), config.context, config.horizon)
        pred = forecast_scaled(trained.model, panel, test)
        y = gather(panel, test, config.context, config.horizon).target
        per_h = [q_risk(y[:, h], pred[:, h, 1], 0.5) for h in range(config.horizon)]
        print(f"seed {seed}: P50 q-risk by horizon " + " ".join(f"{v:.3f}" for v in per_h), flush=True)


if __name__ == "__main__":
    main()
