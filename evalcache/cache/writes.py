"""Writes and invalidations: ``set``, ``invalidate*``, ``flush_namespace``, cleanup.

A write is skipped (False) while Redis is down or invalidations are pending, so nothing can be
re-stored over what a missed invalidation should have removed. An invalidation that cannot
reach Redis is logged in the guard and replayed before the cache is used again
(``failopen.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from evalcache.cache.context import CacheContext
from evalcache.cache.entry import Version
from evalcache.cache.failopen import REDIS_ERRORS, PendingOp
from evalcache.cache.observe import origin
from evalcache.cache.options import check_tags, check_ttl
from evalcache.errors import ConfigError


class Writes:
    """Write and invalidation paths of one cache (see :class:`~evalcache.cache.DatabaseCache`)."""

    def __init__(self, ctx: CacheContext) -> None:
        self._ctx = ctx
        self._guard = ctx.guard
        self._stats = ctx.stats

    def set(
        self, key: str, value: Any, ttl: float | None, tags: Iterable[str], version: Version
    ) -> bool:
        ok = self._set(key, value, ttl, tags, version)
        observer = self._ctx.store_observer
        if observer is not None:
            observer(value, origin(), ok)
        return ok

    def _set(
        self, key: str, value: Any, ttl: float | None, tags: Iterable[str], version: Version
    ) -> bool:
        ctx = self._ctx
        ttl = ctx.options.default_ttl if ttl is None else check_ttl("ttl", ttl)
        tags = check_tags(tags)
        env = ctx.envelope(value, ttl, tags, version, 0.0, ctx.clock.now())
        if self._guard.blocked and not ctx.usable():
            return False
        px = ctx.px(ttl)
        try:
            if tags:
                pipe = ctx.client.pipeline(transaction=not ctx.cluster)
                positions = ctx.tags.register(pipe, key, tags, px)
                pipe.set(key, env, px=px)
                ctx.tags.after(pipe.execute(), positions)
            else:
                ctx.client.set(key, env, px=px)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "SET")
            return False
        self._stats.incr("sets")
        self._stats.incr("bytes_written", len(env))
        return True

    # -- invalidation ----------------------------------------------------------------------
    def _invalidate(self, op: PendingOp) -> int:
        self._stats.incr("invalidations")
        if self._guard.blocked and not self._ctx.usable():
            self._guard.missed_invalidation(op)
            return 0
        try:
            n = self._ctx.apply(op)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "invalidation")
            self._guard.missed_invalidation(op)
            return 0
        self._stats.incr("keys_removed", n)
        return n

    def invalidate(self, keys: str | Iterable[str]) -> int:
        ks = (keys,) if isinstance(keys, str) else tuple(keys)
        return self._invalidate(("keys", ks)) if ks else 0

    def invalidate_pattern(self, pattern: str) -> int:
        return self._invalidate(("pattern", (self._ctx.keys.check_pattern(pattern),)))

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        tags = check_tags(tags)
        return self._invalidate(("tags", tags)) if tags else 0

    def flush_namespace(self) -> int:
        ctx = self._ctx
        self._stats.incr("invalidations")
        try:
            n = sum(ctx.unlink_matching(p) for p in ctx.keys.namespace_patterns())
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "flush")
            self._guard.missed_invalidation(("pattern", (ctx.keys.namespace_patterns()[0],)))
            return 0
        self._stats.incr("keys_removed", n)
        return n

    # -- maintenance -----------------------------------------------------------------------
    def cleanup_stale_entries(self, older_than: float) -> int:
        ctx = self._ctx
        if older_than < 0:
            raise ConfigError("older_than", f"{older_than!r} is not >= 0 seconds")
        if self._guard.blocked and not ctx.usable():
            return 0
        removed = 0
        try:
            pattern = ctx.keys.namespace_patterns()[0]
            batch = [k for k in ctx.client.scan_iter(match=pattern, count=ctx.scan_batch)]
            for i in range(0, len(batch), ctx.scan_batch):
                chunk = batch[i : i + ctx.scan_batch]
                pipe = ctx.client.pipeline(transaction=False)
                for k in chunk:
                    pipe.object("idletime", k)
                idle = pipe.execute(raise_on_error=False)
                old = [
                    k
                    for k, t in zip(chunk, idle, strict=True)
                    if isinstance(t, int) and t >= older_than
                ]
                if old:
                    removed += int(ctx.client.unlink(*old))
            ctx.tags.prune_all()
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "cleanup")
        self._stats.incr("keys_removed", removed)
        return removed

    def prune_tags(self) -> int:
        try:
            return self._ctx.tags.prune_all()
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "prune")
            return 0
