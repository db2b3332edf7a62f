"""Interpretation: variable importance (static, encoder, decoder) and attention over past steps."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from tftrade.features.dataset import Panel, WindowIndex, gather
from tftrade.forecast.inference import to_tensors
from tftrade.forecast.prediction import align
from tftrade.forecast.training import Trained


@dataclass(frozen=True)
class Explanation:
    """Mean selection weights by variable name and mean attention by position.

    ``absent`` lists the inputs absent from the training data (constant, e.g. sentiment with no
    comments or earnings flags with no dates, or masked for every ticker): they were left out of
    selection and have no weight. ``attention[k]`` is the weight on encoder step ``k - context + 1``
    relative to the forecast origin (so the last entry is the origin bar itself), averaged over horizons and windows.
    """

    static: dict[str, float]
    encoder: dict[str, float]
    decoder: dict[str, float]
    attention: list[float]
    absent: list[str] = field(default_factory=list)

    def top_encoder(self, k: int = 3) -> list[str]:
        """Return the ``k`` most important encoder variables."""
        return sorted(self.encoder, key=lambda n: -self.encoder[n])[:k]


def explain_windows(trained: Trained, panel: Panel, idx: WindowIndex) -> Explanation:
    """Average the model's interpretable weights over the windows ``idx`` of a scaled, aligned ``panel``."""
    c, h = trained.config.context, trained.config.horizon
    with torch.no_grad():
        trained.model.eval()
        out = trained.model(*to_tensors(gather(panel, idx, c, h)))
    schema = trained.schema
    enc = out.encoder_weights.mean(dim=(0, 1)).numpy()
    dec = out.decoder_weights.mean(dim=(0, 1)).numpy()
    stat = out.static_weights.mean(dim=0).numpy()
    attn = out.attention.mean(dim=(0, 1)).numpy()[:c]
    return Explanation(
        static=_named(schema.static, stat), encoder=_named(schema.encoder_variables, enc),
        decoder=_named(schema.known, dec), attention=[round(float(a), 6) for a in attn], absent=list(schema.absent),
    )


def explain(trained: Trained, raw: Panel, ticker: str | None = None, max_windows: int = 2000) -> Explanation:
    """Explain the model on ``raw``: over its held-out test windows, or at ``ticker``'s latest
    window whose H-bar outcome is already known.

    Raises
    ------
    UnknownTickerError
        If ``ticker`` (or any panel ticker) is not in the model's universe.
    """
    panel = align(raw, trained).scaled(trained.standardizer)
    c, h = trained.config.context, trained.config.horizon
    if ticker is not None:
        sub = align(raw.select([ticker]), trained).scaled(trained.standardizer)
        idx = WindowIndex(np.array([sub.n_times - 1 - h]), np.array([0]))
        return explain_windows(trained, sub, idx)
    idx = trained.splits.origins("test", len(panel.tickers), c, h)
    if len(idx) > max_windows:
        idx = idx.take(np.linspace(0, len(idx) - 1, max_windows).astype(np.int64))
    return explain_windows(trained, panel, idx)


def _named(names: list[str], values: np.ndarray) -> dict[str, float]:
    return {n: round(float(v), 6) for n, v in zip(names, values, strict=True)}
