"""Interpretable multi-head attention through the C kernel equals its tensor path; the dispatch between them."""

from __future__ import annotations

import ctypes
from typing import Any

import pytest
import torch

from tftrade.forecast.tft import attention as attention_module
from tftrade.forecast.tft import native
from tftrade.forecast.tft.attention import InterpretableMultiHeadAttention, causal_mask
from tftrade.forecast.tft.fused_attention import fused_attention

RTOL, ATOL = 1e-5, 2e-6
SCALED = 1e-5
"""The outputs' tolerance, relative to their largest magnitude: sharp softmaxes over large scores pass
float rounding of the scores on to the weights (both paths are within ~3e-6 of a float64 reference)."""


def _module(d: int, heads: int, dropout: float = 0.0) -> InterpretableMultiHeadAttention:
    torch.manual_seed(d * 10 + heads)
    m = InterpretableMultiHeadAttention(d, heads, dropout).eval()
    with torch.no_grad():  # every bias away from zero, so that each term matters
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return m


def _kernels() -> ctypes.CDLL:
    lib = native.tft_kernels()
    assert lib is not None
    return lib


@pytest.mark.parametrize("batch", [1, 3, 17])
@pytest.mark.parametrize("heads", [1, 2, 4, 8])
@pytest.mark.parametrize("d", [8, 32, 64])
@pytest.mark.parametrize(("context", "horizon"), [(60, 5), (4, 2), (9, 1)])
def test_kernel_equals_the_tensor_path(batch: int, heads: int, d: int, context: int, horizon: int) -> None:
    """Decoder queries over encoder + decoder keys with the causal mask, as the model calls it; query-head
    counts below, at and above a vector's lanes, key counts that do not fill a tile, one row."""
    m = _module(d, heads)
    g = torch.Generator().manual_seed(batch + heads + d)
    kv = torch.randn(batch, context + horizon, d, generator=g) * 2
    mask = causal_mask(context, horizon)
    with torch.inference_mode():
        out, weights = fused_attention(_kernels(), m, kv[:, context:], kv, mask)
        want_out, want_weights = m.tensor_forward(kv[:, context:], kv, mask)
    scale = float(want_out.abs().max())
    torch.testing.assert_close(weights, want_weights, rtol=RTOL, atol=ATOL * 4)
    torch.testing.assert_close(out, want_out, rtol=RTOL, atol=SCALED * scale)
    with torch.inference_mode():  # and as close to the exact function as the tensor path is
        exact, _ = m.double().tensor_forward(kv[:, context:].double(), kv.double(), mask)
    assert float((out.double() - exact).abs().max()) <= SCALED * scale
    assert torch.all(weights[:, mask] == 0)  # blocked keys get exactly nothing
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, horizon))
    if batch > 1:  # each row attends over its own keys
        assert not torch.allclose(weights[0], weights[1])


def test_any_mask_and_a_fully_blocked_query() -> None:
    """The kernel takes the mask it is given: random blocked keys, and a query with every key blocked
    gets NaN weights and output, as PyTorch's softmax gives."""
    m = _module(16, 4)
    g = torch.Generator().manual_seed(5)
    q, kv = torch.randn(4, 3, 16, generator=g), torch.randn(4, 21, 16, generator=g)
    mask = torch.rand(3, 21, generator=g) > 0.5
    mask[:, 0] = False
    with torch.inference_mode():
        got = fused_attention(_kernels(), m, q, kv, mask)
        want = m.tensor_forward(q, kv, mask)
        torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL)
        mask[1] = True
        out, weights = fused_attention(_kernels(), m, q, kv, mask)
        want_out, want_weights = m.tensor_forward(q, kv, mask)
    assert torch.isnan(want_weights[:, 1]).all() and torch.isnan(weights[:, 1]).all()
    assert torch.isnan(want_out[:, 1]).all() and torch.isnan(out[:, 1]).all()
    torch.testing.assert_close(out[:, [0, 2]], want_out[:, [0, 2]], rtol=RTOL, atol=ATOL)


def test_queries_that_are_a_view_of_the_keys() -> None:
    """The model passes ``enriched[:, C:]`` (not contiguous) as the queries."""
    m = _module(32, 4)
    kv = torch.randn(5, 65, 32)
    with torch.inference_mode():
        got = fused_attention(_kernels(), m, kv[:, 60:], kv, causal_mask(60, 5))
        want = m.tensor_forward(kv[:, 60:].contiguous(), kv, causal_mask(60, 5))
    torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL)


def test_shapes_that_do_not_fit_are_refused() -> None:
    m = _module(8, 2)
    with pytest.raises(ValueError, match="do not fit"):
        fused_attention(_kernels(), m, torch.zeros(2, 3, 8), torch.zeros(2, 5, 8), causal_mask(2, 2))


class _Spy:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        return fused_attention(*args, **kwargs)


@pytest.mark.parametrize(("case", "fused"), [
    ("inference", True), ("no_grad", True), ("grad", False), ("float64", False), ("training_dropout", False),
    ("training_no_dropout", True), ("native_off", False),
])
def test_forward_takes_the_kernel_only_without_gradients_dropout_or_other_dtypes(
        case: str, fused: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _Spy()
    monkeypatch.setattr(attention_module, "fused_attention", spy)
    m = _module(8, 2, dropout=0.5 if case == "training_dropout" else 0.0)
    kv, mask = torch.randn(3, 6, 8), causal_mask(4, 2)
    if case.startswith("training"):
        m.train()
    if case == "float64":
        m, kv = m.double(), kv.double()
    if case == "native_off":
        monkeypatch.setenv("TFTRADE_NATIVE", "0")
        native.tft_kernels.cache_clear()
    try:
        if case == "grad":
            out, weights = m(kv[:, 4:], kv, mask)
            assert out.requires_grad
        else:
            with torch.inference_mode() if case != "no_grad" else torch.no_grad():
                out, weights = m(kv[:, 4:], kv, mask)
        assert spy.calls == int(fused)
        with torch.no_grad():
            m.eval()
            want_out, want_weights = m.tensor_forward(kv[:, 4:], kv, mask)
        if case != "training_dropout":
            torch.testing.assert_close(out.detach(), want_out, rtol=RTOL, atol=ATOL)
            torch.testing.assert_close(weights.detach(), want_weights, rtol=RTOL, atol=ATOL)
    finally:
        native.tft_kernels.cache_clear()


@pytest.mark.parametrize("heads", [2, 8])
def test_more_queries_than_a_vector_has_lanes(heads: int) -> None:
    """Twenty decoder queries (more than one vector of queries in the heads' average), on two threads."""
    m = _module(32, heads)
    kv = torch.randn(9, 50, 32, generator=torch.Generator().manual_seed(heads)) * 2
    mask = causal_mask(30, 20)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            out, weights = fused_attention(_kernels(), m, kv[:, 30:], kv, mask)
            want_out, want_weights = m.tensor_forward(kv[:, 30:], kv, mask)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(weights, want_weights, rtol=RTOL, atol=ATOL * 4)
    torch.testing.assert_close(out, want_out, rtol=RTOL, atol=SCALED * float(want_out.abs().max()))
