"""Variable selection networks and the static covariate encoders."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tftrade.forecast.tft.layers import GatedResidualNetwork, GroupedGRN


class VariableSelectionNetwork(nn.Module):
    """Soft selection over ``V`` embedded variables (eq. 6–8 of the paper).

    ``forward(x (..., V, d), context (B, d) | None) -> (selected (..., d), weights (..., V))``.
    """

    def __init__(self, n_vars: int, d: int, dropout: float = 0.0, with_context: bool = True) -> None:
        super().__init__()
        self.n_vars = n_vars
        self.flat = GatedResidualNetwork(n_vars * d, d, n_vars, dropout, d_context=d if with_context else None)
        self.per_var = GroupedGRN(n_vars, d, dropout)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        flat = x.flatten(start_dim=-2)
        if context is not None:
            while context.dim() < flat.dim():
                context = context.unsqueeze(1)
        weights = torch.softmax(self.flat(flat, context), dim=-1)
        selected = (self.per_var(x) * weights.unsqueeze(-1)).sum(dim=-2)
        return selected, weights


class StaticCovariateEncoders(nn.Module):
    """Four GRNs turning the static vector into contexts: selection, enrichment, LSTM h and c."""

    def __init__(self, d: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.grns = nn.ModuleList(GatedResidualNetwork(d, d, d, dropout) for _ in range(4))

    def forward(self, static: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        c_sel, c_enr, c_h, c_c = (g(static) for g in self.grns)
        return c_sel, c_enr, c_h, c_c
