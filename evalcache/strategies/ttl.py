"""``ttl``: no invalidation at all; entries are stale until they expire."""

from __future__ import annotations

from evalcache.strategies.base import BaseStrategy


class TTLStrategy(BaseStrategy):
    """Nothing happens on a write: a cached answer is served until its TTL runs out."""

    name = "ttl"
    race_free = False  # nothing is invalidated, so there is no invalidation to race with
    write_effect = "none"
    invalidates = False  # its stale reads are TTL-only (the staleness oracle's causes)
