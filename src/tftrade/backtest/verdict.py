"""Whether a run's forecasts gave the strategy any views, and what it traded on when they gave none.

A TFT that loses to a baseline on validation has its confidence set to 0 (unless forced), and a
model without demonstrated skill at the traded horizon has confidence 0 on its own: either way
Black–Litterman gets no views and the run holds the prior (equal-weight equilibrium within the
risk limits), or nothing when the strategy skips forecasts below ``min_confidence``. The verdict's
``banner`` says so at the top of the tearsheet, the CLI output and ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tftrade.backtest.forecasts import ForecastPanel

PRIOR = ("the Black–Litterman prior alone: the equal-weight equilibrium portfolio within the risk limits "
         "(the forecasts moved no weight)")
NOTHING = "nothing: every forecast fell below the strategy's min_confidence, so no name was tradable"


def views_share(forecasts: ForecastPanel, first_ns: int | None = None) -> float:
    """Share of the finite forecasts from ``first_ns`` on whose confidence is above 0 (0 when there are none).

    >>> import numpy as np
    >>> q = np.zeros((2, 2)); c = np.array([[0.0, 0.3], [0.0, np.nan]])
    >>> views_share(ForecastPanel(np.array([1, 2]), ("A", "B"), 1, q, q, q, c))
    0.25
    """
    rows = np.ones(forecasts.timestamps.shape[0], dtype=bool) if first_ns is None else forecasts.timestamps >= first_ns
    finite = np.isfinite(forecasts.q50[rows])
    n = int(finite.sum())
    if n == 0:
        return 0.0
    return float((finite & (np.nan_to_num(forecasts.confidence[rows]) > 0)).sum() / n)


def model_verdict(forecasts: ForecastPanel, training: Mapping[str, Any] | None, *, first_ns: int | None = None,
                  min_confidence: float = 0.0, name: str = "TFT") -> dict[str, Any]:
    """What the run's forecasts gave the strategy: ``status``, ``views_share``, ``gives_views``, ``traded_on``
    and a ``banner`` (``None`` when the model traded its own views as validated).

    ``training`` is what training reported (``status``, ``beaten_by``, ``validation_q_risk``, ``forced``);
    ``None`` for forecasts not trained here (ridge, given panels).

    >>> import numpy as np
    >>> q = np.zeros((2, 1)); c = np.zeros((2, 1))
    >>> v = model_verdict(ForecastPanel(np.array([1, 2]), ("A",), 1, q, q, q, c),
    ...                   {"status": "loses_to_baseline", "beaten_by": ["ridge"],
    ...                    "validation_q_risk": {"tft": 0.85, "ridge": 0.78}})
    >>> v["gives_views"], v["banner"].split(":")[0]
    (False, 'The TFT gives no views')
    """
    info = dict(training or {})
    status = str(info.get("status", "ok"))
    share = views_share(forecasts, first_ns)
    risk = info.get("validation_q_risk") or {}
    beaten = ", ".join(f"{b} ({float(risk.get(b, float('nan'))):.4f})" for b in info.get("beaten_by") or [])
    lost = f"it loses to {beaten} on validation (P50 q-risk {float(risk.get('tft', float('nan'))):.4f})"
    banner: str | None = None
    traded_on = f"the {name}'s views through Black–Litterman"
    if share == 0.0:
        traded_on = NOTHING if min_confidence > 0 else PRIOR
        why = lost if status == "loses_to_baseline" else (
            "its confidence is 0 on every forecast (no demonstrated skill over a zero-return forecast on validation)")
        banner = f"The {name} gives no views: {why}. This run traded {traded_on}."
    elif status == "loses_to_baseline":
        banner = (f"The {name} loses to a baseline: {lost}. Its views were traded anyway (forced); "
                  "read the results as the model's, not as validated.")
    return {"name": name, "status": status, "beaten_by": list(info.get("beaten_by") or []),
            "validation_q_risk": dict(risk), "forced": bool(info.get("forced", False)),
            "inputs_left_out": list(info.get("inputs_left_out") or []), "views_share": share,
            "gives_views": share > 0.0, "traded_on": traded_on, "banner": banner}
