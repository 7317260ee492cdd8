"""Keys that embed counters, shared by ``generation`` (per dependency group) and ``table`` (per
table, in the style of django-cachalot and Drizzle's table versions).

A read first fetches the counters its entry depends on with one MGET, then reads the entry
under ``key:<v>`` where ``<v>`` joins the counter values. A write is INCRs (one pipeline); it
deletes nothing: entries under old counters become unreachable orphans that wait for their TTL
(memory is the cost). Race-free: the counters are read *before* the load, so a load that
started before a write is stored under the old counters, where no later reader looks.

Counters live under ``<ns>.gen:<group>`` / ``<ns>.tv:<table>`` without a TTL (if Redis
evicted a counter it would restart at 0 and could resurrect an orphan still in memory: run with
``noeviction`` or ``volatile-*`` eviction, which never picks keys without a TTL). Both calls go
through the cache's guard: unreadable counters make the read an uncached load, and a bump that
did not reach Redis is replayed before the cache serves again.
"""

from __future__ import annotations

from collections.abc import Sequence

from evalcache.strategies.api import ReadSpec
from evalcache.strategies.base import BaseStrategy


class CounterKeyed(BaseStrategy):
    """Entries keyed by the values of the counters :meth:`counters` names."""

    counter_prefix = "gen"

    def counters(self, spec: ReadSpec) -> tuple[str, ...]:
        raise NotImplementedError

    def counter_key(self, name: str) -> str:
        return self.cache.keys.counter(self.counter_prefix, name)

    def keys(self, specs: Sequence[ReadSpec]) -> list[str] | None:
        names = [self.counters(s) for s in specs]
        wanted = list(dict.fromkeys(n for ns in names for n in ns))
        values: dict[str, int] = {}
        if wanted:
            got = self.cache.read_counters([self.counter_key(n) for n in wanted])
            if got is None:
                return None
            values = dict(zip(wanted, got, strict=True))
        cache = self.cache
        return [
            cache.key(s.key_family, *s.parts, ".".join(str(values[n]) for n in ns))
            for s, ns in zip(specs, names, strict=True)
        ]

    def bump(self, names: Sequence[str]) -> int:
        if names:
            self.cache.bump_counters([self.counter_key(n) for n in names])
        return 0  # nothing is deleted
