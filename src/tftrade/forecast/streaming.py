"""Live forecasting bar after bar: each bar's encoder selection is computed once and kept.

Every minute a live system forecasts every ticker's latest window. Consecutive windows share
``C - 1`` of their ``C`` encoder bars, and a bar's variable selection depends only on that bar's
inputs and the ticker's static context, so :class:`StreamingForecaster` keeps the last ``C``
selected bars of every ticker and, at each new bar, selects only the bars it has not seen.
The rest of the network (LSTMs, enrichment, attention) runs on the full windows as usual; the
forecasts are those of the plain forward pass (a test compares them bar by bar).

A live predictor that keeps its inputs itself (:class:`~tftrade.forecast.rolling.RollingForecaster`)
hands over only each new bar's scaled inputs (:meth:`StreamingForecaster.append_bars`) and asks for
the forecast of the latest window (:meth:`StreamingForecaster.forecast_latest`): no panel at all.

Between two bars it can also get ahead (:meth:`StreamingForecaster.prepare`): the window the
next bar completes starts with the last ``C - 1`` bars appended, so their encoder LSTM steps (from
the static state), post-LSTM gate and enrichment
(:meth:`~tftrade.forecast.tft.model.TemporalFusionTransformer.encode_prefix`) can run before the
bar arrives. When it does, its forecast runs one encoder step, the decoder, attention and head
on that prefix; the numbers are those of the whole window run at once (a test compares them).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tftrade.features.dataset import Panel
from tftrade.forecast.errors import InsufficientHistoryError
from tftrade.forecast.tft.model import EncoderPrefix, StaticContexts, TemporalFusionTransformer


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
        self.selected_bars = 0
        """Bars (per ticker) run through encoder selection so far: what the cache saves is visible here."""
        self.prefix_forecasts = 0
        """Forecasts that ran on a prepared prefix (:meth:`prepare`) rather than the whole window."""
        self.forget()

    def forget(self) -> None:
        """Drop every cached bar and the prepared prefix (the next call starts afresh)."""
        # tickers and the scaling of the cached bars (or the static ids of appended bars)
        self._key: tuple[tuple[str, ...], int] | tuple[bytes, int] | None = None
        self._contexts: StaticContexts | None = None
        self._times = np.zeros(0, np.int64)  # timestamps of the cached bars, oldest first
        self._selected: Tensor | None = None  # N × (≤ C) × d
        self._weights: Tensor | None = None  # N × (≤ C) × V
        self._prefix: tuple[np.ndarray, EncoderPrefix] | None = None  # the bars it ran and the prefix
        # append_bars' buffers of 2C steps (selected, weights) and where the cached bars start in them
        self._ring: tuple[Tensor, Tensor, int] | None = None

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
            self.forget()
            self._key, self._contexts = key, self.model.static_contexts(torch.from_numpy(panel.static))
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

    @torch.inference_mode()
    def append_bars(self, static: np.ndarray, times: np.ndarray, observed: np.ndarray, known: np.ndarray) -> None:
        """Select the bars ``times`` (after the cached ones) of every ticker and keep the last ``C``.

        ``static`` is ``N × S`` (the model's category ids), ``observed`` ``N × T × F`` and ``known``
        ``N × T × K`` the bars' scaled float32 inputs. Bars that do not follow the cached ones, or
        other tickers, start the cache afresh.
        """
        key = (static.tobytes(), -1)
        times = np.asarray(times, np.int64)
        if key != self._key or (len(self._times) and times[0] <= self._times[-1]):
            self.forget()
            self._key = key
            self._contexts = self.model.static_contexts(torch.from_numpy(np.ascontiguousarray(static)))
        assert self._contexts is not None
        sel, w = self.model.select_encoder(torch.from_numpy(observed), torch.from_numpy(known), self._contexts)
        self.selected_bars += len(times)
        c = self.model.config.context
        new = min(len(times), c)
        kept = min(len(self._times), c - new) if self._selected is not None else 0
        # the last C bars live in buffers of 2C steps: a new bar is written after the cached ones, which move
        # to the front only when the buffer is full (once per C bars, not a new N × C tensor per bar)
        ring = self._ring
        if ring is None or ring[0].shape[0] != sel.shape[0] or ring[0].dtype != sel.dtype:
            ring = (sel.new_empty(sel.shape[0], 2 * c, sel.shape[2]), w.new_empty(w.shape[0], 2 * c, w.shape[2]), 0)
            if kept and self._selected is not None and self._weights is not None:
                ring[0][:, :kept] = self._selected[:, self._selected.shape[1] - kept:]
                ring[1][:, :kept] = self._weights[:, self._weights.shape[1] - kept:]
            start = 0
        else:
            end = ring[2] + len(self._times)
            start = end - kept
            if end + new > 2 * c:  # full: the kept bars to the front (the regions cannot overlap: kept < C)
                ring[0][:, :kept] = ring[0][:, start:end]
                ring[1][:, :kept] = ring[1][:, start:end]
                start = 0
        buf_s, buf_w = ring[0], ring[1]
        buf_s[:, start + kept : start + kept + new] = sel[:, sel.shape[1] - new:]
        buf_w[:, start + kept : start + kept + new] = w[:, w.shape[1] - new:]
        self._ring = (buf_s, buf_w, start)
        times = np.concatenate([self._times[len(self._times) - kept:], times[len(times) - new:]])
        self._times = times
        self._selected, self._weights = buf_s[:, start : start + kept + new], buf_w[:, start : start + kept + new]

    @torch.inference_mode()
    def forecast_latest(self, known_future: np.ndarray) -> np.ndarray:
        """Quantiles (scaled units, ``N × H × Q``) of the window of the last ``C`` appended bars.

        ``known_future`` is ``N × H × K``: the known inputs of the ``H`` bars after the last one. When
        :meth:`prepare` ran ahead this window's first ``C - 1`` bars, only the rest is computed.

        Raises
        ------
        InsufficientHistoryError
            If fewer than ``C`` bars were appended.
        """
        c = self.model.config.context
        if self._selected is None or self._weights is None or self._contexts is None or len(self._times) < c:
            raise InsufficientHistoryError(f"{len(self._times)} bars appended; a forecast needs {c}")
        n, h, k = known_future.shape
        window_known = torch.zeros(n, c + h, k)  # decode reads only the decoder steps
        window_known[:, c:] = torch.from_numpy(known_future)
        prefix = None
        if self._prefix is not None and np.array_equal(self._prefix[0], self._times[: c - 1]):
            prefix = self._prefix[1]
            self.prefix_forecasts += 1
        out = self.model.decode(self._selected, self._weights, window_known, self._contexts, prefix)
        return out.quantiles.numpy()

    @torch.inference_mode()
    def prepare(self, known_future: np.ndarray | None = None) -> bool:
        """Run ahead the first ``C - 1`` steps of the next window: the last ``C - 1`` appended bars.

        Call it after a forecast, while waiting for the next bar: :meth:`forecast_latest` after the
        next :meth:`append_bars` then runs only the new bar's encoder step and the rest of the network
        (when the window starts with the prepared bars; otherwise the whole window, as always).
        ``known_future`` (``N × H × K``), if given, is the decoder's known inputs that forecast is
        expected to get: selected now too, and used if they are the ones it gets. Calling it again
        before the next append does nothing. Return whether a prefix is ready (``False`` while fewer
        than ``C - 1`` bars are cached).
        """
        c = self.model.config.context
        if self._selected is None or self._contexts is None or len(self._times) < c - 1:
            return False
        times = self._times[len(self._times) - (c - 1):]
        if self._prefix is None or not np.array_equal(self._prefix[0], times):
            first = self._selected[:, self._selected.shape[1] - (c - 1):]
            future = None if known_future is None else torch.from_numpy(np.ascontiguousarray(known_future))
            self._prefix = (times.copy(), self.model.encode_prefix(first, self._contexts, future))
        return True
