"""``nn.LSTM`` through the C kernels: the same function and parameters, in inference and in training.

PyTorch's CPU LSTM (oneDNN) runs, per step, a matrix product and several elementwise passes over
the whole batch. In inference ``lstm_forward`` in ``tft_kernels.c`` runs a block of rows at a time
through all steps, input and recurrent products and gate nonlinearities together, with the state
in registers. Stacked layers run one after another (``nn.LSTM`` has no dropout between layers in
evaluation).

In training (:class:`LstmLayer`) everything that is not sequential in time is one large matrix
product in PyTorch — the input terms of all steps forward; the input and both weight gradients
backward — and only the recurrence runs in the kernel (``lstm_train_forward`` and
``lstm_train_backward``), on PyTorch's row-major arrays with the features in the vector lanes, so
nothing is transposed.
Between stacked layers the outputs get dropout, as ``nn.LSTM``'s ``dropout`` does.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from tftrade.forecast.tft.native import LstmArgs, LstmTrainArgs, float_ptr, plain_float32

State = tuple[Tensor, Tensor]

TRAIN_WIDTH = 16
"""The training kernel needs the hidden size to be a multiple of this (the widest vector's lanes);
other sizes train through ``nn.LSTM``."""


class LstmLayer(torch.autograd.Function):
    """``apply(lib, x (B, T, din), h0 (B, d), c0 (B, d), w_ih, w_hh, b_ih, b_hh) -> (out (B, T, d), hn, cn)``:
    one ``nn.LSTM`` layer (gate order i, f, g, o) with its backward through the training kernel."""

    @staticmethod
    def forward(ctx: Any, lib: ctypes.CDLL, x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor,
                b_ih: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, t, din = x.shape
        d = w_hh.shape[1]
        x, h0, c0, w_ih, w_hh = (v.detach().contiguous() for v in (x, h0, c0, w_ih, w_hh))
        gx = x.view(b * t, din) @ w_ih.t()  # B·T × 4d: every step's input term (the kernel adds the biases)
        bias, w_hh_t = (b_ih + b_hh).detach(), w_hh.t().contiguous()
        gates, c, h = gx.new_empty(b, t, 4 * d), gx.new_empty(b, t, d), gx.new_empty(b, t, d)
        args = LstmTrainArgs(float_ptr(gx), float_ptr(bias), float_ptr(w_hh_t), None, float_ptr(h0), float_ptr(c0),
                             b, t, d, float_ptr(gates), float_ptr(c), float_ptr(h))
        lib.lstm_train_forward(ctypes.byref(args), torch.get_num_threads())
        ctx.lib = lib
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, gates, c, h)
        return h, h[:, -1].clone(), c[:, -1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dhn: Tensor, dcn: Tensor) -> tuple[Tensor | None, ...]:
        x, h0, c0, w_ih, w_hh, gates, c, h = ctx.saved_tensors
        (b, t, din), d = x.shape, w_hh.shape[1]
        dout, dhn, dcn = dout.contiguous(), dhn.contiguous(), dcn.contiguous()  # held: read through raw pointers
        dgx, dh0, dc0 = torch.empty_like(gates), torch.empty_like(h0), torch.empty_like(c0)
        args = LstmTrainArgs(None, None, None, float_ptr(w_hh), float_ptr(h0), float_ptr(c0), b, t, d,
                             float_ptr(gates), float_ptr(c), float_ptr(h), float_ptr(dout), float_ptr(dhn),
                             float_ptr(dcn), float_ptr(dgx), float_ptr(dh0), float_ptr(dc0))
        if ctx.lib.lstm_train_backward(ctypes.byref(args), torch.get_num_threads()) != 0:
            raise MemoryError("LSTM kernel could not allocate its scratch memory")
        h_prev = torch.cat([h0.unsqueeze(1), h[:, :-1]], 1).view(b * t, d)  # the state each step started from
        dg = dgx.view(b * t, 4 * d)
        db = dg.sum(0)
        return (None, (dg @ w_ih).view(b, t, din), dh0, dc0, dg.t() @ x.view(b * t, din), dg.t() @ h_prev, db, db)


def _inference_layer(lib: ctypes.CDLL, lstm: nn.LSTM, layer: int, x: Tensor, h0: Tensor, c0: Tensor,
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """One layer through the inference kernel: ``(out (B, T, d), hn (B, d), cn (B, d))``."""
    b, t, d = x.shape[0], x.shape[1], lstm.hidden_size
    w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")
    keep = [v.contiguous() for v in (x, torch.cat([w_ih, w_hh], 1).t(), getattr(lstm, f"bias_ih_l{layer}")
                                     + getattr(lstm, f"bias_hh_l{layer}"), h0, c0)]
    out, hn, cn = x.new_empty(b, t, d), x.new_empty(b, d), x.new_empty(b, d)
    args = LstmArgs(*(float_ptr(v) for v in keep), b, t, x.shape[2], d, float_ptr(out), float_ptr(hn), float_ptr(cn))
    if lib.lstm_forward(ctypes.byref(args), torch.get_num_threads()) != 0:
        raise MemoryError("LSTM kernel could not allocate its scratch memory")
    return out, hn, cn


def run_lstm(lib: ctypes.CDLL | None, lstm: nn.LSTM, x: Tensor, state: State) -> tuple[Tensor, State]:
    """``lstm(x, state)`` for a batch-first LSTM; through the kernels when ``lib`` is given and the LSTM is
    a plain one (``state`` is ``(h0, c0)``, each ``(layers, B, d)``): the inference kernel when no
    gradient is being recorded, else the training kernel's recurrence (:class:`LstmLayer`)."""
    usable = (lib is not None and lstm.batch_first and not lstm.bidirectional and lstm.proj_size == 0 and lstm.bias
              and plain_float32(x, *state, *lstm.parameters()))
    training = torch.is_grad_enabled()
    if not usable or (training and lstm.hidden_size % TRAIN_WIDTH):
        out, (h, c) = lstm(x, state)
        return out, (h, c)
    assert lib is not None
    hs, cs = [], []
    for layer in range(lstm.num_layers):
        if training:
            if layer > 0 and lstm.dropout > 0 and lstm.training:
                x = F.dropout(x, lstm.dropout)
            weights = (getattr(lstm, f"{k}_l{layer}") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            x, hn, cn = LstmLayer.apply(lib, x, state[0][layer], state[1][layer], *weights)  # type: ignore[no-untyped-call]
        else:
            x, hn, cn = _inference_layer(lib, lstm, layer, x, state[0][layer], state[1][layer])
        hs.append(hn)
        cs.append(cn)
    return x, (torch.stack(hs), torch.stack(cs))
