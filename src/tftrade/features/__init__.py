"""Features for the forecaster: technical indicators, known-future calendar inputs,
sentiment features, training-window scalers and strided windowed datasets.

Everything works on time × ticker numpy arrays; nothing loops over samples.
"""

from tftrade.features.dataset import Panel, WindowIndex, build_panel
from tftrade.features.scaling import Standardizer

__all__ = ["Panel", "Standardizer", "WindowIndex", "build_panel"]
