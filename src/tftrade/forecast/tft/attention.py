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
        b, lq, lk = q.shape[0], q.shape[1], kv.shape[1]
        qh = self.q(q).view(b, lq, self.heads, self.d_head).transpose(1, 2)
        kh = self.k(kv).view(b, lk, self.heads, self.d_head).transpose(1, 2)
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(self.d_head)
        weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
        v = self.v(kv).unsqueeze(1)
        heads = self.dropout(weights) @ v
        return self.out(heads.mean(dim=1)), weights.mean(dim=1)


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
