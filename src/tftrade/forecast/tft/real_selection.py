"""Variable selection over scalar real inputs, computed without materialising the embeddings.

The TFT embeds each real input ``x_v`` linearly, ``e_v = x_v w_v + b_v`` (``d`` dimensions), then
(eq. 6–8 of the paper) weighs the variables with a GRN over the concatenated embeddings and
passes each embedding through its own GRN. Because every ``e_v`` is rank-1 in the scalar ``x_v``,
every linear map applied directly to embeddings folds into a map on the raw scalars:

* the flat GRN's first layer ``W [e_1; …; e_V]`` equals ``x A + c`` with ``A`` (V × d) and ``c`` folded
  from ``W`` and the embedding, so it costs ``V·d`` instead of ``V·d·d`` per step (its skip too);
* each variable's GRN first layer ``W1_v e_v`` equals ``x_v a_v + c_v`` (elementwise), and its
  residual is ``e_v`` itself.

The result is exactly the embedding followed by the paper's variable selection network. What is
left — each variable's second layer and gate, its layer norm and the weighted sum — runs in the
fused C kernel of ``tft_kernels.c`` when it could be built (``native.py``): the whole selection in
inference, the per-variable stage with its backward in training (``per_variable_kernel.py``).
Otherwise it runs as batched matrix products over the variable axis, in cache-sized chunks of
steps (checkpointed in training).
"""

from __future__ import annotations

import ctypes

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from tftrade.forecast.tft.fused_gate import gate_add_norm
from tftrade.forecast.tft.layers import HashDropout
from tftrade.forecast.tft.native import VsnArgs, float_ptr, int_ptr, plain_float32, tft_kernels
from tftrade.forecast.tft.per_variable_kernel import PerVariable

CHUNK_ELEMENTS = 1 << 20
"""Per-variable activations (steps × variables × 2d) processed at once when no gradient is needed."""

FEW_VALUES_MIN_STEPS = 4096
"""Below this many steps inference does not look for variables with few distinct values."""

LOOKUP_VALUES = 64
"""The kernel looks up a variable's GRN per distinct value when it takes at most this many values."""

TRAIN_CHUNK_ELEMENTS = 1 << 22
"""The same in training, where each chunk is recomputed in the backward pass (activation checkpointing)."""


