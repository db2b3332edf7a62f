"""A covariance checked by ``as_covariance`` carries its mark itself: no state shared between calls or threads."""

from __future__ import annotations

import pickle
import threading
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from tftrade.portfolio import OptimizerConfig, _validate, bl_posterior, ledoit_wolf, market_implied_prior, optimize
from tftrade.portfolio._validate import as_covariance
from tftrade.portfolio.errors import PortfolioError
from tftrade.portfolio.risk_parity import risk_parity_weights


def _cov(seed: int, n: int = 6) -> np.ndarray:
    return ledoit_wolf(np.random.default_rng(seed).normal(0, 0.01, (60, n)), 252.0).cov


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """Full checks made, per thread (each one reads its input through ``as_matrix``)."""
    made: Counter[int] = Counter()
    inner = _validate.as_matrix

    def counted(*args: object, **kwargs: object) -> np.ndarray:
        made[threading.get_ident()] += 1
        return inner(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_validate, "as_matrix", counted)
    return made


def test_the_checked_matrix_handed_back_is_not_checked_again(checks: Counter[int]) -> None:
    cov = _cov(0)
    checked = as_covariance(cov)
    assert sum(checks.values()) == 1 and checked is not cov and not checked.flags.writeable
    assert as_covariance(checked) is checked and as_covariance(checked, "sigma") is checked
    assert sum(checks.values()) == 1
    as_covariance(_cov(1))  # another matrix checked meanwhile: the first keeps its mark
    assert as_covariance(checked) is checked and sum(checks.values()) == 2


@pytest.mark.parametrize("derive", [
    lambda c: c.copy(), lambda c: c[:], lambda c: c.T, lambda c: c.view(), lambda c: np.array(c),
    lambda c: pickle.loads(pickle.dumps(c)), lambda c: c + 0.0,
], ids=["copy", "slice", "transpose", "view", "array", "pickled", "arithmetic"])
def test_any_other_array_of_the_same_values_is_checked_in_full(checks: Counter[int],
                                                                derive: Callable[[np.ndarray], np.ndarray]) -> None:
    checked = as_covariance(_cov(2))
    other = derive(checked)
    if not other.flags.writeable:
        assert other.base is not checked.base  # a view of the checked matrix is not its marked array
    got = as_covariance(other)
    assert sum(checks.values()) == 2 and got is not other
    np.testing.assert_array_equal(got, checked)


def test_a_changed_copy_or_a_matrix_made_writeable_again_is_checked_and_refused() -> None:
    checked = as_covariance(_cov(3))
    skewed = checked.copy()
    skewed[0, 1] += 1.0
    skewed.flags.writeable = False  # read-only is not the mark
    with pytest.raises(PortfolioError, match="not symmetric"):
        as_covariance(skewed)
    with pytest.raises(ValueError, match="WRITEABLE"):
        checked.flags.writeable = True  # its memory is read-only
    assert checked.base is not None
    checked.base.flags.writeable = True  # reaching into its memory on purpose: no longer trusted
    checked.flags.writeable = True
    checked[0, 1] += 1.0
    with pytest.raises(PortfolioError, match="not symmetric"):
        as_covariance(checked)
    checked.flags.writeable = False
    with pytest.raises(PortfolioError, match="not symmetric"):
        as_covariance(checked)


def test_threads_with_their_own_matrices_each_skip_their_own_check(checks: Counter[int]) -> None:
    both = threading.Barrier(2, timeout=30)
    reused: dict[int, list[bool]] = {}

    def work(seed: int) -> None:
        checked = as_covariance(_cov(seed))
        got = reused.setdefault(seed, [])
        for _ in range(3):
            both.wait()  # each has checked its own before either hands its back
            got.append(as_covariance(checked) is checked)
            np.testing.assert_array_equal(checked, as_covariance(_cov(seed)))

    threads = [threading.Thread(target=work, args=(s,)) for s in (4, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert reused == {4: [True] * 3, 5: [True] * 3}
    assert sorted(checks.values()) == [4, 4]  # one check per fresh matrix, none for a matrix handed back


def test_results_computed_from_the_checked_matrix_are_plain_arrays() -> None:
    rng = np.random.default_rng(6)
    checked = as_covariance(_cov(6, 8))
    x = rng.normal(size=8)
    derived = [checked[:3], checked[:, [1, 2]], checked.T, checked * 2.0, checked @ x, np.diag(checked),
               np.linalg.solve(checked, x), np.linalg.cholesky(checked), checked.sum(axis=0), checked.copy()]
    assert type(checked) is np.ndarray and all(type(d) is np.ndarray for d in derived)
    assert isinstance(checked.sum(), float) and isinstance(checked[0, 0], float)
    post = bl_posterior(checked, x, np.eye(8), x)
    results = [market_implied_prior(checked), post.mean, post.cov, risk_parity_weights(checked),
               optimize(x, checked, config=OptimizerConfig(max_weight=0.3)).weights]
    assert all(type(r) is np.ndarray for r in results)
