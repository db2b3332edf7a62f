"""Forecasting many windows without a gradient, sharing the work of bars that windows have in common.

A window's encoder steps go through variable selection one bar at a time, and each bar's result
depends only on that bar's inputs and its ticker's static context. Windows of consecutive origins
(validation and test sets, walk-forward backtests) share all but one of their ``C`` encoder bars,
so :func:`forecast_scaled` selects each needed bar once per ticker and cuts the windows out of
the result, instead of selecting ``C`` bars per window. The numbers are those of the plain
forward pass (a test compares them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from tftrade.features.dataset import Batch, Panel, WindowIndex, gather
from tftrade.forecast.tft.model import TemporalFusionTransformer

ROW_BUDGET = 1 << 25
"""Floats of selected bars (bars × tickers × (hidden + variables)) held at once."""


@contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads (``None``: as the process has it), then restore.

    A live forecast of 500 tickers is a few tens of milliseconds of small matrix products: on a
    2-core machine shared with other processes (load average 20) one thread ran the network in
    115 ms and two in 790 ms, their OpenMP threads waiting for each other. The setting is
    process-wide while the block runs.
    """
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_tensors(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the model inputs of ``batch`` as tensors (sharing memory with the arrays)."""
    return torch.from_numpy(batch.observed), torch.from_numpy(batch.known), torch.from_numpy(batch.static)


@torch.inference_mode()
def forecast_scaled(model: TemporalFusionTransformer, panel: Panel, idx: WindowIndex, chunk: int = 4096) -> np.ndarray:
    """Return the model's quantiles (scaled units) for every window of ``idx``: samples × H × Q.

    Windows that share bars (several origins of one ticker) have each bar selected once; the rest
    run through the network in chunks of ``chunk`` windows.
    """
    model.eval()
    c, h, n_q = model.config.context, model.config.horizon, len(model.config.quantiles)
    out = np.zeros((len(idx), h, n_q), np.float32)
    if not len(idx):
        return out
    spans = {int(col): (int(o.min()) - c + 1, int(o.max())) for col, o in _by_column(idx)}
    shared_bars = sum(hi - lo + 1 for lo, hi in spans.values())
    if shared_bars * 2 > len(idx) * c:  # little overlap: the plain forward pass
        for s in range(0, len(idx), chunk):
            part = idx.take(np.arange(s, min(s + chunk, len(idx))))
            out[s : s + len(part)] = model(*to_tensors(gather(panel, part, c, h))).quantiles.numpy()
        return out
    for cols in _column_groups(spans, model.config.hidden_size + len(model.schema.encoder_variables)):
        _forecast_columns(model, panel, idx, cols, spans, chunk, out)
    return out


def _by_column(idx: WindowIndex) -> list[tuple[int, np.ndarray]]:
    order = np.argsort(idx.cols, kind="stable")
    cols, starts = np.unique(idx.cols[order], return_index=True)
    return [(int(col), idx.origins[part]) for col, part in zip(cols, np.split(order, starts[1:]), strict=True)]


def _column_groups(spans: dict[int, tuple[int, int]], width: int) -> list[list[int]]:
    """Tickers grouped so that one group's selected bars stay within :data:`ROW_BUDGET` floats."""
    bars = max(hi - lo + 1 for lo, hi in spans.values())
    per_group = max(ROW_BUDGET // max(bars * width, 1), 1)
    cols = sorted(spans)
    return [cols[k : k + per_group] for k in range(0, len(cols), per_group)]


def _forecast_columns(model: TemporalFusionTransformer, panel: Panel, idx: WindowIndex, cols: list[int],
                      spans: dict[int, tuple[int, int]], chunk: int, out: np.ndarray) -> None:
    c, h = model.config.context, model.config.horizon
    arrays = panel.window_arrays(h)
    lo = min(spans[k][0] for k in cols)
    hi = max(spans[k][1] for k in cols)
    group = np.asarray(cols, dtype=np.int64)
    observed = torch.from_numpy(np.ascontiguousarray(arrays.observed[lo : hi + 1, group].swapaxes(0, 1)))
    known = torch.from_numpy(np.ascontiguousarray(arrays.known[lo : hi + 1, group].swapaxes(0, 1)))
    contexts = model.static_contexts(torch.from_numpy(panel.static[group]))
    selected, weights = model.select_encoder(observed, known, contexts)  # group × bars × ·
    slot = np.full(int(group.max()) + 1, -1, dtype=np.int64)
    slot[group] = np.arange(len(group))
    rows = np.nonzero(np.isin(idx.cols, group))[0]
    steps = np.arange(c)
    for s in range(0, len(rows), chunk):
        part = rows[s : s + chunk]
        batch = gather(panel, idx.take(part), c, h)
        g = torch.from_numpy(slot[idx.cols[part]])
        t = torch.from_numpy(idx.origins[part] - c + 1 - lo)[:, None] + torch.from_numpy(steps)
        enc_x, enc_w = selected[g[:, None], t], weights[g[:, None], t]
        result = model.decode(enc_x, enc_w, torch.from_numpy(batch.known), contexts.take(g))
        out[part] = result.quantiles.numpy()
