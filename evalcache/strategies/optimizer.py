"""The seed plan's ``QueryOptimizer`` as two thin functions over :class:`DatabaseCache`.

Faithful to the plan: ``getWithMetadata``, refresh when the entry's age passes
``refresh_threshold × ttl``, ``setWithTags`` after a miss, batch via ``mget``. The plan's SET
after load is not race-free (use ``DatabaseCache.get_or_load`` for that); kept as written.

``refreshInBackground`` too: every hit past the threshold starts one (no single flight, no
in-flight dedupe), which loads and then stores unconditionally, so a refresh that loaded before
a write and stores after its invalidation leaves the old value cached (the refresh race).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalcache.cache import DatabaseCache
from evalcache.cache.entry import NO_VALUE
from evalcache.errors import ConfigError

DEFAULT_TTL = 600.0

#: Starts a job in the background: ``submit(job)`` (``DatabaseCache.start_refresh``, a thread
#: pool's ``submit``, ...).
Submit = Callable[[Callable[[], None]], object]


def _store_refresh(
    cache: DatabaseCache, key: str, value: Any, ttl: float, tags: tuple[str, ...]
) -> bool:
    """The one store of a background refresh: the plan's unconditional ``setWithTags``."""
    return cache.set_with_tags(key, value, ttl, tags)


def _refresh(cache: DatabaseCache, key: str, loader: Callable[[], Any], ttl: float,
             negative_ttl: float, tags: tuple[str, ...]) -> None:  # fmt: skip
    """``refreshInBackground``: load, then store whatever came back."""
    cache.count("refreshes_tried")
    try:
        value = loader()
        stored = _store_refresh(cache, key, value, negative_ttl if value is None else ttl, tags)
    except Exception:  # the plan logs and carries on: a failed refresh keeps the old entry
        cache.count("errors")
        return
    if stored:
        cache.count("refreshes_succeeded")


def optimized_query(
    cache: DatabaseCache,
    key: str,
    loader: Callable[[], Any],
    ttl: float = DEFAULT_TTL,
    tags: Iterable[str] = (),
    skip_cache: bool = False,
    refresh_threshold: float = 0.8,
    *,
    submit: Submit | None = None,
    negative_ttl: float | None = None,
    family: str | None = None,
) -> Any:
    """``QueryOptimizer.optimizedQuery``: cached value (refreshed ahead when old), else load.

    Parameters
    ----------
    submit: starts the background refresh (``submit(job)``); ``None`` refreshes inline
        before returning.
    negative_ttl: TTL of a loaded ``None`` (default ``ttl``, as the plan).
    family: labels the cache's hit and miss counters (the read is counted as ``get`` counts).
    """
    return optimized_read(
        cache, key, loader, ttl, tags, skip_cache, refresh_threshold,
        submit=submit, negative_ttl=negative_ttl, family=family,
    )[0]  # fmt: skip


def optimized_read(
    cache: DatabaseCache,
    key: str,
    loader: Callable[[], Any],
    ttl: float = DEFAULT_TTL,
    tags: Iterable[str] = (),
    skip_cache: bool = False,
    refresh_threshold: float = 0.8,
    *,
    submit: Submit | None = None,
    negative_ttl: float | None = None,
    family: str | None = None,
) -> tuple[Any, bool]:
    """:func:`optimized_query` as ``(value, loaded)``: whether this call ran ``loader`` for
    its answer (a miss or ``skip_cache``; a refresh it started does not count)."""
    if not 0 < refresh_threshold <= 1:
        raise ConfigError("refresh_threshold", f"{refresh_threshold!r} is not in (0, 1]")
    tags = tuple(tags)
    if skip_cache:
        return loader(), True
    neg_ttl = ttl if negative_ttl is None else negative_ttl
    entry = cache.get_with_metadata(key, count=True, family=family)
    if entry is not None:
        age = cache.clock.now() - entry.created_at
        if age > ttl * refresh_threshold:
            if submit is None:
                _refresh(cache, key, loader, ttl, neg_ttl, tags)
            else:
                submit(lambda: _refresh(cache, key, loader, ttl, neg_ttl, tags))
        return entry.value, False
    result = loader()
    cache.set_with_tags(key, result, neg_ttl if result is None else ttl, tags)
    return result, True


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
