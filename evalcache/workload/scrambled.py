"""YCSB's key choosers, vectorised: the scrambled Zipfian and the latest-with-inserts ranks.

YCSB's "zipfian" request distribution is not a bounded Zipf over the records: its
``ScrambledZipfianGenerator`` draws a Zipfian *item* out of ``ITEM_COUNT + 1`` (ten billion)
with Gray et al.'s closed form (``ZipfianGenerator.nextLong``, theta 0.99 and the precomputed
``ZETAN``), hashes it with ``Utils.fnvhash64`` and takes it modulo the record count. The hot
items land on scattered keys, and with ten billion items the head is much flatter than an exact
Zipf over a few thousand keys (at 10,000 keys the top 1 % take ~20 % of the draws instead of
~51 %). Given the same uniform ``u``, :func:`zipfian_values` and :func:`scrambled_keys` return
exactly YCSB's values: the same double arithmetic in the same order, Java's ``(long)``
truncation, ``Math.abs`` and ``%``.

Exact probabilities (:func:`scrambled_probabilities`, for the analytical TTL model): the
closed form gives item ``i >= 2`` the mass ``((i + 1)^c - i^c) / (eta * items^c)`` with
``c = 1 - theta`` (items 0 and 1: ``1 / zetan`` and ``0.5^theta / zetan``). The masses of the
first :data:`EXACT_ITEMS` items are added to the keys they hash to; the remaining tail (31 % of
the mass at theta 0.99) is spread evenly over the keys. That is the one approximation: the
tail's items hash about uniformly and each key collects ``~items / keys`` of them, so its share
of the tail is close to even. Measured at 10,000 keys: hashing the items up to 10^8 exactly
instead moves a key's probability by 0.12 % (median), 0.6 % at most, total variation 5e-4
(1,000 keys: 0.07 %, 0.3 %; 100,000 keys: 0.3 %, 2 %).

Other constants than 0.99 need ``zeta(ITEM_COUNT + 1, theta)``, which YCSB sums term by term
(hours); :func:`zeta` sums the first terms and adds an Euler-Maclaurin tail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from evalcache.errors import ConfigError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: ``ScrambledZipfianGenerator.ITEM_COUNT``: the Zipfian draws items 0..ITEM_COUNT.
ITEM_COUNT = 10_000_000_000
#: ``ScrambledZipfianGenerator.USED_ZIPFIAN_CONSTANT``, the only theta with a precomputed zeta.
USED_ZIPFIAN_CONSTANT = 0.99
#: ``ScrambledZipfianGenerator.ZETAN``: YCSB's ``zetastatic(ITEM_COUNT, 0.99)``.
ZETAN = 26.46902820178302
#: ``Utils.FNV_OFFSET_BASIS_64`` and ``Utils.FNV_PRIME_64``.
FNV_OFFSET_BASIS_64 = 0xCBF29CE484222325
FNV_PRIME_64 = 1099511628211
#: Items whose exact masses :func:`scrambled_probabilities` hashes (the rest is spread evenly).
EXACT_ITEMS = 10_000_000
_CHUNK = 1_000_000
#: :func:`zeta` sums the terms below this directly, the rest by Euler-Maclaurin.
_DIRECT_TERMS = 10_000


def check_theta(theta: float, name: str = "theta") -> float:
    """``theta`` if Gray et al.'s closed form accepts it (``0 <= theta < 1``)."""
    if not (isinstance(theta, int | float) and 0.0 <= float(theta) < 1.0):
        raise ConfigError(
            name,
            f"the scrambled Zipfian (YCSB's zipfian) needs 0 <= theta < 1, got {theta!r} "
            "(its closed form divides by 1 - theta)",
        )
    return float(theta)


def fnvhash64(values: npt.ArrayLike) -> IntArray:
    """YCSB's ``Utils.fnvhash64`` of each value (Java longs): FNV over the 8 octets, low first,
    then ``Math.abs`` (which leaves ``Long.MIN_VALUE`` negative, as in Java).

    Examples
    --------
    >>> fnvhash64([0, 1]).tolist()
    [6284781860667377211, 8517097267634966620]
    """
    v = np.asarray(values, dtype=np.int64)
    h = np.full(v.shape, FNV_OFFSET_BASIS_64, dtype=np.uint64)
    prime = np.uint64(FNV_PRIME_64)
    for _ in range(8):
        h ^= (v & 0xFF).astype(np.uint64)
        v = v >> 8  # Java's >> (arithmetic)
        h *= prime  # wraps modulo 2^64, as Java's long multiplication
    s = h.view(np.int64)
    out: IntArray = np.where(s < 0, -s, s)  # -MIN_VALUE wraps to MIN_VALUE, as Math.abs
    return out


