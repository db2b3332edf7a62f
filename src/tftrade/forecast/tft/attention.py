"""Interpretable multi-head attention: one value projection shared by all heads."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from tftrade.forecast.tft.fused_attention import fused_attention
from tftrade.forecast.tft.layers import HashDropout
from tftrade.forecast.tft.native import plain_float32, tft_kernels


class InterpretableMultiHeadAttention(nn.Module):
    """Attention whose heads share values, so the head-averaged weights explain the output (eq. 14–16).

    ``forward(q (B, Lq, d), kv (B, Lk, d), mask (Lq, Lk) bool, True = blocked)
    -> (out (B, Lq, d), weights (B, Lq, Lk))``.

    The key layer's bias is a parameter of the paper's formula but cancels in the softmax: it is
    kept (models saved before still load and give the same forecasts) and gets no gradient.

    Without gradients and dropout, on float32 CPU tensors, the forward runs in one pass of the C kernel
    (:func:`~tftrade.forecast.tft.fused_attention.fused_attention`, the same function); otherwise, or
    where the kernels cannot be built, through :meth:`tensor_forward`.
    """

    def __init__(self, d: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.d_head = max(d // heads, 1)
        self.q = nn.Linear(d, self.d_head * heads)
        self.k = nn.Linear(d, self.d_head * heads)
        self.v = nn.Linear(d, self.d_head)
        self.out = nn.Linear(self.d_head, d)
        self.dropout = HashDropout(dropout)

    def forward(self, q: Tensor, kv: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if not torch.is_grad_enabled() and not (self.training and self.dropout.p > 0) and plain_float32(q, kv):
            lib = tft_kernels()
            if lib is not None:
                return fused_attention(lib, self, q, kv, mask)
        return self.tensor_forward(q, kv, mask)

    def tensor_forward(self, q: Tensor, kv: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The forward in PyTorch operations (differentiable; any dtype and device)."""
        b, lq, lk, h, dh, d = q.shape[0], q.shape[1], kv.shape[1], self.heads, self.d_head, kv.shape[2]
        # Head i's score of key k for query j is (Wq_i q_j + bq_i)·(Wk_i k + bk_i)/√dh. The key bias adds
        # one number to all of a query's scores, which the softmax ignores, so the queries go through their
        # heads' key weights, q̃_ji = Wk_iᵀ(Wq_i q_j + bq_i)/√dh, and meet the keys' inputs as they are:
        # B·Lq·H·dh·d + B·Lq·H·d·Lk products instead of projecting every key (B·Lk·d·H·dh), where Lq ≪ Lk.
        qh = self.q(q).view(b, lq, h, dh) / math.sqrt(dh)
        qk = torch.einsum("bjhe,hed->bjhd", qh, self.k.weight.view(h, dh, d))  # B × Lq × H × d
        scores = torch.bmm(qk.reshape(b, lq * h, d), kv.transpose(1, 2)).view(b, lq, h, lk)
        blocked = torch.zeros(mask.shape, dtype=scores.dtype).masked_fill_(mask, float("-inf"))
        weights = torch.softmax(scores + blocked.unsqueeze(1), dim=-1)
        # the heads share their values, so averaging the heads' outputs = averaging their weights first;
        # and w·(Wv k + bv) = Wv (w·k) + (Σw) bv: the weighted sum of the keys' inputs is projected once
        average = weights.mean(dim=2)  # B × Lq × Lk
        mean_w = self.dropout(weights).mean(dim=2) if self.training and self.dropout.p > 0 else average
        values = torch.addcmul(torch.bmm(mean_w, kv) @ self.v.weight.t(), mean_w.sum(-1, keepdim=True), self.v.bias)
        return self.out(values), average


def causal_mask(context: int, horizon: int) -> Tensor:
    """Mask for decoder queries over encoder+decoder keys: step ``j`` sees keys ``<= context + j``.

    Examples
    --------
    >>> causal_mask(2, 2).int().tolist()
    [[0, 0, 0, 1], [0, 0, 0, 0]]
    """
    keys = torch.arange(context + horizon)
    queries = torch.arange(horizon) + context
    return keys[None, :] > queries[:, None]
