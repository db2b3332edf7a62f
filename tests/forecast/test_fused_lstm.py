"""The LSTM through the C kernel (inference) equals ``nn.LSTM``; with gradients ``nn.LSTM`` runs."""

from __future__ import annotations

import pytest
import torch

from tftrade.forecast.tft import native
from tftrade.forecast.tft.fused_lstm import run_lstm


@pytest.mark.parametrize(("d_in", "d", "layers", "batch", "steps"),
                         [(8, 8, 1, 5, 7), (19, 12, 2, 9, 4), (64, 64, 1, 33, 60), (3, 5, 1, 1, 1)])
def test_kernel_equals_nn_lstm(d_in: int, d: int, layers: int, batch: int, steps: int) -> None:
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(d_in, d, layers, batch_first=True).eval()
    x = torch.randn(batch, steps, d_in) * 3  # saturating gates as well as their linear range
    state = (torch.randn(layers, batch, d), torch.randn(layers, batch, d))
    lib = native.tft_kernels()
    assert lib is not None
    with torch.inference_mode():
        out, (h, c) = run_lstm(lib, lstm, x, state)
        want, (want_h, want_c) = lstm(x, state)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=2e-6)
    torch.testing.assert_close(h, want_h, rtol=1e-5, atol=2e-6)
    torch.testing.assert_close(c, want_c, rtol=1e-5, atol=2e-6)


def test_training_keeps_nn_lstm(monkeypatch: pytest.MonkeyPatch) -> None:
    """With gradients recorded the kernel is not called and gradients reach the LSTM's weights."""
    lib = native.tft_kernels()
    assert lib is not None
    lstm = torch.nn.LSTM(4, 4, 1, batch_first=True)
    monkeypatch.setattr(lib, "lstm_forward", lambda *a: pytest.fail("kernel called while training"))
    out, _ = run_lstm(lib, lstm, torch.randn(2, 3, 4), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    out.sum().backward()  # type: ignore[no-untyped-call]
    assert lstm.weight_hh_l0.grad is not None and lstm.weight_hh_l0.grad.abs().sum() > 0
