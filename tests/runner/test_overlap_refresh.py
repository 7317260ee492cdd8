"""Refresh ahead with overlapping requests: each refresh is a simulation process of its own.

A hot user's profile (TTL 50 ms, refresh threshold 0.8) is read every millisecond of virtual
time for one second through the real repository, strategy, Redis and PostgreSQL; every SQL
statement takes 2 ms and every Redis round trip 0.1 ms (no jitter). From 150 ms on, a writer
rewrites the user's preferences whenever a refresh of the profile has run its query and not yet
stored (at most every 30 ms), so every refresh it meets races a write; before that, refreshes
run undisturbed. A cache hit that differs from the database at the
moment it is served is stale. Then a whole ``seed`` + ``refresh: threshold`` overlap run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from greenlet import getcurrent
from sqlalchemy import Engine, create_engine, event, text

import evalcache.strategies.optimizer as optimizer
from evalcache.cache import DatabaseCache
from evalcache.domain.readspecs import TTLSettings
from evalcache.domain.repositories import CachedRepository
from evalcache.runner.des import Simulation
from evalcache.runner.overlap import ServiceModel, SimHooks, SimQueuePool
from evalcache.runner.resources import refresh_process

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
START = AS_OF.timestamp() + 8 * 3600
DB_POOL = 4
REDIS_S, DB_S = 100e-6, 2e-3
TTL = 0.05
MIN_WRITE_GAP = 0.03
READS_PER_S, SECONDS, WRITES_FROM = 1000, 1.0, 0.15


@pytest.fixture(scope="module")
def db_url(scratch_databases: Any) -> Iterator[str]:
    with scratch_databases.create("ovr", scale=0.02, seed=7, as_of=AS_OF) as url:
        yield url


def _hot_user(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT min(id) FROM users WHERE role = 'user'")).scalar_one())


def _run(
    db_url: str, redis_url: str, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    sim = Simulation(start=START)
    hooks = SimHooks(sim, ServiceModel(redis_s=REDIS_S, db_s=DB_S, sigma=0.0, seed=1))
    app = create_engine(db_url, poolclass=SimQueuePool, pool_size=DB_POOL, max_overflow=-1)
    truth = create_engine(db_url)  # the oracle's engine: no hold points
    client = redis.Redis.from_url(redis_url)
    plain = redis.Redis.from_url(redis_url)  # inspection without hold points
    hooks.attach_redis(client)
    hooks.attach_engine(app, DB_POOL)
    out: dict[str, Any] = {
        "hits": 0, "stale_hits": 0, "stale_created": [], "reads": [], "writes": [],
        "refresh_stores": [], "max_in_flight": 0,
    }  # fmt: skip
    last_query: dict[Any, float] = {}  # process -> virtual time of its last SQL statement
    in_flight: set[Any] = set()  # refresh processes running
    spawned: list[float] = []

    def statement(conn: Any, cursor: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
        if sim.in_process():
            last_query[getcurrent()] = sim.now

    event.listen(app, "before_cursor_execute", statement)
    run_process = refresh_process(sim, hooks)

    def spawn(job: Callable[[], None]) -> None:
        spawned.append(sim.now)

        def counted() -> None:
            me = getcurrent()
            in_flight.add(me)
            out["max_in_flight"] = max(out["max_in_flight"], len(in_flight))
            try:
                job()
            finally:
                in_flight.discard(me)

        run_process(counted)

    store = optimizer._store_refresh

    def observed_store(*args: Any) -> bool:  # the seed plan's refresh store: when and what
        out["refresh_stores"].append((sim.now, last_query.get(getcurrent())))
        return store(*args)

    monkeypatch.setattr(optimizer, "_store_refresh", observed_store)
    ns = f"ovr{uuid.uuid4().hex[:8]}"
    cache = DatabaseCache(
        client, namespace=ns, clock=sim.clock, refresh_threshold=0.8, refresh_mode="spawn",
        refresh_spawn=spawn,
    )  # fmt: skip
    probe = DatabaseCache(plain, namespace=ns, clock=sim.clock)
    repo = CachedRepository(app, cache, strategy, clock=sim.clock,
                            ttls=TTLSettings(user_profile=TTL))  # fmt: skip
    user = _hot_user(truth)
    key = cache.key("user_profile", user)

    def reader(arrival: float) -> None:
        before = len(spawned)
        got = repo.read("user_profile", user)
        out["reads"].append((got.outcome, sim.now - arrival, len(spawned) > before))
        if got.outcome == "hit":
            out["hits"] += 1
            with truth.connect() as conn:
                if got.value != repo.fresh(conn, "user_profile", user):
                    out["stale_hits"] += 1
                    entry = probe.get_with_metadata(key)
                    assert entry is not None
                    out["stale_created"].append(entry.created_at)

    def writer(until: float) -> None:
        # writes while a refresh has run its query and not stored yet
        last = -1.0
        while sim.now < until:
            sim.hold(0.0005)
            loaded = any(p in last_query for p in in_flight)
            if loaded and sim.now - last >= MIN_WRITE_GAP:
                with hooks.atomic():
                    repo.write("user_profile", user, "preferences")
                    out["writes"].append(sim.now)  # committed and invalidated at this instant
                last = sim.now

    try:
        for i in range(int(SECONDS * READS_PER_S)):
            at = START + i / READS_PER_S
            sim.spawn(at, reader, at)
        sim.spawn(START + WRITES_FROM, writer, START + SECONDS)
        sim.run()
        out["stats"] = cache.stats()
    finally:
        repo.close()
        cache.flush_namespace()
        cache.close()
        client.close()
        plain.close()
        app.dispose()
        truth.dispose()
    return out


def test_seed_refreshes_race_writes_and_overlap(
    db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(db_url, redis_url, "seed", monkeypatch)
    stats, writes = out["stats"], out["writes"]
    assert len(writes) > 10 and stats["refreshes_tried"] > 20
    assert stats["refreshes_succeeded"] == stats["refreshes_tried"]  # stored unconditionally
    assert out["max_in_flight"] >= 2  # every due hit starts one: no single flight, no dedupe
    # refresh stores whose query ran before a write that committed before the store
    raced = {
        stored
        for stored, queried in out["refresh_stores"]
        if queried is not None and any(queried < w < stored for w in writes)
    }
    assert len(raced) > 10
    from_race = [c for c in out["stale_created"] if c in raced]
    assert len(from_race) > 10


@pytest.mark.parametrize("strategy", ["lease", "tags"])
def test_lease_refreshes_drop_what_raced_a_write_and_hits_do_not_wait(
    db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    out = _run(db_url, redis_url, strategy, monkeypatch)
    stats = out["stats"]
    assert len(out["writes"]) > 10 and stats["refreshes_tried"] > 10
    assert out["stale_hits"] == 0 and out["hits"] > 500
    # the refreshes that met a write could not store (CAS on the entry they refreshed)
    assert stats["stale_sets_prevented"] > 0
    assert stats["refreshes_succeeded"] < stats["refreshes_tried"]
    assert out["max_in_flight"] == 1  # one refresh per key at a time
    triggering = [lat for outcome, lat, spawned in out["reads"] if spawned]
    assert triggering and all(outcome == "hit" for outcome, _, s in out["reads"] if s)
    # the hit that starts a refresh returns after its one GET, not after the 2 ms load
    # (times are epoch seconds: 1e-6 covers their float resolution)
    assert max(triggering) < REDIS_S + 1e-6
    assert max(lat for outcome, lat, _ in out["reads"] if outcome == "miss") > DB_S


SEED_REFRESH_RUN = {
    "workload": "profile",
    "skew": 1.2,
    "write_ratio": 0.2,
    "strategy": "seed",
    "refresh": "threshold",
    "ttl_scale": 0.005,
    "duration_s": 60,
    "rate": 20,
    "seed": 3,
    "stale_sample": 1.0,
    "concurrency": "overlap",
    "db_service_ms": 2.0,
    "baseline": False,
}


def test_seed_threshold_overlap_run_refreshes(runner_settings: Any) -> None:
    from evalcache.runner import run

    s = run(SEED_REFRESH_RUN, settings=runner_settings, progress=False).summary
    assert s["refreshes_tried"] > 0
    assert s["refreshes_succeeded"] == s["refreshes_tried"]
    assert "refresh ahead as processes of their own" in s["time_model"]
