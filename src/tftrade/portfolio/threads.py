"""One BLAS thread for the small dense algebra of a decision.

A decision's matrices are a few hundred wide (a 500-name covariance, its Cholesky factor, a
QR of 500 x 30): a second BLAS thread gains little even on an idle machine, and on a busy
one (the predict worker, an ingest worker and other processes on the same cores) OpenBLAS
threads that wait for each other make the same decision 20-25x slower (measured: 1.08 s
against 44 ms per 500-name decision at a load average of 14 on 2 cores).
:func:`single_threaded_blas` caps the BLAS libraries loaded in the process (NumPy's and
SciPy's OpenBLAS) at one thread for the duration of a block and restores them after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The BLAS libraries of the process, inspected once (~15 ms); limiting then costs ~10 µs."""
    import scipy.linalg  # noqa: F401  (load SciPy's BLAS too, so it is seen and limited)

    return ThreadpoolController()


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with every BLAS library of the process limited to one thread.

    The limit is process-wide while the block runs (BLAS thread counts are global settings).

    Examples
    --------
    >>> import numpy as np
    >>> with single_threaded_blas():
    ...     float((np.eye(3) @ np.ones(3)).sum())
    3.0
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield
