"""Running the encoder of the next window ahead (a prefix) changes no forecast: prefix + rest = the whole window."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

from tests.forecast.tiny_model import tiny_model
from tftrade.backtest.market import MarketData
from tftrade.features.dataset import WARMUP
from tftrade.features.errors import FeatureError
from tftrade.forecast.rolling import RollingForecast, RollingForecaster
from tftrade.forecast.tft.config import DataSchema, ModelConfig
from tftrade.forecast.tft.model import EncoderPrefix, TemporalFusionTransformer, TFTOutput
from tftrade.forecast.training import Trained

FIELDS = ("open", "high", "low", "close", "volume")
RTOL, ATOL = 1e-6, 1e-7  # tight: the same operations, split in two


def random_model(layers: int) -> TemporalFusionTransformer:
    """An untrained network whose head is not the zero it starts from (so the quantiles depend on everything)."""
    torch.manual_seed(layers)
    schema = DataSchema(observed=["r", "v"], known=["dow", "tod"], static=["ticker_id"], static_cardinalities=[20],
                        tickers=[f"T{i}" for i in range(20)], sectors=["X"], timeframe="1min")
    m = TemporalFusionTransformer(schema, ModelConfig(hidden_size=16, attention_heads=4, context=12, horizon=3,
                                                      lstm_layers=layers)).eval()
    with torch.no_grad():
        m.head.weight.normal_()
    return m


def assert_same(a: TFTOutput, b: TFTOutput) -> None:
    for x, y in ((a.quantiles, b.quantiles), (a.attention, b.attention), (a.encoder_weights, b.encoder_weights),
                 (a.decoder_weights, b.decoder_weights)):
        torch.testing.assert_close(x, y, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("layers", [1, 2])
def test_decode_on_a_prefix_equals_the_whole_window(layers: int, inference_path: str) -> None:
    m = random_model(layers)
    c, h = m.config.context, m.config.horizon
    g = torch.Generator().manual_seed(7)
    observed, known = torch.randn(20, c, 2, generator=g), torch.randn(20, c + h, 2, generator=g)
    with torch.inference_mode():
        contexts = m.static_contexts(torch.arange(20)[:, None])
        enc_x, enc_w = m.select_encoder(observed, known[:, :c], contexts)
        whole = m.decode(enc_x, enc_w, known, contexts)
        assert whole.quantiles[..., 2].std() > 0.1  # a forecast that depends on its inputs
        for p in (1, c // 2, c - 1):
            prefix = m.encode_prefix(enc_x[:, :p], contexts)
            assert prefix.steps == p and prefix.state_h.shape == (layers, 20, 16)
            assert_same(m.decode(enc_x, enc_w, known, contexts, prefix), whole)
        for future in (known[:, c:], known[:, c:] + 1.0):  # the decoder selected ahead: used when it fits
            prefix = m.encode_prefix(enc_x[:, : c - 1], contexts, future)
            assert prefix.decoder is not None
            assert_same(m.decode(enc_x, enc_w, known, contexts, prefix), whole)
        other = m.encode_prefix(enc_x[:, 1:], contexts)  # the steps of another window: another forecast
        assert (m.decode(enc_x, enc_w, known, contexts, other).quantiles - whole.quantiles).abs().max() > 1e-3
        with pytest.raises(ValueError, match="at least one"):
            m.decode(enc_x, enc_w, known, contexts, m.encode_prefix(enc_x, contexts))
        with pytest.raises(ValueError, match="does not fit"):
            m.decode(enc_x, enc_w, known, contexts, m.encode_prefix(enc_x[:5, :3], contexts.take(torch.arange(5))))


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[MarketData, Trained]]:
    yield from tiny_model(5, 21, samples=200)


def bars(m: MarketData, t: int) -> tuple[np.ndarray, ...]:
    return tuple(getattr(m, f)[t] for f in FIELDS)


def assert_forecast(got: RollingForecast | None, want: RollingForecast | None) -> None:
    assert got is not None and want is not None and got.timestamp_ns == want.timestamp_ns
    np.testing.assert_allclose(got.quantiles, want.quantiles, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got.confidence, want.confidence, rtol=RTOL, atol=ATOL)


def test_every_bar_forecasts_on_its_prefix_as_on_the_whole_window(setup: tuple[MarketData, Trained],
                                                                    inference_path: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    m, trained = setup
    fast, plain = (RollingForecaster(trained, m.tickers, m.sectors, "1min") for _ in range(2))
    first = WARMUP + trained.config.context - 1
    forecasts = 0
    for t in range(first + 60):
        for r in (fast, plain):
            r.append(int(m.timestamps[t]), *bars(m, t))
        if t >= first:
            assert_forecast(fast.forecast(), plain.forecast())
            forecasts += 1
        assert fast.prepare() == (t >= first - 1)  # ready once the next bar can complete a forecast
        assert fast.prepare() == (t >= first - 1)  # idempotent
    assert fast.streaming.prefix_forecasts == forecasts  # every forecast ran on its prefix
    runs: list[int] = []
    vsn = fast.streaming.model.decoder_vsn
    real = vsn.forward

    def counted(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
        runs.append(1)
        return real(*args)

    monkeypatch.setattr(vsn, "forward", counted)
    t = first + 60
    for r in (fast, plain):  # the calendar's next bar: the decoder's inputs were selected ahead too
        r.append(int(m.timestamps[t]), *bars(m, t))
    assert_forecast(fast.forecast(), plain.forecast())
    assert len(runs) == 1  # the plain one (same model) selected its decoder inputs; the prepared one had them
    assert plain.streaming.prefix_forecasts == 0


def test_prepare_twice_runs_the_prefix_once(setup: tuple[MarketData, Trained], monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    m, trained = setup
    r = RollingForecaster(trained, m.tickers, m.sectors, "1min")
    r.extend(m.timestamps[:100], *(getattr(m, f)[:100] for f in FIELDS))
    runs: list[int] = []
    model = r.streaming.model
    real = model.encode_prefix

    def counted(*args: Any) -> EncoderPrefix:
        runs.append(1)
        return real(*args)

    monkeypatch.setattr(model, "encode_prefix", counted)
    assert r.prepare() and r.prepare() and r.prepare()
    assert len(runs) == 1
    r.append(int(m.timestamps[100]), *bars(m, 100))
    assert r.prepare() and len(runs) == 2  # a new bar: the next window's prefix


def test_several_bars_a_reset_or_a_rejected_bar_fall_back_to_the_whole_window(
        setup: tuple[MarketData, Trained], inference_path: str) -> None:
    m, trained = setup
    fast, plain = (RollingForecaster(trained, m.tickers, m.sectors, "1min") for _ in range(2))

    def both(step: Callable[[RollingForecaster], None]) -> None:
        for r in (fast, plain):
            step(r)

    def check(used_prefix: bool) -> None:
        before = fast.streaming.prefix_forecasts
        assert_forecast(fast.forecast(), plain.forecast())
        assert fast.streaming.prefix_forecasts - before == int(used_prefix)

    both(lambda r: r.extend(m.timestamps[:90], *(getattr(m, f)[:90] for f in FIELDS)))
    assert fast.prepare()
    both(lambda r: r.extend(m.timestamps[90:93], *(getattr(m, f)[90:93] for f in FIELDS)))  # 3 bars at once
    check(used_prefix=False)
    assert fast.prepare()
    both(lambda r: r.append(int(m.timestamps[95]), *bars(m, 95)))  # a gap of two bars: the window still starts
    check(used_prefix=True)                                         # with the prepared bars
    assert fast.prepare()
    bad = list(bars(m, 96))
    bad[3] = bad[3].copy()
    bad[3][1] = np.nan
    for r in (fast, plain):  # a rejected bar resets both
        with pytest.raises(FeatureError, match="close"):
            r.append(int(m.timestamps[96]), *bad)
    assert fast.forecast() is None and not fast.prepare()
    both(lambda r: r.extend(m.timestamps[97:160], *(getattr(m, f)[97:160] for f in FIELDS)))
    check(used_prefix=False)
    assert fast.prepare()
    for r in (fast, plain):  # a bar out of order resets both
        with pytest.raises(FeatureError, match="not after"):
            r.append(int(m.timestamps[150]), *bars(m, 150))
    assert not fast.prepare()
    # the same bars again after the reset (a cold start): the prefix of before is gone, then prepared afresh
    both(lambda r: r.extend(m.timestamps[97:160], *(getattr(m, f)[97:160] for f in FIELDS)))
    check(used_prefix=False)
    assert fast.prepare()
    both(lambda r: r.append(int(m.timestamps[160]), *bars(m, 160)))
    check(used_prefix=True)
    fast.prepare()
    both(lambda r: r.reset())
    both(lambda r: r.extend(m.timestamps[100:161], *(getattr(m, f)[100:161] for f in FIELDS)))
    check(used_prefix=False)
