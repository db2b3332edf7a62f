"""Live forecasting bar after bar: each bar's encoder selection is computed once and kept.

Every minute a live system forecasts every ticker's latest window. Consecutive windows share
``C - 1`` of their ``C`` encoder bars, and a bar's variable selection depends only on that bar's
inputs and the ticker's static context, so :class:`StreamingForecaster` keeps the last ``C``
selected bars of every ticker and, at each new bar, selects only the bars it has not seen.
The rest of the network (LSTMs, enrichment, attention) runs on the full windows as usual; the
forecasts are those of the plain forward pass (a test compares them bar by bar).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tftrade.features.dataset import Panel
from tftrade.forecast.errors import InsufficientHistoryError
from tftrade.forecast.tft.model import StaticContexts, TemporalFusionTransformer


class StreamingForecaster:
    """Forecasts of every ticker's window ending at a bar, reusing the bars selected for earlier calls.

    Parameters
    ----------
    model
        A trained model (put in evaluation mode).

    The cache is keyed by the bars' timestamps and the panel's tickers: a call for a later bar
    selects only the new bars; a call after a gap of ``C`` bars or more, for an earlier bar, or
    with other tickers or a differently scaled panel starts afresh.
    """

    def __init__(self, model: TemporalFusionTransformer) -> None:
        self.model = model.eval()
        self._key: tuple[tuple[str, ...], int] | None = None  # tickers and the scaling of the cached bars
        self._contexts: StaticContexts | None = None
        self._times = np.zeros(0, np.int64)  # timestamps of the cached bars, oldest first
        self._selected: Tensor | None = None  # N × (≤ C) × d
        self._weights: Tensor | None = None  # N × (≤ C) × V
        self.selected_bars = 0
        """Bars (per ticker) run through encoder selection so far: what the cache saves is visible here."""

    @torch.inference_mode()
    def forecast_at(self, panel: Panel, origin: int) -> np.ndarray:
        """Quantiles (scaled units, ``N × H × Q``) of each ticker's window ending at row ``origin``.

        ``panel`` is scaled with the model's standardizer; rows after ``origin`` (or
        ``panel.known_future`` when ``origin`` is the last row) supply the decoder's known inputs.

        Raises
        ------
        InsufficientHistoryError
            If ``origin`` has fewer than ``C`` bars up to and including it.
        """
        c, h = self.model.config.context, self.model.config.horizon
        if not c - 1 <= origin < panel.n_times:
            raise InsufficientHistoryError(f"origin {origin} needs rows {origin - c + 1}..{origin} of a "
                                           f"{panel.n_times}-row panel (context {c})")
        arrays = panel.window_arrays(h)
        st = panel.standardizer
        key = (tuple(panel.tickers), hash((st.mean.tobytes(), st.scale.tobytes())) if st is not None else 0)
        times = panel.timestamps[origin - c + 1 : origin + 1].astype(np.int64)
        if key != self._key:
            self._key, self._times, self._selected, self._weights = key, np.zeros(0, np.int64), None, None
            self._contexts = self.model.static_contexts(torch.from_numpy(panel.static))
        assert self._contexts is not None
        keep = int(np.searchsorted(self._times, times[0])) if len(self._times) else 0
        reuse = len(self._times) - keep
        if reuse <= 0 or not np.array_equal(self._times[keep:], times[:reuse]):
            keep, reuse = len(self._times), 0
        if reuse < c or self._selected is None or self._weights is None:
            new = slice(origin - c + 1 + reuse, origin + 1)
            observed = torch.from_numpy(np.ascontiguousarray(arrays.observed[new].swapaxes(0, 1)))
            known = torch.from_numpy(np.ascontiguousarray(arrays.known[new].swapaxes(0, 1)))
            sel, w = self.model.select_encoder(observed, known, self._contexts)
            self.selected_bars += c - reuse
            if reuse and self._selected is not None and self._weights is not None:
                sel = torch.cat([self._selected[:, keep:], sel], 1)
                w = torch.cat([self._weights[:, keep:], w], 1)
            self._times, self._selected, self._weights = times, sel, w
        sel, w = self._selected, self._weights
        window_known = torch.from_numpy(
            np.ascontiguousarray(arrays.known[origin - c + 1 : origin + h + 1].swapaxes(0, 1)))
        out = self.model.decode(sel, w, window_known, self._contexts)
        return out.quantiles.numpy()
