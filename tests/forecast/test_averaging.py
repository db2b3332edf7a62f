"""The moving average of the weights: its recursion, its swap in and out, and its checkpointing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tftrade.features.dataset import Panel
from tftrade.forecast.averaging import WeightAverage
from tftrade.forecast.training import TrainConfig, fit

from .conftest import SMALL


def _set(layer: nn.Linear, value: float) -> None:
    with torch.no_grad():
        layer.weight.fill_(value)
        layer.bias.fill_(-value)


def test_average_follows_the_warmed_up_recursion() -> None:
    layer = nn.Linear(2, 1)
    _set(layer, 0.0)
    avg = WeightAverage(layer, decay=0.6)
    expected = 0.0
    for k, value in enumerate([1.0, 3.0, -2.0, 5.0, 4.0], start=1):
        _set(layer, value)
        avg.update()
        d = min(0.6, (1 + k) / (10 + k))
        expected = d * expected + (1 - d) * value
    with avg.applied():
        assert torch.allclose(layer.weight, torch.full((1, 2), expected))
        assert torch.allclose(layer.bias, torch.full((1,), -expected))
    assert torch.equal(layer.weight, torch.full((1, 2), 4.0))  # raw weights restored


def test_raw_weights_come_back_when_the_block_fails() -> None:
    layer = nn.Linear(1, 1)
    _set(layer, 2.0)
    avg = WeightAverage(layer, decay=0.9)
    _set(layer, 7.0)
    with pytest.raises(RuntimeError), avg.applied():
        assert layer.weight.item() == 2.0
        raise RuntimeError("evaluation failed")
    assert layer.weight.item() == 7.0


def test_state_round_trips_and_rejects_another_model() -> None:
    layer = nn.Linear(3, 2)
    avg = WeightAverage(layer, decay=0.9)
    _set(layer, 1.5)
    avg.update()
    avg.update()
    again = WeightAverage(layer, decay=0.9)
    again.load_state_dict(avg.state_dict())
    assert again.steps == 2
    with avg.applied():
        first = layer.weight.detach().clone()
    with again.applied():
        assert torch.equal(layer.weight, first)
    with pytest.raises(ValueError, match="does not match"):
        WeightAverage(nn.Sequential(layer, nn.Linear(2, 1)), 0.9).load_state_dict(avg.state_dict())
    with pytest.raises(ValueError, match=r"decay must lie in \(0, 1\)"):
        WeightAverage(layer, 1.0)


def test_training_keeps_the_average_not_the_last_step(panel: Panel) -> None:
    base = dict(max_epochs=1, batch_size=64, max_samples_per_epoch=256, seed=3)
    raw = fit(panel, SMALL, TrainConfig(**base, weight_average=0.0))
    averaged = fit(panel, SMALL, TrainConfig(**base, weight_average=0.99))
    # the same optimiser trajectory; only what is validated and kept differs
    assert raw.history[0]["train_loss"] == averaged.history[0]["train_loss"]
    assert raw.history[0]["val_loss"] != averaged.history[0]["val_loss"]
    differs = [not torch.equal(a, b) for a, b in zip(raw.model.state_dict().values(),
                                                      averaged.model.state_dict().values(), strict=True)]
    assert any(differs)


def test_checkpoint_without_an_average_resumes_with_one(panel: Panel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = TrainConfig(max_epochs=1, batch_size=128, max_samples_per_epoch=128, seed=2, patience=5)
    fit(panel, SMALL, cfg, checkpoint_dir=tmp_path)
    data = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    torch.save({**data, "average": None}, tmp_path / "checkpoint.pt")  # as written by a run without one
    resumed = fit(panel, SMALL, cfg.model_copy(update={"max_epochs": 2}), checkpoint_dir=tmp_path)
    assert resumed.resumed_epoch == 1
    assert len(resumed.history) == 2
    assert np.isfinite(resumed.history[1]["val_loss"])
