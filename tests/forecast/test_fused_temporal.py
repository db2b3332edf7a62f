"""The temporal block (post-LSTM gate + static enrichment) through the C kernel equals the modules."""

from __future__ import annotations

import pytest
import torch

from tftrade.forecast.tft import native
from tftrade.forecast.tft.fused_temporal import temporal_block
from tftrade.forecast.tft.layers import GateAddNorm, GatedResidualNetwork


def _modules(d: int) -> tuple[GateAddNorm, GatedResidualNetwork]:
    torch.manual_seed(3)
    post, enrichment = GateAddNorm(d, d, 0.1).eval(), GatedResidualNetwork(d, d, d, 0.1, d_context=d).eval()
    with torch.no_grad():  # away from the initial values, norms included, so every term matters
        for p in [*post.parameters(), *enrichment.parameters()]:
            p.add_(torch.randn_like(p) * 0.3)
    return post, enrichment


@pytest.mark.parametrize(("batch", "steps", "d"), [(7, 13, 32), (3, 5, 12), (1, 1, 5), (4, 65, 64)])
def test_kernel_equals_the_modules(batch: int, steps: int, d: int) -> None:
    """Widths that are and are not multiples of the kernel's 8-column tiles, row counts that do not
    fill a block, one row; large inputs reach both branches of ELU and saturate the gates."""
    post, enrichment = _modules(d)
    lstm_out, skip = torch.randn(batch, steps, d) * 3, torch.randn(batch, steps, d) * 3
    context = torch.randn(batch, d)
    lib = native.tft_kernels()
    assert lib is not None
    with torch.inference_mode():
        temporal, enriched = temporal_block(lib, post, enrichment, lstm_out, skip, context)
        want_t = post(lstm_out, skip)
        want_e = enrichment(want_t, context.unsqueeze(1))
    torch.testing.assert_close(temporal, want_t, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(enriched, want_e, rtol=1e-4, atol=1e-5)
    if batch > 1:  # each row takes its own batch row's context
        assert not torch.allclose(enriched[0], enriched[1])


def test_kernel_refuses_an_enrichment_without_context() -> None:
    lib = native.tft_kernels()
    assert lib is not None
    post, plain = GateAddNorm(4, 4).eval(), GatedResidualNetwork(4, 4, 4).eval()
    x = torch.zeros(1, 2, 4)
    with pytest.raises(ValueError, match="enrichment GRN with a context"):
        temporal_block(lib, post, plain, x, x, torch.zeros(1, 4))
