"""Forecasting: the Temporal Fusion Transformer, training, evaluation against baselines,
prediction, explanation and the model registry."""
