"""Every strategy through a Redis outage mid-stream, on a Redis of the test's own.

The cache is filled, Redis saves its data and is stopped, every kind of write and every family
read happen while it is down, then it is restarted (reloading the saved entries: what a real
outage leaves behind) and everything is read again. For every strategy:

- no exception escapes a read or a write while Redis is down;
- reads during the outage are answered by the database (never "hit", always fresh);
- after recovery no read is stale: exact strategies answer exactly what the database says; ``ttl``
  and ``seed`` (stale by design) answer either that or the value cached before the outage, never
  a value stored during it;
- the cache recovers by itself: reads are hits again.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import redis
from sqlalchemy import Engine

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.domain.repositories import CachedRepository
from evalcache.strategies import strategy_class, strategy_names

from .conftest import START, Hot
from .helpers import all_reads, do_write

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# one write of each kind (indexes into the hot ids, as in helpers.WRITES)
OUTAGE_WRITES: list[tuple[str, tuple[Any, ...]]] = [
    ("user_profile", (2, "profile")),
    ("user_profile", (0, "verification")),
    ("availability", (0,)),
    ("create_appointment", (0, 0)),
    ("appointment_status", (1, "confirmed")),
    ("complete_payment", (0,)),
    ("add_review", (1, 0)),
]
RETRY_S = 0.05  # the guard's circuit: calls skip Redis this long after an outage error
STALE_BY_DESIGN = ("ttl", "seed")


def _fresh(repo: CachedRepository, engine: Engine, family: str, args: tuple[Any, ...]) -> Any:
    with engine.connect() as conn:
        return repo.fresh(conn, family, *args)


@pytest.mark.parametrize("name", strategy_names())
def test_outage_mid_stream(name: str, own_redis: Any, seeded_engine: Engine, hot: Hot) -> None:
    client = redis.Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    clock = VirtualClock(START)
    cache = DatabaseCache(
        client, namespace=f"to{uuid.uuid4().hex[:8]}", clock=clock, retry_interval=RETRY_S
    )
    repo = CachedRepository(seeded_engine, cache, name, clock=clock)
    reads = all_reads(hot)
    try:
        before = [repo.read(f, *a).value for f, a in reads]
        assert all(repo.read(f, *a).outcome == "hit" for f, a in reads)
        client.save()  # the restarted server reloads these entries
        own_redis.stop()

        writes = 0
        for op, idx in OUTAGE_WRITES:
            if do_write(repo, seeded_engine, hot, op, idx) is not None:
                writes += 1
            assert repo.drain(10.0)
            for family, args in reads:
                got = repo.read(family, *args)
                assert got.outcome != "hit", (name, family)
                assert got.value == _fresh(repo, seeded_engine, family, args), (name, family)
        assert writes >= 5, "too few writes found a target"
        assert cache.stats()["errors"] > 0

        own_redis.start()
        time.sleep(3 * RETRY_S)
        for _ in range(2):  # recovery and fills, then hits
            outcomes = []
            for i, (family, args) in enumerate(reads):
                got = repo.read(family, *args)
                want = _fresh(repo, seeded_engine, family, args)
                outcomes.append(got.outcome)
                if name in STALE_BY_DESIGN:
                    assert got.value in (want, before[i]), (name, family)
                else:
                    assert got.value == want, (name, family)
        assert set(outcomes) == {"hit"}, (name, outcomes)
    finally:
        repo.close()
        cache.close()
        client.close()


def test_flags_are_class_attributes() -> None:
    # the runner and the model read behaviour from the class, never from a list of names
    flags = {n: strategy_class(n) for n in strategy_names()}
    assert flags["ttl"].write_effect == "none" and flags["write_through"].write_effect == "refresh"
    assert flags["tags"].write_effect == flags["generation"].write_effect == "key"
    assert flags["pattern"].write_effect == flags["table"].write_effect == "family"
    assert not flags["seed"].race_free and not flags["explicit"].race_free
    assert flags["lease"].race_free and not flags["explicit"].refreshes
