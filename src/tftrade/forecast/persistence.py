"""Save and load a trained model as a folder: weights, schema, hyper-parameters, scalers, splits."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tftrade.features.scaling import Standardizer
from tftrade.forecast.calibration import Calibration
from tftrade.forecast.data import Splits
from tftrade.forecast.errors import ModelNotFoundError
from tftrade.forecast.tft.config import DataSchema, ModelConfig
from tftrade.forecast.tft.model import TemporalFusionTransformer
from tftrade.forecast.training import Trained

WEIGHTS, META = "model.pt", "meta.json"


def save_model(trained: Trained, folder: Path) -> Path:
    """Write ``trained`` to ``folder`` (created if missing) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(trained.model.state_dict(), folder / WEIGHTS)
    meta = {
        "schema": trained.schema.model_dump(mode="json"),
        "config": trained.config.model_dump(mode="json"),
        "standardizer": trained.standardizer.to_dict(),
        "splits": [trained.splits.train_end, trained.splits.val_end, trained.splits.n_times],
        "history": trained.history,
        "calibration": None if trained.calibration is None else trained.calibration.to_dict(),
    }
    (folder / META).write_text(json.dumps(meta, indent=1))
    return folder


def load_model(folder: Path) -> Trained:
    """Load a model written by :func:`save_model`.

    Raises
    ------
    ModelNotFoundError
        If ``folder`` holds no saved model.
    """
    if not (folder / META).is_file() or not (folder / WEIGHTS).is_file():
        raise ModelNotFoundError(f"no saved model in {folder} (expected {META} and {WEIGHTS})")
    meta = json.loads((folder / META).read_text())
    model = TemporalFusionTransformer(DataSchema(**meta["schema"]), ModelConfig(**meta["config"]))
    model.load_state_dict(torch.load(folder / WEIGHTS, weights_only=True))
    model.eval()
    cal = meta.get("calibration")
    return Trained(model, Standardizer.from_dict(meta["standardizer"]), Splits(*meta["splits"]), meta["history"],
                   None if cal is None else Calibration.from_dict(cal))
