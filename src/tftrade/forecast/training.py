"""Training: quantile loss, AdamW, gradient clipping, early stopping, checkpoints, seed-determinism."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from tftrade.core.errors import first_line
from tftrade.core.gc_tuning import relaxed_gc
from tftrade.features.dataset import WARMUP, Panel, WindowIndex, absent_inputs, gather
from tftrade.features.scaling import Standardizer
from tftrade.forecast.averaging import WeightAverage
from tftrade.forecast.calibration import Calibration, calibrate, local_ratio
from tftrade.forecast.data import Splits, time_splits
from tftrade.forecast.inference import forecast_scaled, to_tensors
from tftrade.forecast.tft.config import DataSchema, ModelConfig
from tftrade.forecast.tft.model import TemporalFusionTransformer


class TrainConfig(BaseModel):
    """Optimisation settings. Frozen; unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_rate: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    batch_size: int = Field(default=256, ge=1)
    max_epochs: int = Field(default=20, ge=1)
    patience: int = Field(default=3, ge=1, description="epochs without validation improvement before stopping")
    grad_clip: float = Field(default=1.0, gt=0)
    seed: int = 0
    max_samples_per_epoch: int | None = Field(default=None, ge=1, description="subsample training windows each epoch")
    split: tuple[float, float] = (0.7, 0.15)
    weight_average: float = Field(
        default=0.99, ge=0, lt=1,
        description="decay of the moving average of the weights that is validated and kept (0: the raw weights)")


