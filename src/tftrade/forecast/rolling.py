"""A trained model forecasting each new cross-section from running state: no panel, no pivot, no pandas per bar.

:class:`RollingForecaster` keeps, for one universe, the indicators' running state
(:class:`~tftrade.features.incremental.IncrementalFeatures`), the encoder selection of the last
``C`` bars (:class:`~tftrade.forecast.streaming.StreamingForecaster`), the last scaled returns the
calibration's local volatility needs and the exchange calendar's next bar starts. Appending a bar
computes that bar's features, scales them and selects them (one bar through variable selection);
a forecast runs the rest of the network once for every ticker. Between two bars,
:meth:`RollingForecaster.prepare` runs ahead the part of the next bar's network that the bars
already appended determine (the encoder over the first ``C - 1`` bars of its window, see
:meth:`~tftrade.forecast.streaming.StreamingForecaster.prepare`), so that forecast does less work
when the bar arrives; its numbers are the same.

Its forecasts are those of the batch path on the rows it was fed — ``build_panel`` over those
rows, :func:`~tftrade.forecast.prediction.predict_latest` (``tftrade predict``) — to float
rounding; tests compare them bar by bar. The first row fed plays the part of the batch window's
first row: a state fed the last ``3 × (warm-up + context)`` stored bars (what ``tftrade predict``
reads) starts from the same row as ``tftrade predict``, and once running, its exponential averages
differ from those of a window starting later by less than 1e-7 of their value.

A model fitted with sentiment inputs (:func:`uses_sentiment`) needs each bar's comment score and
count: ``append``/``extend`` take a :data:`~tftrade.forecast.data.SentimentLookup` (the one
``panel_from_bars`` takes) and call it on the new bars; without one the sentiment inputs are 0,
as in a panel built without sentiment.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tftrade.core.types import Float64Array, Int64Array, Timeframe
from tftrade.features.dataset import WARMUP
from tftrade.features.errors import FeatureError
from tftrade.features.incremental import IncrementalFeatures
from tftrade.features.known import known_feature_names, known_features
from tftrade.features.sentiment import SENTIMENT_FEATURES
from tftrade.forecast.inference import intra_op_threads
from tftrade.forecast.streaming import StreamingForecaster
from tftrade.forecast.training import Trained

if TYPE_CHECKING:
    from tftrade.forecast.data import SentimentLookup


def uses_sentiment(trained: Trained) -> bool:
    """Whether ``trained`` was fitted with sentiment inputs (training drops them when no comment was scored)."""
    observed = trained.standardizer.observed
    return observed is not None and any(name in SENTIMENT_FEATURES for name in observed)


class RollingForecast(NamedTuple):
    """Forecasts of every ticker at one bar: cumulative log-return quantiles ``N × H × Q`` (calibrated)
    and their confidence ``N × H``."""

    timestamp_ns: int
    quantiles: Float64Array
    confidence: Float64Array
    close: Float64Array


class HashPrefix(NamedTuple):
    """SHA-256 states of each ticker fed the first ``C - 1`` rows of the next bar's window
    (:meth:`RollingForecaster.hash_prefixes`); ``rows`` are the inputs fed, kept to recognise that window."""

    rows: tuple[tuple[np.ndarray, np.ndarray], ...]
    hashers: tuple[Any, ...]


class RollingForecaster:
    """Forecasts of a fixed universe, one appended cross-section at a time (see the module docstring).

    Parameters
    ----------
    trained
        The fitted model.
    tickers, sectors
        The universe, in column order.
    timeframe
        The bars' timeframe.
    threads
        Torch intra-op threads of the network's forward (``None``: the process's setting); see
        :func:`~tftrade.forecast.inference.intra_op_threads`.

    Raises
    ------
    UnknownTickerError
        If a ticker is not in the model's universe.
    FeatureError
        If the model was fitted on inputs this forecaster does not compute.
    """

    def __init__(self, trained: Trained, tickers: tuple[str, ...], sectors: tuple[str, ...],
                 timeframe: Timeframe, threads: int | None = 1) -> None:
        from tftrade.forecast.prediction import model_ids

        self.trained, self.tickers, self.sectors, self.timeframe = trained, tuple(tickers), tuple(sectors), timeframe
        self.static = model_ids(trained, list(tickers), list(sectors))
        st = trained.standardizer
        names = IncrementalFeatures(1).names
        known = known_feature_names(timeframe)
        want_obs, want_known = list(st.observed or names), list(st.known or known)
        missing = [x for x in want_obs if x not in names] + [x for x in want_known if x not in known]
        if missing:
            raise FeatureError(f"the model was trained with input(s) {', '.join(missing)}, which live features lack")
        self._obs = np.asarray([names.index(x) for x in want_obs], dtype=np.int64)
        self._known = np.asarray([known.index(x) for x in want_known], dtype=np.int64)
        self._sigma = st.target_scale[self.static[:, 0]]
        cal = trained.calibration
        self._local_bars = cal.local_bars if cal is not None else 0
        self.streaming = StreamingForecaster(trained.model)
        self.threads = threads
        self._future: Int64Array = np.zeros(0, np.int64)
        self._known_at: dict[int, np.ndarray] = {}  # bar start → its known inputs (K,), the same for every ticker
        self.reset()

    def reset(self) -> None:
        """Forget every bar (the next one appended is the first row)."""
        n = len(self.tickers)
        self.streaming.forget()
        self.features = IncrementalFeatures(n)
        self.last_ns: int | None = None
        self._returns = np.zeros((max(self._local_bars, 1), n))  # scaled one-bar returns, a ring
        self._inputs: list[tuple[np.ndarray, np.ndarray]] = []  # the last C bars' scaled inputs (hashes)
        self._close = np.full(n, np.nan)
        self._memo: RollingForecast | None = None

    @property
    def ready(self) -> bool:
        """Whether enough bars were appended for a forecast (warm-up + context)."""
        return self.features.rows >= WARMUP + self.trained.config.context

    def append(self, timestamp_ns: int, open_: Float64Array, high: Float64Array, low: Float64Array,
               close: Float64Array, volume: Float64Array, *, sentiment: SentimentLookup | None = None) -> None:
        """Add the cross-section of ``timestamp_ns`` (arrays ``(n,)``); ``sentiment`` gives its comment score
        and count (``None``: sentiment inputs 0).

        Raises
        ------
        FeatureError
            If a price or volume is missing or not positive, or the bar is not after the last one;
            the state is then reset (the next bar starts afresh).
        """
        ts = np.asarray([timestamp_ns], np.int64)
        self.extend(ts, *(np.asarray(a, np.float64)[None] for a in (open_, high, low, close, volume)),
                    sentiment=sentiment)

    def extend(self, timestamps: Int64Array, open_: Float64Array, high: Float64Array, low: Float64Array,
               close: Float64Array, volume: Float64Array, *, sentiment: SentimentLookup | None = None) -> None:
        """Add several cross-sections (arrays ``(T, n)``, oldest first); ``sentiment`` is called once on
        ``timestamps`` for their comment scores and counts; see :meth:`append`."""
        if not len(timestamps):
            return
        if self.last_ns is not None and int(timestamps[0]) <= self.last_ns:
            self.reset()
            raise FeatureError(f"bar at {int(timestamps[0])} is not after the last one ({self.last_ns})")
        st = self.trained.standardizer
        score, count = (sentiment(np.asarray(timestamps, np.int64), list(self.tickers)) if sentiment is not None
                        else (None, None))
        rows = []
        try:
            for t in range(len(timestamps)):
                raw = self.features.update(open_[t], high[t], low[t], close[t], volume[t],
                                           score=None if score is None else score[t],
                                           count=None if count is None else count[t])
                rows.append(np.clip((raw[:, self._obs] - st.mean) / st.scale, -10.0, 10.0).astype(np.float32))
                self._returns[(self.features.rows - 1) % self._returns.shape[0]] = raw[:, 0] / self._sigma
        except FeatureError:
            self.reset()
            raise
        c = self.trained.config.context
        n = len(self.tickers)
        known = np.broadcast_to(self._known_rows(np.asarray(timestamps, np.int64))[:, None], (len(timestamps), n,
                                                                                              len(self._known)))
        take = slice(max(len(rows) - c, 0), len(rows))
        obs = np.ascontiguousarray(np.stack(rows[take], axis=1))  # N × T × F
        kn = np.ascontiguousarray(known[take].swapaxes(0, 1))  # N × T × K
        with intra_op_threads(self.threads):
            self.streaming.append_bars(self.static, np.asarray(timestamps[take], np.int64), obs, kn)
        self._inputs = (self._inputs + [(obs[:, k], kn[:, k]) for k in range(obs.shape[1])])[-c:]
        self.last_ns = int(timestamps[-1])
        self._close = np.asarray(close[-1], np.float64)
        self._memo = None

    def forecast(self) -> RollingForecast | None:
        """Forecasts at the last appended bar (``None`` until :attr:`ready`); computed once per bar."""
        if not self.ready or self.last_ns is None:
            return None
        if self._memo is not None:
            return self._memo
        tr = self.trained
        future = self._future_known(self.last_ns)
        with intra_op_threads(self.threads):
            q = self.streaming.forecast_latest(future).astype(np.float64)
        if tr.calibration is not None:
            q = tr.calibration.adjust(q, self._local_ratio())
        conf = tr.confidence(q)
        self._memo = RollingForecast(self.last_ns, q * self._sigma[:, None, None], conf, self._close)
        return self._memo

    def prepare(self) -> bool:
        """Run ahead, while waiting for the next bar, the first ``C - 1`` encoder steps of its window.

        The next :meth:`forecast`, after one more bar is appended, then runs only the rest of the
        network (the same forecasts); the decoder's selection of the known inputs that follow the
        calendar's next bar is run ahead too (used if that bar is the one appended). Calling it
        again before the next append does nothing; after appending several bars, a gap of rejected
        bars or a :meth:`reset`, the prefix no longer fits the window and the forecast runs the
        whole window. Return whether the prefix is ready (``False`` while the next bar could not
        complete a forecast's warm-up and context).
        """
        if self.last_ns is None or self.features.rows + 1 < WARMUP + self.trained.config.context:
            return False
        self._future_known(self.last_ns)  # the calendar's stretch from the last bar on
        expected = int(self._future[self._future > self.last_ns][0])  # the next bar, unless there is a gap
        with intra_op_threads(self.threads):
            return self.streaming.prepare(self._future_known(expected))

    def features_hashes(self) -> list[str]:
        """SHA-256 of each ticker's exact model inputs at the last bar (as ``features.dataset.features_hash``)."""
        assert self.last_ns is not None
        obs = np.stack([o for o, _ in self._inputs], axis=1)
        known = np.concatenate([np.stack([k for _, k in self._inputs], axis=1),
                                self._future_known(self.last_ns)], axis=1)
        out = []
        for i in range(len(self.tickers)):
            h = hashlib.sha256()
            for arr in (obs[i], known[i], self.static[i]):
                h.update(np.ascontiguousarray(arr).tobytes())
            out.append(h.hexdigest())
        return out

    def hash_prefixes(self) -> HashPrefix | None:
        """Between bars: each ticker's SHA-256 already fed the observed inputs of the last ``C - 1`` bars.

        Those rows open the next bar's window, so once that bar is appended
        :meth:`features_hashes_from` only hashes its row, the known inputs and the static ids.
        ``None`` until a full window of ``C`` bars was appended.
        """
        c = self.trained.config.context
        if len(self._inputs) < c:
            return None
        tail = tuple(self._inputs[1:])
        obs = np.stack([o for o, _ in tail], axis=1) if tail else np.zeros((len(self.tickers), 0, 0), np.float32)
        return HashPrefix(tail, tuple(hashlib.sha256(obs[i].tobytes()) for i in range(len(self.tickers))))

    def features_hashes_from(self, prefix: HashPrefix | None) -> list[str]:
        """:meth:`features_hashes` (the same digests), finishing ``prefix`` when it was taken one bar ago.

        A prefix taken at any other bar (or ``None``) is ignored: the hashes are then computed in full.
        """
        inputs, c = self._inputs, self.trained.config.context
        if (prefix is None or self.last_ns is None or len(inputs) != c or len(prefix.rows) != c - 1
                or any(a is not b for a, b in zip(inputs[:-1], prefix.rows, strict=True))):
            return self.features_hashes()
        new_obs = np.ascontiguousarray(inputs[-1][0])  # N × F
        known = np.concatenate([np.stack([k for _, k in inputs], axis=1), self._future_known(self.last_ns)], axis=1)
        same_known = bool((known == known[:1]).all()) if len(known) else True  # no per-ticker (earnings) inputs
        shared = np.ascontiguousarray(known[0]).tobytes() if same_known and len(known) else b""
        static = np.ascontiguousarray(self.static)
        out = []
        for i, start in enumerate(prefix.hashers):
            h = start.copy()
            h.update(new_obs[i].tobytes())
            h.update(shared if same_known else np.ascontiguousarray(known[i]).tobytes())
            h.update(static[i].tobytes())
            out.append(h.hexdigest())
        return out

    def _local_ratio(self) -> Float64Array | None:
        """``calibration.local_ratio`` at the last bar, from the ring of scaled returns."""
        if self._local_bars <= 0:
            return None
        k = min(self.features.rows, self._local_bars)
        r = self._returns[:k] if k < self._returns.shape[0] else self._returns
        mean = r.sum(axis=0) / k
        var = (r * r).sum(axis=0) / k - mean * mean
        return np.asarray(np.clip(np.sqrt(np.maximum(var, 0.0)), 0.2, 5.0), dtype=np.float64)

    def _future_known(self, last_ns: int) -> np.ndarray:
        """Known inputs ``N × H × K`` of the ``H`` bars after ``last_ns`` (a cached stretch of the calendar)."""
        from tftrade.forecast.prediction import future_timestamps

        h = self.trained.config.horizon
        f = self._future
        ahead = f[f > last_ns][:h] if len(f) and f[0] <= last_ns else f[:0]
        if ahead.shape[0] < h:
            stretch = future_timestamps(last_ns, self.timeframe, h + (2000 if self.timeframe == "1min" else 30))
            self._future = np.concatenate([[last_ns], stretch]).astype(np.int64)
            self._known_at = {}
            self._known_rows(stretch)  # the whole stretch at once: the next bars' rows are looked up
            ahead = stretch[:h]
        rows = self._known_rows(ahead)
        return np.ascontiguousarray(np.broadcast_to(rows[None], (len(self.tickers), *rows.shape)))

    def _known_rows(self, timestamps: Int64Array) -> np.ndarray:
        """Known inputs ``T × K`` (float32) of bars starting at ``timestamps`` (computed once per bar start).

        Without earnings flags they do not depend on the ticker (``known_features`` per time, broadcast).
        """
        cache = self._known_at
        missing = np.asarray([t for t in timestamps.tolist() if t not in cache], dtype=np.int64)
        if len(missing):
            rows = known_features(missing, self.timeframe, None, 1)[:, 0, self._known].astype(np.float32)
            cache.update(zip(missing.tolist(), rows, strict=True))
        return np.stack([cache[t] for t in timestamps.tolist()]) if len(timestamps) else np.zeros(
            (0, len(self._known)), np.float32)