def scrambled_keys(values: npt.ArrayLike, itemcount: int, base: int = 0) -> IntArray:
    """``ScrambledZipfianGenerator.nextValue``'s key of each Zipfian value:
    ``base + fnvhash64(v) % itemcount`` (Java's ``%``, truncating)."""
    if itemcount < 1:
        raise ConfigError("itemcount", f"must be >= 1, got {itemcount}")
    out: IntArray = base + np.fmod(fnvhash64(values), np.int64(itemcount))
    return out


def zeta(n: int, theta: float) -> float:
    """``sum(i ** -theta for i in 1..n)``: the first terms summed, the rest by Euler-Maclaurin
    (three Bernoulli terms; from 10,000 on the next one is below 1e-27).

    Examples
    --------
    >>> round(zeta(10, 1.0), 12) == round(sum(1 / i for i in range(1, 11)), 12)
    True
    """
    if n < 0:
        raise ConfigError("n", f"must be >= 0, got {n}")
    m = min(n, _DIRECT_TERMS)
    head = float(np.sum(np.arange(1, m + 1, dtype=np.float64) ** -theta))
    if n <= m:
        return head
    a, b = float(m), float(n)  # the tail sums f(m+1) .. f(n)
    if theta == 1.0:
        integral = math.log(b / a)
    else:  # (b^c - a^c) / c without cancellation for c near 0
        c = 1.0 - theta
        integral = a**c * math.expm1(c * math.log(b / a)) / c
    total = integral + (b**-theta - a**-theta) / 2.0  # Sum_{m+1..n} = Int + (f(n) - f(m)) / 2
    # + sum_k B_2k / (2k)! (f^(2k-1)(n) - f^(2k-1)(m)),  f^(j)(x) = (-1)^j theta^(j) x^(-theta-j)
    rising = theta
    for k, bern in enumerate((1 / 6, -1 / 30, 1 / 42), start=1):
        j = 2 * k - 1
        if k > 1:
            rising *= (theta + j - 2) * (theta + j - 1)
        deriv = -rising  # (-1)^j with j odd
        total += bern / math.factorial(2 * k) * deriv * (b ** (-theta - j) - a ** (-theta - j))
    return float(head + total)


@dataclass(frozen=True)
class ZipfianParams:
    """The fields of YCSB's ``ZipfianGenerator(0, ITEM_COUNT, theta[, ZETAN])``."""

    theta: float
    items: int
    zetan: float
    zeta2theta: float
    alpha: float
    eta: float


@lru_cache(maxsize=16)
def ycsb_zipfian(theta: float = USED_ZIPFIAN_CONSTANT) -> ZipfianParams:
    """The Zipfian under YCSB's scrambled generator for ``theta`` (``ZETAN`` at 0.99, as YCSB;
    otherwise ``zeta(ITEM_COUNT + 1, theta)``, which YCSB would sum term by term)."""
    theta = check_theta(theta)
    items = ITEM_COUNT + 1  # ZipfianGenerator(min=0, max=ITEM_COUNT): max - min + 1
    zetan = ZETAN if theta == USED_ZIPFIAN_CONSTANT else zeta(items, theta)
    zeta2theta = zeta(2, theta)
    alpha = 1.0 / (1.0 - theta)
    eta = (1 - math.pow(2.0 / items, 1 - theta)) / (1 - zeta2theta / zetan)
    return ZipfianParams(theta, items, zetan, zeta2theta, alpha, eta)


def zipfian_values(u: npt.ArrayLike, params: ZipfianParams) -> IntArray:
    """``ZipfianGenerator.nextLong(items)`` for each uniform ``u`` in [0, 1) (Gray et al.)."""
    u = np.asarray(u, dtype=np.float64)
    p = params
    uz = u * p.zetan
    # Java: (long) (itemcount * Math.pow(eta * u - eta + 1, alpha)), truncating toward 0
    v = (float(p.items) * np.power(p.eta * u - p.eta + 1, p.alpha)).astype(np.int64)
    v = np.where(uz < 1.0 + math.pow(0.5, p.theta), 1, v)
    out: IntArray = np.where(uz < 1.0, 0, v)
    return out


