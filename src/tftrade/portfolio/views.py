r"""Turn forecasts into Black–Litterman views.

Each ticker with a finite forecast gives one absolute view (a row of the
identity in :math:`P`). For a forecast over ``horizon`` periods with median
:math:`q_{50}` and central interval :math:`[q_{lo}, q_{hi}]` at levels
:math:`(\ell, 1-\ell)`, assuming normality,

.. math::

    \sigma_h = \frac{q_{hi} - q_{lo}}{2\, z_{1-\ell}}, \qquad
    Q = q_{50}\,\frac{m}{h}, \qquad
    \omega = \sigma_h^2\,\frac{m}{h}\,\bigl(1 + \lambda (1 - c)\bigr)

with :math:`m` periods per year, sentiment confidence :math:`c \in [0, 1]` and
penalty :math:`\lambda` (``sentiment_penalty``): a view with no sentiment
support (:math:`c = 0`) gets :math:`1 + \lambda` times the variance.

With the forecast's confidence :math:`s \in [0, 1]` (its demonstrated out-of-sample skill,
:mod:`tftrade.forecast.calibration`), :math:`\omega` is divided by :math:`s`: a forecast with
full skill keeps its own predictive variance, less skill inflates it, and a forecast with no
demonstrated skill (:math:`s = 0`) gives no view at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from tftrade.core.types import Float64Array
from tftrade.portfolio._validate import as_vector
from tftrade.portfolio.errors import PortfolioError


@dataclass(frozen=True, slots=True)
class Views:
    """Absolute views ready for :func:`~tftrade.portfolio.bl_posterior`.

    ``omega`` holds the view variances, the diagonal of Ω, shape ``(k,)`` (``bl_posterior`` takes it as
    is); ``assets`` holds the column index of each view's asset in the universe.
    """

    P: Float64Array
    Q: Float64Array
    omega: Float64Array
    assets: npt.NDArray[np.int64]


def views_from_forecasts(
    p50: npt.ArrayLike,
    q_low: npt.ArrayLike,
    q_high: npt.ArrayLike,
    sentiment_confidence: npt.ArrayLike | None = None,
    *,
    level: float = 0.1,
    horizon: int = 1,
    periods_per_year: float = 252.0,
    sentiment_penalty: float = 1.0,
    forecast_confidence: npt.ArrayLike | None = None,
) -> Views:
    """Return absolute views (P, Q, Ω's diagonal as a vector) from quantile forecasts of returns.

    Tickers whose forecast is NaN, or whose ``forecast_confidence`` is 0 or NaN, get no view. See the
    module docstring for the formulas (``forecast_confidence=None``: every forecast at full skill).

    Raises
    ------
    PortfolioError
        If ``q_high < q_low`` anywhere, the level is not in (0, 0.5) or a confidence lies outside [0, 1].

    Examples
    --------
    >>> v = views_from_forecasts([0.001, np.nan], [-0.01, 0.0], [0.012, 0.0], horizon=1, periods_per_year=1)
    >>> v.assets.tolist(), v.Q.tolist()
    ([0], [0.001])
    """
    med = np.asarray(p50, dtype=np.float64).reshape(-1)
    lo, hi = _bounds(q_low, q_high, med.shape[0])
    conf = _confidence(sentiment_confidence, med.shape[0])
    if not 0.0 < level < 0.5:
        raise PortfolioError(f"level must lie in (0, 0.5), got {level}")
    skill = np.ones(med.shape[0]) if forecast_confidence is None else np.asarray(
        forecast_confidence, dtype=np.float64).reshape(-1)
    if skill.shape[0] != med.shape[0] or np.any(skill[np.isfinite(skill)] < 0) or np.any(skill > 1):
        raise PortfolioError(f"forecast_confidence needs {med.shape[0]} entries in [0, 1]")
    keep = np.flatnonzero(np.isfinite(med) & np.isfinite(lo) & np.isfinite(hi) & (np.nan_to_num(skill) > 0))
    scale = periods_per_year / horizon
    sigma = (hi[keep] - lo[keep]) / (2.0 * NormalDist().inv_cdf(1.0 - level))
    var = np.maximum(sigma**2, 1e-12) * scale * (1.0 + sentiment_penalty * (1.0 - conf[keep])) / skill[keep]
    P = np.zeros((keep.shape[0], med.shape[0]))
    P[np.arange(keep.shape[0]), keep] = 1.0
    return Views(P, med[keep] * scale, var, keep.astype(np.int64))


def _bounds(q_low: npt.ArrayLike, q_high: npt.ArrayLike, n: int) -> tuple[Float64Array, Float64Array]:
    lo = np.asarray(q_low, dtype=np.float64).reshape(-1)
    hi = np.asarray(q_high, dtype=np.float64).reshape(-1)
    if lo.shape[0] != n or hi.shape[0] != n:
        raise PortfolioError(f"q_low/q_high have {lo.shape[0]}/{hi.shape[0]} entries, expected {n}")
    if np.any(hi < lo):
        raise PortfolioError("q_high is below q_low for some tickers")
    return lo, hi


def _confidence(conf: npt.ArrayLike | None, n: int) -> Float64Array:
    if conf is None:
        return np.ones(n)
    c = as_vector(conf, "sentiment_confidence", n)
    if np.any((c < 0) | (c > 1)):
        raise PortfolioError("sentiment_confidence must lie in [0, 1]")
    return c
