"""DatabaseCache reads, writes, tags, invalidation, time and counters on real Redis."""

from __future__ import annotations

import pytest
import redis

from evalcache.cache import ANY, NO_VALUE, DatabaseCache
from evalcache.clock import SystemClock, VirtualClock
from evalcache.errors import ConfigError

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("value", [None, 0, "", [], {}, False, {"a": [1, "é"]}])
def test_cached_falsy_values_are_hits_not_misses(cache: DatabaseCache, value: object) -> None:
    key = cache.key("v", 1)
    assert cache.get(key) is NO_VALUE
    assert cache.set(key, value)
    got = cache.get(key)
    assert got is not NO_VALUE and got == value
    s = cache.stats()
    assert (s["hits"], s["misses"], s["negative_hits"]) == (1, 1, int(value is None))


def test_mget_keeps_key_order_in_one_call(cache: DatabaseCache) -> None:
    ks = [cache.key("u", i) for i in range(5)]
    cache.set(ks[1], "one")
    cache.set(ks[3], None)
    assert cache.mget(ks, family="u") == [NO_VALUE, "one", NO_VALUE, None, NO_VALUE]
    assert cache.mget([]) == []
    assert cache.family_stats()["u"]["hits"] == 2 and cache.family_stats()["u"]["misses"] == 3


def test_virtual_expiry_is_judged_from_metadata(
    cache: DatabaseCache, clock: VirtualClock, redis_client: redis.Redis
) -> None:
    key = cache.key("u", 1)
    cache.set(key, "v", ttl=30)
    # Redis holds it far longer than the virtual TTL (memory bound + real-time slack).
    assert redis_client.pttl(key) > (30 + 3600 - 5) * 1000
    clock.advance(29.9)
    assert cache.get(key) == "v"
    clock.advance(0.1)
    assert cache.get(key) is NO_VALUE
    assert redis_client.exists(key) == 1
    assert cache.stats()["expirations"] == 1
    entry = cache.get_with_metadata(key, include_expired=True)
    assert entry is not None and entry.expires_at == 1_000_030.0
    assert cache.get_with_metadata(key) is None


def test_system_clock_lets_redis_expire(redis_client: redis.Redis, namespace: str) -> None:
    cache = DatabaseCache(redis_client, namespace=namespace, clock=SystemClock())
    key = cache.key("u", 1)
    cache.set(key, "v", ttl=30)
    assert 29_000 < redis_client.pttl(key) <= 30_000


def test_get_with_metadata(cache: DatabaseCache, clock: VirtualClock) -> None:
    key = cache.key("u", 1)
    cache.set_with_tags(key, {"x": 1}, 60, ["user:1", "t:b"], version=7)
    e = cache.get_with_metadata(key)
    assert e is not None
    assert (e.value, e.created_at, e.ttl, e.tags, e.version, e.negative) == (
        {"x": 1},
        clock.now(),
        60.0,
        ("user:1", "t:b"),
        7,
        False,
    )
    assert cache.get_with_metadata(cache.key("u", 2)) is None


def test_tags_invalidate_only_their_members(
    cache: DatabaseCache, redis_client: redis.Redis
) -> None:
    a, b, c = (cache.key("u", i) for i in "abc")
    cache.set_with_tags(a, 1, 60, ["user:1"])
    cache.set_with_tags(b, 2, 60, ["user:1", "expert:9"])
    cache.set_with_tags(c, 3, 60, ["expert:9"])
    assert redis_client.scard(cache.keys.tag("user:1")) == 2
    assert cache.invalidate_tags(["user:1"]) == 2
    assert cache.mget([a, b, c]) == [NO_VALUE, NO_VALUE, 3]
    assert redis_client.exists(cache.keys.tag("user:1")) == 0
    s = cache.stats()
    assert (s["invalidations"], s["keys_removed"]) == (1, 2)
    with pytest.raises(ConfigError, match="list or tuple"):
        cache.invalidate_tags("user:1")


