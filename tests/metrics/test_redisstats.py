from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from evalcache.embedded import scratch_redis
from evalcache.metrics import redis_snapshot


@pytest.fixture
def private_redis() -> Iterator[redis.Redis]:
    """A Redis of this test's own: command counts on the shared server include other clients."""
    with scratch_redis() as url:
        client = redis.Redis.from_url(url)
        yield client
        client.close()


@pytest.mark.redis
def test_snapshot_delta_counts_exactly_the_commands_issued(private_redis: redis.Redis) -> None:
    before = redis_snapshot(private_redis)
    private_redis.set("a", "x" * 1000)
    private_redis.set("b", "y")
    private_redis.get("a")
    private_redis.get("missing")
    private_redis.delete("b")
    delta = redis_snapshot(private_redis) - before
    assert delta.commands == 5
    assert delta.commandstats == {"set": 2, "get": 2, "del": 1}
    assert delta.keys == 1
    assert delta.keyspace_hits == 1 and delta.keyspace_misses == 1
    assert delta.used_memory_bytes > 0
    assert delta.summary() == {
        "commands": 5,
        "used_memory_bytes": delta.used_memory_bytes,
        "keys": 1,
    }


@pytest.mark.redis
def test_client_command_count_agrees_with_the_server(private_redis: redis.Redis) -> None:
    from evalcache.metrics import count_commands

    port = private_redis.connection_pool.connection_kwargs["port"]
    client = redis.Redis(port=port)
    counted = count_commands(client)
    other = redis.Redis(port=port)
    other.ping()  # connection handshakes happen before the measured window (Redis 7.0 rejects
    client.ping()  # redis-py's CLIENT SETINFO, so the server does not count those)
    start = counted.value
    before = redis_snapshot(private_redis)
    for i in range(20):
        client.set(f"k{i}", i)
        client.get(f"k{i}")
        other.get("noise")  # another client's commands must not count
    pipe = client.pipeline(transaction=True)  # MULTI, 2 commands, EXEC
    pipe.set("p1", 1).set("p2", 2)
    pipe.execute()
    plain = client.pipeline(transaction=False)
    plain.get("p1").get("p2").delete("p1")
    plain.execute()
    server = redis_snapshot(private_redis) - before
    # the server also counts the other client's 20 GETs
    assert counted.value - start == server.commands - 20 == 40 + 4 + 3
    # a script counts once here; the server also counts the commands it runs inside
    start = counted.value
    client.eval("redis.call('SET', KEYS[1], 1); return redis.call('GET', KEYS[1])", 1, "s")
    assert counted.value == start + 1
    # SCAN calls are counted apart: their number depends on the server's hash table
    before = redis_snapshot(private_redis)
    start, scans = counted.value, counted.scans
    found = list(client.scan_iter(match="k1*", count=5))
    client.sadd("set", "a", "b")
    assert list(client.sscan_iter("set")) and len(found) == 11  # k1, k10..k19
    server = redis_snapshot(private_redis) - before
    assert counted.value - start == 1  # the SADD
    assert counted.scans - scans == server.commandstats["scan"] + server.commandstats["sscan"] > 1
    other.close()
    client.close()


@pytest.mark.redis
def test_namespace_usage_measures_only_the_namespace(private_redis: redis.Redis) -> None:
    from evalcache.metrics import namespace_usage

    for i in range(1200):  # more than one SCAN batch
        private_redis.set(f"ns1:k{i}", "x" * 100)
    private_redis.set("ns1.tag:a", "y")
    private_redis.set("other:k", "z" * 5000)
    keys, used = namespace_usage(private_redis, ["ns1:*", "ns1.*"])
    assert keys == 1201
    expected = sum(
        int(private_redis.memory_usage(k, samples=0) or 0)
        for k in private_redis.scan_iter(match="ns1*")
    )
    assert used == expected > 1200 * 100


@pytest.mark.redis
def test_run_footprint_leaves_out_virtually_expired_entries(private_redis: redis.Redis) -> None:
    from evalcache.cache import DatabaseCache
    from evalcache.clock import VirtualClock
    from evalcache.runner.core import live_footprint

    clock = VirtualClock(1000.0)
    cache = DatabaseCache(private_redis, namespace="fp", clock=clock)
    for i in range(3):
        cache.set(cache.key("short", i), {"v": "x" * 200}, 10)
    cache.set(cache.key("long", 1), {"v": "y" * 200}, 1000)
    keys_before, bytes_before, _ = live_footprint(private_redis, cache)
    clock.advance(100)  # the short entries expire on the clock; Redis still holds them
    keys_after, bytes_after, _ = live_footprint(private_redis, cache)
    assert (keys_before, keys_after) == (4, 1)
    assert bytes_after == private_redis.memory_usage(cache.key("long", 1), samples=0)
    assert bytes_before > 3 * bytes_after


@pytest.mark.redis
def test_run_footprint_by_family_is_what_the_server_measures(private_redis: redis.Redis) -> None:
    from evalcache.cache import DatabaseCache
    from evalcache.clock import VirtualClock
    from evalcache.runner.core import live_footprint

    cache = DatabaseCache(private_redis, namespace="fp", clock=VirtualClock(1000.0))
    keys = {
        "user_profile": [cache.key("user_profile", i) for i in range(5)]
        + [cache.key("user_profile", 9, "4")],  # a counter-keyed strategy's entry
        "expert_basic": [cache.key("expert_profile", 3, "basic")],
        "expert_full": [
            cache.key("expert_profile", 3, "full"),
            cache.key("expert_profile", 4, "full"),
        ],
    }
    for n, key in enumerate(k for ks in keys.values() for k in ks):
        cache.set(key, {"v": "x" * (100 * n + 1)}, 600)
    cache.set(cache.key("unknown_family", 1), {"v": 1}, 600)  # counted in the totals only
    private_redis.sadd("fp.tag:user:1", "a", "b")
    total_keys, total_bytes, families = live_footprint(private_redis, cache)

    def server(key: str, command: str) -> int:
        return int(private_redis.execute_command(command, key) or 0)

    assert set(families) == set(keys)
    for family, ks in keys.items():
        usage = families[family]
        assert usage.keys == len(ks)
        assert usage.memory_bytes == sum(server(k, "MEMORY USAGE") for k in ks)
        assert usage.value_bytes == sum(server(k, "STRLEN") for k in ks) > 100 * len(ks)
    everything = list(private_redis.scan_iter(match="fp*"))
    assert total_keys == len(everything) == 6 + 1 + 2 + 1 + 1
    assert total_bytes == sum(server(k.decode(), "MEMORY USAGE") for k in everything)


@pytest.mark.redis
def test_single_connection_client_counts_when_its_pool_is_wrapped(
    private_redis: redis.Redis,
) -> None:
    from evalcache.metrics import count_commands

    port = private_redis.connection_pool.connection_kwargs["port"]
    pool = redis.ConnectionPool(port=port)
    counted = count_commands(pool)
    client = redis.Redis(connection_pool=pool, single_connection_client=True)
    client.ping()
    start = counted.value
    before = redis_snapshot(private_redis)
    for i in range(10):
        client.set(f"s{i}", i)
    assert counted.value - start == (redis_snapshot(private_redis) - before).commands == 10
    with pytest.raises(ValueError, match="single connection"):
        count_commands(client)
    client.close()
    pool.disconnect()