class RealVariableSelection(nn.Module):
    """Embed ``V`` scalar inputs and select over them: ``(x (..., V), context (B, d) | None) ->
    (selected (..., d), weights (..., V))``.

    Parameters
    ----------
    n_vars
        Number of real inputs ``V``.
    d
        Hidden size (width of the selected output and of the flat GRN).
    dropout
        Dropout inside the GRNs (training only).
    with_context
        Whether the selection weights are conditioned on a static context vector.
    d_var
        Width of each variable's embedding and of its GRN's hidden layer (pytorch-forecasting's
        ``hidden_continuous_size``); ``None`` means ``d`` as in the paper. When it differs from ``d``
        each variable's GRN has a linear skip ``d_var -> d``, as the paper's GRN does whenever its
        input and output widths differ.

    Examples
    --------
    >>> vs = RealVariableSelection(3, 4).eval()
    >>> sel, w = vs(torch.randn(2, 5, 3), torch.randn(2, 4))
    >>> tuple(sel.shape), tuple(w.shape), bool(torch.allclose(w.sum(-1), torch.ones(2, 5)))
    ((2, 5, 4), (2, 5, 3), True)

    Inference (no gradients) evaluates variables with few distinct values once per value; the
    result equals the gradient path's:

    >>> x = torch.randn(2, 3000, 3)
    >>> x[..., 1] = torch.randint(0, 5, (2, 3000)).float()
    >>> ctx = torch.randn(2, 4)
    >>> with torch.no_grad():
    ...     fast, _ = vs(x, ctx)
    >>> len(vs._few_values(x.reshape(-1, 3).t())), bool(torch.allclose(fast, vs(x, ctx)[0], atol=1e-5))
    (1, True)
    """

    def __init__(
        self, n_vars: int, d: int, dropout: float = 0.0, with_context: bool = True, d_var: int | None = None
    ) -> None:
        super().__init__()
        e = d_var or d
        self.n_vars, self.d, self.d_var = n_vars, d, e
        # the real-input embedding e_v = x_v * emb_w[v] + emb_b[v]
        self.emb_w = nn.Parameter(torch.randn(n_vars, e) * 0.1)
        self.emb_b = nn.Parameter(torch.zeros(n_vars, e))
        # flat GRN over the concatenated embeddings (V·e -> d -> d -> V), with an optional context
        self.flat_fc1 = nn.Linear(n_vars * e, d)
        self.flat_context = nn.Linear(d, d, bias=False) if with_context else None
        self.flat_fc2 = nn.Linear(d, d)
        self.flat_gate = nn.Linear(d, 2 * n_vars)
        self.flat_skip = nn.Linear(n_vars * e, n_vars)
        self.flat_norm = nn.LayerNorm(n_vars)
        # one GRN per variable (e -> e -> d), weights stacked on a leading variable axis
        self.w1 = nn.Parameter(torch.randn(n_vars, e, e) * e**-0.5)
        self.b1 = nn.Parameter(torch.zeros(n_vars, e))
        self.w2 = nn.Parameter(torch.randn(n_vars, e, e) * e**-0.5)
        self.b2 = nn.Parameter(torch.zeros(n_vars, e))
        self.wg = nn.Parameter(torch.randn(n_vars, e, 2 * d) * e**-0.5)
        self.bg = nn.Parameter(torch.zeros(n_vars, 2 * d))
        self.ws = nn.Parameter(torch.randn(n_vars, e, d) * e**-0.5) if e != d else None
        self.bs = nn.Parameter(torch.zeros(n_vars, d)) if e != d else None
        self.norm = nn.LayerNorm(d)
        self.dropout = HashDropout(dropout)

    def _fold(self, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
        """Fold ``Linear(V·e -> k)`` applied to the embeddings into ``x @ A + c`` on the scalars."""
        w = weight.view(weight.shape[0], self.n_vars, self.d_var)  # k × V × e
        a = torch.einsum("ve,kve->vk", self.emb_w, w)
        c = torch.einsum("ve,kve->k", self.emb_b, w) + bias
        return a, c

    def weights(self, x: Tensor, context: Tensor | None) -> Tensor:
        """Return the selection weights ``(..., V)`` (softmax of the flat GRN)."""
        flat_x = x.reshape(-1, self.n_vars)
        a1, c1 = self._fold(self.flat_fc1.weight, self.flat_fc1.bias)
        h = torch.addmm(c1, flat_x, a1).view(*x.shape[:-1], self.d)
        if self.flat_context is not None and context is not None:
            ctx = self.flat_context(context)
            h = h + ctx.view(ctx.shape[0], *([1] * (x.dim() - 2)), self.d)
        a_s, c_s = self._fold(self.flat_skip.weight, self.flat_skip.bias)
        skip = torch.addmm(c_s, flat_x, a_s).view(*x.shape[:-1], self.n_vars)
        if self.training:
            h = self.flat_fc2(F.elu(h))
            return torch.softmax(gate_add_norm(h, self.flat_gate, skip, self.flat_norm, self.dropout), dim=-1)
        # no dropout between the two layers: fold them into one (d -> 2V)
        gated = F.glu(F.linear(F.elu(h), *self._flat_gate_fold()), dim=-1)
        return torch.softmax(self.flat_norm(skip + gated), dim=-1)

    def _flat_gate_fold(self) -> tuple[Tensor, Tensor]:
        """The flat GRN's second layer folded into its gate (valid without dropout): weight, bias."""
        w = self.flat_gate.weight @ self.flat_fc2.weight
        return w, torch.addmv(self.flat_gate.bias, self.flat_gate.weight, self.flat_fc2.bias)

    def _gate_fold(self) -> tuple[Tensor, Tensor]:
        """Each variable's second layer folded into its gate (valid without dropout): ``V × e × 2d``, ``V × 2d``."""
        return self.w2 @ self.wg, torch.baddbmm(self.bg.unsqueeze(1), self.b2.unsqueeze(1), self.wg).squeeze(1)

    def _rank_one(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Return ``a1, c1`` (first layer) and ``a_s, c_s`` (residual) so that each is ``x_v a + c``."""
        a1 = torch.einsum("ve,vef->vf", self.emb_w, self.w1)
        c1 = torch.einsum("ve,vef->vf", self.emb_b, self.w1) + self.b1
        if self.ws is None or self.bs is None:
            return a1, c1, self.emb_w, self.emb_b
        a_s = torch.einsum("ve,ved->vd", self.emb_w, self.ws)
        c_s = torch.einsum("ve,ved->vd", self.emb_b, self.ws) + self.bs
        return a1, c1, a_s, c_s

    def _inference_weights(self, a1: Tensor, c1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Fold for inference: the first layer gains a constant column (``ELU(1) = 1``) that carries
        the biases, and the second layer folds into the gate (no dropout between them in eval):
        ``(h W2 + b2) Wg + bg = [h, 1] [[W2 Wg], [b2 Wg + bg]]``.
        """
        ones = torch.ones(self.n_vars, 1, dtype=a1.dtype)
        a1_ext = torch.cat([a1, torch.zeros_like(ones)], 1)
        c1_ext = torch.cat([c1, ones], 1)
        wg, bg = self._gate_fold()
        w_gate = torch.cat([wg, bg.unsqueeze(1)], 1)
        return a1_ext, c1_ext, w_gate

    def _per_variable(self, xv: Tensor, wv: Tensor, folded: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
        """Weighted sum over variables of each variable's GRN; ``xv``, ``wv`` are V × N (training path)."""
        a1, c1, a_s, c_s = folded
        x3 = xv.unsqueeze(-1)
        h = F.elu(torch.addcmul(c1.unsqueeze(1), x3, a1.unsqueeze(1)))  # V × N × e: first layer, rank-1
        h = torch.baddbmm(self.b2.unsqueeze(1), h, self.w2)
        g = F.glu(torch.baddbmm(self.bg.unsqueeze(1), self.dropout(h), self.wg), dim=-1)
        z = torch.addcmul(g + c_s.unsqueeze(1), x3, a_s.unsqueeze(1))
        y = F.layer_norm(z, (self.d,), eps=self.norm.eps)
        out = (y * wv.unsqueeze(-1)).sum(dim=0)
        return torch.addcmul(self.norm.bias, out, self.norm.weight)

    def _per_variable_eval(
        self, xv: Tensor, wv: Tensor, folded: tuple[Tensor, ...], out: Tensor, work: list[Tensor]
    ) -> None:
        """The same without gradients, written into ``out`` (N × d), with the weights of
        :meth:`_inference_weights` and the flat scratch buffers ``work`` (reused by every chunk, so a
        pass does not fault in fresh pages for each chunk's wide activations).

        The layer norm is shared by the variables, and its affine part commutes with the weighted
        sum (the weights sum to one), so the caller applies it once to the N × d result.
        """
        a1, c1, w_gate, a_s, c_s = folded
        v, n, e1, d = xv.shape[0], xv.shape[1], a1.shape[1], self.d
        x3 = xv.unsqueeze(-1)
        h = work[0][: v * n * e1].view(v, n, e1)
        gate = work[1][: v * n * 2 * d].view(v, n, 2 * d)
        z = work[2][: v * n * d].view(v, n, d)
        sq = work[3][: v * n * d].view(v, n, d)
        F.elu_(torch.addcmul(c1.unsqueeze(1), x3, a1.unsqueeze(1), out=h))  # first layer, last column 1
        torch.bmm(h, w_gate, out=gate)
        torch.sigmoid(gate[..., d:], out=z).mul_(gate[..., :d])  # GLU
        z.add_(c_s.unsqueeze(1)).addcmul_(x3, a_s.unsqueeze(1))
        # Σ_v w_v (z_v - μ_v) / σ_v with the row statistics from matrix-vector products
        ones = torch.full((d, 1), 1.0 / d, dtype=z.dtype)
        mean = (z @ ones).squeeze(-1)
        var = (torch.mul(z, z, out=sq) @ ones).squeeze(-1) - mean.square()
        scale = wv * torch.rsqrt(var.clamp_min_(0.0) + self.norm.eps)
        torch.mul(z[0], scale[0].unsqueeze(-1), out=out)
        for k in range(1, v):
            out.addcmul_(z[k], scale[k].unsqueeze(-1))
        out.sub_((scale * mean).sum(dim=0).unsqueeze(-1))

    def _few_values(self, xv: Tensor) -> list[tuple[int, Tensor, Tensor]]:
        """Variables taking few distinct values (calendar inputs, flags), as ``(v, values, inverse)``.

        Each per-variable GRN is a function of its scalar input alone, so for these it is evaluated
        once per distinct value and looked up; the result is the same function of the same inputs.
        A strided sample screens the variables so that only likely candidates are fully counted.
        """
        n = xv.shape[1]
        if n < FEW_VALUES_MIN_STEPS:
            return []
        sample = xv[:, :: max(n // 256, 1)]
        few = []
        for v in range(self.n_vars):
            if torch.unique(sample[v]).numel() <= 64:
                values, inverse = torch.unique(xv[v], return_inverse=True)
                if values.numel() <= n // 16:
                    few.append((v, values, inverse))
        return few

    def _forward_native(self, lib: ctypes.CDLL, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """Inference through the fused C kernel (``tft_kernels.c``): the same folded weights as
        the tensor path, one pass per row, rows split over ``torch.get_num_threads()`` threads."""
        n_rows = x.numel() // self.n_vars
        fa, fc = self._fold(self.flat_fc1.weight, self.flat_fc1.bias)
        fw, fb = self._flat_gate_fold()
        fw = fw.t()
        sa, sc = self._fold(self.flat_skip.weight, self.flat_skip.bias)
        a1, c1, a_s, c_s = self._rank_one()
        wg, bg = self._gate_fold()
        ctx = None
        if self.flat_context is not None and context is not None:
            ctx = self.flat_context(context).contiguous()
        keep = [t.float().contiguous() for t in (x, fa, fc, fw, fb, sa, sc, self.flat_norm.weight,
                                                  self.flat_norm.bias, a1, c1, wg, bg, a_s, c_s)]
        selected = x.new_empty(n_rows, self.d, dtype=torch.float32)
        weights = x.new_empty(n_rows, self.n_vars, dtype=torch.float32)
        ptr = float_ptr
        xs, fa_, fc_, fw_, fb_, sa_, sc_, flw, flb, a1_, c1_, wg_, bg_, as_, cs_ = (ptr(t) for t in keep)
        # variables with few distinct values (calendar, flags): their GRN once per value, looked up per row
        lookup = index = table = None
        if n_rows >= FEW_VALUES_MIN_STEPS:
            lookup = torch.empty(self.n_vars, dtype=torch.int32)
            index = torch.empty(self.n_vars, n_rows, dtype=torch.int32)
            table = torch.empty(self.n_vars, LOOKUP_VALUES, self.d, dtype=torch.float32)
        args = VsnArgs(xs, ptr(ctx), n_rows, x.shape[1] if x.dim() == 3 else 1, self.n_vars, self.d, self.d_var,
                       fa_, fc_, fw_, fb_, sa_, sc_, flw, flb, self.flat_norm.eps,
                       a1_, c1_, wg_, bg_, as_, cs_, self.norm.eps, int_ptr(lookup), int_ptr(index), ptr(table),
                       LOOKUP_VALUES, ptr(selected), ptr(weights))
        if lookup is not None:
            lib.vsn_lookup(ctypes.byref(args))
        if lib.vsn_forward(ctypes.byref(args), torch.get_num_threads()) != 0:
            raise MemoryError("variable-selection kernel could not allocate its scratch memory")
        selected.mul_(self.norm.weight).add_(self.norm.bias)
        return selected.view(*x.shape[:-1], self.d), weights.view(*x.shape)

    def _train_native(self, lib: ctypes.CDLL, x: Tensor, w: Tensor) -> Tensor:
        """The per-variable stage with gradients through the C kernel (:class:`PerVariable`)."""
        a1, c1, a_s, c_s = self._rank_one()
        p = float(self.dropout.p) if self.training else 0.0
        seed = int(torch.randint(0, 2**31 - 1, ())) if p > 0 else 0
        out: Tensor = PerVariable.apply(  # type: ignore[no-untyped-call]
            lib, x.reshape(-1, self.n_vars), w.reshape(-1, self.n_vars), self.norm.eps, p, seed,
            a1, c1, self.w2, self.b2, self.wg, self.bg, a_s, c_s)
        selected = torch.addcmul(self.norm.bias, out, self.norm.weight)
        return selected.view(*x.shape[:-1], self.d)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lib = tft_kernels() if plain_float32(x, context) else None
        if lib is not None and not torch.is_grad_enabled() and (context is None or x.dim() == 3):
            return self._forward_native(lib, x, context)
        w = self.weights(x, context)
        if lib is not None and torch.is_grad_enabled():
            return self._train_native(lib, x, w), w
        folded = self._rank_one()
        xv = x.reshape(-1, self.n_vars).t().contiguous()
        wv = w.reshape(-1, self.n_vars).t().contiguous()
        n = xv.shape[1]
        step = max(CHUNK_ELEMENTS // (self.n_vars * 2 * self.d), 1)
        if torch.is_grad_enabled():
            step = max(TRAIN_CHUNK_ELEMENTS // (self.n_vars * 2 * self.d), 1)
            parts = [checkpoint(self._per_variable, xv[:, s : s + step], wv[:, s : s + step], folded,
                                use_reentrant=False) for s in range(0, n, step)]
        else:
            a1, c1, a_s, c_s = folded
            eval_w: tuple[Tensor, ...] = (*self._inference_weights(a1, c1), a_s, c_s)
            few = self._few_values(xv)
            dense = [v for v in range(self.n_vars) if v not in {f[0] for f in few}]
            xd, wd, dense_w = xv, wv, eval_w
            if few:
                keep = torch.tensor(dense, dtype=torch.long)
                xd, wd, dense_w = xv[keep], wv[keep], tuple(t[keep] for t in eval_w)
            m = max(min(step, n) * len(dense), *(f[1].numel() for f in few), 1)
            work = [xv.new_empty(m * k) for k in (self.d_var + 1, 2 * self.d, self.d, self.d)]
            selected = xv.new_zeros(n, self.d)
            if dense:
                for s in range(0, n, step):
                    self._per_variable_eval(xd[:, s : s + step], wd[:, s : s + step], dense_w,
                                            selected[s : s + step], work)
            for v, values, inverse in few:
                y = xv.new_empty(values.numel(), self.d)  # the normalised GRN output of each distinct value
                self._per_variable_eval(values.unsqueeze(0), torch.ones_like(values).unsqueeze(0),
                                        tuple(t[v : v + 1] for t in eval_w), y, work)
                selected.addcmul_(y[inverse], wv[v].unsqueeze(-1))
            selected.mul_(self.norm.weight).add_(self.norm.bias)
            return selected.view(*x.shape[:-1], self.d), w
        selected = parts[0] if len(parts) == 1 else torch.cat(parts)
        return selected.view(*x.shape[:-1], self.d), w