def test_set_with_tags_is_one_multi(cache: DatabaseCache, redis_client: redis.Redis) -> None:
    calls: list[bool] = []
    real = redis_client.pipeline

    def spy(transaction: bool = True, shard_hint: object = None) -> object:
        calls.append(transaction)
        return real(transaction=transaction, shard_hint=shard_hint)

    redis_client.pipeline = spy  # type: ignore[method-assign]
    try:
        cache.set_with_tags(cache.key("u", 1), 1, 60, ["a", "b"])
    finally:
        redis_client.pipeline = real  # type: ignore[method-assign]
    assert calls == [True]
    tag_ttl = redis_client.pttl(cache.keys.tag("a"))
    assert tag_ttl >= redis_client.pttl(cache.key("u", 1)) - 50


def test_tag_sets_are_pruned_of_gone_members(redis_client: redis.Redis, namespace: str) -> None:
    cache = DatabaseCache(redis_client, namespace=namespace, tag_prune_threshold=10)
    keys = [cache.key("u", i) for i in range(10)]
    for k in keys:
        cache.set_with_tags(k, 1, 60, ["hot"])
    redis_client.unlink(*keys[:9])  # as if they had expired
    cache.set_with_tags(cache.key("u", "new"), 1, 60, ["hot"])  # 11 members > 10: prune
    members = {m.decode() for m in redis_client.smembers(cache.keys.tag("hot"))}
    assert members == {keys[9], cache.key("u", "new")}
    redis_client.unlink(keys[9])
    assert cache.prune_tags() == 1


def test_invalidate_pattern_stays_in_namespace(
    cache: DatabaseCache, redis_client: redis.Redis, namespace: str
) -> None:
    for i in range(1200):  # more than one SCAN batch
        cache.set(cache.key("dash", "admin", i), i)
    cache.set(cache.key("dash", "user", 1), 1)
    foreign = f"{namespace}x:dash:admin:1"
    redis_client.set(foreign, b"keep")
    assert cache.invalidate_pattern(cache.pattern("dash", "admin", ANY)) == 1200
    assert cache.get(cache.key("dash", "user", 1)) == 1
    assert redis_client.get(foreign) == b"keep"
    with pytest.raises(ConfigError):
        cache.invalidate_pattern("*")


def test_invalidate_keys(cache: DatabaseCache) -> None:
    ks = [cache.key("u", i) for i in range(3)]
    for k in ks:
        cache.set(k, 1)
    assert cache.invalidate(ks[0]) == 1
    assert cache.invalidate(ks) == 2
    assert cache.stats()["keys_removed"] == 3


def test_cleanup_stale_entries(cache: DatabaseCache, redis_client: redis.Redis) -> None:
    cache.set_with_tags(cache.key("u", 1), 1, 60, ["t"])
    cache.set(cache.key("u", 2), 2)
    assert cache.cleanup_stale_entries(older_than=3600) == 0
    assert cache.cleanup_stale_entries(older_than=0) == 2
    assert redis_client.exists(cache.keys.tag("t")) == 0  # pruned to empty


def test_bad_arguments_raise_before_writing(
    cache: DatabaseCache, redis_client: redis.Redis
) -> None:
    key = cache.key("u", 1)
    for bad in (0, -1, float("inf"), "60", True):
        with pytest.raises(ConfigError, match="ttl"):
            cache.set(key, 1, ttl=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tags"):
        cache.set(key, 1, tags=[""])
    with pytest.raises(ConfigError, match="cannot encode"):
        cache.set(key, object())
    assert redis_client.exists(key) == 0
    with pytest.raises(ConfigError, match="client_or_url"):
        DatabaseCache(42)  # type: ignore[arg-type]


def test_reset_stats(cache: DatabaseCache) -> None:
    cache.get(cache.key("u", 1), family="f")
    cache.reset_stats()
    assert set(cache.stats().values()) == {0} and cache.family_stats() == {}
