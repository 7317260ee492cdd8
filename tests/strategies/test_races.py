"""Races between a reader's fill and a write's invalidation.

A deterministic interleaving (the reader loads, pauses, the write commits and invalidates,
the reader stores) for every strategy: the next read is fresh exactly when the strategy says it
is race-free. Then a threaded stress run on hot keys for the race-free ones.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import Engine

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.domain.repositories import CachedRepository
from evalcache.strategies import ReadSpec, get_strategy, strategy_names

from .conftest import START, Hot

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


class PausingRepo(CachedRepository):
    """Pauses the next load after it read the database (or sleeps every load a little)."""

    pause_next = False
    delay = 0.0

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.reached = threading.Event()
        self.gate = threading.Event()

    def load(self, spec: ReadSpec) -> Any:
        value = super().load(spec)
        if self.pause_next:
            self.pause_next = False
            self.reached.set()
            assert self.gate.wait(10)
        elif self.delay:
            time.sleep(self.delay)
        return value


@pytest.fixture
def build(seeded_engine: Engine, redis_url: str) -> Iterator[Any]:
    made: list[tuple[CachedRepository, DatabaseCache]] = []
    client = redis.Redis.from_url(redis_url)

    def make(name: str) -> PausingRepo:
        clock = VirtualClock(START)
        cache = DatabaseCache(client, namespace=f"tr{uuid.uuid4().hex[:10]}", clock=clock)
        repo = PausingRepo(seeded_engine, cache, name, clock=clock)
        made.append((repo, cache))
        return repo

    yield make
    for repo, cache in made:
        repo.close()
        cache.flush_namespace()
    client.close()


@pytest.mark.parametrize("name", strategy_names())
def test_interleaved_fill_and_invalidation(
    name: str, build: Any, seeded_engine: Engine, hot: Hot
) -> None:
    repo = build(name)
    user = hot.patients[0]
    repo.pause_next = True
    reader = threading.Thread(target=repo.read, args=("user_profile", user))
    reader.start()
    assert repo.reached.wait(10)  # the reader has read the old row and not stored it yet
    repo.write("user_profile", user, "profile")
    assert repo.drain(10)
    repo.gate.set()
    reader.join(10)
    got = repo.read("user_profile", user)
    with seeded_engine.connect() as conn:
        fresh = got.value == repo.fresh(conn, "user_profile", user)
    assert fresh == repo.strategy.race_free, (name, got.outcome)


RACE_FREE = [s for s in strategy_names() if get_strategy(s).race_free]


@pytest.mark.parametrize("name", RACE_FREE)
def test_concurrent_readers_and_writer(
    name: str, build: Any, seeded_engine: Engine, hot: Hot
) -> None:
    repo = build(name)
    repo.delay = 0.002  # widen the window between a load and its store
    user, expert = hot.patients[0], hot.experts[0]
    reads = [("user_profile", (user,)), ("user_appointments", (user,)), ("dashboard_user", (user,)),
             ("expert_appointments", (expert,))]  # fmt: skip
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                for family, args in reads:
                    repo.read(family, *args)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    stale: list[str] = []
    try:
        for i in range(12):
            if i % 2:
                repo.write("user_profile", user, "profile")
            else:
                repo.write("create_appointment", user, expert)
            assert repo.drain(10)
            time.sleep(0.01)  # let readers' in-flight loads finish and try to store
            for family, args in reads:
                got = repo.read(family, *args)
                with seeded_engine.connect() as conn:
                    if got.value != repo.fresh(conn, family, *args):
                        stale.append(family)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors
    assert not stale, f"{name}: stale values survived their invalidation: {stale}"
