"""Leases, locks and compare-and-set: the pieces behind single flight and no stale sets.

**No stale sets (leases).** A ``get_or_load`` that finds its key absent writes a *lease
placeholder* into the entry key itself (``SET key <lease> NX PX``), registers the key in its
tag sets, and only then runs the loader. It stores the result with :data:`CAS_SET`, which
succeeds only if the key still holds the placeholder's token. Every invalidation path deletes
the key (``invalidate``, ``invalidate_pattern`` via SCAN, ``invalidate_tags`` via the tag set
the key was registered in before loading), so an invalidation that lands while the loader runs
kills the lease and the late result is dropped (counted as ``stale_sets_prevented``). This is
Facebook memcache's lease, with the placeholder doubling as the single-flight lock for absent
keys: other callers see the placeholder and wait instead of loading.

When the key still holds an expired (or refresh-due) entry, the stale value stays readable
and a separate lock key (``ns.lock:...``) elects the loader; the write is a CAS against the
stale entry's token, so an invalidation (which deletes the entry) again defeats the late set.

Lock and lease lifetimes come from the loader's observed duration (:class:`LoadTimer`), so a
holder that dies releases the key by TTL after a few typical load times.
"""

from __future__ import annotations

import threading
from typing import Final

# KEYS[1] entry key; ARGV: token, new envelope, px. Token sits at bytes 5..12 of the envelope.
CAS_SET: Final = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 5, 12) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

# KEYS[1] entry key; ARGV[1] token: delete the lease placeholder only if it is still ours.
RELEASE_LEASE: Final = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 3, 3) == 'L' and string.sub(cur, 5, 12) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] token.
RELEASE_LOCK: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] tag set; ARGV: member keys. Remove members whose entry no longer exists, atomically
# per call, so a member re-registered concurrently is never dropped (single Redis only).
PRUNE_TAG: Final = """
local removed = 0
for i, k in ipairs(ARGV) do
  if redis.call('EXISTS', k) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], k)
  end
end
return removed
"""


class LoadTimer:
    """Exponentially weighted loader durations per family → lock and lease lifetimes.

    Parameters
    ----------
    factor:
        Lock TTL = ``factor`` × typical load time, clamped to ``[min_ttl, max_ttl]`` seconds.
    initial:
        Assumed load time (seconds) before any load was observed.
    """

    def __init__(
        self,
        *,
        factor: float = 4.0,
        min_ttl: float = 0.5,
        max_ttl: float = 30.0,
        initial: float = 1.0,
        alpha: float = 0.2,
    ) -> None:
        self.factor = factor
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.initial = initial
        self.alpha = alpha
        self._ewma: dict[str | None, float] = {}
        self._lock = threading.Lock()

    def observe(self, family: str | None, seconds: float) -> None:
        with self._lock:
            old = self._ewma.get(family)
            self._ewma[family] = seconds if old is None else old + self.alpha * (seconds - old)

    def typical(self, family: str | None) -> float:
        return self._ewma.get(family, self.initial)

    def lock_ttl(self, family: str | None) -> float:
        """Seconds a lock or lease of ``family`` lives before it is presumed abandoned."""
        return min(self.max_ttl, max(self.min_ttl, self.factor * self.typical(family)))
