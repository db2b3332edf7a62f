"""Boundary checks shared by the portfolio modules."""

from __future__ import annotations

from typing import Any, cast

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


class _CheckedMemory(np.ndarray[Any, np.dtype[np.float64]]):
    """The read-only memory of a matrix :func:`as_covariance` checked: its type is the mark.

    The matrix handed out is a plain :class:`numpy.ndarray` over it, so nothing computed from it (a slice, a
    product, a copy) is of this type; only that one array has this memory as its ``base``.
    """


def _is_checked(value: object) -> bool:
    """Whether ``value`` is a matrix :func:`as_covariance` returned, unchanged and still read-only."""
    if type(value) is not np.ndarray or value.flags.writeable:
        return False
    memory = value.base
    return (type(memory) is _CheckedMemory and memory.flags.owndata and not memory.flags.writeable
            and value.shape == memory.shape and value.strides == memory.strides and value.dtype == memory.dtype)


def as_covariance(value: npt.ArrayLike, name: str = "cov") -> Float64Array:
    """Return a finite, square, symmetric matrix (symmetrised to round-off): a read-only copy.

    The copy carries its own mark (its memory's type), so a covariance checked once per decision is not
    re-checked by each function it goes through (prior, posterior, optimiser): handing that same array back
    returns it at once, with the values the checks would give (a symmetric matrix symmetrises to itself).
    Any other array (a copy, a view, a slice, one whose memory was made writeable again) is checked in full.
    """
    if _is_checked(value):
        return cast(Float64Array, value)
    arr = as_matrix(value, name, (None, None))
    if arr.shape[0] != arr.shape[1]:
        raise PortfolioError(f"{name} must be square, got shape {arr.shape}")
    out = _CheckedMemory(arr.shape)
    if np.array_equal(arr, arr.T):  # exactly symmetric (e.g. X'X from BLAS): it symmetrises to itself
        np.copyto(out, arr)
    else:
        skew = np.subtract(arr, arr.T, out=out)  # antisymmetric, so max |skew| = max skew
        scale = max(float(arr.max(initial=0.0)), -float(arr.min(initial=0.0)))
        if float(skew.max(initial=0.0)) > 1e-8 * scale + 1e-12:
            raise PortfolioError(f"{name} is not symmetric")
        skew *= 0.5
        np.subtract(arr, skew, out=out)  # (arr + arr.T) / 2 without another temporary
    out.flags.writeable = False
    return out.view(np.ndarray)
