"""The ideal cache of a request stream: the ceiling a run's hit rate and savings are judged by.

The ideal cache is unbounded, never expires and is always fresh (a write updates it in place
for free), so only the first read of each distinct entry misses. An entry first read during
the warm-up is a hit in the measured window, as in the runs, whose warm-up fills the cache.
It is computed from the same stream the run replays, in pure Python: no server is involved.

Entry identity is the cache key the family makes of the read's normalised arguments
(:class:`evalcache.domain.families.Family` ``parse``), so families that share a key layout
share entries: a ``user_profiles_batch`` read reads one ``user_profile`` entry per id (a
``user_profiles_scan`` one per id of its range). It is counted the way the runner counts a
batch: one read, a hit when every one of its entries was cached (its misses are loaded in one
query either way). A read-modify-write (``write:rmw_user_profile``) reads its profile first:
that read counts here as a read of the family, as the run counts its hit or miss there.

Database ceiling: reads that hit issue no statements; every other request issues what it
issued with the cache off. With the cache-off baseline's statements per read of each family
(``families`` of :class:`evalcache.runner.baseline.Baseline`), the ideal saves
``ideal_hits * statements / reads`` per family (:func:`ideal_saved`). That is an estimate:
reads of one family do not all cost the same (``experts_by_spec`` of a large specialization
loads more reviews), so a run whose hits fall on the costlier reads saves a little more than
the estimate, and its database efficiency can exceed 1 by that much.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evalcache.domain.families import FAMILIES, entry_args
from evalcache.domain.repositories import RMW_OPS
from evalcache.workload import OPERATIONS, Request


@dataclass
class IdealCounts:
    """Reads of one family in the measured window, and those the ideal cache would hit."""

    reads: int = 0
    hits: int = 0

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.reads if self.reads else None


@dataclass
class IdealCache:
    """The ideal cache's outcome over a stream's measured window, per query family."""

    families: dict[str, IdealCounts] = field(default_factory=dict)

    @property
    def reads(self) -> int:
        return sum(c.reads for c in self.families.values())

    @property
    def hits(self) -> int:
        return sum(c.hits for c in self.families.values())

    @property
    def hit_rate(self) -> float | None:
        reads = self.reads
        return self.hits / reads if reads else None


def ideal_cache(
    requests: Iterable[Request],
    *,
    warmup_s: float,
    origin: float,
    specializations: Sequence[str],
    admin_id: int = 0,
) -> IdealCache:
    """Replay ``requests`` through the ideal cache.

    Parameters
    ----------
    requests:
        The stream in time order (``WorkloadGenerator``'s requests, or hand-built ones).
    warmup_s:
        Requests arriving before it fill the cache and are not counted (the runs' rule).
    origin:
        The clock's time at the stream's start: a request at ``t`` reads at ``origin + t``
        (the default expert-appointments window follows the clock's day).
    specializations:
        Pool index -> specialization name (the generator draws positions).
    admin_id:
        The admin user the admin dashboard's key names (one entry whatever it is).
    """
    seen: set[tuple[Any, ...]] = set()
    out = IdealCache()
    ops = {name: (op.family, op.kind == "read") for name, op in OPERATIONS.items()}
    for t, op, args in requests:
        family, is_read = ops[op]
        if not is_read:
            if op[6:] in RMW_OPS:  # its read first, as the executor serves it
                family, args = RMW_OPS[op[6:]][0], args[:1]
            else:
                continue  # always fresh: a write costs the ideal cache no entry
        assert family is not None
        fam = FAMILIES[family]
        if family == "experts_by_spec":
            args = (specializations[args[0]],)

        def now(t: float = t) -> datetime:
            return datetime.fromtimestamp(origin + t, UTC)

        if fam.per_id:
            keys = [
                (fam.key_family, *fam.parse(a, now, admin_id)[0]) for a in entry_args(fam, args)
            ]
        else:
            keys = [(fam.key_family, *fam.parse(args, now, admin_id)[0])]
        hit = all(k in seen for k in keys)
        seen.update(keys)
        if t >= warmup_s:
            counts = out.families.setdefault(family, IdealCounts())
            counts.reads += 1
            counts.hits += hit
    return out


def ideal_saved(ideal: IdealCounts, reads: int, statements: int) -> float:
    """Statements the ideal cache saves on one family, given the cache-off run's ``reads`` of
    it and the ``statements`` they issued (its mean per read times the ideal's hits)."""
    return ideal.hits * statements / reads if reads else 0.0


def efficiency(achieved: float | None, ideal: float | None) -> float | None:
    """``achieved / ideal``; ``None`` when either is unknown or the ideal is 0."""
    if achieved is None or ideal is None or ideal == 0:
        return None
    return achieved / ideal


def ideal_db_reduction(
    ideal: IdealCache, baseline: Mapping[str, tuple[int, int]], baseline_statements: int
) -> float | None:
    """The share of the baseline's statements the ideal cache saves.

    ``baseline``: family -> (reads, statements) of the cache-off run of the same stream.
    """
    if not baseline_statements:
        return None
    saved = sum(
        ideal_saved(counts, *baseline.get(family, (0, 0)))
        for family, counts in ideal.families.items()
    )
    return saved / baseline_statements
