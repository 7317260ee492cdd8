"""The seed plan's QueryOptimizer functions over a real DatabaseCache."""

from __future__ import annotations

import pytest
import redis

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.domain.optimizer import BatchQuery, batch_optimized_query, optimized_query
from evalcache.errors import ConfigError

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


def test_batch_optimized_query_runs_only_missing(redis_client: redis.Redis, namespace: str) -> None:
    cache = DatabaseCache(redis_client, namespace=namespace, clock=VirtualClock(0.0))
    ran: list[str] = []

    def q(name: str) -> BatchQuery:
        return BatchQuery(cache.key("q", name), lambda: ran.append(name) or name.upper())

    assert batch_optimized_query(cache, [q("a")]) == ["A"]
    assert batch_optimized_query(cache, [q("a"), q("b")]) == ["A", "B"]
    assert ran == ["a", "b"]
    assert batch_optimized_query(cache, []) == []
