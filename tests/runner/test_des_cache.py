"""The cache core under overlapping requests in virtual time, on the real Redis.

Loads take virtual time (the loader holds), so requests overlap: a herd of readers meets one
lease, a write lands while a reader is loading. These are the races a serial replay can never
show; here each is a real sequence of Redis commands, the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from evalcache.cache import NO_VALUE, DatabaseCache
from evalcache.runner.des import Simulation

pytestmark = pytest.mark.redis

LOAD_S = 0.050  # virtual seconds a database load takes


@pytest.fixture
def sim_cache(redis_client: redis.Redis, namespace: str) -> Iterator[tuple[Simulation, Any]]:
    sim = Simulation(start=1_000_000.0)

    def make(**kw: Any) -> DatabaseCache:
        return DatabaseCache(redis_client, namespace=namespace, clock=sim.clock, **kw)

    yield sim, make


def _source(sim: Simulation) -> tuple[dict[str, int], Callable[[], int]]:
    """A one-row 'database' whose load takes LOAD_S of virtual time and reads at its start."""
    db = {"v": 1}
    loads: list[float] = []

    def load() -> int:
        value = db["v"]  # what the database says when the load starts
        loads.append(sim.now)
        sim.hold(LOAD_S)
        return value

    load.loads = loads  # type: ignore[attr-defined]
    return db, load


def test_a_herd_on_one_key_loads_once_and_waits_in_virtual_time(sim_cache: Any) -> None:
    sim, make = sim_cache
    cache = make(default_ttl=60)
    key = cache.key("hot", 1)
    _, load = _source(sim)
    got: list[tuple[int, float]] = []

    def reader() -> None:
        got.append((cache.get_or_load(key, load, family="hot"), sim.now - t0))

    t0 = sim.now
    for i in range(20):
        sim.spawn(t0 + i * 0.001, reader)
    sim.run()
    assert [v for v, _ in got] == [1] * 20
    assert len(load.loads) == 1  # type: ignore[attr-defined]
    stats = cache.stats()
    assert stats["loads"] == 1 and stats["coalesced"] == 19
    # every waiter is answered once the one load is stored, not before
    assert min(t for _, t in got) == pytest.approx(LOAD_S)
    assert max(t for _, t in got) < LOAD_S + 0.1


def test_without_waiting_every_reader_of_the_herd_loads(sim_cache: Any) -> None:
    sim, make = sim_cache
    cache = make(default_ttl=60, lock_wait=0.0)  # the runner's stampede=none
    key = cache.key("hot", 1)
    _, load = _source(sim)
    t0 = sim.now
    for i in range(20):
        sim.spawn(t0 + i * 0.001, lambda: cache.get_or_load(key, load, family="hot"))
    sim.run()
    assert len(load.loads) == 20  # type: ignore[attr-defined]


def _fill_race(sim: Simulation, cache: DatabaseCache, *, leases: bool) -> Any:
    """A reader misses and loads v1; a write makes v2 and invalidates mid-load; later read."""
    key = cache.key("profile", 7)
    db, load = _source(sim)

    def reader() -> None:
        if leases:
            cache.get_or_load(key, load, family="profile")
        elif cache.get(key, family="profile") is NO_VALUE:  # the seed plan's GET, load, SET
            cache.set(key, load(), 60)

    def writer() -> None:
        db["v"] = 2  # commit, then invalidate
        cache.invalidate(key)

    t0 = sim.now
    sim.spawn(t0, reader)
    sim.spawn(t0 + LOAD_S / 2, writer)
    sim.run()
    return cache.get(key, family="profile")


def test_a_write_during_a_load_leaves_plain_fills_stale_and_leases_fresh(sim_cache: Any) -> None:
    sim, make = sim_cache
    plain = make(default_ttl=60)
    assert _fill_race(sim, plain, leases=False) == 1  # stale: stored after the invalidation
    plain.flush_namespace()
    leased = make(default_ttl=60)
    assert _fill_race(sim, leased, leases=True) is NO_VALUE  # the late store was dropped
    assert leased.stats()["stale_sets_prevented"] == 1
