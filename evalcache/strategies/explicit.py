"""``explicit``: every key a write affects, by hand-written key layout (the seed plan's idea,
corrected), with the plan's GET-then-SET fills.

The dependency groups of a write become direct keys (one UNLINK) and, where ids are not
enumerable (``expert_appointments:E:*``, ``experts_by_spec:S:*``), SCAN patterns. A reader that
loaded before a write and SETs after its invalidation leaves a stale entry: ``race_free`` is
False (``tests/strategies/test_races.py`` shows it); ``lease`` is the same with lease fills.
"""

from __future__ import annotations

from evalcache.strategies.api import WriteEvent
from evalcache.strategies.base import PlainFills


class ExplicitStrategy(PlainFills):
    """Hand-written keys and patterns covering every family a write affects (plain fills)."""

    name = "explicit"

    def invalidate(self, event: WriteEvent) -> int:
        deps = self.host.deps
        return self.apply_targets(deps.targets(deps.groups(event)))
