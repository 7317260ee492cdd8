"""``pattern``: every affected family dropped whole with a SCAN glob (ids wildcarded, no
look-ups): simple and coarse; its cost grows with the whole keyspace."""

from __future__ import annotations

from evalcache.strategies.api import WriteEvent, wildcard
from evalcache.strategies.base import BaseStrategy


class PatternStrategy(BaseStrategy):
    """SCAN-glob invalidation of whole families (every id of an affected family)."""

    name = "pattern"
    race_free = True  # SCAN sees a lease that exists throughout it and deletes it
    write_effect = "family"  # every id of an affected family

    def invalidate(self, event: WriteEvent) -> int:
        deps = self.host.deps
        groups = list(dict.fromkeys(wildcard(g) for g in deps.groups(event, exact=False)))
        cache = self.cache
        removed = 0
        for t in deps.targets(groups):
            if t.is_pattern:
                removed += cache.invalidate_pattern(cache.pattern(t.family, *t.parts))
            else:  # a group without an id (the admin dashboard) has one key only
                removed += cache.invalidate(cache.key(t.family, *t.parts))  # type: ignore[arg-type]
        return removed
