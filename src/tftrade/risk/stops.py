r"""Per-position stop-loss and take-profit, checked every bar over arrays of positions.

For a long position entered at :math:`p_0`, the stop triggers when the bar's low
reaches :math:`p_0(1 - s)` and the take-profit when its high reaches :math:`p_0(1 + t)`;
for a short the mirror image (high :math:`\ge p_0(1+s)`, low :math:`\le p_0(1-t)`).
If both levels are touched inside one bar the order of events is unknown, so the
stop wins (the conservative choice). Flat positions never trigger.

The levels may be per position (arrays): volatility-scaled stops use
:func:`atr_fractions`, i.e. :math:`s_i = k_s \mathrm{ATR}_i / p_{0,i}` with the average true
range :func:`average_true_range` known at the bar.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

from tftrade.risk.errors import RiskError


class Exit(IntEnum):
    """What a bar does to a position."""

    HOLD = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2


def check_stops(
    side: npt.ArrayLike, entry_price: npt.ArrayLike, low: npt.ArrayLike, high: npt.ArrayLike,
    stop_loss: npt.ArrayLike = 0.02, take_profit: npt.ArrayLike = 0.04,
) -> npt.NDArray[np.int8]:
    """Return an :class:`Exit` code per position for one bar.

    ``side`` is +1 (long), -1 (short) or 0 (flat); pass close as both ``low`` and
    ``high`` to check on closes only.

    Examples
    --------
    >>> check_stops([1, 1, -1, 0], [100, 100, 100, 100], [97.9, 100, 99, 50], [101, 104.5, 102.5, 150]).tolist()
    [1, 2, 1, 0]
    """
    s, p0 = np.sign(np.asarray(side, dtype=np.float64)), np.asarray(entry_price, dtype=np.float64)
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    sl, tp = np.asarray(stop_loss, dtype=np.float64), np.asarray(take_profit, dtype=np.float64)
    if not (np.all(sl > 0) and np.all(tp > 0)):  # NaN fails too
        raise RiskError(f"stop_loss and take_profit must be > 0, got {stop_loss!r}, {take_profit!r}")
    stop = ((s > 0) & (lo <= p0 * (1 - sl))) | ((s < 0) & (hi >= p0 * (1 + sl)))
    take = ((s > 0) & (hi >= p0 * (1 + tp))) | ((s < 0) & (lo <= p0 * (1 - tp)))
    out = np.where(stop, Exit.STOP_LOSS, np.where(take, Exit.TAKE_PROFIT, Exit.HOLD))
    return out.astype(np.int8)


def first_exit(
    side: npt.ArrayLike, entry_price: npt.ArrayLike, lows: npt.ArrayLike, highs: npt.ArrayLike,
    stop_loss: npt.ArrayLike = 0.02, take_profit: npt.ArrayLike = 0.04,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    """Return, per position, the first bar index that exits (-1 if none) and its :class:`Exit` code.

    ``lows``/``highs`` have shape ``(T, n)``: bars after entry, oldest first.

    Examples
    --------
    >>> bar, code = first_exit([1], [100.0], [[99.0], [97.5], [90.0]], [[101.0], [104.1], [100.0]])
    >>> bar.tolist(), code.tolist()
    ([1], [1])
    """
    lo, hi = np.atleast_2d(np.asarray(lows, dtype=np.float64)), np.atleast_2d(np.asarray(highs, dtype=np.float64))
    codes = np.stack([check_stops(side, entry_price, lo[t], hi[t], stop_loss, take_profit) for t in range(lo.shape[0])])
    hit = codes != Exit.HOLD
    bar = np.where(hit.any(axis=0), hit.argmax(axis=0), -1)
    code = np.where(bar >= 0, codes[np.maximum(bar, 0), np.arange(codes.shape[1])], Exit.HOLD)
    return bar.astype(np.int64), code.astype(np.int8)




def average_true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike,
                       period: int = 14) -> npt.NDArray[np.float64]:
    """Wilder's average true range per bar and ticker, causal (row ``t`` uses bars up to ``t``).

    ``high``, ``low``, ``close`` are ``(T, n)``; NaN bars are skipped (the ATR carries over).
    Rows before ``period`` true ranges are known hold the mean of those seen so far.

    Examples
    --------
    >>> h = [[11.0], [12.0], [12.5]]; lo = [[9.0], [10.0], [11.5]]; c = [[10.0], [11.0], [12.0]]
    >>> average_true_range(h, lo, c, 2)[:, 0].tolist()
    [2.0, 2.0, 1.75]
    """
    hi, lo, cl = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (high, low, close))
    state = AtrState(cl.shape[1], period)
    out = np.full(cl.shape, np.nan)
    for t in range(cl.shape[0]):
        out[t] = state.update(hi[t], lo[t], cl[t - 1] if t else np.full(cl.shape[1], np.nan))
    return out


class AtrState:
    """Wilder's ATR bar by bar (what :func:`average_true_range` computes over a whole array), for a live loop."""

    def __init__(self, n: int, period: int = 14) -> None:
        if period < 1:
            raise RiskError(f"ATR period must be >= 1, got {period}")
        self.period = period
        self.atr = np.full(n, np.nan)
        self._seen = np.zeros(n)

    def update(self, high: npt.ArrayLike, low: npt.ArrayLike, prev_close: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Take one bar (and the close before it); return the ATR up to and including this bar."""
        hi, lo, prev = (np.asarray(a, dtype=np.float64) for a in (high, low, prev_close))
        tr = np.fmax(hi - lo, np.fmax(np.abs(hi - prev), np.abs(lo - prev)))
        ok = np.isfinite(tr)
        self._seen[ok] += 1
        alpha = np.where(self._seen < self.period, 1.0 / np.maximum(self._seen, 1), 1.0 / self.period)
        self.atr = np.where(ok, np.where(np.isnan(self.atr), tr, self.atr + alpha * (tr - self.atr)), self.atr)
        return self.atr.copy()


def atr_fractions(atr: npt.ArrayLike, entry_price: npt.ArrayLike, k_stop: float,
                  k_take: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Stop and take-profit as fractions of entry: ``k * ATR / entry`` (``inf`` where unknown: never fires).

    >>> [x.tolist() for x in atr_fractions([2.0, np.nan], [100.0, 50.0], 3.0, 6.0)]
    [[0.06, inf], [0.12, inf]]
    """
    a, p0 = np.asarray(atr, dtype=np.float64), np.asarray(entry_price, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        base = a / p0
    base = np.where(np.isfinite(base) & (base > 0), base, np.inf)
    return k_stop * base, k_take * base
