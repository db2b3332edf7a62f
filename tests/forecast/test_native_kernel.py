"""The fused C kernel of variable selection: same function as the tensor path, built once, optional."""

from __future__ import annotations

import logging
import platform
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tftrade.features.dataset import Panel, WindowIndex, gather
from tftrade.forecast.inference import to_tensors
from tftrade.forecast.tft import native
from tftrade.forecast.tft.fused_gate import GluAddNorm
from tftrade.forecast.tft.fused_lstm import run_lstm
from tftrade.forecast.tft.real_selection import RealVariableSelection
from tftrade.forecast.training import Trained


def _perturbed(n_vars: int, d: int, d_var: int | None, context: bool = True) -> RealVariableSelection:
    torch.manual_seed(5)
    vs = RealVariableSelection(n_vars, d, with_context=context, d_var=d_var).eval()
    with torch.no_grad():
        for p in vs.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return vs


Pair = tuple[torch.Tensor, torch.Tensor]


def _both(vs: RealVariableSelection, x: torch.Tensor, ctx: torch.Tensor | None,
          monkeypatch: pytest.MonkeyPatch) -> tuple[Pair, Pair]:
    """(kernel, tensor path) outputs of ``vs``."""
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TFTRADE_NATIVE", flag)
        native.tft_kernels.cache_clear()
        with torch.no_grad():
            out.append(vs(x, ctx))
    native.tft_kernels.cache_clear()
    return out[0], out[1]


