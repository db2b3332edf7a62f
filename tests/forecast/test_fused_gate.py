"""A GRN's gate, add & norm through the C kernel in training equals the PyTorch modules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tftrade.forecast.tft import fused_gate, native
from tftrade.forecast.tft.fused_gate import GluAddNorm
from tftrade.forecast.tft.layers import GateAddNorm


def _reference(z: torch.Tensor, bias: torch.Tensor, skip: torch.Tensor, w: torch.Tensor,
               b: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(skip + F.glu(z + bias, dim=-1), (skip.shape[-1],), w, b, 1e-5)


@pytest.mark.parametrize(("rows", "d"), [(1000, 64), (37, 19), (5, 3), (300, 32), (1, 16)])
def test_kernel_output_and_gradients_equal_the_literal_computation(rows: int, d: int) -> None:
    """Widths that fill the vector lanes and widths with a tail (19, 3); every gradient, the bias's and
    the norm's summed over rows, checked against float64 autograd."""
    lib = native.tft_kernels()
    assert lib is not None
    torch.manual_seed(rows + d)
    leaves64 = [(torch.randn(*s, dtype=torch.float64) * 2).requires_grad_()
                for s in ((rows, 2 * d), (2 * d,), (rows, d), (d,), (d,))]
    grad = torch.randn(rows, d, dtype=torch.float64)
    want = _reference(*leaves64)
    want_grads = torch.autograd.grad(want, leaves64, grad)
    leaves = [t.detach().float().requires_grad_() for t in leaves64]
    out = GluAddNorm.apply(lib, *leaves, 1e-5)
    got_grads = torch.autograd.grad(out, leaves, grad.float())
    torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-5)
    for name, got, ref in zip(("z", "bias", "skip", "weight", "norm bias"), got_grads, want_grads, strict=True):
        torch.testing.assert_close(got.double(), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()), msg=name)


def test_gate_add_norm_in_training_goes_through_the_kernel_and_equals_the_modules(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The module in training (dropout on) gives the same output and parameter gradients with the kernel
    as without it, the dropout masks drawn alike from one seed."""
    torch.manual_seed(0)
    gate = GateAddNorm(24, 16, dropout=0.2).train()
    with torch.no_grad():
        for p in gate.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    x, skip = torch.randn(6, 11, 24), torch.randn(6, 11, 16)
    calls: list[int] = []
    apply = GluAddNorm.apply
    monkeypatch.setattr(fused_gate.GluAddNorm, "apply", lambda *a: calls.append(1) or apply(*a))

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        torch.manual_seed(5)
        gate.zero_grad()
        out = gate(x, skip)
        (out * torch.linspace(-1, 1, 16)).sum().backward()
        return out.detach(), [p.grad.clone() for p in gate.parameters() if p.grad is not None]

    fused, fused_grads = run()
    assert calls == [1]
    monkeypatch.setattr(fused_gate, "tft_kernels", lambda: None)
    plain, plain_grads = run()
    assert calls == [1]
    assert (fused == 0).sum() == 0 and len(fused_grads) == len(plain_grads) == 4
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
    for got, want in zip(fused_grads, plain_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_inference_does_not_use_the_training_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = GateAddNorm(8, 8).eval()
    monkeypatch.setattr(fused_gate.GluAddNorm, "apply", lambda *a: pytest.fail("kernel used without gradients"))
    with torch.no_grad():
        out = gate(torch.randn(3, 8), torch.randn(3, 8))
    assert out.shape == (3, 8)


def test_nan_stays_nan_in_the_kernels() -> None:
    """A NaN in a gate's input gives NaN, as PyTorch does, not a saturated finite value (x86 min/max
    return their second operand for NaN, so the exp's clamp must not swallow it)."""
    lib = native.tft_kernels()
    assert lib is not None
    z, skip = torch.randn(3, 32), torch.randn(3, 16)
    z[0, 20] = float("nan")  # the gate half of row 0
    out = GluAddNorm.apply(lib, z, torch.zeros(32), skip, torch.ones(16), torch.zeros(16), 1e-5)
    assert bool(out[0].isnan().all()) and not bool(out[1:].isnan().any())


def test_autocast_and_other_dtypes_take_the_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CPU autocast the products come out in bfloat16: the kernels must not see them."""
    monkeypatch.setattr(fused_gate.GluAddNorm, "apply", lambda *a: pytest.fail("kernel used under autocast"))
    gate = GateAddNorm(16, 16).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = gate(torch.randn(4, 16), torch.randn(4, 16))
    out.float().sum().backward()
    assert gate.glu.fc.weight.grad is not None
    with pytest.raises(TypeError, match="float32"):  # the last line of defence: raw pointers are checked
        native.float_ptr(torch.zeros(4, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="not contiguous"):
        native.float_ptr(torch.zeros(4, 4).t())


def test_second_derivatives_are_refused_not_silently_zero() -> None:
    lib = native.tft_kernels()
    assert lib is not None
    z = torch.randn(4, 32, requires_grad=True)
    out = GluAddNorm.apply(lib, z, torch.zeros(32), torch.randn(4, 16), torch.ones(16), torch.zeros(16), 1e-5)
    (gz,) = torch.autograd.grad(out.pow(2).sum(), z, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        gz.sum().backward()


def test_skips_that_broadcast_either_way() -> None:
    """A skip broadcast over steps goes through the kernel; an input that would need broadcasting
    takes the modules; both equal the plain computation."""
    torch.manual_seed(1)
    gate = GateAddNorm(8, 8).train()
    gate.glu.dropout.p = 0.0
    for x, skip in ((torch.randn(3, 5, 8), torch.randn(3, 1, 8)), (torch.randn(3, 1, 8), torch.randn(3, 5, 8))):
        want = gate.norm(skip + F.glu(gate.glu.fc(x), dim=-1))
        torch.testing.assert_close(gate(x, skip), want, rtol=1e-5, atol=1e-5)
