"""Standardisation fitted on the training window only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tftrade.core.types import BoolArray, Float64Array


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and scale of the observed inputs, per-ticker scale of the target.

    Fit with :meth:`fit` on rows before the end of the training window; apply anywhere.
    ``observed`` and ``known``, when set, name the inputs the model was fitted on: a panel scaled
    with this standardizer keeps those inputs only (inputs absent from the training data are left
    out, see :func:`tftrade.features.dataset.absent_inputs`).
    """

    mean: Float64Array
    scale: Float64Array
    target_scale: Float64Array
    observed: tuple[str, ...] | None = None
    known: tuple[str, ...] | None = None

    @classmethod
    def fit(
        cls, observed: Float64Array, returns: Float64Array, start: int, end: int, mask: BoolArray | None = None,
        names: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    ) -> Standardizer:
        """Fit on rows ``start:end`` of ``observed`` (T × N × F) and ``returns`` (T × N).

        ``mask`` (N × F, ``False`` where a ticker lacks a feature, e.g. the OHLC-based inputs of a
        price-only series) leaves those entries out of the mean and scale. ``names`` is
        ``(observed names, known names)`` of the inputs kept.

        Examples
        --------
        >>> x = np.arange(24, dtype=float).reshape(4, 3, 2)
        >>> s = Standardizer.fit(x, x[..., 0], 0, 2)
        >>> s.mean.tolist()
        [5.0, 6.0]
        """
        block = observed[start:end]
        w = np.ones(block.shape[1:]) if mask is None else mask.astype(np.float64)
        count = np.maximum(w.sum(axis=0) * block.shape[0], 1.0)
        mean = (block * w).sum(axis=(0, 1)) / count
        var = (((block - mean) ** 2) * w).sum(axis=(0, 1)) / count
        scale = np.sqrt(var)
        target_scale = returns[start:end].std(axis=0)
        return cls(
            mean=mean,
            scale=np.where(scale > 1e-12, scale, 1.0),
            target_scale=np.where(target_scale > 1e-12, target_scale, 1.0),
            observed=None if names is None else tuple(names[0]),
            known=None if names is None else tuple(names[1]),
        )

    def transform(self, observed: Float64Array) -> Float64Array:
        """Return ``observed`` standardised and clipped to ±10."""
        return np.clip((observed - self.mean) / self.scale, -10.0, 10.0)

    def to_dict(self) -> dict[str, list[float] | list[str] | None]:
        """Return plain lists for JSON."""
        out: dict[str, list[float] | list[str] | None] = {
            k: getattr(self, k).tolist() for k in ("mean", "scale", "target_scale")}
        out |= {"observed": None if self.observed is None else list(self.observed),
                "known": None if self.known is None else list(self.known)}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, list[float] | list[str] | None]) -> Standardizer:
        """Inverse of :meth:`to_dict` (dictionaries without input names load too)."""
        def names(key: str) -> tuple[str, ...] | None:
            value = data.get(key)
            return None if value is None else tuple(str(x) for x in value)

        mean, scale, target = (np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "target_scale"))
        return cls(mean, scale, target, names("observed"), names("known"))
