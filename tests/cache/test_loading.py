"""get_or_load: negative caching, no stale sets, single flight, stale serving, refresh ahead."""

from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from evalcache.cache import NO_VALUE, DatabaseCache
from evalcache.cache.refresh import RefreshPolicy
from evalcache.clock import VirtualClock

pytestmark = pytest.mark.redis


def test_none_is_cached_negative_empty_list_is_not(
    cache: DatabaseCache, clock: VirtualClock
) -> None:
    calls: list[int] = []
    k_none, k_empty = cache.key("user", 404), cache.key("appts", 1)

    def none() -> None:
        calls.append(1)

    assert cache.get_or_load(k_none, none, 600, negative_ttl=5, family="user") is None
    assert cache.get_or_load(k_none, none, 600, negative_ttl=5, family="user") is None
    assert len(calls) == 1 and cache.stats()["negative_hits"] == 1
    assert cache.get_with_metadata(k_none).negative  # type: ignore[union-attr]
    clock.advance(5)
    cache.get_or_load(k_none, none, 600, negative_ttl=5)
    assert len(calls) == 2
    assert cache.get_or_load(k_empty, list, 600) == []
    clock.advance(5)
    assert cache.get(k_empty) == [] and cache.stats()["negative_hits"] == 1
    fam = cache.family_stats()["user"]
    assert (fam["hits"], fam["misses"], fam["loads"], fam["negative_hits"]) == (1, 1, 1, 1)


@pytest.mark.parametrize("how", ["key", "tag", "pattern"])
def test_late_load_after_invalidation_is_not_stored(cache: DatabaseCache, how: str) -> None:
    """A loader paused between its read and its set while another thread invalidates."""
    key = cache.key("prof", how)
    read_done, invalidated = threading.Event(), threading.Event()

    def loader() -> str:
        read_done.set()  # the database read happened here, before the write
        assert invalidated.wait(5)
        return "old"

    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(cache.get_or_load, key, loader, 60, tags=["user:1"])
        assert read_done.wait(5)
        if how == "key":
            cache.invalidate(key)
        elif how == "tag":
            cache.invalidate_tags(["user:1"])
        else:
            cache.invalidate_pattern(cache.pattern("prof", how))
        invalidated.set()
        assert fut.result(5) == "old"  # the caller still gets its own answer
    assert cache.get(key) is NO_VALUE
    assert cache.stats()["stale_sets_prevented"] == 1
    assert cache.stats()["sets"] == 0
    # Without an invalidation the same sequence stores its result.
    assert cache.get_or_load(key, lambda: "new", 60, tags=["user:1"]) == "new"
    assert cache.get(key) == "new"


def test_late_reload_of_expired_entry_is_not_stored(
    cache: DatabaseCache, clock: VirtualClock
) -> None:
    key = cache.key("prof", 1)
    cache.set_with_tags(key, "v1", 10, ["user:1"])
    clock.advance(11)
    go = threading.Event()

    def loader() -> str:
        go.wait(5)
        return "v2-old"

    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(cache.get_or_load, key, loader, 10, tags=["user:1"])
        while cache.stats()["misses"] == 0:
            pass
        cache.invalidate_tags(["user:1"])
        go.set()
        fut.result(5)
    assert cache.get_with_metadata(key, include_expired=True) is None


def test_single_flight_across_threads_and_clients(
    redis_url: str, namespace: str, clock: VirtualClock
) -> None:
    caches = [
        DatabaseCache(redis.Redis.from_url(redis_url), namespace=namespace, clock=clock)
        for _ in range(2)
    ]
    key = caches[0].key("hot", 1)
    calls: list[int] = []
    start = threading.Barrier(8)

    def loader() -> dict[str, int]:
        calls.append(1)
        threading.Event().wait(0.2)
        return {"n": 1}

    def call(i: int) -> object:
        start.wait()
        return caches[i % 2].get_or_load(key, loader, 60)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert results == [{"n": 1}] * 8
    assert len(calls) == 1
    assert sum(c.stats()["coalesced"] for c in caches) == 7
    for c in caches:
        c.flush_namespace()
        c.client.close()


