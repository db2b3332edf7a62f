"""Shared fixtures: one small synthetic market with a planted sentiment lead, one model trained on it."""

from __future__ import annotations

import pytest

from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.features.dataset import Panel
from tftrade.forecast.data import panel_from_market
from tftrade.forecast.tft.config import ModelConfig
from tftrade.forecast.training import TrainConfig, Trained, fit

MARKET = SyntheticConfig(
    n_tickers=15, days=250, seed=3, timeframe="1day", sentiment_r2=0.4, jump_prob=0.0,
    earnings_every=5000, spam_bursts=0, comments_per_bar=0.0,
)
SMALL = ModelConfig(hidden_size=8, attention_heads=2, dropout=0.0, context=10, horizon=5)
FAST = TrainConfig(max_epochs=4, batch_size=256, learning_rate=1e-2, patience=3, max_samples_per_epoch=2500, seed=0)


@pytest.fixture(scope="session")
def panel() -> Panel:
    return panel_from_market(generate_market(MARKET), "latent")


@pytest.fixture(scope="session")
def trained(panel: Panel) -> Trained:
    return fit(panel, SMALL, FAST)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TFTRADE_HOME", str(tmp_path / "home"))


def store_market(tmp_path, monkeypatch, n_tickers: int, days: int):  # type: ignore[no-untyped-def]
    """A workspace whose SQLite store holds the small synthetic market (``n_tickers`` × ``days``); returns its home."""
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    home = tmp_path / "home"
    monkeypatch.setenv("TFTRADE_HOME", str(home))
    engine = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    upgrade(engine)
    ingest_synthetic(engine, generate_market(MARKET.model_copy(update={"n_tickers": n_tickers, "days": days})))
    engine.dispose()
    return home


@pytest.fixture(params=["kernel", "tensor"])
def inference_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once through the fused C kernel and once through the tensor path."""
    from tftrade.forecast.tft.native import tft_kernels

    monkeypatch.setenv("TFTRADE_NATIVE", "1" if request.param == "kernel" else "0")
    tft_kernels.cache_clear()
    request.addfinalizer(tft_kernels.cache_clear)
    return str(request.param)
