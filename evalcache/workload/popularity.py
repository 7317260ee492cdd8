"""Key popularity: which of N keys a request picks.

A popularity works on positions ``0 .. n-1`` of an id pool; the generator maps positions to
real ids. The pool's array order is its popularity order: position 0 is the most popular key for
``zipf``; for ``latest`` the *last* position is (pools are in creation order, so the newest
rows are the hottest, as YCSB's "latest" distribution). ``scrambled_zipf`` is YCSB's
"zipfian" (:mod:`evalcache.workload.scrambled`): a Zipf over ten billion items hashed onto the
positions, so the hot keys are scattered and the head is flatter than ``zipf``'s.

Exact per-position probabilities are available (``probabilities()``) because the analytical
TTL model (:mod:`evalcache.model`) needs every key's request rate, and sampling is by inverse
CDF on those same probabilities, so the model and the generator cannot disagree
(``scrambled_zipf`` samples YCSB's closed form; its probabilities are exact but for a tail
spread evenly, see :func:`evalcache.workload.scrambled.scrambled_probabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from evalcache.errors import ConfigError, UnknownNameError
from evalcache.workload.scrambled import (
    check_theta,
    draw_keys,
    scrambled_probabilities,
    ycsb_zipfian,
)

PopularityKind = Literal["zipf", "uniform", "latest", "sequential", "scrambled_zipf"]
POPULARITY_KINDS: tuple[str, ...] = ("zipf", "uniform", "latest", "sequential", "scrambled_zipf")
#: Kinds whose ``theta`` is a skew (what a ``skew`` override replaces).
SKEWED_KINDS: tuple[str, ...] = ("zipf", "latest", "scrambled_zipf")

#: YCSB's default Zipfian constant.
DEFAULT_THETA = 0.99
#: Largest skew accepted; beyond it nearly every request goes to one key.
MAX_THETA = 10.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def validate_theta(theta: float, name: str = "skew") -> float:
    """Return ``theta`` as a float, or raise ConfigError if it is not in [0, MAX_THETA]."""
    try:
        value = float(theta)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, f"must be a number in [0, {MAX_THETA}], got {theta!r}") from exc
    if not np.isfinite(value) or value < 0 or value > MAX_THETA:
        raise ConfigError(name, f"must be a number in [0, {MAX_THETA}], got {theta!r}")
    return value


def zipf_probabilities(n: int, theta: float = DEFAULT_THETA) -> FloatArray:
    """Bounded Zipf over ranks 1..n: ``p_i = i^-theta / sum_j j^-theta``.

    Examples
    --------
    >>> zipf_probabilities(3, 1.0).round(4).tolist()
    [0.5455, 0.2727, 0.1818]
    """
    if n < 1:
        raise ConfigError("n", f"a popularity needs at least one key, got {n}")
    theta = validate_theta(theta)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    weights: FloatArray = ranks**-theta
    return weights / float(weights.sum())


@dataclass(frozen=True)
class PopularitySpec:
    """How one id pool is drawn: a kind and, for ``zipf``/``latest``, a skew.

    Attributes
    ----------
    kind:
        ``zipf`` (position 0 hottest), ``uniform``, ``latest`` (last position hottest, Zipf
        over recency), ``sequential`` (each id used once in order, wrapping around; for
        consumable rows such as pending payments) or ``scrambled_zipf`` (YCSB's "zipfian":
        hashed Zipf items, hot keys anywhere).
    theta:
        Zipf exponent (0 = uniform, 0.99 = YCSB default). Ignored by ``uniform`` and
        ``sequential``; ``scrambled_zipf`` needs it below 1.
    """

    kind: PopularityKind = "zipf"
    theta: float = DEFAULT_THETA

    def __post_init__(self) -> None:
        if self.kind not in POPULARITY_KINDS:
            raise UnknownNameError("popularity kind", str(self.kind), POPULARITY_KINDS)
        object.__setattr__(self, "theta", validate_theta(self.theta))
        if self.kind == "scrambled_zipf":
            check_theta(self.theta)


class Popularity:
    """A popularity over ``n`` positions, built from a :class:`PopularitySpec`.

    Parameters
    ----------
    n:
        Number of keys (the pool's length).
    spec:
        Kind and skew.
    itemcount:
        ``scrambled_zipf`` only: the key space the items are hashed onto (default ``n``); keys
        ``>= n`` are drawn again (YCSB's ``CoreWorkload`` hashes onto the records plus the
        inserts it expects, and redraws keys not inserted yet).

    Examples
    --------
    >>> pop = Popularity(1000, PopularitySpec("zipf", 0.99))
    >>> rng = np.random.default_rng(1)
    >>> draws = pop.sample(rng, 5)
    >>> bool(((draws >= 0) & (draws < 1000)).all())
    True
    """

    def __init__(
        self, n: int, spec: PopularitySpec | None = None, *, itemcount: int | None = None
    ) -> None:
        if n < 1:
            raise ConfigError("n", f"a popularity needs at least one key, got {n}")
        self.n = int(n)
        self.spec = spec or PopularitySpec()
        self.itemcount = self.n if itemcount is None else int(itemcount)
        if self.itemcount < self.n:
            raise ConfigError("itemcount", f"must be >= n ({self.n}), got {itemcount}")
        self._next = 0  # cursor of the sequential kind
        self._probs: FloatArray | None = None
        self._cdf: FloatArray | None = None

    def probabilities(self) -> FloatArray:
        """Exact probability of each position (sums to 1; a copy, safe to modify)."""
        return self._probabilities().copy()

    def _probabilities(self) -> FloatArray:
        if self._probs is None:
            kind = self.spec.kind
            if kind == "zipf":
                self._probs = zipf_probabilities(self.n, self.spec.theta)
            elif kind == "latest":
                self._probs = zipf_probabilities(self.n, self.spec.theta)[::-1].copy()
            elif kind == "scrambled_zipf":
                self._probs = scrambled_probabilities(self.n, self.spec.theta, self.itemcount)
            else:  # uniform, and sequential in the long run
                self._probs = np.full(self.n, 1.0 / self.n)
        return self._probs

    def sample(self, rng: np.random.Generator, size: int) -> IntArray:
        """Draw ``size`` positions (int64 array) using ``rng``; deterministic for its state."""
        kind = self.spec.kind
        if kind == "sequential":
            out = (self._next + np.arange(size, dtype=np.int64)) % self.n
            self._next = int((self._next + size) % self.n)
            return out
        if kind == "uniform" or (kind == "zipf" and self.spec.theta == 0.0):
            return rng.integers(0, self.n, size=size, dtype=np.int64)
        if kind == "scrambled_zipf":
            return self.sample_below(rng, size, self.n)
        if self._cdf is None:
            cdf = np.cumsum(self._probabilities())
            cdf[-1] = 1.0  # guard against rounding leaving a gap at the top
            self._cdf = cdf
        # Inverse CDF: O(size log n), vectorised, and exactly the probabilities above.
        pos = np.searchsorted(self._cdf, rng.random(size), side="right")
        return np.minimum(pos, self.n - 1).astype(np.int64, copy=False)

    def sample_below(self, rng: np.random.Generator, size: int, limit: int | IntArray) -> IntArray:
        """``scrambled_zipf``: ``size`` positions, each below its ``limit`` (the records that
        exist at that request; YCSB's keys not inserted yet are drawn again)."""
        if self.spec.kind != "scrambled_zipf":
            raise ConfigError("kind", f"sample_below needs scrambled_zipf, not {self.spec.kind}")
        return draw_keys(rng, size, ycsb_zipfian(self.spec.theta), self.itemcount, limit)
