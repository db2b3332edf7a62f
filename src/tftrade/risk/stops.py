r"""Per-position stop-loss and take-profit, checked every bar over arrays of positions.

For a long position entered at :math:`p_0`, the stop triggers when the bar's low
reaches :math:`p_0(1 - s)` and the take-profit when its high reaches :math:`p_0(1 + t)`;
for a short the mirror image (high :math:`\ge p_0(1+s)`, low :math:`\le p_0(1-t)`).
If both levels are touched inside one bar the order of events is unknown, so the
stop wins (the conservative choice). Flat positions never trigger.
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
    stop_loss: float = 0.02, take_profit: float = 0.04,
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
    if not (stop_loss > 0 and take_profit > 0):
        raise RiskError(f"stop_loss and take_profit must be > 0, got {stop_loss}, {take_profit}")
    stop = ((s > 0) & (lo <= p0 * (1 - stop_loss))) | ((s < 0) & (hi >= p0 * (1 + stop_loss)))
    take = ((s > 0) & (hi >= p0 * (1 + take_profit))) | ((s < 0) & (lo <= p0 * (1 - take_profit)))
    out = np.where(stop, Exit.STOP_LOSS, np.where(take, Exit.TAKE_PROFIT, Exit.HOLD))
    return out.astype(np.int8)


def first_exit(
    side: npt.ArrayLike, entry_price: npt.ArrayLike, lows: npt.ArrayLike, highs: npt.ArrayLike,
    stop_loss: float = 0.02, take_profit: float = 0.04,
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


