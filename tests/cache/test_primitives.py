"""Guarded primitives for strategies: counters, EXISTS, SCAN, on real and on broken Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import pytest
import redis

from evalcache.cache import ANY, DatabaseCache, encode_part
from evalcache.clock import VirtualClock
from evalcache.errors import CacheError, ConfigError

pytestmark = pytest.mark.redis


class RedisServer(Protocol):
    """What these tests use of the ``own_redis`` fixture (a Redis of the test's own)."""

    port: int

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def test_counter_keys_keep_the_strategies_layout(cache: DatabaseCache) -> None:
    ns = cache.namespace
    for kind, name in [("gen", "user:1"), ("tv", "appointments"), ("gen", "a b*")]:
        assert cache.keys.counter(kind, name) == f"{ns}.{kind}:{encode_part(name)}"
    for bad in ("lock", "tag", "a:b", ""):
        with pytest.raises(ConfigError, match="counter kind"):
            cache.keys.counter(bad, "x")


def test_counters_read_and_bump_without_touching_invalidation_counters(
    cache: DatabaseCache, redis_client: redis.Redis
) -> None:
    a, b = cache.keys.counter("gen", "g1"), cache.keys.counter("tv", "t1")
    assert cache.read_counters([a, b]) == [0, 0]
    assert cache.read_counters([]) == []
    assert cache.bump_counters([a, b]) is True
    assert cache.bump_counters([a]) is True
    assert cache.bump_counters([]) is True
    assert cache.read_counters([b, a]) == [1, 2]
    assert redis_client.ttl(a) == -1  # counters carry no TTL
    s = cache.stats()
    assert (s["invalidations"], s["keys_removed"], s["errors"]) == (0, 0, 0)
    assert cache.flush_namespace() == 2  # the namespace patterns cover counters, as before
    assert cache.read_counters([a, b]) == [0, 0]


def test_existing_and_scan(cache: DatabaseCache) -> None:
    keys = [cache.key("u", i) for i in range(4)]
    for k in keys[:3]:
        cache.set(k, 1)
    cache.set(cache.key("other", 1), 1)
    assert cache.existing([keys[3], keys[1], keys[0]]) == [keys[1], keys[0]]
    assert cache.existing([]) == []
    found = cache.scan(cache.pattern("u", ANY))
    assert found is not None and sorted(found) == sorted(keys[:3])
    assert all(isinstance(k, str) for k in found)
    with pytest.raises(ConfigError, match="namespace prefix"):
        cache.scan("*")


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k: v["calls"] for k, v in stats.items() if k != "cmdstat_info"}


def _delta(admin: redis.Redis, call: Callable[[], object]) -> dict[str, int]:
    before = _calls(admin)
    call()
    after = _calls(admin)
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def _pipeline(client: redis.Redis, op: str, keys: list[str]) -> list[object]:
    pipe = client.pipeline(transaction=False)
    for k in keys:
        getattr(pipe, op)(k)
    return pipe.execute()


def test_each_primitive_sends_what_the_strategies_sent_directly(own_redis: RedisServer) -> None:
    admin = redis.Redis(port=own_redis.port)
    cache = DatabaseCache(own_redis.url, namespace="pc", clock=VirtualClock(0))
    client = cache.client
    keys = [cache.key("u", i) for i in range(3)]
    cache.set(keys[0], 1, 60)
    counters = [cache.keys.counter("gen", g) for g in ("a", "b", "c")]
    pattern = cache.pattern("u", ANY)
    pairs: list[tuple[Callable[[], object], Callable[[], object], dict[str, int]]] = [
        (
            lambda: cache.read_counters(counters),
            lambda: client.mget(counters),
            {"cmdstat_mget": 1},
        ),
        (  # redis-py's incr is INCRBY key 1
            lambda: cache.bump_counters(counters[:2]),
            lambda: _pipeline(client, "incr", counters[:2]),
            {"cmdstat_incrby": 2},
        ),
        (
            lambda: cache.existing(keys),
            lambda: _pipeline(client, "exists", keys),
            {"cmdstat_exists": 3},
        ),
        (
            lambda: cache.scan(pattern),
            lambda: list(client.scan_iter(match=pattern, count=cache.scan_batch)),
            {"cmdstat_scan": 1},
        ),
    ]
    for primitive, direct, expected in pairs:
        assert _delta(admin, primitive) == _delta(admin, direct) == expected
    cache.close()