@pytest.mark.parametrize(("n_vars", "d", "d_var", "rows"), [(19, 32, 8, 37), (5, 16, None, 16), (3, 8, 3, 1)])
def test_kernel_equals_tensor_path(n_vars: int, d: int, d_var: int | None, rows: int,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    vs = _perturbed(n_vars, d, d_var)
    x = torch.randn(3, rows, n_vars) * 3  # large inputs reach both branches of ELU and saturate gates
    x[0, 0] = 0.0
    ctx = torch.randn(3, d)
    (sel_k, w_k), (sel_t, w_t) = _both(vs, x, ctx, monkeypatch)
    torch.testing.assert_close(w_k, w_t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sel_k, sel_t, rtol=1e-4, atol=1e-5)
    assert not torch.equal(sel_k[0], sel_k[1])  # rows in different context rows differ


def test_kernel_without_context(monkeypatch: pytest.MonkeyPatch) -> None:
    vs = _perturbed(4, 8, 4, context=False)
    x = torch.randn(2, 21, 4)
    (sel_k, w_k), (sel_t, w_t) = _both(vs, x, None, monkeypatch)
    torch.testing.assert_close(w_k, w_t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sel_k, sel_t, rtol=1e-4, atol=1e-5)


class _CountLookups:
    """The kernel library, recording how many variables each ``vsn_lookup`` call looked up."""

    def __init__(self, lib: object) -> None:
        self.lib, self.found = lib, list[int]()

    def __getattr__(self, name: str) -> object:
        fn = getattr(self.lib, name)
        if name != "vsn_lookup":
            return fn

        def counted(*args: object) -> int:
            self.found.append(fn(*args))
            return self.found[-1]
        return counted


def test_kernel_looks_up_variables_with_few_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns with at most 64 distinct values (one of them seen once, in the last row) are looked
    up per value; 65 values or a continuous input are computed per row; the result is the same."""
    from tftrade.forecast.tft import real_selection

    rows, g = 2600, torch.Generator().manual_seed(3)
    x = torch.randn(2, rows, 6, generator=g) * 2
    x[..., 1] = torch.randint(0, 5, (2, rows), generator=g).float() / 2 - 1  # 5 values (day of week)
    x[..., 2] = 0.0
    x[1, -1, 2] = 1.0  # a flag raised once
    x[..., 3] = torch.arange(2 * rows).view(2, rows).remainder(64).float() / 8  # exactly 64 values
    x[..., 4] = torch.arange(2 * rows).view(2, rows).remainder(65).float() / 8  # 65: computed per row
    x[..., 5] = 0.25  # constant
    vs, ctx = _perturbed(6, 16, 8), torch.randn(2, 16, generator=g)
    lib = native.tft_kernels()
    assert lib is not None
    spy = _CountLookups(lib)
    with torch.no_grad():
        looked_up, w_l = vs._forward_native(spy, x, ctx)  # type: ignore[arg-type]
        monkeypatch.setattr(real_selection, "FEW_VALUES_MIN_STEPS", 1 << 40)
        per_row, w_r = vs._forward_native(lib, x, ctx)
    assert spy.found == [4]
    torch.testing.assert_close(w_l, w_r, rtol=0, atol=0)
    torch.testing.assert_close(looked_up, per_row, rtol=1e-5, atol=2e-6)
    _, (sel_t, _) = _both(vs, x, ctx, monkeypatch)  # the tensor path, computed per row here too
    torch.testing.assert_close(looked_up, sel_t, rtol=1e-4, atol=1e-5)


def test_kernel_is_built_here() -> None:
    """CI machines have a C compiler: the fast path must really be in use there."""
    native.tft_kernels.cache_clear()
    assert native.tft_kernels() is not None


def test_model_forecasts_equal_through_either_path(trained: Trained, panel: Panel,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    model, c, h = trained.model.eval(), trained.config.context, trained.config.horizon
    scaled = panel.scaled(trained.standardizer)
    idx = WindowIndex(np.full(len(panel.tickers), scaled.n_times - 1, dtype=np.int64),
                      np.arange(len(panel.tickers), dtype=np.int64))
    inputs = to_tensors(gather(scaled, idx, c, h))
    outs = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TFTRADE_NATIVE", flag)
        native.tft_kernels.cache_clear()
        with torch.inference_mode():
            outs.append(model(*inputs))
    native.tft_kernels.cache_clear()
    torch.testing.assert_close(outs[0].quantiles, outs[1].quantiles, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(outs[0].encoder_weights, outs[1].encoder_weights, rtol=1e-4, atol=1e-6)


def test_training_uses_the_training_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.forecast.tft import real_selection

    vs = _perturbed(3, 8, 3).train()
    calls: list[object] = []
    monkeypatch.setattr(RealVariableSelection, "_forward_native", lambda *a: calls.append("inference"))
    apply = real_selection.PerVariable.apply
    monkeypatch.setattr(real_selection.PerVariable, "apply", lambda *a: calls.append("training") or apply(*a))
    sel, _ = vs(torch.randn(2, 5, 3), torch.randn(2, 8))
    sel.sum().backward()  # type: ignore[no-untyped-call]
    assert calls == ["training"] and vs.w2.grad is not None


def test_failed_build_falls_back_to_the_tensor_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'cc: simulated failure' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(broken))
    monkeypatch.setenv("TFTRADE_KERNEL_DIR", str(tmp_path / "kernels"))
    native.tft_kernels.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="tftrade.forecast.tft.native"):
            assert native.tft_kernels() is None
        assert "simulated failure" in caplog.text
        assert not list((tmp_path / "kernels").glob("*.so"))  # nothing half-written is left to load
        vs = _perturbed(3, 8, 3)
        with torch.no_grad():
            sel, w = vs(torch.randn(2, 5, 3), torch.randn(2, 8))
        assert sel.shape == (2, 5, 8) and torch.allclose(w.sum(-1), torch.ones(2, 5))
    finally:
        native.tft_kernels.cache_clear()


@pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("gcc") is None, reason="an x86-64 gcc build")
def test_kernels_built_for_baseline_x86_64_compute_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built for plain x86-64 (SSE only: 4-row blocks, no AVX code), as on an old or emulated CPU,
    the kernels still compile and equal the tensor path and ``nn.LSTM``. (An SSE-only build once
    failed on an AVX-sized register constraint and quietly fell back to the slow path.)"""
    wrapper = tmp_path / "cc"
    wrapper.write_text('#!/bin/sh\nfor a do\n  shift\n  [ "$a" = -march=native ] && a=-march=x86-64\n'
                       '  set -- "$@" "$a"\ndone\nexec gcc "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(wrapper))
    monkeypatch.setenv("TFTRADE_KERNEL_DIR", str(tmp_path / "kernels"))
    vs = _perturbed(19, 12, 8)
    x, ctx = torch.randn(3, 11, 19) * 3, torch.randn(3, 12)
    (sel_k, w_k), (sel_t, w_t) = _both(vs, x, ctx, monkeypatch)
    torch.testing.assert_close(w_k, w_t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sel_k, sel_t, rtol=1e-4, atol=1e-5)
    assert len(list((tmp_path / "kernels").glob("tft-*.so"))) == 1  # the baseline build, not the cached native one
    monkeypatch.setenv("TFTRADE_NATIVE", "1")
    native.tft_kernels.cache_clear()
    try:
        lib = native.tft_kernels()
        assert lib is not None
        lstm = torch.nn.LSTM(7, 6, 1, batch_first=True).eval()
        state = (torch.randn(1, 5, 6), torch.randn(1, 5, 6))
        x_seq = torch.randn(5, 9, 7) * 3
        with torch.inference_mode():
            out, (_, c) = run_lstm(lib, lstm, x_seq, state)
            want, (_, want_c) = lstm(x_seq, state)
        torch.testing.assert_close(out, want, rtol=1e-5, atol=2e-6)
        torch.testing.assert_close(c, want_c, rtol=1e-5, atol=2e-6)
        # the training kernels: the LSTM's recurrence and a gate, add & norm with a scalar tail (19 = 4·4 + 3)
        lstm16 = torch.nn.LSTM(7, 16, 1, batch_first=True)
        xs = (torch.randn(5, 9, 7) * 3).requires_grad_()
        got_out, _ = run_lstm(lib, lstm16, xs, (torch.zeros(1, 5, 16), torch.zeros(1, 5, 16)))
        got = torch.autograd.grad(got_out.sin().sum(), [xs, *lstm16.parameters()])
        want_out, _ = lstm16(xs, (torch.zeros(1, 5, 16), torch.zeros(1, 5, 16)))
        want_grads = torch.autograd.grad(want_out.sin().sum(), [xs, *lstm16.parameters()])
        torch.testing.assert_close(got_out, want_out, rtol=1e-5, atol=2e-6)
        for g, w in zip(got, want_grads, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
        z, skip = torch.randn(6, 38, requires_grad=True), torch.randn(6, 19, requires_grad=True)
        bias, norm_w, norm_b = torch.randn(38), torch.randn(19), torch.randn(19)
        fused = GluAddNorm.apply(lib, z, bias, skip, norm_w, norm_b, 1e-5)
        plain = F.layer_norm(skip + F.glu(z + bias, dim=-1), (19,), norm_w, norm_b, 1e-5)
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
        for g, w in zip(torch.autograd.grad(fused.sin().sum(), [z, skip]),
                        torch.autograd.grad(plain.sin().sum(), [z, skip]), strict=True):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    finally:
        native.tft_kernels.cache_clear()


def test_build_is_cached_per_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_KERNEL_DIR", str(tmp_path))
    native.tft_kernels.cache_clear()
    try:
        assert native.tft_kernels() is not None
        built = list(tmp_path.glob("tft-*.so"))
        assert len(built) == 1
        mtime = built[0].stat().st_mtime_ns
        native.tft_kernels.cache_clear()
        assert native.tft_kernels() is not None
        assert [p.stat().st_mtime_ns for p in tmp_path.glob("tft-*.so")] == [mtime]  # reused, not rebuilt
    finally:
        native.tft_kernels.cache_clear()


def _keep(n: int, nv: int, e: int, p: float, seed: int) -> torch.Tensor:
    """Reference of the kernel's dropout hash: keep-and-rescale factors, N × V × e."""
    idx = (np.arange(n, dtype=np.uint64)[:, None, None] * nv + np.arange(nv, dtype=np.uint64)[None, :, None]) * e
    h = ((idx + np.arange(e, dtype=np.uint64)) * 0x9E3779B1 + seed) & 0xFFFFFFFF
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ((h ^ (h >> shift)) * mult) & 0xFFFFFFFF
    h ^= h >> 16
    keep = (h >> 8).astype(np.int64) >= int(np.float32(p) * np.float32(16777216.0))
    return torch.from_numpy(keep.astype(np.float32) / (1.0 - np.float32(p)))


def _per_variable_reference(x: torch.Tensor, w: torch.Tensor, params: list[torch.Tensor], eps: float,
                            keep: torch.Tensor) -> torch.Tensor:
    a1, c1, w2, b2, wg, bg, a_s, c_s = params
    x3 = x.unsqueeze(-1)  # N × V × 1
    h1 = torch.nn.functional.elu(x3 * a1 + c1)
    h2 = (torch.einsum("nvi,vik->nvk", h1, w2) + b2) * keep
    g = torch.nn.functional.glu(torch.einsum("nvk,vkj->nvj", h2, wg) + bg, dim=-1)
    y = torch.nn.functional.layer_norm(g + c_s + x3 * a_s, (a_s.shape[1],), eps=eps)
    return (y * w.unsqueeze(-1)).sum(1)


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_training_kernel_matches_autograd(p: float) -> None:
    from tftrade.forecast.tft.per_variable_kernel import PerVariable

    lib = native.tft_kernels()
    assert lib is not None
    torch.manual_seed(7)
    n, nv, e, d, seed = 53, 4, 3, 8, 12345  # 53 rows: three full blocks of 16 and a partial one
    shapes = [(nv, e), (nv, e), (nv, e, e), (nv, e), (nv, e, 2 * d), (nv, 2 * d), (nv, d), (nv, d)]
    params = [(torch.randn(s) * 0.5).requires_grad_() for s in shapes]
    x = torch.randn(n, nv) * 2
    w = torch.softmax(torch.randn(n, nv), -1).requires_grad_()
    cot = torch.randn(n, d)
    got = PerVariable.apply(lib, x, w, 1e-5, p, seed, *params)
    got_grads = torch.autograd.grad((got * cot).sum(), [w, *params])
    keep = _keep(n, nv, e, p, seed)
    if p > 0:
        assert 0.5 < float((keep == 0).float().mean()) / p < 1.5  # about p of the units are dropped
    want = _per_variable_reference(x, w, params, 1e-5, keep)
    want_grads = torch.autograd.grad((want * cot).sum(), [w, *params])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    for g, r in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


def test_module_gradients_equal_through_either_path(monkeypatch: pytest.MonkeyPatch) -> None:
    vs = _perturbed(6, 16, 4)
    vs.dropout.p = 0.0
    x, ctx = torch.randn(3, 21, 6) * 2, torch.randn(3, 16)
    grads = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TFTRADE_NATIVE", flag)
        native.tft_kernels.cache_clear()
        vs.zero_grad()
        sel, w = vs(x, ctx)
        (sel.sin().sum() + (w * torch.arange(6.0)).sum()).backward()  # type: ignore[no-untyped-call]
        grads.append({k: p.grad.clone() for k, p in vs.named_parameters() if p.grad is not None})
    native.tft_kernels.cache_clear()
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == len(list(vs.parameters()))
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-5, msg=k)


def test_hash_dropout_is_reproducible_and_rescales() -> None:
    from tftrade.forecast.tft.layers import HashDropout

    drop, x = HashDropout(0.2), torch.randn(65, 33, requires_grad=True)  # 2,145 elements: a partial block
    torch.manual_seed(3)
    a = drop(x)
    torch.manual_seed(3)
    b = drop(x)
    c = drop(x)
    assert torch.equal(a, b) and not torch.equal(b, c)  # the seed comes from torch's generator
    kept = a != 0
    torch.testing.assert_close(a[kept], x[kept] / 0.8)
    assert 0.1 < 1 - float(kept.float().mean()) < 0.3
    assert bool(kept[-1].any()) and not bool(kept[-1].all())  # the tail is masked too
    grad = torch.randn(65, 33)
    a.backward(grad)  # type: ignore[no-untyped-call]
    assert x.grad is not None  # the backward regenerates the same mask from the seed
    torch.testing.assert_close(x.grad, grad * kept / 0.8)


def test_loading_the_kernel_keeps_subnormals() -> None:
    """A library built with -ffast-math would switch the whole process to flush-to-zero."""
    native.tft_kernels.cache_clear()
    assert native.tft_kernels() is not None
    tiny = np.float32(1e-38)
    assert tiny / np.float32(1e3) > 0  # a subnormal, not flushed to zero
    assert float(torch.tensor(1e-38) / 1e3) > 0