def quantile_loss(pred: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Pinball loss averaged over batch and quantiles, horizon ``h`` weighted by ``1/√h`` (weights of mean 1).

    ``pred`` is B × H × Q, ``target`` B × H. The targets are cumulative returns in units of one
    bar's volatility, so their spread grows like ``√h``; without the weights the longest horizons
    would dominate the loss and the one-bar forecast would get the least of the training signal.
    """
    e = target.unsqueeze(-1) - pred
    h = torch.arange(1, pred.shape[1] + 1, dtype=pred.dtype)
    weights = h.rsqrt() / h.rsqrt().mean()
    return (torch.maximum(quantiles * e, (quantiles - 1) * e).mean(dim=(0, 2)) * weights).mean()


@dataclass
class Trained:
    """A fitted model with everything needed to apply it again."""

    model: TemporalFusionTransformer
    standardizer: Standardizer
    splits: Splits
    history: list[dict[str, float]] = field(default_factory=list)
    calibration: Calibration | None = None
    """Interval factors, skill and status from the validation window (``None``: not calibrated)."""
    resumed_epoch: int = 0
    """Epochs taken from a checkpoint of the identical run (0: trained from scratch)."""

    @property
    def schema(self) -> DataSchema:
        return self.model.schema

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def status(self) -> str:
        """``ok``, ``loses_to_baseline`` (on validation) or ``uncalibrated``."""
        return self.calibration.status if self.calibration is not None else "uncalibrated"

    def quantiles(self, panel: Panel, idx: WindowIndex, chunk: int = 4096) -> np.ndarray:
        """Calibrated quantiles (scaled units, ``B × H × Q`` float64) of the windows ``idx`` of a scaled panel."""
        q = forecast_scaled(self.model, panel, idx, chunk).astype(np.float64)
        if self.calibration is None:
            return q
        return self.calibration.adjust(q, local_ratio(panel, idx, self.calibration.local_bars))

    def confidence(self, quantiles: np.ndarray) -> np.ndarray:
        """Confidence (``B × H``, demonstrated skill, see :mod:`tftrade.forecast.calibration`) of
        calibrated quantiles in any units; 0 for an uncalibrated model."""
        if self.calibration is None:
            return np.zeros(quantiles.shape[:2])
        return self.calibration.confidence(quantiles)


def schema_for(panel: Panel) -> DataSchema:
    """Return the data schema of ``panel``."""
    sectors = sorted(set(panel.sectors))
    return DataSchema(
        observed=panel.observed_names, known=panel.known_names, static=panel.static_names,
        static_cardinalities=[len(panel.tickers), max(len(sectors), 1)], tickers=panel.tickers,
        sectors=sectors, timeframe=panel.timeframe,
    )


def fit(
    raw: Panel,
    model_config: ModelConfig,
    train_config: TrainConfig | None = None,
    *,
    checkpoint_dir: Path | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> Trained:
    """Train a TFT on ``raw`` (an unscaled panel) with time-ordered splits, then calibrate it.

    Scalers are fitted on the training rows only. Inputs absent from the training rows (constant,
    e.g. sentiment with no comments, or masked for every ticker) are left out of the model and
    listed in ``schema.absent``. The same seed and inputs give the same weights. With
    ``checkpoint_dir``, the state after each epoch is saved there with the run's key
    (:func:`run_key`: configuration and data); a run resumes only from a checkpoint of the identical
    run and otherwise starts fresh, saying so through ``on_note``. After training the model is
    calibrated on the validation window (:func:`tftrade.forecast.calibration.calibrate`).

    Raises
    ------
    FeatureError
        If the panel is too short for the context, horizon and splits.
    """
    tc = train_config or TrainConfig()
    c, h = model_config.context, model_config.horizon
    splits = time_splits(raw.n_times, c, h, tc.split)
    absent = absent_inputs(raw, WARMUP, splits.train_end)
    observed = tuple(n for n in raw.observed_names if n not in absent)
    known = tuple(n for n in raw.known_names if n not in absent)
    kept = raw.restrict(observed, known)
    standardizer = Standardizer.fit(kept.observed, kept.returns, WARMUP, splits.train_end, kept.input_mask,
                                    (observed, known))
    panel = raw.scaled(standardizer)
    n = len(panel.tickers)
    train_idx, val_idx = (splits.origins(p, n, c, h) for p in ("train", "val"))
    key = run_key(raw, model_config, tc)
    with torch.random.fork_rng():
        torch.manual_seed(tc.seed)
        model = TemporalFusionTransformer(schema_for(panel).model_copy(update={"absent": absent}), model_config)
        history, resumed = _loop(model, panel, train_idx, val_idx, tc, checkpoint_dir, on_epoch,
                                 key, on_note or (lambda _m: None))
    calibration = calibrate(model, panel, val_idx, train_idx)
    return Trained(model, standardizer, splits, history, calibration, resumed)


def run_key(raw: Panel, model_config: ModelConfig, train_config: TrainConfig) -> str:
    """SHA-256 of everything a training run depends on: both configurations, the universe, the
    timeframe and the panel's data (timestamps, prices, every input).

    The stopping rules (``max_epochs``, ``patience``) are left out: a run continued for more epochs
    is the same run.
    """
    h = hashlib.sha256()
    train = train_config.model_dump(mode="json", exclude={"max_epochs", "patience"})
    h.update(json.dumps([model_config.model_dump(mode="json"), train, raw.tickers,
                         raw.sectors, raw.timeframe, raw.observed_names, raw.known_names], sort_keys=True).encode())
    for arr in (raw.timestamps, raw.close, raw.observed, raw.known):
        h.update(np.ascontiguousarray(arr).tobytes())
    if raw.input_mask is not None:
        h.update(raw.input_mask.tobytes())
    return h.hexdigest()


def _loop(
    model: TemporalFusionTransformer, panel: Panel, train_idx: WindowIndex, val_idx: WindowIndex,
    tc: TrainConfig, checkpoint_dir: Path | None, on_epoch: Callable[[dict[str, float]], None] | None,
    key: str, note: Callable[[str], None],
) -> tuple[list[dict[str, float]], int]:
    rng = np.random.default_rng(tc.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay, fused=True)
    qs = torch.tensor(model.config.quantiles, dtype=torch.float32)
    average = WeightAverage(model, tc.weight_average) if tc.weight_average > 0 else None
    state = _Checkpoint.load(checkpoint_dir, model, opt, rng, average, key, note)
    resumed = state.epoch
    for epoch in range(state.epoch, tc.max_epochs):
        order = rng.permutation(len(train_idx))[: tc.max_samples_per_epoch]
        with relaxed_gc():
            train_loss = _train_epoch(model, panel, train_idx.take(order), opt, qs, tc, average)
        with average.applied() if average else nullcontext():
            val_loss = evaluate_loss(model, panel, val_idx)
            if val_loss < state.best_loss:
                state.best_loss, state.best_state, state.bad = val_loss, _copy_state(model), 0
            else:
                state.bad += 1
        row = {"epoch": float(epoch + 1), "train_loss": train_loss, "val_loss": val_loss}
        state.history.append(row)
        state.epoch = epoch + 1
        state.save(checkpoint_dir, model, opt, rng, average, key)
        if on_epoch:
            on_epoch(row)
        if state.bad >= tc.patience:
            break
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.eval()
    return state.history, resumed


def _train_epoch(
    model: TemporalFusionTransformer, panel: Panel, idx: WindowIndex, opt: torch.optim.Optimizer,
    qs: torch.Tensor, tc: TrainConfig, average: WeightAverage | None,
) -> float:
    model.train()
    c, h = model.config.context, model.config.horizon
    total, count = 0.0, 0
    for start in range(0, len(idx), tc.batch_size):
        batch = gather(panel, idx.take(np.arange(start, min(start + tc.batch_size, len(idx)))), c, h)
        out = model(*to_tensors(batch))
        loss = quantile_loss(out.quantiles, torch.from_numpy(batch.target), qs)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        if average is not None:
            average.update()
        total += float(loss.detach()) * len(batch.target)
        count += len(batch.target)
    return total / max(count, 1)


def evaluate_loss(model: TemporalFusionTransformer, panel: Panel, idx: WindowIndex) -> float:
    """Return the mean quantile loss (scaled units) of ``model`` on ``idx``."""
    pred = forecast_scaled(model, panel, idx)
    target = gather(panel, idx, model.config.context, model.config.horizon).target
    qs = torch.tensor(model.config.quantiles, dtype=torch.float32)
    return float(quantile_loss(torch.from_numpy(pred), torch.from_numpy(target), qs))


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class _Checkpoint:
    epoch: int = 0
    best_loss: float = float("inf")
    bad: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def load(
        cls, folder: Path | None, model: torch.nn.Module, opt: torch.optim.Optimizer, rng: np.random.Generator,
        average: WeightAverage | None, key: str = "", note: Callable[[str], None] = lambda _m: None,
    ) -> _Checkpoint:
        path = folder / "checkpoint.pt" if folder else None
        if path is None:
            return cls()
        if not path.exists():
            note(f"no checkpoint of this run (key {key[:12]}) in {folder}: training from scratch")
            return cls()
        try:
            data = torch.load(path, weights_only=False)
        except (RuntimeError, EOFError, OSError) as exc:
            note(f"the checkpoint in {folder} is unreadable ({exc}): training from scratch")
            return cls()
        if not isinstance(data, dict) or data.get("key") != key:
            note(f"the checkpoint in {folder} belongs to another run (other data or settings): "
                 f"ignored, training from scratch (key {key[:12]})")
            return cls()
        fresh = {k: v.clone() for k, v in model.state_dict().items()}
        try:
            model.load_state_dict(data["model"])
        except RuntimeError as exc:
            model.load_state_dict(fresh)
            note(f"the checkpoint in {folder} does not fit this model ({first_line(exc)}): "
                 "training from scratch")
            return cls()
        note(f"resuming the identical run (key {key[:12]}) from its checkpoint after epoch {data['epoch']}")
        opt.load_state_dict(data["optimizer"])
        rng.bit_generator.state = data["rng"]
        torch.set_rng_state(data["torch_rng"])
        if average is not None and data.get("average"):
            average.load_state_dict(data["average"])
        elif average is not None:  # a checkpoint written without an average starts one from its weights
            average.restart()
        return cls(data["epoch"], data["best_loss"], data["bad"], data["best_state"], data["history"])

    def save(
        self, folder: Path | None, model: torch.nn.Module, opt: torch.optim.Optimizer, rng: np.random.Generator,
        average: WeightAverage | None, key: str = "",
    ) -> None:
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "checkpoint.pt.tmp"
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "epoch": self.epoch, "best_loss": self.best_loss,
                    "bad": self.bad, "best_state": self.best_state, "history": self.history,
                    "average": average.state_dict() if average else None, "key": key}, tmp)
        tmp.replace(folder / "checkpoint.pt")  # atomic: a run killed mid-save leaves the previous checkpoint
