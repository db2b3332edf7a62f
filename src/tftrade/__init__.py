"""tftrade: forecasts minute returns with a Temporal Fusion Transformer and trades them under hard risk limits."""

__version__ = "0.1.0"