def test_serve_stale_while_another_reloads(cache: DatabaseCache, clock: VirtualClock) -> None:
    key = cache.key("hot", 1)
    cache.set(key, "stale", 10)
    clock.advance(11)
    started, go = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        go.wait(5)
        return "fresh"

    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(cache.get_or_load, key, slow, 10)
        assert started.wait(5)
        assert cache.get_or_load(key, lambda: "no", 10, serve_stale=True) == "stale"
        go.set()
        assert fut.result(5) == "fresh"
    assert cache.get(key) == "fresh"
    assert cache.stats()["stale_served"] == 1 and cache.stats()["loads"] == 1


def test_loader_error_releases_the_lease(cache: DatabaseCache, redis_client: redis.Redis) -> None:
    key = cache.key("x", 1)

    def boom() -> None:
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        cache.get_or_load(key, boom)
    assert redis_client.exists(key) == 0
    assert cache.get_or_load(key, lambda: 5) == 5
    assert cache.stats()["load_errors"] == 1


def test_lock_ttl_follows_loader_time(cache: DatabaseCache, redis_client: redis.Redis) -> None:
    cache.timer.observe("f", 2.0)
    seen: list[int] = []
    key = cache.key("f", 1)
    cache.get_or_load(key, lambda: seen.append(redis_client.pttl(key)), family="f")
    # 4 x 2 s, plus the virtual clock's slack (a lease lives in real time in Redis)
    slack_ms = cache.options.virtual_slack * 1000
    assert 7_000 < seen[0] - slack_ms <= 8_000


def test_a_lease_on_the_wall_clock_lives_its_lock_ttl_only(
    redis_client: redis.Redis, namespace: str
) -> None:
    wall = DatabaseCache(redis_client, namespace=namespace, default_ttl=60)
    try:
        wall.timer.observe("f", 2.0)
        seen: list[int] = []
        key = wall.key("f", 1)
        wall.get_or_load(key, lambda: seen.append(redis_client.pttl(key)), family="f")
        assert 7_000 < seen[0] <= 8_000
    finally:
        wall.close()


def test_refresh_threshold_inline(redis_client: redis.Redis, namespace: str) -> None:
    clock = VirtualClock(0)
    cache = DatabaseCache(
        redis_client, namespace=namespace, clock=clock, refresh_threshold=0.8, refresh_mode="inline"
    )
    key = cache.key("p", 1)
    n = iter(range(100))
    cache.get_or_load(key, lambda: next(n), 100)
    clock.advance(79)
    assert cache.get_or_load(key, lambda: next(n), 100) == 0
    assert cache.stats()["refreshes_tried"] == 0
    clock.advance(1)
    assert cache.get_or_load(key, lambda: next(n), 100) == 0  # old value now, refreshed behind
    assert cache.stats()["refreshes_succeeded"] == 1
    assert cache.get_with_metadata(key).created_at == 80  # type: ignore[union-attr]
    clock.advance(90)  # would have expired without the refresh
    assert cache.get(key) == 1


def test_refresh_background_one_per_key(redis_client: redis.Redis, namespace: str) -> None:
    clock = VirtualClock(0)
    cache = DatabaseCache(redis_client, namespace=namespace, clock=clock, refresh_threshold=0.5)
    key = cache.key("p", 1)
    cache.set(key, "v0", 100)
    clock.advance(60)
    go = threading.Event()

    def slow() -> str:
        go.wait(5)
        return "v1"

    for _ in range(5):
        assert cache.get_or_load(key, slow, 100) == "v0"
    go.set()
    assert cache.wait_for_refreshes()
    assert cache.get(key) == "v1"
    assert cache.stats()["refreshes_tried"] == 1 and cache.stats()["refreshes_succeeded"] == 1
    cache.close()


