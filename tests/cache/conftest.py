"""Fixtures of the cache tests: a cache on the shared Redis (a private one to break is
``own_redis``, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_000_000.0)


@pytest.fixture
def cache(
    redis_client: redis.Redis, namespace: str, clock: VirtualClock
) -> Iterator[DatabaseCache]:
    c = DatabaseCache(
        redis_client, namespace=namespace, clock=clock, default_ttl=60, negative_ttl=10
    )
    yield c
    c.close()