def draw_keys(
    rng: np.random.Generator,
    size: int,
    params: ZipfianParams,
    itemcount: int,
    limit: int | IntArray | None = None,
) -> IntArray:
    """``size`` keys of ``ScrambledZipfianGenerator(0, itemcount - 1)``; keys ``>= limit``
    (per draw, or one bound) are drawn again, as YCSB's ``CoreWorkload.nextKeynum`` redraws
    keys not inserted yet."""
    keys = scrambled_keys(zipfian_values(rng.random(size), params), itemcount)
    if limit is None:
        return keys
    bound = np.broadcast_to(np.asarray(limit, dtype=np.int64), keys.shape)
    if bool((bound < 1).any()):
        raise ConfigError("limit", "every draw needs at least one key below its limit")
    bad = np.flatnonzero(keys >= bound)
    while bad.size:
        keys[bad] = scrambled_keys(zipfian_values(rng.random(bad.size), params), itemcount)
        bad = bad[keys[bad] >= bound[bad]]
    return keys


def item_masses(start: int, stop: int, params: ZipfianParams) -> FloatArray:
    """The exact probability that :func:`zipfian_values` returns each item in [start, stop)."""
    p = params
    i = np.arange(start, stop, dtype=np.float64)
    c = 1.0 - p.theta
    with np.errstate(divide="ignore", invalid="ignore"):
        # ((i + 1)^c - i^c) / items^c = i^c (exp(c log1p(1/i)) - 1) / items^c, precise for c ~ 0
        m = np.power(i / p.items, c) * np.expm1(c * np.log1p(1.0 / i)) / p.eta
    m[i == 0] = 1.0 / p.zetan
    m[i == 1] = math.pow(0.5, p.theta) / p.zetan
    out: FloatArray = m
    return out


def tail_mass(start: int, params: ZipfianParams) -> float:
    """The probability that :func:`zipfian_values` returns an item ``>= start`` (``start >= 2``)."""
    p = params
    c = 1.0 - p.theta
    return -math.expm1(c * math.log(start / p.items)) / p.eta


@lru_cache(maxsize=8)
def _scrambled_probabilities(n: int, theta: float, itemcount: int, exact_items: int) -> FloatArray:
    params = ycsb_zipfian(theta)
    exact = max(2, min(exact_items, params.items))
    probs = np.zeros(itemcount, dtype=np.float64)
    for start in range(0, exact, _CHUNK):
        stop = min(start + _CHUNK, exact)
        keys = scrambled_keys(np.arange(start, stop, dtype=np.int64), itemcount)
        probs += np.bincount(keys, weights=item_masses(start, stop, params), minlength=itemcount)
    if exact < params.items:
        probs += tail_mass(exact, params) / itemcount
    out: FloatArray = probs[:n] / probs[:n].sum()  # keys >= n redrawn: conditioned on key < n
    out.setflags(write=False)
    return out


def scrambled_probabilities(
    n: int,
    theta: float = USED_ZIPFIAN_CONSTANT,
    itemcount: int | None = None,
    exact_items: int = EXACT_ITEMS,
) -> FloatArray:
    """Each key's probability under :func:`draw_keys` with ``limit=n`` (module docstring).

    ``itemcount`` (default ``n``) is the generator's key space; keys ``>= n`` are redrawn.
    """
    itemcount = n if itemcount is None else int(itemcount)
    if n < 1 or itemcount < n:
        raise ConfigError("itemcount", f"need 1 <= n <= itemcount, got n={n}, {itemcount}")
    out: FloatArray = _scrambled_probabilities(n, check_theta(theta), itemcount, exact_items)
    return out.copy()


class LatestRanks:
    """Exact bounded Zipf ranks over a record count that grows as records are inserted.

    ``positions(rng, counts)`` draws, for each request, a position among its ``count``
    records with the newest (position ``count - 1``) hottest: rank ``r`` with probability
    ``(r + 1)^-theta / zeta(count, theta)``, position ``count - 1 - r`` (YCSB's
    ``SkewedLatestGenerator`` over the records inserted so far).
    """

    def __init__(self, theta: float) -> None:
        self.theta = float(theta)
        self._cum = np.zeros(0, dtype=np.float64)

    def _weights(self, upto: int) -> FloatArray:
        if self._cum.size < upto:
            size = max(upto, 2 * self._cum.size, 1024)
            self._cum = np.cumsum(np.arange(1, size + 1, dtype=np.float64) ** -self.theta)
        return self._cum

    def positions(self, rng: np.random.Generator, counts: IntArray) -> IntArray:
        counts = np.asarray(counts, dtype=np.int64)
        if counts.size == 0:
            return counts.copy()
        cum = self._weights(int(counts.max()))
        top = cum[counts - 1]
        ranks = np.searchsorted(cum, rng.random(counts.size) * top, side="right")
        ranks = np.minimum(ranks, counts - 1)
        out: IntArray = counts - 1 - ranks
        return out
