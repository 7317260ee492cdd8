"""``lease``: ``explicit``'s invalidations with the cache core's lease fills (``get_or_load``):
the invalidation deletes a reader's lease, so its late SET is dropped."""

from __future__ import annotations

from evalcache.strategies.api import WriteEvent
from evalcache.strategies.base import BaseStrategy


class LeaseStrategy(BaseStrategy):
    """``explicit`` invalidation with race-free lease fills."""

    name = "lease"

    def invalidate(self, event: WriteEvent) -> int:
        deps = self.host.deps
        return self.apply_targets(deps.targets(deps.groups(event)))
