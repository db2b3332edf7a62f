"""The gate, add & norm of the TFT's GRNs in training, through the C kernel.

``LayerNorm(skip + GLU(dropout(x) W + b))`` ends every gated residual network. In PyTorch the part
after the matrix product is five passes over ``N × 2d`` and ``N × d`` tensors forward (the bias
broadcast, the GLU's sigmoid and product, the residual sum, the layer norm) and more backward;
on the benchmark's ``256 × 65 × 64`` activations they cost more than the matrix product itself,
because each pass streams the whole tensor through memory. :class:`GluAddNorm` does them in one
pass per row forward (``gate_forward`` in ``tft_kernels.c``) and one backward (``gate_backward``,
which recomputes the GLU from ``z`` rather than storing it). Same function as the modules; a test
compares outputs and every gradient.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from tftrade.forecast.tft.native import GateArgs, float_ptr, plain_float32, tft_kernels


def _args(z: Tensor, bias: Tensor, skip: Tensor, weight: Tensor, norm_bias: Tensor, eps: float, **out: Tensor | None,
          ) -> GateArgs:
    n, d = skip.shape
    ptrs = {k: float_ptr(out.get(k)) for k in ("grad", "out", "stats", "dz", "dskip", "partial")}
    return GateArgs(float_ptr(z), float_ptr(bias), float_ptr(skip), float_ptr(weight), float_ptr(norm_bias),
                    ptrs["grad"], n, d, eps, ptrs["out"], ptrs["stats"], ptrs["dz"], ptrs["dskip"], ptrs["partial"])


class GluAddNorm(torch.autograd.Function):
    """``apply(lib, z (N, 2d), bias (2d), skip (N, d), weight (d), norm_bias (d), eps) -> (N, d)``:
    ``LayerNorm(skip + (z + bias)[:, :d] · σ((z + bias)[:, d:]))`` with the norm's affine ``weight``, ``norm_bias``."""

    @staticmethod
    def forward(ctx: Any, lib: ctypes.CDLL, z: Tensor, bias: Tensor, skip: Tensor, weight: Tensor,
                norm_bias: Tensor, eps: float) -> Tensor:
        z, bias, skip, weight, norm_bias = (t.detach().contiguous() for t in (z, bias, skip, weight, norm_bias))
        out = torch.empty_like(skip)
        stats = skip.new_empty(skip.shape[0], 2)
        lib.gate_forward(ctypes.byref(_args(z, bias, skip, weight, norm_bias, eps, out=out, stats=stats)),
                         torch.get_num_threads())
        ctx.lib, ctx.eps = lib, eps
        ctx.save_for_backward(z, bias, skip, weight, norm_bias, stats)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        z, bias, skip, weight, norm_bias, stats = ctx.saved_tensors
        threads = torch.get_num_threads()
        dz, dskip = torch.empty_like(z), torch.empty_like(skip)
        partial = z.new_zeros(threads, 4 * skip.shape[1])
        grad = grad.contiguous()  # held: the kernel reads it through a raw pointer
        args = _args(z, bias, skip, weight, norm_bias, ctx.eps, grad=grad, stats=stats, dz=dz,
                     dskip=dskip, partial=partial)
        if ctx.lib.gate_backward(ctypes.byref(args), threads) != 0:
            raise MemoryError("gate kernel could not allocate its scratch memory")
        dbias, dweight, dnorm_bias = partial.sum(0).split([2 * skip.shape[1], skip.shape[1], skip.shape[1]])
        return None, dz, dbias, dskip, dweight, dnorm_bias, None


def gate_add_norm(x: Tensor, fc: nn.Linear, skip: Tensor, norm: nn.LayerNorm, dropout: nn.Module) -> Tensor:
    """``norm(skip + GLU(fc(dropout(x))))``, through :class:`GluAddNorm` when gradients are recorded for
    float32 tensors outside autocast and the kernel is built; otherwise (inference, autocast, another
    dtype, no compiler) the modules themselves."""
    usable = torch.is_grad_enabled() and plain_float32(x, skip, fc.weight, fc.bias, norm.weight, norm.bias)
    lib = tft_kernels() if usable else None
    rows = x.shape[:-1]
    # the kernel path broadcasts skip to x's rows, never x to skip's
    broadcast = torch.broadcast_shapes(rows, skip.shape[:-1])  # type: ignore[no-untyped-call]
    if lib is None or norm.weight is None or norm.bias is None or fc.bias is None or broadcast != rows:
        out: Tensor = norm(skip + F.glu(fc(dropout(x)), dim=-1))
        return out
    d = fc.out_features // 2
    z = F.linear(dropout(x), fc.weight).reshape(-1, 2 * d)
    flat_skip = skip.expand(*rows, d).reshape(-1, d)
    out = GluAddNorm.apply(lib, z, fc.bias, flat_skip, norm.weight, norm.bias, norm.eps)  # type: ignore[no-untyped-call]
    return out.view(*rows, d)
