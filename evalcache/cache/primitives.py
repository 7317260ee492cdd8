"""Guarded Redis primitives for invalidation strategies: counters, existence, SCAN.

Strategies that keep their own keys (generation and table counters) or look at which entries
exist (write-through) call these instead of the client, so they get what the cache's own paths
get from the fail-open guard: no exception on a Redis error when fail-open (the error is
counted and the call answers ``None``/False), nothing sent while the cache is blocked, and a
counter INCR that did not reach Redis logged as a missed invalidation and replayed before the
cache is used again.

On success each issues exactly the commands a strategy would send itself: one MGET (per slot
on a cluster), one pipeline of INCRs, one pipeline of EXISTS, or the SCAN calls of one pattern.
None of them touches the cache's counters on success (a counter bump deletes nothing, so it is
neither an ``invalidations`` nor a ``keys_removed`` of the cache).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from evalcache.cache.context import CacheContext
from evalcache.cache.failopen import REDIS_ERRORS, PendingOp

T = TypeVar("T")


def _text(k: bytes | str) -> str:
    return k.decode() if isinstance(k, bytes) else str(k)


class Primitives:
    """Counter, EXISTS and SCAN calls through the guard (see the module docstring)."""

    def __init__(self, ctx: CacheContext) -> None:
        self._ctx = ctx
        self._guard = ctx.guard

    def _call(self, what: str, call: Callable[[], T]) -> T | None:
        """``call()`` through the guard: None while blocked, or when Redis failed (counted)."""
        if self._guard.blocked and not self._ctx.usable():
            return None
        try:
            return call()
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, what)
            return None

    def read_counters(self, keys: Sequence[str]) -> list[int] | None:
        keys = list(keys)
        if not keys:
            return []
        client = self._ctx.client
        mget = client.mget_nonatomic if self._ctx.cluster else client.mget
        raw: list[Any] | None = self._call("MGET", lambda: mget(keys))
        return None if raw is None else [int(v or 0) for v in raw]

    def bump_counters(self, keys: Sequence[str]) -> bool:
        op: PendingOp = ("counters", tuple(keys))
        if not op[1]:
            return True
        if self._guard.blocked and not self._ctx.usable():
            self._guard.missed_invalidation(op)
            return False
        try:
            self._ctx.apply(op)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "INCR")
            self._guard.missed_invalidation(op)
            return False
        return True

    def existing(self, keys: Sequence[str]) -> list[str] | None:
        keys = list(keys)
        if not keys:
            return []

        def exists() -> list[Any]:
            pipe = self._ctx.client.pipeline(transaction=False)
            for k in keys:
                pipe.exists(k)
            return list(pipe.execute())

        found = self._call("EXISTS", exists)
        return None if found is None else [k for k, n in zip(keys, found, strict=True) if n]

    def scan(self, pattern: str) -> list[str] | None:
        ctx = self._ctx
        pattern = ctx.keys.check_pattern(pattern)
        return self._call(
            "SCAN",
            lambda: [_text(k) for k in ctx.client.scan_iter(match=pattern, count=ctx.scan_batch)],
        )
