"""The analytical TTL-cache model, and a reference simulation to check it against.

One key, reads arriving as a Poisson process at rate λ, an entry stored on a miss and kept
for at most T (TTL set on miss, not refreshed by hits). A cycle starts with a miss; the entry
then lives D; after it is gone the next read misses again (memorylessness: the wait is Exp(λ)
whatever happened before). Reads inside the lifetime hit, so by renewal-reward

    h = λ E[D] / (1 + λ E[D]).

Without invalidation D = T, giving h = λT / (1 + λT). With delete-on-write, writes arriving as
Poisson at rate μ, D = min(T, Exp(μ)) and E[D] = (1 − e^(−μT)) / μ.

Over many keys the hit rate is the request-weighted mean: Σ p_i h_i where p_i is key i's share
of the reads. The model is stationary: a run's measurement must skip a warm-up (a few TTLs) or
count on the first-miss transient being small.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from evalcache.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | Sequence[float] | npt.NDArray[np.floating]


def _check_nonneg(name: str, value: npt.NDArray[np.float64]) -> None:
    if not np.all(np.isfinite(value)) or np.any(value < 0):
        raise ConfigError(name, "must be finite and >= 0")


def expected_lifetime(ttl: float, write_rate: ArrayLike = 0.0) -> FloatArray:
    """E[D] = (1 − e^(−μT)) / μ, the mean lifetime of an entry (T when μ = 0).

    Examples
    --------
    >>> float(expected_lifetime(10.0, 0.0))
    10.0
    >>> round(float(expected_lifetime(10.0, 0.1)), 4)
    6.3212
    """
    mu = np.asarray(write_rate, dtype=np.float64)
    _check_nonneg("write_rate", mu)
    if not (np.isfinite(ttl) and ttl >= 0):
        raise ConfigError("ttl", f"must be finite and >= 0, got {ttl!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        # -expm1(-x) is 1 - e^-x without cancellation for small μT.
        ed = np.where(mu > 0, -np.expm1(-mu * ttl) / np.where(mu > 0, mu, 1.0), ttl)
    return np.asarray(ed, dtype=np.float64)


def hit_probability(rate: ArrayLike, ttl: float, write_rate: ArrayLike = 0.0) -> FloatArray:
    """Per-key hit probability h = λE[D] / (1 + λE[D]) (vectorised over keys).

    Examples
    --------
    >>> float(hit_probability(1.0, 9.0))
    0.9
    """
    lam = np.asarray(rate, dtype=np.float64)
    _check_nonneg("rate", lam)
    x = lam * expected_lifetime(ttl, write_rate)
    return np.asarray(x / (1.0 + x), dtype=np.float64)


def predicted_hit_rate(
    total_rate: float,
    probabilities: ArrayLike,
    ttl: float,
    *,
    write_rate: float | None = None,
    write_rates: ArrayLike | None = None,
) -> float:
    """Aggregate predicted hit rate of reads over many keys.

    Parameters
    ----------
    total_rate:
        Total read rate over all keys (requests per second).
    probabilities:
        Each key's share of the reads (normalised here; e.g. ``Popularity.probabilities()``).
    ttl:
        Entry TTL in seconds, set on miss.
    write_rate:
        Total delete-on-write rate, spread over keys like the reads (μ_i = write_rate · p_i).
    write_rates:
        Per-key write rates instead (same length as ``probabilities``).

    Returns
    -------
    float
        Σ p_i h_i.

    Examples
    --------
    >>> round(predicted_hit_rate(100.0, [0.5, 0.5], 0.2), 4)
    0.9091
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or np.any(p < 0) or not np.isfinite(p).all() or p.sum() <= 0:
        raise ConfigError("probabilities", "must be a non-empty 1-D array of shares >= 0")
    p = p / p.sum()
    if not (np.isfinite(total_rate) and total_rate >= 0):
        raise ConfigError("total_rate", f"must be finite and >= 0, got {total_rate!r}")
    if write_rate is not None and write_rates is not None:
        raise ConfigError(
            "write_rate", "give write_rate (total) or write_rates (per key), not both"
        )
    if write_rates is not None:
        mu = np.asarray(write_rates, dtype=np.float64)
        if mu.shape != p.shape:
            raise ConfigError("write_rates", f"must have shape {p.shape}, got {mu.shape}")
    else:
        mu = (write_rate or 0.0) * p
    return float(np.dot(p, hit_probability(total_rate * p, ttl, mu)))


def simulate_ttl_cache(
    read_times: npt.ArrayLike,
    read_keys: npt.ArrayLike,
    ttl: float,
    *,
    write_times: npt.ArrayLike | None = None,
    write_keys: npt.ArrayLike | None = None,
    warmup_s: float = 0.0,
) -> tuple[int, int]:
    """Replay reads (and deleting writes) against an ideal TTL cache; return (hits, reads).

    A direct discrete-event simulation, independent of the formula above: a read hits when its
    key holds an entry stored at a miss less than ``ttl`` ago and not deleted by a write since.
    Only reads at ``t >= warmup_s`` are counted (the cache is filled from time 0).

    Examples
    --------
    >>> simulate_ttl_cache([0.0, 1.0, 2.5, 3.0], [7, 7, 7, 7], ttl=2.0)
    (2, 4)
    """
    rt = np.asarray(read_times, dtype=np.float64)
    rk = np.asarray(read_keys)
    wt = np.asarray(write_times if write_times is not None else [], dtype=np.float64)
    wk = np.asarray(write_keys if write_keys is not None else [], dtype=rk.dtype)
    if rt.shape != rk.shape or wt.shape != wk.shape:
        raise ConfigError("times/keys", "each times array must match its keys array in length")
    # Merge both streams in time order; at equal times a write goes first (delete, then read).
    times = np.concatenate([wt, rt])
    keys = np.concatenate([wk, rk]).tolist()
    is_read = np.concatenate([np.zeros(wt.size, bool), np.ones(rt.size, bool)])
    order = np.lexsort((is_read, times))
    expiry: dict[object, float] = {}
    hits = reads = 0
    tl = times.tolist()
    rl = is_read.tolist()
    for i in order.tolist():
        t, k = tl[i], keys[i]
        if not rl[i]:
            expiry.pop(k, None)
            continue
        hit = expiry.get(k, -1.0) > t
        if not hit:
            expiry[k] = t + ttl
        if t >= warmup_s:
            reads += 1
            hits += hit
    return hits, reads
