"""Poisson arrivals over simulated time, with optional bursts (flash crowds).

The rate is piecewise constant: a base rate, multiplied inside burst windows. Within each
constant piece a Poisson process is generated as "count ~ Poisson(rate * length), times sorted
uniform", which is exact and vectorised. Long pieces are cut into chunks of bounded expected
size so memory stays flat; the chunking depends only on the parameters, so a seed always gives
the same times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evalcache.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

#: Expected arrivals per generated chunk (bounds memory; fixed so results do not depend on it).
CHUNK_EVENTS = 262_144


@dataclass(frozen=True)
class Burst:
    """A window in which the arrival rate is multiplied.

    Attributes
    ----------
    start_s, duration_s:
        The window in simulated seconds from the start of the run.
    multiplier:
        Rate factor inside the window (> 0; 10 = ten times the base rate).
    focus_pool:
        Optional id pool whose draws concentrate on a few keys during the burst (the
        "few experts" of a flash crowd). ``None``: popularity unchanged.
    focus_keys:
        How many of the pool's first (most popular) ids the burst concentrates on.
    focus_share:
        Share of the pool's draws inside the window that go to those ids.
    """

    start_s: float
    duration_s: float
    multiplier: float
    focus_pool: str | None = None
    focus_keys: int = 5
    focus_share: float = 0.9

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise ConfigError("burst.start_s", f"must be >= 0, got {self.start_s!r}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ConfigError("burst.duration_s", f"must be > 0, got {self.duration_s!r}")
        if not (math.isfinite(self.multiplier) and self.multiplier > 0):
            raise ConfigError("burst.multiplier", f"must be > 0, got {self.multiplier!r}")
        if self.focus_keys < 1:
            raise ConfigError("burst.focus_keys", f"must be >= 1, got {self.focus_keys!r}")
        if not 0.0 <= self.focus_share <= 1.0:
            raise ConfigError("burst.focus_share", f"must be in [0, 1], got {self.focus_share!r}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def validate_rate(rate: float, name: str = "rate") -> float:
    """Return ``rate`` as float, or raise ConfigError unless it is finite and > 0."""
    try:
        value = float(rate)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, f"must be a number > 0 (requests/s), got {rate!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(name, f"must be a number > 0 (requests/s), got {rate!r}")
    return value


def validate_duration(duration_s: float, name: str = "duration") -> float:
    """Return ``duration_s`` as float, or raise ConfigError unless it is finite and > 0."""
    try:
        value = float(duration_s)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, f"must be a number of seconds > 0, got {duration_s!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(name, f"must be a number of seconds > 0, got {duration_s!r}")
    return value


def rate_pieces(
    rate: float, duration_s: float, bursts: Sequence[Burst] = ()
) -> list[tuple[float, float, float]]:
    """The piecewise-constant rate as ``(start, end, rate)`` pieces covering [0, duration).

    Overlapping bursts multiply.
    """
    rate = validate_rate(rate)
    duration_s = validate_duration(duration_s)
    edges = {0.0, duration_s}
    for b in bursts:
        edges.update(e for e in (b.start_s, b.end_s) if 0.0 < e < duration_s)
    cuts = sorted(edges)
    pieces = []
    for a, z in itertools.pairwise(cuts):
        mid = (a + z) / 2
        r = rate
        for b in bursts:
            if b.start_s <= mid < b.end_s:
                r *= b.multiplier
        pieces.append((a, z, r))
    return pieces


def iter_arrivals(
    rng: np.random.Generator,
    rate: float,
    duration_s: float,
    bursts: Sequence[Burst] = (),
) -> Iterator[FloatArray]:
    """Yield sorted arrays of arrival times (simulated seconds) covering [0, duration_s).

    Parameters
    ----------
    rng:
        Source of randomness (seed it from the run seed for determinism).
    rate:
        Base arrival rate in requests per simulated second.
    duration_s:
        Length of the run in simulated seconds.
    bursts:
        Windows where the rate is multiplied.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.concatenate(list(iter_arrivals(rng, 100.0, 10.0)))
    >>> 800 < t.size < 1200 and bool((np.diff(t) >= 0).all())
    True
    """
    for start, end, r in rate_pieces(rate, duration_s, bursts):
        length = end - start
        n_chunks = max(1, math.ceil(r * length / CHUNK_EVENTS))
        step = length / n_chunks
        for k in range(n_chunks):
            a = start + k * step
            z = end if k == n_chunks - 1 else a + step
            count = int(rng.poisson(r * (z - a)))
            if count == 0:
                continue
            times = rng.uniform(a, z, size=count)
            times.sort()
            yield times


def arrivals(
    rng: np.random.Generator, rate: float, duration_s: float, bursts: Sequence[Burst] = ()
) -> FloatArray:
    """All arrival times at once (see :func:`iter_arrivals`)."""
    parts = list(iter_arrivals(rng, rate, duration_s, bursts))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
