"""``tags``: entries carry their dependency groups as Redis tags, registered with the lease
before the load; a write invalidates its groups' tags (cost grows with the tagged keys only)."""

from __future__ import annotations

from evalcache.strategies.api import ReadSpec, WriteEvent
from evalcache.strategies.base import BaseStrategy


class TagsStrategy(BaseStrategy):
    """Entries tagged with their dependency groups; writes invalidate tags."""

    name = "tags"

    def tags(self, spec: ReadSpec) -> tuple[str, ...]:
        return spec.groups

    def invalidate(self, event: WriteEvent) -> int:
        return self.cache.invalidate_tags(self.host.deps.groups(event))
