"""Interpretable multi-head attention: one value projection shared by all heads."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from tftrade.forecast.tft.layers import HashDropout


class InterpretableMultiHeadAttention(nn.Module):
    """Attention whose heads share values, so the head-averaged weights explain the output (eq. 14–16).

    ``forward(q (B, Lq, d), kv (B, Lk, d), mask (Lq, Lk) bool, True = blocked)
    -> (out (B, Lq, d), weights (B, Lq, Lk))``.
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
        b, lq, lk, h, dh = q.shape[0], q.shape[1], kv.shape[1], self.heads, self.d_head
        # queries spread block-diagonally over the heads: row (query j, head i) holds query j's
        # head-i part in head i's columns, so one batched product with the keys as the linear layer
        # laid them out (B × Lk × H·dh, no transposed copy) gives every head's scores at once
        heads_eye = torch.eye(h, dtype=q.dtype).repeat_interleave(dh, dim=1)  # H × H·dh
        qh = (self.q(q) / math.sqrt(dh)).unsqueeze(2) * heads_eye  # B × Lq × H × H·dh
        scores = torch.bmm(qh.view(b, lq * h, h * dh), self.k(kv).transpose(1, 2)).view(b, lq, h, lk)
        blocked = torch.zeros(mask.shape, dtype=scores.dtype).masked_fill_(mask, float("-inf"))
        weights = torch.softmax(scores + blocked.unsqueeze(1), dim=-1)
        # the heads share their values, so averaging the heads' outputs = averaging their weights first
        mean_w = self.dropout(weights).mean(dim=2)
        return self.out(torch.bmm(mean_w, self.v(kv))), weights.mean(dim=2)


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
