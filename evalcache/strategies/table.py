"""``table``: keys embed the version of every table the query reads; a write INCRs the tables
it wrote (coarse: any row of a table invalidates every entry reading it). See
:mod:`evalcache.strategies.counters`."""

from __future__ import annotations

from evalcache.strategies.api import ReadSpec, WriteEvent
from evalcache.strategies.counters import CounterKeyed


class TableStrategy(CounterKeyed):
    """Keys embed the version of every table the query reads; a write INCRs its tables."""

    name = "table"
    counter_prefix = "tv"
    write_effect = "family"  # a table's version is shared by every entry reading it

    def counters(self, spec: ReadSpec) -> tuple[str, ...]:
        return spec.tables

    def invalidate(self, event: WriteEvent) -> int:
        return self.bump(list(event.tables))
