"""Benchmark: the TFT's attention and the decoder pass at serving size, C kernel vs tensor path (prints only).

An untrained network of a preset (default: hidden 32, 4 heads, context 60, horizon 5; latency does
not depend on the weights), 500 windows, in inference mode. Timed, each as the median and p99 of
``--repeats`` calls:

* **attention**: ``InterpretableMultiHeadAttention`` forward, 5 decoder queries over 65 keys, through
  the fused kernel (what the model uses) and through ``tensor_forward`` (the PyTorch path);
* **decode(prefix)**: what the live worker runs per new bar — ``TemporalFusionTransformer.decode``
  on an encoder prefix of ``C - 1`` steps run ahead — with the model's attention and with the
  attention forced onto the tensor path (everything else the same).

    python benchmarks/tft_attention.py [--batch 500] [--threads 1] [--repeats 200] [--preset default]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from tftrade.forecast.tft.attention import causal_mask
from tftrade.forecast.tft.config import DataSchema, preset
from tftrade.forecast.tft.model import TemporalFusionTransformer


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and p99 of ``fn``'s wall time in milliseconds (after a few warm-up calls)."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--preset", default="default")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config, n = preset(args.preset), args.batch
    schema = DataSchema(observed=[f"o{i}" for i in range(8)], known=["dow", "tod", "month"], static=["ticker_id"],
                        static_cardinalities=[n], tickers=[f"T{i}" for i in range(n)], sectors=["X"],
                        timeframe="1min")
    model = TemporalFusionTransformer(schema, config).eval()
    c, h = config.context, config.horizon
    observed, known = torch.randn(n, c, 8), torch.randn(n, c + h, 3)
    with torch.inference_mode():
        contexts = model.static_contexts(torch.arange(n)[:, None])
        enc_x, enc_w = model.select_encoder(observed, known[:, :c], contexts)
        prefix = model.encode_prefix(enc_x[:, : c - 1], contexts, known[:, c:])
        enriched = torch.randn(n, c + h, config.hidden_size)
        attention, mask = model.attention, causal_mask(c, h)
        fused = timed(lambda: attention(enriched[:, c:], enriched, mask), args.repeats)
        tensor = timed(lambda: attention.tensor_forward(enriched[:, c:], enriched, mask), args.repeats)
        dec_fused = timed(lambda: model.decode(enc_x, enc_w, known, contexts, prefix), args.repeats)
        attention.forward = attention.tensor_forward  # type: ignore[method-assign]
        dec_tensor = timed(lambda: model.decode(enc_x, enc_w, known, contexts, prefix), args.repeats)
    print(f"preset {args.preset}: B={n}, hidden {config.hidden_size}, {config.attention_heads} heads, "
          f"context {c}, horizon {h}, {args.threads} thread(s), {args.repeats} calls each (median / p99 ms)")
    print(f"attention       kernel {fused[0]:7.3f} / {fused[1]:7.3f}   tensor path {tensor[0]:7.3f} / {tensor[1]:7.3f}")
    print(f"decode(prefix)  kernel {dec_fused[0]:7.3f} / {dec_fused[1]:7.3f}   "
          f"tensor attention {dec_tensor[0]:7.3f} / {dec_tensor[1]:7.3f}")


if __name__ == "__main__":
    main()
