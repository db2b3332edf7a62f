"""Standardisation fitted on the training window only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tftrade.core.types import Float64Array


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and scale of the observed inputs, per-ticker scale of the target.

    Fit with :meth:`fit` on rows before the end of the training window; apply anywhere.
    """

    mean: Float64Array
    scale: Float64Array
    target_scale: Float64Array

    @classmethod
    def fit(cls, observed: Float64Array, returns: Float64Array, start: int, end: int) -> Standardizer:
        """Fit on rows ``start:end`` of ``observed`` (T × N × F) and ``returns`` (T × N).

        Examples
        --------
        >>> x = np.arange(24, dtype=float).reshape(4, 3, 2)
        >>> s = Standardizer.fit(x, x[..., 0], 0, 2)
        >>> s.mean.tolist()
        [5.0, 6.0]
        """
        rows = observed[start:end].reshape(-1, observed.shape[-1])
        scale = rows.std(axis=0)
        target_scale = returns[start:end].std(axis=0)
        return cls(
            mean=rows.mean(axis=0),
            scale=np.where(scale > 1e-12, scale, 1.0),
            target_scale=np.where(target_scale > 1e-12, target_scale, 1.0),
        )

    def transform(self, observed: Float64Array) -> Float64Array:
        """Return ``observed`` standardised and clipped to ±10."""
        return np.clip((observed - self.mean) / self.scale, -10.0, 10.0)

    def to_dict(self) -> dict[str, list[float]]:
        """Return plain lists for JSON."""
        return {k: getattr(self, k).tolist() for k in ("mean", "scale", "target_scale")}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Standardizer:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: np.asarray(v, dtype=np.float64) for k, v in data.items()})
