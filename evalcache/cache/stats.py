"""Counters of one :class:`DatabaseCache`.

Counting happens in process (a lock and a few integer adds), never in Redis, so it adds no
round trip. Outcome counters (hits, misses, negative_hits, expirations, loads, coalesced,
stale_served) are also kept per query family when the caller passes ``family=``: the runner
reads per-family hit rates from :meth:`CacheStats.by_family` without counting itself.

Definitions: ``hits`` counts every read answered from a fresh entry, negative entries included
(``negative_hits`` is the subset that found a cached "nothing"); ``misses`` counts reads that
found no fresh entry (``expirations`` is the subset that found an entry whose clock TTL had
passed while Redis still held it). ``coalesced`` counts ``get_or_load`` calls that missed but
received another caller's load instead of running the loader (single flight); such a read is a
miss for the caller too (:func:`read_coalesced` tells it, per thread or greenlet).
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Final

COUNTERS: Final = (
    "hits",
    "misses",
    "negative_hits",
    "expirations",
    "sets",
    "invalidations",
    "keys_removed",
    "errors",
    "corrupt",
    "loads",
    "load_errors",
    "coalesced",
    "stale_served",
    "lock_timeouts",
    "refreshes_tried",
    "refreshes_succeeded",
    "stale_sets_prevented",
    "bytes_read",
    "bytes_written",
)
FAMILY_COUNTERS: Final = (
    "hits",
    "misses",
    "negative_hits",
    "expirations",
    "loads",
    "coalesced",
    "stale_served",
)


#: Whether the calling thread's (or greenlet's) read since :func:`begin_read` took another
#: caller's load: each has a context of its own, so interleaved reads do not mix.
_COALESCED: ContextVar[bool] = ContextVar("evalcache_coalesced", default=False)


def begin_read() -> None:
    """Start watching the calling thread's (or greenlet's) next read for a coalesced load."""
    _COALESCED.set(False)


def read_coalesced() -> bool:
    """Whether the read since :func:`begin_read` received another caller's load."""
    return _COALESCED.get()


class CacheStats:
    """Thread-safe counters, totals and per family."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(COUNTERS, 0)
        self._families: dict[str, dict[str, int]] = {}

    def incr(self, name: str, n: int = 1, family: str | None = None) -> None:
        if name == "coalesced":
            _COALESCED.set(True)
        with self._lock:
            self._totals[name] += n
            if family is not None and name in FAMILY_COUNTERS:
                fam = self._families.get(family)
                if fam is None:
                    fam = self._families[family] = dict.fromkeys(FAMILY_COUNTERS, 0)
                fam[name] += n

    def read(self, nbytes: int, family: str | None, negative: bool = False) -> None:
        """One fresh hit of ``nbytes`` (the hot path: one lock acquisition)."""
        with self._lock:
            t = self._totals
            t["hits"] += 1
            t["bytes_read"] += nbytes
            if negative:
                t["negative_hits"] += 1
            if family is not None:
                fam = self._families.get(family)
                if fam is None:
                    fam = self._families[family] = dict.fromkeys(FAMILY_COUNTERS, 0)
                fam["hits"] += 1
                if negative:
                    fam["negative_hits"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._totals)

    def by_family(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {f: dict(c) for f, c in self._families.items()}

    def reset(self) -> None:
        with self._lock:
            self._totals = dict.fromkeys(COUNTERS, 0)
            self._families = {}
