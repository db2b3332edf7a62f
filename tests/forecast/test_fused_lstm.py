"""The LSTM through the C kernels equals ``nn.LSTM``: outputs in inference, outputs and gradients in training."""

from __future__ import annotations

import pytest
import torch

from tftrade.forecast.tft import fused_lstm, native
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


@pytest.mark.parametrize(("d_in", "d", "layers", "batch", "steps"),
                         [(8, 16, 1, 5, 7), (19, 32, 2, 9, 4), (64, 64, 1, 33, 60), (3, 16, 1, 1, 1), (5, 48, 1, 6, 3)])
def test_training_kernel_gradients_equal_nn_lstm(d_in: int, d: int, layers: int, batch: int, steps: int) -> None:
    """Outputs, final state and the gradients of inputs, initial state and every weight and bias, against
    ``nn.LSTM`` in float64; batches that do not fill a tile of rows, one step, widths of 1-4 vectors."""
    lib = native.tft_kernels()
    assert lib is not None
    torch.manual_seed(2)
    ref = torch.nn.LSTM(d_in, d, layers, batch_first=True).double()
    x = (torch.randn(batch, steps, d_in, dtype=torch.float64) * 2).requires_grad_()
    state = [torch.randn(layers, batch, d, dtype=torch.float64).requires_grad_() for _ in range(2)]
    upstream = [torch.randn(batch, steps, d, dtype=torch.float64), *(torch.randn(layers, batch, d, dtype=torch.float64)
                                                                     for _ in range(2))]
    out, (h, c) = ref(x, tuple(state))
    want = torch.autograd.grad([out, h, c], [x, *state, *ref.parameters()], upstream)
    lstm = torch.nn.LSTM(d_in, d, layers, batch_first=True)
    lstm.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    x32 = x.detach().float().requires_grad_()
    state32 = [s.detach().float().requires_grad_() for s in state]
    calls: list[int] = []
    train = fused_lstm.LstmLayer.apply
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused_lstm.LstmLayer, "apply", lambda *a: calls.append(1) or train(*a))
        out32, (h32, c32) = run_lstm(lib, lstm, x32, (state32[0], state32[1]))
    assert len(calls) == layers
    got = torch.autograd.grad([out32, h32, c32], [x32, *state32, *lstm.parameters()], [u.float() for u in upstream])
    for name, a, b in zip(("out", "h", "c"), (out32, h32, c32), (out, h, c), strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=2e-6, msg=name)
    names = ["x", "h0", "c0", *(n for n, _ in lstm.named_parameters())]
    for name, g, w in zip(names, got, want, strict=True):
        torch.testing.assert_close(g.double(), w, rtol=1e-4, atol=1e-5 * float(w.abs().max()), msg=name)


def test_training_widths_the_kernel_cannot_tile_use_nn_lstm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hidden size that is not a multiple of 16 trains through ``nn.LSTM``; gradients still arrive."""
    lib = native.tft_kernels()
    assert lib is not None
    lstm = torch.nn.LSTM(4, 12, 1, batch_first=True)
    monkeypatch.setattr(fused_lstm.LstmLayer, "apply", lambda *a: pytest.fail("training kernel used"))
    out, _ = run_lstm(lib, lstm, torch.randn(2, 3, 4), (torch.zeros(1, 2, 12), torch.zeros(1, 2, 12)))
    out.sum().backward()  # type: ignore[no-untyped-call]
    assert lstm.weight_hh_l0.grad is not None and lstm.weight_hh_l0.grad.abs().sum() > 0


def test_stacked_layers_get_dropout_between_them_in_training() -> None:
    lib = native.tft_kernels()
    assert lib is not None
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(16, 16, 2, batch_first=True, dropout=0.5)
    x, state = torch.randn(8, 5, 16), (torch.zeros(2, 8, 16), torch.zeros(2, 8, 16))
    plain, _ = lstm.eval()(x, state)
    with torch.no_grad():
        evaluated, _ = run_lstm(lib, lstm, x, state)
    trained, _ = run_lstm(lib, lstm.train(), x, state)
    torch.testing.assert_close(evaluated, plain, rtol=1e-5, atol=2e-6)
    assert not torch.allclose(trained, plain, atol=1e-3)  # the second layer saw dropped-out inputs


def test_training_lstm_propagates_nan_and_skips_autocast() -> None:
    lib = native.tft_kernels()
    assert lib is not None
    lstm = torch.nn.LSTM(4, 16, 1, batch_first=True)
    x, state = torch.randn(5, 3, 4), (torch.zeros(1, 5, 16), torch.zeros(1, 5, 16))
    x[0, 0, 0] = float("nan")
    out, _ = run_lstm(lib, lstm, x.requires_grad_(), state)
    assert bool(out[0].isnan().all()) and not bool(out[1:].isnan().any())  # as nn.LSTM: row 0 is NaN throughout
    calls: list[int] = []
    with pytest.MonkeyPatch.context() as mp, torch.autocast("cpu", dtype=torch.bfloat16):
        mp.setattr(fused_lstm.LstmLayer, "apply", lambda *a: calls.append(1))
        run_lstm(lib, lstm, torch.randn(5, 3, 4).requires_grad_(), state)
    assert calls == []  # bfloat16 products never reach the float32 kernel
