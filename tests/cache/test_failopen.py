"""Fail open and round trips, on a redis-server of our own that we freeze, stop, restart."""

from __future__ import annotations

import time

import pytest
import redis

from evalcache.cache import NO_VALUE, DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.embedded import ScratchRedis
from evalcache.errors import CacheError

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k: v["calls"] for k, v in stats.items() if k != "cmdstat_info"}


def test_a_hit_costs_exactly_one_round_trip(own_redis: ScratchRedis) -> None:
    admin = redis.Redis(port=own_redis.port)
    cache = DatabaseCache(own_redis.url, namespace="rt", clock=VirtualClock(0))
    key = cache.key("u", 1)
    cache.set(key, {"a": 1}, 60)
    cache.get(key)  # warm the connection
    before = _calls(admin)
    assert cache.get(key) == {"a": 1}
    assert cache.get_or_load(key, lambda: None, 60) == {"a": 1}
    after = _calls(admin)
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert delta == {"cmdstat_get": 2}
    cache.close()


def _cache(server: ScratchRedis, **kw: object) -> DatabaseCache:
    return DatabaseCache(
        server.url,
        namespace="fo",
        clock=VirtualClock(0),
        socket_timeout=0.1,
        retry_interval=0.2,
        **kw,  # type: ignore[arg-type]
    )


def test_frozen_redis_is_a_miss_and_missed_invalidations_replay(own_redis: ScratchRedis) -> None:
    cache = _cache(own_redis)
    key, other = cache.key("u", 1), cache.key("u", 2)
    cache.set_with_tags(key, "old", 60, ["user:1"])
    cache.set(other, "keep", 60)
    own_redis.freeze()  # data stays in the server, which answers nothing
    t0 = time.monotonic()
    assert cache.get(key) is NO_VALUE
    assert cache.get_or_load(other, lambda: "from-db", 60) == "from-db"
    assert cache.invalidate_tags(["user:1"]) == 0  # missed: remembered
    assert cache.set(key, "x", 60) is False
    assert time.monotonic() - t0 < 1.0  # one timeout, then the circuit answers at once
    assert cache.stats()["errors"] >= 1
    own_redis.thaw()
    assert redis.Redis(port=own_redis.port).exists(key) == 1  # the stale entry survived
    time.sleep(0.25)
    assert cache.get(key) is NO_VALUE  # recovery replayed the invalidation first
    assert redis.Redis(port=own_redis.port).exists(key) == 0
    assert cache.get(other) == "keep"
    cache.close()


def test_reconnects_after_restart(own_redis: ScratchRedis) -> None:
    cache = _cache(own_redis)
    key = cache.key("u", 1)
    own_redis.stop()
    assert cache.get(key) is NO_VALUE and cache.set(key, 1, 60) is False
    own_redis.start()
    time.sleep(0.25)
    assert cache.set(key, 1, 60) is True and cache.get(key) == 1
    cache.close()


def test_pending_overflow_flushes_the_namespace(own_redis: ScratchRedis) -> None:
    cache = _cache(own_redis, max_pending=2)
    keys = [cache.key("u", i) for i in range(4)]
    for k in keys:
        cache.set(k, 1, 60)
    own_redis.freeze()
    for k in keys[:3]:
        cache.invalidate(k)
    assert cache._guard.flush_needed
    own_redis.thaw()
    time.sleep(0.25)
    assert cache.mget(keys) == [NO_VALUE] * 4  # flushed wholesale, keys[3] included
    cache.close()


def test_out_of_memory_writes_are_counted_no_ops(own_redis: ScratchRedis) -> None:
    cache = _cache(own_redis)
    key = cache.key("u", 1)
    cache.set(key, "v", 60)
    redis.Redis(port=own_redis.port).config_set("maxmemory", 1)
    assert cache.set(cache.key("u", 2), "w", 60) is False
    assert cache.get_or_load(cache.key("u", 3), lambda: "db", 60) == "db"
    assert cache.get(key) == "v"  # reads still served: OOM does not open the circuit
    assert cache.stats()["errors"] >= 2
    cache.close()


def test_fail_open_off_raises(own_redis: ScratchRedis) -> None:
    cache = _cache(own_redis, fail_open=False)
    own_redis.stop()
    with pytest.raises(CacheError, match="GET"):
        cache.get(cache.key("u", 1))
    cache.close()
