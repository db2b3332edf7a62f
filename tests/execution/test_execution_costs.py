"""Commission, slippage, impact and volume cap against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from tftrade.execution.costs import CostModel


def test_slippage_and_impact_arithmetic() -> None:
    c = CostModel(slippage_bps=5.0, impact_coefficient=0.1, max_volume_share=0.0)
    # buy 100 of a 10,000-share bar: 5 bp + 0.1 * 100 / 10,000 = 0.0015 -> 50 * 1.0015
    assert c.fill_price(50.0, 1.0, 100.0, 10_000.0) == pytest.approx(50.075, abs=1e-12)
    # sell 1,000 of a 100,000-share bar: same fraction, against the seller
    assert c.fill_price(50.0, -1.0, 1_000.0, 100_000.0) == pytest.approx(49.925, abs=1e-12)


def test_commission_per_share_minimum_and_bps() -> None:
    c = CostModel(commission_per_share=0.005, commission_min=1.0, commission_bps=2.0)
    assert c.commission(100.0, 50.0) == pytest.approx(100 * 0.005 + 100 * 50 * 2e-4)  # 0.5 + 1.0 = 1.5 > min
    assert c.commission(10.0, 50.0) == pytest.approx(1.0)  # 0.05 + 0.1 = 0.15 -> the minimum
    assert c.commission(1000.0, 49.925) == pytest.approx(5.0 + 9.985)
    assert c.commission(0.0, 50.0) == 0.0  # no fill, no minimum


def test_volume_cap_and_unusable_volume() -> None:
    c = CostModel(max_volume_share=0.1)
    np.testing.assert_allclose(c.volume_cap(np.array([1000.0, np.nan, 0.0, np.inf])), [100.0, 0.0, 0.0, np.inf])
    assert c.volume_cap(5.0) == pytest.approx(0.5)
    assert CostModel.none().volume_cap(0.0) == np.inf
    # impact is 0 where volume is unknown (cap off)
    assert CostModel(slippage_bps=0.0, max_volume_share=0.0).slippage(100.0, 0.0) == 0.0


def test_none_is_free() -> None:
    c = CostModel.none()
    assert c.fill_price(123.45, 1.0, 1e6, 10.0) == 123.45
    assert c.commission(1e6, 123.45) == 0.0


def test_unknown_or_negative_settings_are_rejected() -> None:
    with pytest.raises(ValidationError, match="slipage_bps"):
        CostModel(slipage_bps=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="commission_min"):
        CostModel(commission_min=-1.0)
    with pytest.raises(ValidationError, match="max_volume_share"):
        CostModel(max_volume_share=1.5)
