"""Re-entry after a stop: when a stopped-out name may be opened again, in every mode and for every strategy.

A stop exit remembers, per ticker, the bar it fired on, the side it closed and (for a stop-loss)
the stop price it touched. With ``reentry="signal"`` the name is then

* **blocked** — no order re-opens it on that side — for ``cooldown`` bars, and after a
  stop-loss also until the close is back above (long) or below (short) the stop level
  (``recovery``);
* **due** once no longer blocked, if the strategy's standing target (what it wants held now,
  :attr:`~tftrade.strategy.contract.Targets.standing`) is still on that side: the loop re-opens
  it at the standing weight on its next decision bar, even if the strategy (a crossover) would
  only speak again at its next signal change.

The memory of a stop ends when the name is open again, or when the strategy's standing target
for it turns flat or flips (a new signal is not a re-entry). With ``reentry="off"`` nothing is
remembered: a name comes back at the strategy's next fresh target (legacy behaviour).

Examples
--------
>>> r = StopReentry(2, "signal", cooldown=3, recovery=True)
>>> r.stopped(0, step=10, side=1.0, level=98.0)
>>> last = np.array([97.0, 50.0])
>>> r.blocked(12, last).tolist(), r.due(13, last, np.zeros(2), np.array([0.1, 0.1])).tolist()
([True, False], [False, False])
>>> r.due(13, np.array([98.5, 50.0]), np.zeros(2), np.array([0.1, 0.1])).tolist()
[True, False]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tftrade.core.types import BoolArray, Float64Array


class StopReentry:
    """Per-ticker memory of stop exits and the re-entry rule (see the module docstring)."""

    def __init__(self, n: int, mode: Literal["off", "signal"], cooldown: int, recovery: bool) -> None:
        self.mode, self.cooldown, self.recovery = mode, cooldown, recovery
        self.step = np.full(n, -1, dtype=np.int64)
        """Bar of the last stop exit per ticker (-1: none remembered)."""
        self.side = np.zeros(n)
        self.level = np.full(n, np.nan)
        """Stop price touched (NaN after a take-profit: no recovery needed)."""

    @property
    def active(self) -> bool:
        """Whether stops are remembered at all."""
        return self.mode == "signal"

    def stopped(self, i: int, step: int, side: float, level: float) -> None:
        """A stop exit for ticker ``i`` was sent at bar ``step``; ``level`` is NaN for a take-profit."""
        if self.active:
            self.step[i], self.side[i], self.level[i] = step, np.sign(side), level

    def clear(self, mask: BoolArray) -> None:
        """Forget the stops of ``mask`` (the names are open again, or their signal changed)."""
        self.step[mask], self.side[mask], self.level[mask] = -1, 0.0, np.nan

    def observe(self, standing: Float64Array) -> None:
        """Forget stopped names whose standing target is flat or on the other side (a new signal)."""
        with np.errstate(invalid="ignore"):
            off = (self.step >= 0) & np.isfinite(standing) & (standing * self.side <= 0)
        if off.any():
            self.clear(off)

    def blocked(self, step: int, last: Float64Array) -> BoolArray:
        """Stopped names still inside their cool-down or (after a stop-loss) not yet back beyond the stop."""
        out: BoolArray = (self.step >= 0) & (step - self.step < self.cooldown)
        if self.recovery:
            with np.errstate(invalid="ignore"):
                below = np.isfinite(self.level) & ~(self.side * (last - self.level) >= 0)
            out = out | ((self.step >= 0) & below)
        return out

    def due(self, step: int, last: Float64Array, positions: Float64Array, standing: Float64Array) -> BoolArray:
        """Flat stopped names past the block whose standing target is still on the side they were stopped from."""
        with np.errstate(invalid="ignore"):
            on = np.isfinite(standing) & (standing * self.side > 0)
        out: BoolArray = (self.step >= 0) & (positions == 0) & on & ~self.blocked(step, last)
        return out

    def reason(self, i: int, step: int, last: float) -> str:
        """Why ticker ``i`` is re-opened, for the order's rationale."""
        kind = "take-profit" if np.isnan(self.level[i]) else "stop-loss"
        text = f"re-entry after {kind} at bar {int(self.step[i])}: {step - int(self.step[i])} bars >= cool-down " \
               f"{self.cooldown}"
        if kind == "stop-loss" and self.recovery:
            text += f", close {last:.4f} {'>=' if self.side[i] > 0 else '<='} stop {self.level[i]:.4f}"
        return text