def _cache(server: RedisServer, **kw: object) -> DatabaseCache:
    options: dict[str, object] = {"socket_timeout": 0.1, "retry_interval": 0.2, **kw}
    return DatabaseCache(
        server.url,
        namespace="pf",
        clock=VirtualClock(0),
        **options,  # type: ignore[arg-type]
    )


PRIMITIVES: list[tuple[str, Callable[[DatabaseCache], object], object]] = [
    ("read_counters", lambda c: c.read_counters([c.keys.counter("gen", "g")]), None),
    ("existing", lambda c: c.existing([c.key("u", 1)]), None),
    ("scan", lambda c: c.scan(c.pattern("u", ANY)), None),
    ("bump_counters", lambda c: c.bump_counters([c.keys.counter("gen", "g")]), False),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "call", "answer"), PRIMITIVES, ids=[p[0] for p in PRIMITIVES])
def test_primitives_fail_open_on_a_stopped_redis(
    own_redis: RedisServer, name: str, call: Callable[[DatabaseCache], object], answer: object
) -> None:
    own_redis.stop()
    cache = _cache(own_redis, retry_interval=30.0)  # the circuit stays open for the test
    assert call(cache) is answer
    assert cache.stats()["errors"] == 1
    # Blocked now: every primitive answers at once, without trying Redis or counting again.
    for _, other, other_answer in PRIMITIVES:
        assert other(cache) is other_answer
    s = cache.stats()
    assert (s["errors"], s["invalidations"], s["keys_removed"]) == (1, 0, 0)
    bumps = 2 if name == "bump_counters" else 1
    assert cache._guard.pending == [("counters", (cache.keys.counter("gen", "g"),))] * bumps
    cache.close()


@pytest.mark.slow
def test_missed_bumps_are_replayed_before_the_next_read(own_redis: RedisServer) -> None:
    cache = _cache(own_redis)
    admin = redis.Redis(port=own_redis.port)
    counter = cache.keys.counter("tv", "appointments")
    own_redis.stop()
    assert cache.bump_counters([counter]) is False
    own_redis.start()  # nothing persisted: the counter starts again from absent (0)
    assert admin.get(counter) is None
    time.sleep(0.25)
    assert cache.read_counters([counter]) == [1]  # recovery replayed the INCR, then read
    assert cache._guard.pending == [] and not cache._guard.blocked
    cache.close()


@pytest.mark.slow
def test_fail_open_off_raises(own_redis: RedisServer) -> None:
    cache = _cache(own_redis, fail_open=False)
    own_redis.stop()
    with pytest.raises(CacheError, match="MGET"):
        cache.read_counters([cache.keys.counter("gen", "g")])
    with pytest.raises(CacheError, match="INCR"):
        cache.bump_counters([cache.keys.counter("gen", "g")])
    cache.close()


def test_load_uncached_counts_a_miss_and_a_load_and_stores_nothing(
    cache: DatabaseCache, redis_client: redis.Redis
) -> None:
    assert cache.load_uncached(lambda: {"a": 1}, family="f") == {"a": 1}
    fam = cache.family_stats()["f"]
    assert (fam["misses"], fam["loads"], fam["hits"]) == (1, 1, 0)
    assert list(redis_client.scan_iter(match=f"{cache.namespace}*")) == []

    def boom() -> None:
        raise LookupError("db down")

    with pytest.raises(LookupError):
        cache.load_uncached(boom, family="f")
    assert cache.stats()["load_errors"] == 1
