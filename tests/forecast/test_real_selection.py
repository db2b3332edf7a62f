"""The folded real-input variable selection equals the naive embed-then-select computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tftrade.forecast.tft import real_selection
from tftrade.forecast.tft.real_selection import RealVariableSelection


def _naive(vs: RealVariableSelection, x: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed every variable explicitly, then run the paper's VSN literally, one GRN per variable."""
    e = x.unsqueeze(-1) * vs.emb_w + vs.emb_b  # B × T × V × e
    flat = e.flatten(-2)
    h = vs.flat_fc1(flat)
    assert vs.flat_context is not None
    h = h + vs.flat_context(ctx).unsqueeze(1)
    h = vs.flat_fc2(F.elu(h))
    w = torch.softmax(vs.flat_norm(vs.flat_skip(flat) + F.glu(vs.flat_gate(h), dim=-1)), dim=-1)
    outs = []
    for v in range(vs.n_vars):
        ev = e[..., v, :]
        hv = F.elu(ev @ vs.w1[v] + vs.b1[v]) @ vs.w2[v] + vs.b2[v]
        skip = ev if vs.ws is None or vs.bs is None else ev @ vs.ws[v] + vs.bs[v]
        outs.append(vs.norm(skip + F.glu(hv @ vs.wg[v] + vs.bg[v], dim=-1)))
    return (torch.stack(outs, dim=-2) * w.unsqueeze(-1)).sum(-2), w


@pytest.mark.parametrize("d_var", [None, 3])
def test_folded_selection_equals_explicit_embeddings(
    d_var: int | None, inference_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(1)
    vs = RealVariableSelection(5, 8, d_var=d_var).eval()
    with torch.no_grad():
        for p in vs.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # non-trivial biases and norms
    x, ctx = torch.randn(4, 7, 5) * 2, torch.randn(4, 8)
    want_sel, want_w = _naive(vs, x, ctx)
    monkeypatch.setattr(real_selection, "CHUNK_ELEMENTS", 200)  # several chunks in inference
    monkeypatch.setattr(real_selection, "TRAIN_CHUNK_ELEMENTS", 300)
    with torch.no_grad():
        sel, w = vs(x, ctx)
    torch.testing.assert_close(w, want_w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sel, want_sel, rtol=1e-4, atol=1e-4)
    sel_g, _ = vs(x, ctx)  # the checkpointed training path
    torch.testing.assert_close(sel_g, want_sel, rtol=1e-4, atol=1e-4)


def test_gradients_match_explicit_embeddings() -> None:
    torch.manual_seed(2)
    vs = RealVariableSelection(4, 6, d_var=3)
    x, ctx = torch.randn(3, 5, 4), torch.randn(3, 6)
    sel, _ = vs(x, ctx)
    got = torch.autograd.grad(sel.square().sum(), [vs.emb_w, vs.w2, vs.flat_fc1.weight])
    want_sel, _ = _naive(vs, x, ctx)
    want = torch.autograd.grad(want_sel.square().sum(), [vs.emb_w, vs.w2, vs.flat_fc1.weight])
    for g, e in zip(got, want, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)
