"""The analytical TTL-cache model, and a reference simulation to check it against.

One key, reads arriving as a Poisson process at rate λ, an entry stored on a miss and kept
for at most T (TTL set on miss, not refreshed by hits). A cycle starts with a miss; the entry
then lives D; after it is gone the next read misses again (memorylessness: the wait is Exp(λ)
whatever happened before). Reads inside the lifetime hit, so by renewal-reward

    h = λ E[D] / (1 + λ E[D]).

Without invalidation D = T, giving h = λT / (1 + λT). With delete-on-write, writes arriving as
Poisson at rate μ, D = min(T, Exp(μ)) and E[D] = (1 − e^(−μT)) / μ.

What a write does to the entries is the strategy's (:data:`WRITE_EFFECTS`, the strategies'
``write_effect``):

- ``none``: nothing (``ttl``); D = T.
- ``key``: the written key's entry is deleted (delete-on-write above); its writes are the
  key's share of all writes, μ_i = μ p_i.
- ``family``: every entry of the family is deleted by any write to its tables (``pattern``'s
  globs, ``table``'s version bump): each key sees every write, μ_i = μ.
- ``refresh``: the written key's entry, while fresh, is recomputed with a new TTL
  (``write_through``): no miss after a write, and the entry lives until T passes without a
  write. Starting fresh, with the first write after X ~ Exp(μ_i), L = T if X ≥ T, else
  X + L' with L' distributed as L, so E[L] = E[min(X, T)] / P(X ≥ T) = (e^(μT) − 1) / μ.
- ``refresh_held``: as ``refresh``, but an expired entry still held by Redis is recomputed
  too (a virtual clock: Redis keeps entries past their virtual TTL). A stale period then
  ends at the next read (a miss) or write (no read), after Exp(λ + μ): per cycle λE[L] hits
  and λ / (λ + μ) misses, so h = x / (1 + x) with x = (λ + μ) E[L].

Over many keys the hit rate is the request-weighted mean: Σ p_i h_i where p_i is key i's share
of the reads. The model is stationary: a run's measurement must skip a warm-up (a few TTLs) or
count on the first-miss transient being small. A workload whose rate varies (bursts, daily
cycles, ramps) is given its time-averaged rate (``WorkloadSpec.mean_rate``, what
``WorkloadGenerator.key_rates`` uses). Without writes, for a rate that varies slowly against
the TTL, the hit rate a run measures is then at least the prediction: reads weight each
moment by λ, and λh(λ) is convex, so Jensen's inequality puts the request-weighted mean of h
above h at the mean rate. Closed-loop clients
(``WorkloadSpec.clients``) issue no Poisson process: the runner gives them no prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from evalcache.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | Sequence[float] | npt.NDArray[np.floating]

#: What a write does to cached entries (module docstring).
WRITE_EFFECTS: tuple[str, ...] = ("none", "key", "family", "refresh", "refresh_held")


def check_write_effect(effect: str) -> str:
    """``effect`` if it is one of :data:`WRITE_EFFECTS`; ConfigError otherwise."""
    if effect not in WRITE_EFFECTS:
        raise ConfigError("write_effect", f"{effect!r}; accepted: {', '.join(WRITE_EFFECTS)}")
    return effect


def _check_nonneg(name: str, value: npt.NDArray[np.float64]) -> None:
    if not np.all(np.isfinite(value)) or np.any(value < 0):
        raise ConfigError(name, "must be finite and >= 0")


def expected_lifetime(
    ttl: float, write_rate: ArrayLike = 0.0, *, refresh: bool = False
) -> FloatArray:
    """E[D] = (1 − e^(−μT)) / μ, the mean lifetime of an entry (T when μ = 0); with
    ``refresh`` (writes renew the entry instead of deleting it) E[L] = (e^(μT) − 1) / μ.

    Examples
    --------
    >>> float(expected_lifetime(10.0, 0.0))
    10.0
    >>> round(float(expected_lifetime(10.0, 0.1)), 4)
    6.3212
    >>> round(float(expected_lifetime(10.0, 0.1, refresh=True)), 4)
    17.1828
    """
    mu = np.asarray(write_rate, dtype=np.float64)
    _check_nonneg("write_rate", mu)
    if not (np.isfinite(ttl) and ttl >= 0):
        raise ConfigError("ttl", f"must be finite and >= 0, got {ttl!r}")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        safe = np.where(mu > 0, mu, 1.0)
        # expm1 keeps both forms exact for small μT (no 1 − e^-x cancellation)
        life = np.expm1(mu * ttl) if refresh else -np.expm1(-mu * ttl)
        ed = np.where(mu > 0, life / safe, ttl)
    return np.asarray(ed, dtype=np.float64)


def hit_probability(
    rate: ArrayLike, ttl: float, write_rate: ArrayLike = 0.0, *, write_effect: str = "key"
) -> FloatArray:
    """Per-key hit probability h = x / (1 + x), x = λE[D] (vectorised over keys); for
    ``refresh_held`` x = (λ + μ)E[L] (module docstring). ``write_rate`` is the rate of the
    writes that reach the key (``family``: every write); ``none`` ignores it.

    Examples
    --------
    >>> float(hit_probability(1.0, 9.0))
    0.9
    """
    check_write_effect(write_effect)
    lam = np.asarray(rate, dtype=np.float64)
    _check_nonneg("rate", lam)
    mu = np.asarray(write_rate, dtype=np.float64)
    if write_effect == "none":
        mu = np.zeros_like(mu)
    life = expected_lifetime(ttl, mu, refresh=write_effect.startswith("refresh"))
    x = (lam + mu if write_effect == "refresh_held" else lam) * life
    with np.errstate(invalid="ignore"):  # an endless lifetime always hits
        h = np.where(np.isinf(x), 1.0, x / (1.0 + x))
    return np.asarray(h, dtype=np.float64)


def predicted_hit_rate(
    total_rate: float,
    probabilities: ArrayLike,
    ttl: float,
    *,
    write_rate: float | None = None,
    write_rates: ArrayLike | None = None,
    write_effect: str = "key",
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
        Total write rate, spread over keys like the reads (μ_i = write_rate · p_i), except
        for ``family`` where every write reaches every key (μ_i = write_rate).
    write_rates:
        Per-key rates of the writes reaching each key instead (same length as
        ``probabilities``).
    write_effect:
        What a write does to the entries (:data:`WRITE_EFFECTS`; default: deletes its key's).

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
    elif check_write_effect(write_effect) == "family":
        mu = np.full_like(p, write_rate or 0.0)
    else:
        mu = (write_rate or 0.0) * p
    return float(np.dot(p, hit_probability(total_rate * p, ttl, mu, write_effect=write_effect)))


def simulate_ttl_cache(
    read_times: npt.ArrayLike,
    read_keys: npt.ArrayLike,
    ttl: float,
    *,
    write_times: npt.ArrayLike | None = None,
    write_keys: npt.ArrayLike | None = None,
    warmup_s: float = 0.0,
    write_effect: str = "key",
) -> tuple[int, int]:
    """Replay reads (and writes) against an ideal TTL cache; return (hits, reads).

    A direct discrete-event simulation, independent of the formulas above: a read hits when
    its key holds an entry stored less than ``ttl`` ago and not deleted since. A write, by
    ``write_effect``: ``none`` nothing; ``key`` deletes its key's entry; ``family`` deletes
    every entry; ``refresh`` stores its key's entry anew if it is fresh; ``refresh_held`` if
    it was ever stored. Only reads at ``t >= warmup_s`` are counted (the cache is filled from
    time 0).

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
    effect = check_write_effect(write_effect)
    for i in order.tolist():
        t, k = tl[i], keys[i]
        if not rl[i]:
            if effect == "key":
                expiry.pop(k, None)
            elif effect == "family":
                expiry.clear()
            elif effect != "none" and k in expiry and (effect == "refresh_held" or expiry[k] > t):
                expiry[k] = t + ttl  # refresh, refresh_held
            continue
        hit = expiry.get(k, -1.0) > t
        if not hit:
            expiry[k] = t + ttl
        if t >= warmup_s:
            reads += 1
            hits += hit
    return hits, reads
