"""Portfolio construction: covariance, Black–Litterman, views from forecasts, constrained optimiser.

Pure numerical library: arrays in, arrays out, no I/O.
"""

from tftrade.portfolio.black_litterman import (
    BLPosterior,
    bl_posterior,
    default_omega,
    idzorek_omega,
    market_implied_prior,
    market_implied_risk_aversion,
)
from tftrade.portfolio.config import OptimizerConfig
from tftrade.portfolio.covariance import ShrunkCovariance, ledoit_wolf
from tftrade.portfolio.errors import OptimizationError, PortfolioError
from tftrade.portfolio.optimizer import Limits, OptimizationResult, Relaxation, investable, optimize, sector_matrix
from tftrade.portfolio.risk_parity import risk_parity_weights
from tftrade.portfolio.views import Views, views_from_forecasts

__all__ = [
    "BLPosterior",
    "Limits",
    "OptimizationError",
    "OptimizationResult",
    "OptimizerConfig",
    "PortfolioError",
    "Relaxation",
    "ShrunkCovariance",
    "Views",
    "bl_posterior",
    "default_omega",
    "idzorek_omega",
    "investable",
    "ledoit_wolf",
    "market_implied_prior",
    "market_implied_risk_aversion",
    "optimize",
    "risk_parity_weights",
    "sector_matrix",
    "views_from_forecasts",
]
