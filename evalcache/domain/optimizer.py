"""The seed plan's ``QueryOptimizer`` as two thin functions over :class:`DatabaseCache`.

Faithful to the plan: ``getWithMetadata``, refresh when the entry's age passes
``refresh_threshold × ttl``, ``setWithTags`` after a miss, batch via ``mget``. The plan's SET
after load is not race-free (use ``DatabaseCache.get_or_load`` for that); kept as written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from evalcache.cache import DatabaseCache
from evalcache.cache.entry import NO_VALUE
from evalcache.errors import ConfigError

DEFAULT_TTL = 600.0


def _refresh(cache: DatabaseCache, key: str, loader: Callable[[], Any], ttl: float,
             tags: tuple[str, ...]) -> None:  # fmt: skip
    try:
        cache.set_with_tags(key, loader(), ttl, tags)
    except Exception:  # the plan logs and carries on: a failed refresh keeps the old entry
        cache.count("errors")


def optimized_query(
    cache: DatabaseCache,
    key: str,
    loader: Callable[[], Any],
    ttl: float = DEFAULT_TTL,
    tags: Iterable[str] = (),
    skip_cache: bool = False,
    refresh_threshold: float = 0.8,
    *,
    executor: Executor | None = None,
) -> Any:
    """``QueryOptimizer.optimizedQuery``: cached value (refreshed ahead when old), else load.

    Parameters
    ----------
    executor: runs the background refresh; ``None`` refreshes inline before returning.
    """
    if not 0 < refresh_threshold <= 1:
        raise ConfigError("refresh_threshold", f"{refresh_threshold!r} is not in (0, 1]")
    tags = tuple(tags)
    if skip_cache:
        return loader()
    entry = cache.get_with_metadata(key)
    if entry is not None:
        age = cache.clock.now() - entry.created_at
        if age > ttl * refresh_threshold:
            if executor is None:
                _refresh(cache, key, loader, ttl, tags)
            else:
                executor.submit(_refresh, cache, key, loader, ttl, tags)
        return entry.value
    result = loader()
    cache.set_with_tags(key, result, ttl, tags)
    return result


@dataclass(frozen=True)
class BatchQuery:
    """One query of :func:`batch_optimized_query` (the plan's ``{key, fn, options}``)."""

    key: str
    fn: Callable[[], Any]
    ttl: float = DEFAULT_TTL
    tags: tuple[str, ...] = field(default=())


def batch_optimized_query(cache: DatabaseCache, queries: Sequence[BatchQuery]) -> list[Any]:
    """``QueryOptimizer.batchOptimizedQuery``: one MGET; run and cache only the missing ones."""
    if not queries:
        return []
    cached = cache.mget([q.key for q in queries])
    out = list(cached)
    for i, q in enumerate(queries):
        if cached[i] is NO_VALUE:
            out[i] = q.fn()
            cache.set_with_tags(q.key, out[i], q.ttl, q.tags)
    return out
