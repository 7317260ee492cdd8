"""Per-family counters of what the cache and the staleness oracle saw.

Plain slotted objects with integer attributes, so the runner's hot path is one attribute
increment (``counters.family("user_profile").hits += 1``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from evalcache.metrics.bounds import wilson_upper

COUNTER_FIELDS: tuple[str, ...] = (
    "reads",
    "hits",
    "misses",
    "negative_hits",
    "uncached",
    "expirations",
    "stale_checked",
    "stale_reads",
    "writes",
    "errors",
    "db_statements",
)


@dataclass(slots=True)
class FamilyCounters:
    """Counts for one query family (or, for writes, one write operation).

    Attributes
    ----------
    reads:
        Read requests of this family.
    hits, misses, negative_hits:
        Cache outcomes; a negative hit (a cached "nothing") is also counted in ``hits``.
    uncached:
        Reads served with the cache off (baseline runs).
    expirations:
        Misses on a key whose entry existed but had expired.
    stale_checked, stale_reads:
        Cached answers the oracle compared with the database, and those that differed.
    writes, errors:
        Writes issued; requests that raised.
    db_statements:
        Statements the runner counted on the application engine while serving this family.
    """

    reads: int = 0
    hits: int = 0
    misses: int = 0
    negative_hits: int = 0
    uncached: int = 0
    expirations: int = 0
    stale_checked: int = 0
    stale_reads: int = 0
    writes: int = 0
    errors: int = 0
    db_statements: int = 0

    def add(self, other: FamilyCounters) -> None:
        """Add ``other``'s counts into this one."""
        for f in COUNTER_FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    @property
    def hit_rate(self) -> float | None:
        """hits / (hits + misses), or ``None`` before any cached read."""
        looked = self.hits + self.misses
        return self.hits / looked if looked else None

    @property
    def stale_read_rate(self) -> float | None:
        """stale_reads / stale_checked, or ``None`` when nothing was checked."""
        return self.stale_reads / self.stale_checked if self.stale_checked else None

    @property
    def stale_read_rate_upper95(self) -> float | None:
        """One-sided 95 % upper bound of the stale-read rate (Wilson), ``None`` as the rate."""
        return wilson_upper(self.stale_reads, self.stale_checked)

    def as_dict(self) -> dict[str, Any]:
        """Counts plus ``hit_rate`` and ``stale_read_rate`` (JSON literals)."""
        out: dict[str, Any] = asdict(self)
        out["hit_rate"] = self.hit_rate
        out["stale_read_rate"] = self.stale_read_rate
        return out


class Counters:
    """FamilyCounters by family name, created on first use.

    Examples
    --------
    >>> c = Counters()
    >>> c.family("user_profile").hits += 3
    >>> c.family("user_profile").misses += 1
    >>> c.total().hit_rate
    0.75
    """

    def __init__(self) -> None:
        self._families: dict[str, FamilyCounters] = {}

    def family(self, name: str) -> FamilyCounters:
        """The counters of ``name`` (created empty on first use)."""
        fc = self._families.get(name)
        if fc is None:
            fc = self._families[name] = FamilyCounters()
        return fc

    def names(self) -> list[str]:
        """Families seen, sorted."""
        return sorted(self._families)

    def total(self) -> FamilyCounters:
        """Sum over every family."""
        out = FamilyCounters()
        for fc in self._families.values():
            out.add(fc)
        return out

    def merge(self, other: Counters) -> None:
        """Add every family of ``other`` (another worker's counters) into this one."""
        for name, fc in other._families.items():
            self.family(name).add(fc)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Family -> counts and rates."""
        return {name: self._families[name].as_dict() for name in self.names()}


class AgePercentiles(NamedTuple):
    """Ages of the stale answers served, in seconds (``None`` when none was stale)."""

    p50_s: float | None
    p99_s: float | None
    max_s: float | None


def age_percentiles(ages_s: list[float]) -> AgePercentiles:
    """p50, p99 and max of staleness ages in seconds (linear interpolation between ages)."""
    if not ages_s:
        return AgePercentiles(None, None, None)
    arr = np.asarray(ages_s, dtype=np.float64)
    p50, p99 = np.percentile(arr, [50, 99])
    return AgePercentiles(float(p50), float(p99), float(arr.max()))
