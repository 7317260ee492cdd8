"""Strategies whose keys embed counters: ``generation`` (per dependency group) and ``table``
(per table, in the style of django-cachalot and Drizzle's table versions).

A read first fetches the counters its entry depends on with one MGET, then reads the entry
under ``key:<v>`` where ``<v>`` joins the counter values. A write is INCRs (one pipeline); it
deletes nothing: entries under old counters become unreachable orphans that wait for their TTL
(memory is the cost). Race-free: the counters are read *before* the load, so a load that
started before a write is stored under the old counters, where no later reader looks.

Counters live under ``<ns>.gen:<group>`` / ``<ns>.tv:<table>`` without a TTL (if Redis
evicted a counter it would restart at 0 and could resurrect an orphan still in memory: run with
``noeviction`` or ``volatile-*`` eviction, which never picks keys without a TTL).
"""

from __future__ import annotations

from collections.abc import Sequence

from evalcache.cache.keys import encode_part
from evalcache.events import WriteEvent
from evalcache.strategies.base import BaseStrategy, ReadSpec


class _CounterKeyed(BaseStrategy):
    race_free = True
    counter_prefix = "gen"

    def counters(self, spec: ReadSpec) -> tuple[str, ...]:
        raise NotImplementedError

    def _ckey(self, name: str) -> str:
        return f"{self.cache.namespace}.{self.counter_prefix}:{encode_part(name)}"

    def keys(self, specs: Sequence[ReadSpec]) -> list[str]:
        names = [self.counters(s) for s in specs]
        wanted = list(dict.fromkeys(n for ns in names for n in ns))
        values: dict[str, int] = {}
        if wanted:
            raw = self.cache.client.mget([self._ckey(n) for n in wanted])
            values = {n: int(v or 0) for n, v in zip(wanted, raw, strict=True)}
        return [
            self.cache.key(s.key_family, *s.parts, ".".join(str(values[n]) for n in ns))
            for s, ns in zip(specs, names, strict=True)
        ]

    def bump(self, names: Sequence[str]) -> int:
        if not names:
            return 0
        pipe = self.cache.client.pipeline(transaction=False)
        for n in names:
            pipe.incr(self._ckey(n))
        pipe.execute()
        return 0  # nothing is deleted


class GenerationStrategy(_CounterKeyed):
    """Keys embed one generation counter per dependency group; a write INCRs its groups."""

    name = "generation"
    counter_prefix = "gen"

    def counters(self, spec: ReadSpec) -> tuple[str, ...]:
        return spec.groups

    def invalidate(self, event: WriteEvent) -> int:
        return self.bump(self.groups_of(event))


class TableStrategy(_CounterKeyed):
    """Keys embed the version of every table the query reads; a write INCRs its tables."""

    name = "table"
    counter_prefix = "tv"

    def counters(self, spec: ReadSpec) -> tuple[str, ...]:
        return spec.tables

    def invalidate(self, event: WriteEvent) -> int:
        return self.bump(list(event.tables))
