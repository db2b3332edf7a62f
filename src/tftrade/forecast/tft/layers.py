"""Gating blocks: gated linear unit, add & norm, gated residual networks and real embeddings."""

from __future__ import annotations

import ctypes
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from tftrade.forecast.tft.fused_gate import gate_add_norm
from tftrade.forecast.tft.native import float_ptr, plain_float32, tft_kernels


class _HashedDropout(torch.autograd.Function):
    """``apply(lib, x, p, seed)``: ``x`` times the kernel's hashed keep-and-rescale factors; the backward
    applies the same factors, regenerated from the seed, to the gradient (no mask is stored)."""

    @staticmethod
    def forward(ctx: Any, lib: ctypes.CDLL, x: Tensor, p: float, seed: int) -> Tensor:
        x = x.detach().contiguous()
        out = torch.empty_like(x)
        lib.dropout_apply(float_ptr(x), float_ptr(out), x.numel(), p, seed, torch.get_num_threads())
        ctx.lib, ctx.p, ctx.seed = lib, p, seed
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        grad = grad.contiguous()
        out = torch.empty_like(grad)
        ctx.lib.dropout_apply(float_ptr(grad), float_ptr(out), grad.numel(), ctx.p, ctx.seed, torch.get_num_threads())
        return None, out, None, None


class HashDropout(nn.Dropout):
    """Inverted dropout whose mask comes from the C kernel's counter hash (a seed from PyTorch's
    generator, so ``torch.manual_seed`` still makes training reproducible).

    The kernel multiplies by the mask as it draws it, and the backward draws it again from the seed:
    no mask is allocated or stored, a fraction of ``torch.bernoulli_``'s cost on the CPU. Without
    the kernel it is :class:`torch.nn.Dropout`. In evaluation it is the identity.

    Examples
    --------
    >>> d = HashDropout(0.5)
    >>> y = d(torch.ones(10_000))
    >>> 0.4 < float((y == 0).float().mean()) < 0.6, sorted(set(y.tolist())) == [0.0, 2.0]
    (True, True)
    >>> bool(torch.equal(d.eval()(torch.ones(3)), torch.ones(3)))
    True
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        lib = tft_kernels() if plain_float32(x) else None
        if lib is None:
            return super().forward(x)
        seed = int(torch.randint(0, 2**31 - 1, ()))
        out: Tensor = _HashedDropout.apply(lib, x, self.p, seed)  # type: ignore[no-untyped-call]
        return out


class GatedLinearUnit(nn.Module):
    """``GLU(x) = (W1 x + b1) ⊙ σ(W2 x + b2)``, with dropout on the input."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = HashDropout(dropout)
        self.fc = nn.Linear(d_in, 2 * d_out)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = F.glu(self.fc(self.dropout(x)), dim=-1)
        return out


class GateAddNorm(nn.Module):
    """``LayerNorm(skip + GLU(x))``."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.glu = GatedLinearUnit(d_in, d_out, dropout)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return gate_add_norm(x, self.glu.fc, skip, self.norm, self.glu.dropout)


class GatedResidualNetwork(nn.Module):
    """``GRN(a, c) = LayerNorm(skip(a) + GLU(W1 ELU(W2 a + W3 c)))`` (eq. 2–4 of the paper)."""

    def __init__(
        self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0, d_context: int | None = None
    ) -> None:
        super().__init__()
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.context = nn.Linear(d_context, d_hidden, bias=False) if d_context else None
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.gate = GateAddNorm(d_hidden, d_out, dropout)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        h = self.fc1(x)
        if self.context is not None and context is not None:
            h = h + self.context(context)
        if self.training:
            out: Tensor = self.gate(self.fc2(F.elu(h)), self.skip(x))
            return out
        out = self.gate.norm(self.skip(x) + F.glu(F.linear(F.elu(h), *self.folded_gate()), dim=-1))
        return out

    def folded_gate(self) -> tuple[Tensor, Tensor]:
        """``fc2`` folded into the gate's linear layer (valid in evaluation, where no dropout sits
        between them): weight ``(2·d_out, d_hidden)`` and bias."""
        fc = self.gate.glu.fc
        return fc.weight @ self.fc2.weight, torch.addmv(fc.bias, fc.weight, self.fc2.bias)


class GroupedGRN(nn.Module):
    """One independent GRN per variable, computed for all variables at once with batched weights.

    Input and output are ``(..., V, d)``. Equivalent to ``V`` separate :class:`GatedResidualNetwork`
    modules of width ``d`` (sharing one layer norm) but three batched matrix products instead of ``V``
    small kernels.
    """

    def __init__(self, n_vars: int, d: int, dropout: float = 0.0) -> None:
        super().__init__()
        scale = d**-0.5
        self.w1 = nn.Parameter(torch.randn(n_vars, d, d) * scale)
        self.b1 = nn.Parameter(torch.zeros(n_vars, d))
        self.w2 = nn.Parameter(torch.randn(n_vars, d, d) * scale)
        self.b2 = nn.Parameter(torch.zeros(n_vars, d))
        self.wg = nn.Parameter(torch.randn(n_vars, d, 2 * d) * scale)
        self.bg = nn.Parameter(torch.zeros(n_vars, 2 * d))
        self.dropout = HashDropout(dropout)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        xv = x.reshape(-1, shape[-2], shape[-1]).transpose(0, 1)  # V × N × d
        h = F.elu(torch.baddbmm(self.b1.unsqueeze(1), xv, self.w1))
        h = torch.baddbmm(self.b2.unsqueeze(1), h, self.w2)
        g = F.glu(torch.baddbmm(self.bg.unsqueeze(1), self.dropout(h), self.wg), dim=-1)
        out: Tensor = self.norm(xv + g).transpose(0, 1).reshape(shape)
        return out
