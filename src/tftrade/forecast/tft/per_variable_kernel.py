"""The per-variable stage of real-input selection in training, through the fused C kernel.

An autograd ``Function``: the forward computes ``Σ_v w_v · LayerNorm(GRN_v(x_v))`` (the layer norm
without its affine part) row by row in ``tft_kernels.c``; the backward recomputes each GRN there and
returns the gradients of the selection weights and of the per-variable parameters. Nothing of
width ``V × N × 2d`` is stored or materialised in between. Dropout on each GRN's hidden layer
uses a mask hashed from ``(seed, row, variable, unit)``, regenerated identically in the backward.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from tftrade.forecast.tft.native import PvArgs, float_ptr

PARAMS = ("a1", "c1", "w2", "b2", "wg", "bg", "as", "cs")
"""The per-variable parameters the kernel differentiates, in the order of its gradient buffer."""


def _args(x: Tensor, w: Tensor, params: tuple[Tensor, ...], eps: float, p: float, seed: int,
          g: Tensor | None = None, sel: Tensor | None = None, dw: Tensor | None = None,
          grads: Tensor | None = None) -> PvArgs:
    n, nv = x.shape
    e, d = params[0].shape[1], params[6].shape[1]
    return PvArgs(float_ptr(x), float_ptr(w), float_ptr(g), n, nv, d, e, *(float_ptr(t) for t in params),
                  eps, p, seed, float_ptr(sel), float_ptr(dw), float_ptr(grads))


class PerVariable(torch.autograd.Function):
    """``apply(lib, x (N, V), w (N, V), eps, p, seed, a1, c1, w2, b2, wg, bg, as, cs) -> (N, d)``."""

    @staticmethod
    def forward(ctx: Any, lib: ctypes.CDLL, x: Tensor, w: Tensor, eps: float, p: float, seed: int,
                *params: Tensor) -> Tensor:
        x, w = x.detach().float().contiguous(), w.detach().float().contiguous()
        params = tuple(t.detach().float().contiguous() for t in params)
        sel = x.new_empty(x.shape[0], params[6].shape[1])
        if lib.pv_forward(ctypes.byref(_args(x, w, params, eps, p, seed, sel=sel)), torch.get_num_threads()):
            raise MemoryError("variable-selection kernel could not allocate its scratch memory")
        ctx.lib, ctx.eps, ctx.p, ctx.seed = lib, eps, p, seed
        ctx.save_for_backward(x, w, *params)
        return sel

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, w, *params = ctx.saved_tensors
        g = grad.float().contiguous()
        dw = torch.empty_like(w)
        grads = x.new_zeros(sum(t.numel() for t in params))
        args = _args(x, w, tuple(params), ctx.eps, ctx.p, ctx.seed, g=g, dw=dw, grads=grads)
        if ctx.lib.pv_backward(ctypes.byref(args), torch.get_num_threads()):
            raise MemoryError("variable-selection kernel could not allocate its scratch memory")
        split = [t.view_as(p) for t, p in zip(grads.split([t.numel() for t in params]), params, strict=True)]
        return (None, None, dw, None, None, None, *split)
