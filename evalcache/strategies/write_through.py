"""``write_through``: on every write the affected entries that exist are deleted and
recomputed at once (with a lease, so a concurrent reader's older load cannot overwrite the
recomputed value). Write cost for no miss after a write.

When Redis cannot say which entries exist (down), the targets are invalidated instead (the
cache's guard records that for replay), so nothing stale survives the outage.
"""

from __future__ import annotations

from typing import Any

from evalcache.strategies.api import ReadSpec, Target, WriteEvent
from evalcache.strategies.base import BaseStrategy


class WriteThroughStrategy(BaseStrategy):
    """Recompute and overwrite the affected entries that exist, on every write."""

    name = "write_through"
    write_effect = "refresh"

    def __init__(self) -> None:
        super().__init__()
        self.recomputed = 0

    def _existing(self, targets: list[Target]) -> list[str] | None:
        cache = self.cache
        direct = [cache.key(t.family, *t.parts) for t in targets if not t.is_pattern]  # type: ignore[arg-type]
        found: list[str] = []
        if direct:
            present = cache.existing(direct)
            if present is None:
                return None
            found += present
        for t in targets:
            if t.is_pattern:
                matched = cache.scan(cache.pattern(t.family, *t.parts))
                if matched is None:
                    return None
                found += matched
        return list(dict.fromkeys(found))

    def invalidate(self, event: WriteEvent) -> int:
        deps = self.host.deps
        targets = deps.targets(deps.groups(event))
        keys = self._existing(targets)
        if keys is None:
            return self.apply_targets(targets)
        if not keys:
            return 0
        cache = self.cache
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
