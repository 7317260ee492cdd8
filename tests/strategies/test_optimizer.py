"""The seed plan's QueryOptimizer functions over a real DatabaseCache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.errors import ConfigError
from evalcache.strategies.optimizer import (
    BatchQuery,
    batch_optimized_query,
    optimized_query,
    optimized_read,
)

pytestmark = pytest.mark.redis


def test_optimized_query_caches_refreshes_and_skips(
    redis_client: redis.Redis, namespace: str
) -> None:
    clock = VirtualClock(1000.0)
    cache = DatabaseCache(redis_client, namespace=namespace, clock=clock)
    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    key = cache.key("q", 1)
    assert optimized_query(cache, key, load, ttl=100) == 1
    assert optimized_query(cache, key, load, ttl=100) == 1 and len(calls) == 1
    clock.advance(81)  # past 80 % of the TTL: served, then refreshed (inline without executor)
    assert optimized_query(cache, key, load, ttl=100) == 1 and len(calls) == 2
    assert optimized_query(cache, key, load, ttl=100) == 2
    assert optimized_query(cache, key, load, ttl=100, skip_cache=True) == 3
    with pytest.raises(ConfigError, match="refresh_threshold"):
        optimized_query(cache, key, load, refresh_threshold=0)


def test_every_due_hit_submits_a_refresh_that_stores_unconditionally(
    redis_client: redis.Redis, namespace: str
) -> None:
    clock = VirtualClock(1000.0)
    cache = DatabaseCache(redis_client, namespace=namespace, clock=clock)
    jobs: list[Callable[[], None]] = []
    version = [1]
    key = cache.key("q", 1)

    def read() -> tuple[Any, bool]:
        return optimized_read(cache, key, lambda: version[0], ttl=100, submit=jobs.append,
                              family="q")  # fmt: skip

    assert read() == (1, True) and cache.family_stats()["q"]["misses"] == 1
    clock.advance(81)
    assert [read(), read(), read()] == [(1, False)] * 3  # no single flight, no dedupe
    assert len(jobs) == 3 and cache.stats()["refreshes_tried"] == 0
    assert cache.family_stats()["q"]["hits"] == 3
    version[0] = 2
    jobs.pop(0)()
    assert read() == (2, False)
    cache.invalidate(key)  # an invalidation does not stop a refresh submitted before it:
    version[0] = 3
    jobs.pop(0)()  # it stores unconditionally (no compare-and-set), the key is back
    assert read() == (3, False)
    assert cache.stats()["refreshes_tried"] == 2 and cache.stats()["refreshes_succeeded"] == 2

    def broken() -> int:
        raise RuntimeError("database down")

    clock.advance(81)
    errors = cache.stats()["errors"]
    assert optimized_query(cache, key, broken, ttl=100) == 3  # inline: logged, old entry kept
    assert cache.stats()["errors"] == errors + 1 and cache.stats()["refreshes_tried"] == 3
    assert cache.stats()["refreshes_succeeded"] == 2 and cache.get(key) == 3


def test_batch_optimized_query_runs_only_missing(redis_client: redis.Redis, namespace: str) -> None:
    cache = DatabaseCache(redis_client, namespace=namespace, clock=VirtualClock(0.0))
    ran: list[str] = []

    def q(name: str) -> BatchQuery:
        return BatchQuery(cache.key("q", name), lambda: ran.append(name) or name.upper())

    assert batch_optimized_query(cache, [q("a")]) == ["A"]
    assert batch_optimized_query(cache, [q("a"), q("b")]) == ["A", "B"]
    assert ran == ["a", "b"]
    assert batch_optimized_query(cache, []) == []
