"""The upper confidence bound of a share (Wilson score), against values computed elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from evalcache.errors import ConfigError
from evalcache.metrics import FamilyCounters, wilson_upper

Z95 = 1.6448536269514722  # standard normal 0.95 quantile (tables: 1.6449)


def _quadratic_upper(k: int, n: int, z: float) -> float:
    # Independent route: the Wilson bound is the upper root in p of
    # (k/n - p)² = z² p (1 - p) / n, i.e. (1 + z²/n) p² - (2k/n + z²/n) p + (k/n)² = 0.
    phat, z2n = k / n, z * z / n
    roots = np.roots([1 + z2n, -(2 * phat + z2n), phat * phat])
    return float(max(roots.real))


def test_zero_of_1000_checked() -> None:
    # At zero events the bound is z² / (n + z²): 0.00270, a little below the exact
    # Clopper-Pearson bound 1 - 0.05 ** (1 / 1000) = 0.00299 ("rule of three": about 3 / n).
    upper = wilson_upper(0, 1000)
    assert upper == pytest.approx(Z95**2 / (1000 + Z95**2), rel=1e-12)
    assert upper == pytest.approx(0.0026982, abs=1e-7)
    assert upper < 1 - 0.05 ** (1 / 1000) < 3 / 1000


@pytest.mark.parametrize(
    ("k", "n", "upper"),
    [(81, 263, 0.3662), (15, 148, 0.1605), (0, 20, 0.1611), (1, 29, 0.1718)],
)
def test_newcombe_1998_score_intervals(k: int, n: int, upper: float) -> None:
    # Newcombe (1998), Stat Med 17:857, Table II, method 3 (score): the upper limit of the
    # two-sided 95 % interval is the one-sided 97.5 % bound.
    assert wilson_upper(k, n, confidence=0.975) == pytest.approx(upper, abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(1, 10), (7, 1000), (500, 1000), (999, 1000), (3, 7)])
def test_agrees_with_the_quadratic_root(k: int, n: int) -> None:
    assert wilson_upper(k, n) == pytest.approx(_quadratic_upper(k, n, Z95), rel=1e-9)


def test_bound_shape() -> None:
    # Above the point estimate, tighter with more checks, 1 when everything was stale.
    assert 0.10 < wilson_upper(100, 1000) < wilson_upper(10, 100)
    assert wilson_upper(0, 10_000) < wilson_upper(0, 1000) < wilson_upper(0, 100)
    assert wilson_upper(50, 50) == 1.0
    assert wilson_upper(np.int64(2), np.int64(40)) == wilson_upper(2, 40)


def test_nothing_checked_has_no_bound() -> None:
    assert wilson_upper(0, 0) is None
    assert FamilyCounters().stale_read_rate_upper95 is None
    fc = FamilyCounters(stale_checked=1000, stale_reads=0)
    assert fc.stale_read_rate_upper95 == wilson_upper(0, 1000)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((-1, 10), "events"),
        ((1.0, 10), "events"),
        ((True, 10), "events"),
        ((5, 4), "trials"),
        ((0, -1), "trials"),
        ((0, 10, 1.0), "confidence"),
        ((0, 10, 0.0), "confidence"),
    ],
)
def test_bad_counts_are_refused_by_name(args: tuple[float, ...], name: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        wilson_upper(*args)  # type: ignore[arg-type]
