"""Strategies: from forecasts, sentiment and regime to target weights (one code path for backtest and live)."""