def test_refresh_spawn_hands_one_job_per_key_to_the_spawner(
    redis_client: redis.Redis, namespace: str
) -> None:
    clock = VirtualClock(0)
    spawned: list[Any] = []
    cache = DatabaseCache(
        redis_client,
        namespace=namespace,
        clock=clock,
        refresh_threshold=0.5,
        refresh_mode="spawn",
        refresh_spawn=spawned.append,
    )
    key = cache.key("p", 1)
    cache.set(key, "v0", 100)
    clock.advance(60)
    for _ in range(3):  # due hits return the cached value; the refresh waits for its spawner
        assert cache.get_or_load(key, lambda: "v1", 100) == "v0"
    assert len(spawned) == 1 and cache.stats()["refreshes_tried"] == 0
    assert not cache.wait_for_refreshes(0.01)  # handed over, not run: still in flight
    spawned.pop()()
    assert cache.wait_for_refreshes(0.01) and cache.get(key) == "v1"
    assert cache.stats()["refreshes_succeeded"] == 1
    clock.advance(60)  # in flight no more: the next due hit spawns again
    assert cache.get_or_load(key, lambda: "v2", 100) == "v1" and len(spawned) == 1
    # start(): no per-key dedupe
    ran: list[int] = []
    assert cache.start_refresh(lambda: ran.append(1)) and cache.start_refresh(lambda: ran.append(2))
    assert len(spawned) == 3 and not ran
    for job in spawned[1:]:
        job()
    assert ran == [1, 2]


def test_xfetch_probability_matches_the_formula() -> None:
    """P(refresh) with time r left and recompute time d is exp(-r / (d * beta))."""
    policy = RefreshPolicy(xfetch_beta=1.0, seed=7)
    d = 2.0
    for r in (0.5, 2.0, 6.0):
        trials = 4000
        due = sum(policy.due(100 - r, 0, 100, d) for _ in range(trials)) / trials
        assert abs(due - math.exp(-r / d)) < 0.03
    assert not RefreshPolicy(xfetch_beta=0).enabled
    random.seed(0)


def test_xfetch_refreshes_early_through_get_or_load(
    redis_client: redis.Redis, namespace: str
) -> None:
    clock = VirtualClock(0)
    cache = DatabaseCache(
        redis_client,
        namespace=namespace,
        clock=clock,
        xfetch_beta=1e9,
        refresh_mode="inline",
        seed=1,
    )
    key = cache.key("p", 1)

    def slow_one() -> int:
        # XFetch weighs the remaining TTL against the measured load time: a loader that
        # returns in under a microsecond would make the early refresh a coin toss.
        time.sleep(0.002)
        return 1

    cache.get_or_load(key, slow_one, 100)
    assert cache.get_or_load(key, lambda: 2, 100) == 1
    assert cache.stats()["refreshes_succeeded"] == 1 and cache.get(key) == 2


def _process_caller(redis_url: str, namespace: str, start_at: float, out: Any) -> None:
    """One process of the cross-process single-flight test (module level: spawn pickles it)."""
    import time as _time

    client = redis.Redis.from_url(redis_url)
    cache = DatabaseCache(client, namespace=namespace, clock=VirtualClock(0))

    def loader() -> dict[str, int]:
        client.incr(f"{namespace}-loads")  # counted in Redis: visible across processes
        _time.sleep(0.3)
        return {"n": 1}

    _time.sleep(max(0.0, start_at - _time.time()))  # start together
    out.put((cache.get_or_load(cache.key("hot", 1), loader, 60), cache.stats()["coalesced"]))
    client.close()


@pytest.mark.slow
def test_single_flight_across_processes(
    redis_url: str, namespace: str, redis_client: redis.Redis
) -> None:
    import multiprocessing
    import time

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # after every spawned interpreter has imported evalcache
    procs = [
        ctx.Process(target=_process_caller, args=(redis_url, namespace, start_at, out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)
    # the redis_client fixture removes every key of this namespace afterwards
    assert [r for r, _ in results] == [{"n": 1}] * 4
    assert int(redis_client.get(f"{namespace}-loads") or 0) == 1, "loader ran in several processes"
    assert sum(c for _, c in results) == 3
