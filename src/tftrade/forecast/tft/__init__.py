"""A Temporal Fusion Transformer (Lim, Arik, Loeff & Pfister, 2021) in plain PyTorch."""

from tftrade.forecast.tft.config import PRESETS, DataSchema, ModelConfig, preset
from tftrade.forecast.tft.model import TemporalFusionTransformer

__all__ = ["PRESETS", "DataSchema", "ModelConfig", "TemporalFusionTransformer", "preset"]
