"""``generation``: keys embed one generation counter per dependency group; a write INCRs its
groups (O(1); orphans wait for their TTL). See :mod:`evalcache.strategies.counters`."""

from __future__ import annotations

from evalcache.strategies.api import ReadSpec, WriteEvent
from evalcache.strategies.counters import CounterKeyed


class GenerationStrategy(CounterKeyed):
    """Keys embed one generation counter per dependency group; a write INCRs its groups."""

    name = "generation"
    counter_prefix = "gen"

    def counters(self, spec: ReadSpec) -> tuple[str, ...]:
        return spec.groups

    def invalidate(self, event: WriteEvent) -> int:
        return self.bump(self.host.deps.groups(event))
