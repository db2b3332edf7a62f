"""``nn.LSTM`` in inference through the C kernel: the same function and parameters.

PyTorch's CPU LSTM (oneDNN) runs, per step, a matrix product and several elementwise passes over
the whole batch. ``lstm_forward`` in ``tft_kernels.c`` runs a block of rows at a time through all
steps, input and recurrent products and gate nonlinearities together, with the state in
registers. Stacked layers run one after another (``nn.LSTM`` has no dropout between layers in
evaluation). Training keeps ``nn.LSTM``: a fused forward and backward measured only 8–20 % faster than
oneDNN's at hidden 64, and slower at 32.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor, nn

from tftrade.forecast.tft.native import LstmArgs, float_ptr

State = tuple[Tensor, Tensor]


def run_lstm(lib: ctypes.CDLL | None, lstm: nn.LSTM, x: Tensor, state: State) -> tuple[Tensor, State]:
    """``lstm(x, state)`` for a batch-first LSTM; through the kernel when ``lib`` is given, no gradient
    is being recorded and the LSTM is a plain one (``state`` is ``(h0, c0)``, each ``(layers, B, d)``)."""
    usable = (lib is not None and not torch.is_grad_enabled() and lstm.batch_first and not lstm.bidirectional
              and lstm.proj_size == 0 and lstm.bias and x.dtype == torch.float32)
    if not usable:
        out, (h, c) = lstm(x, state)
        return out, (h, c)
    assert lib is not None
    b, t, d = x.shape[0], x.shape[1], lstm.hidden_size
    hs, cs = [], []
    for layer in range(lstm.num_layers):
        w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")
        keep = [v.contiguous() for v in (x, torch.cat([w_ih, w_hh], 1).t(), getattr(lstm, f"bias_ih_l{layer}")
                                         + getattr(lstm, f"bias_hh_l{layer}"), state[0][layer], state[1][layer])]
        out, hn, cn = x.new_empty(b, t, d), x.new_empty(b, d), x.new_empty(b, d)
        args = LstmArgs(*(float_ptr(v) for v in keep), b, t, x.shape[2], d, float_ptr(out), float_ptr(hn),
                        float_ptr(cn))
        if lib.lstm_forward(ctypes.byref(args), torch.get_num_threads()) != 0:
            raise MemoryError("LSTM kernel could not allocate its scratch memory")
        x = out
        hs.append(hn)
        cs.append(cn)
    return x, (torch.stack(hs), torch.stack(cs))
