"""A tiny TFT fitted on a one-day synthetic market, for tests of the forecasting paths (single-threaded)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from tftrade.backtest.market import MarketData, from_frame
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.forecast.data import panel_from_bars
from tftrade.forecast.tft.config import ModelConfig
from tftrade.forecast.training import TrainConfig, Trained, fit


def tiny_model(n_tickers: int, seed: int, *, horizon: int = 3, samples: int = 200,
               comments: bool = False) -> Iterator[tuple[MarketData, Trained]]:
    """Yield the market (benchmark dropped) and a 1-epoch TFT (hidden 8, context 20); torch runs on one thread
    meanwhile. ``comments=False`` generates no comments (sentiment features absent)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    extra = {} if comments else {"comments_per_bar": 0}
    bars = generate_market(SyntheticConfig(n_tickers=n_tickers, days=1, seed=seed, **extra)).bars_frame()
    universe = bars[~bars["ticker"].str.startswith("^")]
    trained = fit(panel_from_bars(universe, "1min"),
                  ModelConfig(hidden_size=8, variable_size=4, attention_heads=2, context=20, horizon=horizon),
                  TrainConfig(max_epochs=1, max_samples_per_epoch=samples))
    yield from_frame(universe, timeframe="1min"), trained
    torch.set_num_threads(n)
