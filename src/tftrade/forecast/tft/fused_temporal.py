"""The temporal block after the LSTMs, in one pass of the C kernel (inference only).

``temporal = LayerNorm(skip + GLU(lstm_out))`` (the post-LSTM gate) and ``enriched =
GRN(temporal, c_e)`` (static enrichment) are four matrix products and a dozen elementwise passes
over ``B × (C + H) × d`` tensors in PyTorch. ``temporal_forward`` in ``tft_kernels.c`` computes
both for a block of rows at a time with everything in between kept in registers and L1 cache,
with the enrichment's second layer folded into its gate exactly as
:meth:`~tftrade.forecast.tft.layers.GatedResidualNetwork.forward` does in evaluation. A test
compares it with the modules.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from tftrade.forecast.tft.layers import GateAddNorm, GatedResidualNetwork
from tftrade.forecast.tft.native import TemporalArgs, float_ptr


def temporal_block(lib: ctypes.CDLL, post_lstm: GateAddNorm, enrichment: GatedResidualNetwork, lstm_out: Tensor,
                   skip: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``(temporal, enriched)`` (each ``B × T × d``) of ``lstm_out`` and ``skip`` (``B × T × d``)
    with the static enrichment context ``context`` (``B × d``)."""
    if enrichment.context is None or not isinstance(enrichment.skip, torch.nn.Identity):
        raise ValueError("the fused temporal block needs an enrichment GRN with a context and no skip layer")
    b, t, d = lstm_out.shape
    fw, fb = enrichment.folded_gate()
    keep = [x.float().contiguous() for x in (
        lstm_out, skip, enrichment.context(context),
        post_lstm.glu.fc.weight.t(), post_lstm.glu.fc.bias, post_lstm.norm.weight, post_lstm.norm.bias,
        enrichment.fc1.weight.t(), enrichment.fc1.bias, fw.t(), fb,
        enrichment.gate.norm.weight, enrichment.gate.norm.bias)]
    temporal = lstm_out.new_empty(b, t, d, dtype=torch.float32)
    enriched = torch.empty_like(temporal)
    y, sk, ctx, pw, pb, pnw, pnb, w1, b1, fw_, fb_, enw, enb = (float_ptr(x) for x in keep)
    args = TemporalArgs(y, sk, ctx, b * t, t, d, pw, pb, pnw, pnb, w1, b1, fw_, fb_, enw, enb,
                        post_lstm.norm.eps, enrichment.gate.norm.eps, float_ptr(temporal), float_ptr(enriched))
    if lib.temporal_forward(ctypes.byref(args), torch.get_num_threads()) != 0:
        raise MemoryError("temporal-block kernel could not allocate its scratch memory")
    return temporal, enriched
