"""Boundary checks shared by the portfolio modules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tftrade.core.types import Float64Array
from tftrade.portfolio.errors import PortfolioError


def as_vector(value: npt.ArrayLike, name: str, size: int | None = None) -> Float64Array:
    """Return ``value`` as a finite 1-D float array, or raise naming ``name``."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if size is not None and arr.shape[0] != size:
        raise PortfolioError(f"{name} has {arr.shape[0]} entries, expected {size}")
    if not _all_finite(arr):
        raise PortfolioError(f"{name} contains non-finite values")
    return arr


def _all_finite(arr: Float64Array) -> bool:
    """Return whether every entry is finite; one sum when it is (a finite sum implies finite entries)."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf or overflow: fall back to the full check
        total = arr.sum()
    return bool(np.isfinite(total) or np.all(np.isfinite(arr)))


def as_matrix(value: npt.ArrayLike, name: str, shape: tuple[int | None, int | None]) -> Float64Array:
    """Return ``value`` as a finite 2-D float array of ``shape`` (``None`` = any)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    ok = arr.ndim == 2 and all(want is None or got == want for got, want in zip(arr.shape, shape, strict=True))
    if not ok:
        raise PortfolioError(f"{name} has shape {arr.shape}, expected {shape}")
    if not _all_finite(arr):
        raise PortfolioError(f"{name} contains non-finite values")
    return arr


#: The last matrix :func:`as_covariance` returned (read-only): passing it back skips the checks, so a covariance
#: validated once per decision is not re-checked by each function it goes through (prior, posterior, optimiser).
_last_checked: list[Float64Array | None] = [None]


def as_covariance(value: npt.ArrayLike, name: str = "cov") -> Float64Array:
    """Return a finite, square, symmetric matrix (symmetrised to round-off), read-only.

    The result is remembered: handing that same (read-only) array back returns it at once, with the
    same values the checks would give (a symmetric matrix symmetrises to itself). Any other array,
    or one made writeable again, is checked in full.
    """
    last = _last_checked[0]
    if value is last and last is not None and not last.flags.writeable:
        return last
    arr = as_matrix(value, name, (None, None))
    if arr.shape[0] != arr.shape[1]:
        raise PortfolioError(f"{name} must be square, got shape {arr.shape}")
    if np.array_equal(arr, arr.T):  # exactly symmetric (e.g. X'X from BLAS): it symmetrises to itself
        out = arr.copy()
    else:
        skew = arr - arr.T  # antisymmetric, so max |skew| = max skew
        scale = max(float(arr.max(initial=0.0)), -float(arr.min(initial=0.0)))
        if float(skew.max(initial=0.0)) > 1e-8 * scale + 1e-12:
            raise PortfolioError(f"{name} is not symmetric")
        skew *= 0.5
        out = np.subtract(arr, skew, out=skew)  # (arr + arr.T) / 2 without another temporary
    out.flags.writeable = False
    _last_checked[0] = out
    return out
