"""The network: shapes, selection weights, causal mask, and no look-ahead end to end."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tftrade.features.dataset import Panel, WindowIndex, gather
from tftrade.forecast.inference import to_tensors
from tftrade.forecast.tft.config import ModelConfig, preset
from tftrade.forecast.tft.model import TemporalFusionTransformer
from tftrade.forecast.training import schema_for

CFG = ModelConfig(hidden_size=8, attention_heads=2, dropout=0.0, context=10, horizon=4)


@pytest.fixture(scope="module")
def model(panel: Panel) -> TemporalFusionTransformer:
    torch.manual_seed(0)
    return TemporalFusionTransformer(schema_for(panel), CFG).eval()


def _batch(panel: Panel, origin: int = 100):  # type: ignore[no-untyped-def]
    n = len(panel.tickers)
    return gather(panel, WindowIndex(np.full(n, origin), np.arange(n)), CFG.context, CFG.horizon)


def test_output_shapes_and_weights_sum_to_one(model: TemporalFusionTransformer, panel: Panel) -> None:
    out = model(*to_tensors(_batch(panel)))
    n, v = len(panel.tickers), len(panel.observed_names) + len(panel.known_names)
    assert out.quantiles.shape == (n, CFG.horizon, 3)
    assert out.encoder_weights.shape == (n, CFG.context, v)
    assert out.attention.shape == (n, CFG.horizon, CFG.context + CFG.horizon)
    for w in (out.encoder_weights, out.decoder_weights, out.static_weights, out.attention):
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    assert torch.all(out.quantiles[..., 0] <= out.quantiles[..., 1])


def test_decoder_step_never_sees_later_known_inputs(model: TemporalFusionTransformer, panel: Panel) -> None:
    obs, known, static = to_tensors(_batch(panel))
    base = model(obs, known, static)
    for j in range(CFG.horizon):
        k2 = known.clone()
        k2[:, CFG.context + j :] += 5.0
        out = model(obs, k2, static)
        torch.testing.assert_close(out.quantiles[:, :j], base.quantiles[:, :j])
    assert base.attention[:, 0, CFG.context + 1 :].abs().max() == 0


def test_forecast_at_t_ignores_data_after_t(model: TemporalFusionTransformer, panel: Panel) -> None:
    t = 120
    later = panel.observed.copy()
    later[t + 1 :] = later[t + 1 :] * 3 + 1
    changed = replace(panel, observed=later)
    a = model(*to_tensors(_batch(panel, t))).quantiles
    b = model(*to_tensors(_batch(changed, t))).quantiles
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_presets() -> None:
    inst = preset("institutional")
    assert (inst.hidden_size, inst.attention_heads, inst.dropout, inst.horizon, inst.context) == (256, 8, 0.1, 5, 60)
    with pytest.raises(ValueError, match="preset"):
        preset("huge")
    with pytest.raises(ValueError):
        ModelConfig(hidden_sise=3)  # type: ignore[call-arg]


def test_attention_equals_the_literal_per_head_computation() -> None:
    """Eq. 14–16 written out head by head: scores per head, masked softmax, shared values, mean."""
    import math

    from tftrade.forecast.tft.attention import InterpretableMultiHeadAttention, causal_mask

    torch.manual_seed(4)
    att = InterpretableMultiHeadAttention(12, 3).eval()
    kv, mask = torch.randn(5, 9, 12), causal_mask(6, 3)
    q = kv[:, 6:]
    want_out, want_w = [], []
    v = att.v(kv)
    for i in range(3):
        qi = att.q(q)[..., i * 4:(i + 1) * 4]
        ki = att.k(kv)[..., i * 4:(i + 1) * 4]
        w = torch.softmax((qi @ ki.transpose(1, 2) / math.sqrt(4)).masked_fill(mask, float("-inf")), dim=-1)
        want_w.append(w)
        want_out.append(w @ v)
    out, weights = att(q, kv, mask)
    torch.testing.assert_close(weights, torch.stack(want_w).mean(0))
    torch.testing.assert_close(out, att.out(torch.stack(want_out).mean(0)))
    assert float(weights.detach()[0, 0, 7:].abs().sum()) == 0.0  # first decoder step never sees later steps


def test_attention_gradients_equal_the_literal_computation() -> None:
    """In training (dropout 0) the query-side key projection and the once-projected values give the
    literal computation's gradients; the key bias, which the softmax cancels, gets none."""
    import math

    from tftrade.forecast.tft.attention import InterpretableMultiHeadAttention, causal_mask

    torch.manual_seed(5)
    att = InterpretableMultiHeadAttention(8, 2).train()
    kv, mask = torch.randn(3, 7, 8, requires_grad=True), causal_mask(4, 3)

    def literal() -> torch.Tensor:
        ws = []
        for i in range(2):
            qi, ki = att.q(kv[:, 4:])[..., i * 4:(i + 1) * 4], att.k(kv)[..., i * 4:(i + 1) * 4]
            ws.append(torch.softmax((qi @ ki.transpose(1, 2) / math.sqrt(4)).masked_fill(mask, float("-inf")), -1))
        return att.out(torch.stack(ws).mean(0) @ att.v(kv))

    def grads(out: torch.Tensor) -> list[torch.Tensor]:
        att.zero_grad()
        kv.grad = None
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        named = [p.grad for n, p in att.named_parameters() if n != "k.bias"]
        return [kv.grad.clone(), *(g.clone() for g in named if g is not None)]

    want = grads(literal())
    got = grads(att(kv[:, 4:], kv, mask)[0])
    assert att.k.bias.grad is None
    assert len(got) == len(want) == 1 + 7
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
