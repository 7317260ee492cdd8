"""Fail open: Redis trouble turns into misses and no-ops, never into exceptions.

A :class:`Guard` sits between the cache and the client. On a connection error or timeout it
counts the error and opens a short circuit (``retry_interval`` real seconds) during which calls
skip Redis entirely, so an outage costs no socket timeout per request. redis-py reconnects by
itself on the next call after the circuit closes.

**Invalidations missed during an outage.** A failed ``invalidate``/``invalidate_pattern``/
``invalidate_tags``/``bump_counters`` is remembered (up to ``max_pending`` operations). While
any are pending the cache is *blocked*: reads are misses and writes are skipped, so nothing
stale can be served or re-stored. Each call first tries to recover: it replays the pending
invalidations in order (deletes are idempotent; a counter INCR applied twice only invalidates
more) and only then unblocks. If more than ``max_pending`` pile up, recovery flushes the whole
namespace instead (SCAN + UNLINK; strategies' counters go too and restart at 0): coarse but
safe. The log lives in this process: another process sharing the namespace replays its own
failures. A process that dies during an outage loses its log; entries then live until their
TTL (stated in the design).

Errors that are not connection trouble (e.g. ``OOM command not allowed`` on a write) are
counted and answered as a no-op, without opening the circuit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, Literal

import redis

from evalcache.cache.stats import CacheStats
from evalcache.errors import CacheError

# ("keys", (k1, k2, ...)) | ("pattern", (pattern,)) | ("tags", (t1, ...))
# | ("counters", (counter key, ...)): the INCRs of bump_counters
OpKind = Literal["keys", "pattern", "tags", "counters"]
PendingOp = tuple[OpKind, tuple[str, ...]]

REDIS_ERRORS: Final = (redis.exceptions.RedisError, OSError)
_OUTAGE_ERRORS: Final = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class Guard:
    """Error accounting, circuit breaker and pending-invalidation log of one cache."""

    def __init__(
        self,
        stats: CacheStats,
        *,
        enabled: bool,
        retry_interval: float,
        max_pending: int,
    ) -> None:
        self._stats = stats
        self.enabled = enabled
        self.retry_interval = retry_interval
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._pending: list[PendingOp] = []
        self._flush_needed = False
        self._down_until = 0.0
        # The one attribute the hot path checks: True while down or invalidations are pending.
        self.blocked = False

    def failed(self, exc: BaseException, what: str) -> None:
        """Count an error; open the circuit on outages; raise when fail-open is off."""
        self._stats.incr("errors")
        if not self.enabled:
            raise CacheError(f"Redis {what} failed: {exc}") from exc
        if isinstance(exc, _OUTAGE_ERRORS):
            with self._lock:
                self._down_until = time.monotonic() + self.retry_interval
                self.blocked = True

    def missed_invalidation(self, op: PendingOp) -> None:
        """Remember an invalidation that did not reach Redis (replayed on recovery)."""
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self._flush_needed = True
                self._pending.clear()
            elif not self._flush_needed:
                self._pending.append(op)
            self.blocked = True

    @property
    def pending(self) -> list[PendingOp]:
        with self._lock:
            return list(self._pending)

    @property
    def flush_needed(self) -> bool:
        return self._flush_needed

    def recover(
        self,
        replay: Callable[[PendingOp], object],
        flush: Callable[[], None],
    ) -> bool:
        """Try to unblock; True when Redis may be used again. Never raises when fail-open."""
        with self._lock:
            if time.monotonic() < self._down_until:
                return False
            ops, flush_all = list(self._pending), self._flush_needed
        try:
            if flush_all:
                flush()
            for op in ops:
                replay(op)
        except REDIS_ERRORS as exc:
            self.failed(exc, "recovery")
            return False
        with self._lock:
            # Drop only what was replayed: failures recorded meanwhile stay pending.
            del self._pending[: len(ops)]
            if flush_all:
                self._flush_needed = False
            self.blocked = bool(self._pending) or self._flush_needed
            return not self.blocked
