"""Interpretable multi-head attention in one pass of the C kernel (inference only).

The tensor path (:meth:`~tftrade.forecast.tft.attention.InterpretableMultiHeadAttention.forward`)
is a dozen small PyTorch operations over ``B × Lq × H × Lk`` scores; at serving sizes (five decoder
queries over 65 keys) their per-call overhead and the round trips through memory cost more than
the arithmetic. ``attention_forward`` in ``tft_kernels.c`` does one batch row at a time — the
queries through their heads' query and key weights, the scores, the masked softmax, the heads'
average and the shared value and output layers — with the same folding as the tensor path (the
key bias cancels; the values are projected after the weighted sum), and the value and output
layers folded into one (``Wo Wv``; they have nothing between them). A test compares the two.
"""

from __future__ import annotations

import ctypes
import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from tftrade.forecast.tft.native import AttentionArgs, float_ptr, int_ptr

if TYPE_CHECKING:
    from tftrade.forecast.tft.attention import InterpretableMultiHeadAttention


def fused_attention(lib: ctypes.CDLL, module: InterpretableMultiHeadAttention, q: Tensor, kv: Tensor, mask: Tensor,
                    ) -> tuple[Tensor, Tensor]:
    """``(out (B, Lq, d), weights (B, Lq, Lk))`` of ``module`` in evaluation (no dropout) for queries' inputs
    ``q`` ``(B, Lq, d)``, keys' inputs ``kv`` ``(B, Lk, d)`` and ``mask`` ``(Lq, Lk)`` (True = blocked)."""
    (b, lq, d), lk, h, dh = q.shape, kv.shape[1], module.heads, module.d_head
    if kv.shape != (b, lk, d) or mask.shape != (lq, lk):
        raise ValueError(f"queries {tuple(q.shape)}, keys {tuple(kv.shape)} and mask {tuple(mask.shape)} do not fit")
    wo = module.out.weight.detach()
    keep = [x.detach().float().contiguous() for x in (
        q, kv, module.q.weight.t(), module.q.bias, module.k.weight, module.v.weight.t() @ wo.t(),
        wo @ module.v.bias, module.out.bias)]
    blocked = mask.to(device="cpu", dtype=torch.int32).contiguous()
    out = torch.empty(b, lq, d, dtype=torch.float32)
    weights = torch.empty(b, lq, lk, dtype=torch.float32)
    x, y, wq, bq, wk, wvo, bvo, bo = (float_ptr(t) for t in keep)
    args = AttentionArgs(x, y, int_ptr(blocked), b, lq, lk, d, h, dh, wq, bq, wk, wvo, bvo, bo, math.sqrt(dh),
                         float_ptr(out), float_ptr(weights))
    if lib.attention_forward(ctypes.byref(args), torch.get_num_threads()) != 0:
        raise MemoryError("attention kernel could not allocate its scratch memory")
    return out, weights
