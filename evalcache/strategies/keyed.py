"""Strategies that delete (or rewrite) entries: ``explicit``, ``lease``, ``pattern``, ``tags``,
``write_through``.

All derive what a write affects from :mod:`evalcache.strategies.deps` (one table):

- ``explicit``: groups -> direct keys (UNLINK) and, where ids are not enumerable
  (``expert_appointments:E:*``, ``experts_by_spec:S:*``), SCAN patterns. Fills are the plan's
  GET-then-SET, so a reader that loaded before a write and SETs after its invalidation leaves a
  stale entry: ``race_free = False`` (shown by ``tests/strategies/test_races.py``).
- ``lease``: ``explicit``'s invalidations with the cache core's lease fills
  (``get_or_load``): the invalidation deletes the reader's lease and its late SET is dropped.
- ``pattern``: every affected *family* is dropped whole with a SCAN glob (ids wildcarded, no
  lookups): simple, coarse, its cost grows with the keyspace.
- ``tags``: entries carry their groups as Redis tags, registered with the lease before the
  load; a write invalidates the groups' tags.
- ``write_through``: the affected entries that exist are deleted and recomputed at once (with
  a lease, so a concurrent reader's older load cannot overwrite the recomputed value).
"""

from __future__ import annotations

from typing import Any

from evalcache.cache.keys import ANY
from evalcache.events import WriteEvent
from evalcache.strategies.base import BaseStrategy, ReadSpec
from evalcache.strategies.deps import targets_for, wildcard


class ExplicitStrategy(BaseStrategy):
    """Hand-written keys and patterns covering every family a write affects (plain fills)."""

    name = "explicit"
    race_free = False
    plain_fills = True

    def invalidate(self, event: WriteEvent) -> int:
        return self.apply_targets(targets_for(self.groups_of(event), self.host.admin_id))


class LeaseStrategy(ExplicitStrategy):
    """``explicit`` invalidation with race-free lease fills."""

    name = "lease"
    race_free = True
    plain_fills = False


class PatternStrategy(BaseStrategy):
    """SCAN-glob invalidation of whole families (every id of an affected family)."""

    name = "pattern"
    race_free = True  # SCAN sees a lease that exists throughout it and deletes it

    def invalidate(self, event: WriteEvent) -> int:
        groups = list(dict.fromkeys(wildcard(g) for g in self.groups_of(event, lookup=False)))
        targets = targets_for(groups, self.host.admin_id)
        cache = self.cache
        removed = 0
        for family, parts in targets:
            if ANY in parts:
                removed += cache.invalidate_pattern(cache.pattern(family, *parts))
            else:  # the admin dashboard has one key only
                removed += cache.invalidate(cache.key(family, *parts))  # type: ignore[arg-type]
        return removed


class TagsStrategy(BaseStrategy):
    """Entries tagged with their dependency groups; writes invalidate tags."""

    name = "tags"
    race_free = True

    def tags(self, spec: ReadSpec) -> tuple[str, ...]:
        return spec.groups

    def invalidate(self, event: WriteEvent) -> int:
        return self.cache.invalidate_tags(self.groups_of(event))


class WriteThroughStrategy(BaseStrategy):
    """Recompute and overwrite the affected entries that exist, on every write."""

    name = "write_through"
    race_free = True

    def __init__(self) -> None:
        super().__init__()
        self.recomputed = 0

    def _existing(self, event: WriteEvent) -> list[str]:
        cache = self.cache
        targets = targets_for(self.groups_of(event), self.host.admin_id)
        direct = [cache.key(f, *p) for f, p in targets if ANY not in p]  # type: ignore[arg-type]
        found: list[str] = []
        if direct:
            pipe = cache.client.pipeline(transaction=False)
            for k in direct:
                pipe.exists(k)
            found += [k for k, n in zip(direct, pipe.execute(), strict=True) if n]
        for f, p in targets:
            if ANY in p:
                pattern = cache.pattern(f, *p)
                found += [
                    k.decode() if isinstance(k, bytes) else str(k)
                    for k in cache.client.scan_iter(match=pattern, count=cache.scan_batch)
                ]
        return list(dict.fromkeys(found))

    def invalidate(self, event: WriteEvent) -> int:
        cache = self.cache
        keys = self._existing(event)
        if not keys:
            return 0
        cache.invalidate(keys)  # kills leases of readers that loaded before this write
        for key in keys:
            spec = self.host.spec_from_key(key)
            if spec is None:
                continue

            def load(s: ReadSpec = spec) -> Any:
                return self.host.load(s)

            cache.get_or_load(
                key, load, spec.ttl, tags=self.tags(spec), negative_ttl=self.host.negative_ttl
            )
            self.recomputed += 1
        return len(keys)

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["recomputed"] = self.recomputed
        return out
