"""Stop-loss 2 % / take-profit 4 % trigger on the right bar."""

from __future__ import annotations

import numpy as np

from tftrade.risk import Exit, check_stops, first_exit


def test_triggers_on_the_exact_bar() -> None:
    # three longs entered at 100 and one short at 50; bars oldest first
    lows = np.array([
        [99.0, 99.5, 98.5, 49.5],
        [98.1, 99.0, 98.0, 48.5],  # long 0 not yet (98.1 > 98), long 2 stops (98.0 <= 98)
        [97.9, 99.0, 97.0, 47.9],  # long 0 stops; short takes profit (47.9 <= 48)
        [90.0, 99.0, 90.0, 40.0],
    ])
    highs = np.array([
        [101.0, 103.9, 100.0, 50.5],
        [101.0, 104.0, 100.0, 50.9],  # long 1 takes profit (104 >= 104)
        [101.0, 110.0, 100.0, 50.8],
        [101.0, 110.0, 100.0, 52.0],
    ])
    bar, code = first_exit([1, 1, 1, -1], [100.0, 100.0, 100.0, 50.0], lows, highs)
    assert bar.tolist() == [2, 1, 1, 2]
    assert code.tolist() == [Exit.STOP_LOSS, Exit.TAKE_PROFIT, Exit.STOP_LOSS, Exit.TAKE_PROFIT]


def test_both_levels_in_one_bar_is_a_stop_and_flat_never_triggers() -> None:
    codes = check_stops([1, 0, -1], [100.0, 100.0, 100.0], [97.0, 1.0, 95.0], [105.0, 1000.0, 103.0])
    assert codes.tolist() == [Exit.STOP_LOSS, Exit.HOLD, Exit.STOP_LOSS]


def test_short_stop_is_above_entry() -> None:
    bar, code = first_exit([-1], [100.0], [[99.0], [99.0]], [[101.9], [102.0]])
    assert (bar.tolist(), code.tolist()) == ([1], [Exit.STOP_LOSS])


def test_no_exit_is_minus_one() -> None:
    bar, code = first_exit([1], [100.0], [[99.0], [98.5]], [[101.0], [103.0]])
    assert (bar.tolist(), code.tolist()) == ([-1], [Exit.HOLD])
