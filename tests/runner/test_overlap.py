"""Overlapping requests on the real servers: the fill race, and queueing for the database pool.

A hot user's profile is read every millisecond of virtual time while its preferences are
rewritten twice (1 ms apart) every 50 ms, through the real repository, strategy, Redis and
PostgreSQL; every SQL statement takes 2 ms and every Redis round trip 0.1 ms of virtual time.
A cache hit that differs from the database at the moment it is served is stale. Then whole
runs with ``concurrency: overlap``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, create_engine, text

from evalcache.cache import DatabaseCache
from evalcache.domain.repositories import CachedRepository
from evalcache.domain.truth import Truth
from evalcache.runner.des import Simulation
from evalcache.runner.oracle import StalenessOracle
from evalcache.runner.overlap import ServiceModel, SimHooks, SimQueuePool

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
START = AS_OF.timestamp() + 8 * 3600
DB_POOL = 4


@pytest.fixture(scope="module")
def db_url(scratch_databases: Any) -> Iterator[str]:
    with scratch_databases.create("ovl", scale=0.02, seed=7, as_of=AS_OF) as url:
        yield url


def _hot_user(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT min(id) FROM users WHERE role = 'user'")).scalar_one())


def _run(
    db_url: str, redis_url: str, strategy: str, *, reads_per_s: float, writes: bool = True
) -> dict[str, Any]:
    sim = Simulation(start=START)
    hooks = SimHooks(sim, ServiceModel(redis_s=100e-6, db_s=2e-3, seed=1))
    app = create_engine(db_url, poolclass=SimQueuePool, pool_size=DB_POOL, max_overflow=-1)
    truth = create_engine(db_url)  # the oracle's engine: no hold points
    client = redis.Redis.from_url(redis_url)
    hooks.attach_redis(client)
    hooks.attach_engine(app, DB_POOL)
    ns = f"ov{uuid.uuid4().hex[:8]}"
    cache = DatabaseCache(client, namespace=ns, clock=sim.clock, default_ttl=3600)
    repo = CachedRepository(app, cache, strategy, clock=sim.clock)
    user = _hot_user(truth)
    out: dict[str, Any] = {"hits": 0, "stale_hits": 0, "latency": [], "outcomes": []}
    # the runner's oracle, wired as the runner wires it: loads from the repository, stores
    # from the cache, so each stale hit gets a cause
    oracle = StalenessOracle(Truth(sim.clock), truth, 1.0, 0)
    oracle.now, oracle.start = sim.clock.now, START
    repo.load_observer = oracle.loaded
    cache.observe_stores(oracle.stored)
    causes: Counter[str] = Counter()
    out["causes"] = causes

    def reader(arrival: float) -> None:
        got = repo.read("user_profile", user)
        oracle.request_done()
        out["latency"].append(sim.now - arrival)
        out["outcomes"].append(got.outcome)
        if got.outcome == "hit":
            out["hits"] += 1
            if oracle.check("user_profile", (user,), got.value, sim.now) is not None:
                out["stale_hits"] += 1
                causes[oracle.cause("user_profile", (user,), got.value, sim.now)] += 1
        else:
            oracle.filled(("user_profile", user), sim.now)

    def writer() -> None:
        oracle.writing(sim.now)
        with hooks.atomic():
            repo.write("user_profile", user, "preferences")

    try:
        for i in range(int(2.0 * reads_per_s)):
            at = START + i / reads_per_s
            sim.spawn(at, reader, at)
        # writes in pairs 1 ms apart: the first one's invalidation sends readers to the
        # database, the second one commits while their loads are in flight
        for i in range(1, 40 if writes else 0):
            sim.spawn(START + i * 0.05 + 0.0003, writer)
            sim.spawn(START + i * 0.05 + 0.0013, writer)
        sim.run()
        out["db_waits"] = list(hooks.db.waits) if hooks.db is not None else []
        out["stats"] = cache.stats()
    finally:
        oracle.close()
        repo.close()
        cache.flush_namespace()
        cache.close()
        client.close()
        app.dispose()
        truth.dispose()
    return out


def test_plain_fills_race_writes_and_leases_do_not(db_url: str, redis_url: str) -> None:
    explicit = _run(db_url, redis_url, "explicit", reads_per_s=1000)
    lease = _run(db_url, redis_url, "lease", reads_per_s=1000)
    assert explicit["hits"] > 1000 and lease["hits"] > 1000
    # a reader that loaded before a write stores its old answer after the invalidation
    assert explicit["stale_hits"] > 50
    # every one of them is a fill race: the value was stale when its reader stored it
    assert explicit["causes"] == {"fill_race": explicit["stale_hits"]}
    assert lease["stale_hits"] == 0
    assert lease["stats"]["stale_sets_prevented"] > 0


def test_the_database_pool_queues_a_herd(db_url: str, redis_url: str) -> None:
    # plain fills, no single flight: every reader that misses during a load queries too, so
    # the pool of 4 connections queues and latency grows beyond the 2 ms statement
    herd = _run(db_url, redis_url, "explicit", reads_per_s=5000)
    assert max(herd["db_waits"]) > 0.002
    assert max(herd["latency"]) > 0.004


def test_same_inputs_same_interleaving(db_url: str, redis_url: str) -> None:
    # no writes: the database does not change between the two runs
    a = _run(db_url, redis_url, "lease", reads_per_s=2000, writes=False)
    b = _run(db_url, redis_url, "lease", reads_per_s=2000, writes=False)
    assert a["outcomes"] == b["outcomes"] and a["latency"] == b["latency"]
    assert a["stats"]["coalesced"] > 0  # readers met a lease and waited in virtual time
    # a waiter received another reader's load: a miss for the run as for the cache's counters
    st = a["stats"]
    assert a["outcomes"].count("hit") == st["hits"] and a["outcomes"].count("miss") == st["misses"]
    assert st["misses"] == st["loads"] + st["coalesced"]


OVERLAP_RUN = {
    "workload": "booking",
    "strategy": "explicit",
    "duration_s": 120,
    "rate": 20,
    "seed": 3,
    "stale_sample": 1.0,
    "concurrency": "overlap",
    "db_pool": 2,
}


def test_overlap_runs_are_reproducible_and_state_their_model(runner_settings: Any) -> None:
    from evalcache.runner import run

    a = run(OVERLAP_RUN, settings=runner_settings, progress=False).summary
    b = run({**OVERLAP_RUN, "baseline": False}, settings=runner_settings, progress=False).summary
    assert a["outcome_digest"] == b["outcome_digest"]
    for key in ("hits", "misses", "stale_reads", "stale_checked", "db_statements"):
        assert a[key] == b[key], key
    assert a["latency"]["all"]["p99_ms"] == b["latency"]["all"]["p99_ms"]  # virtual latency
    assert "overlapping requests" in a["time_model"] and "db_pool 2" in a["time_model"]
    assert a["params"]["concurrency"] == "overlap" and a["params"]["db_pool"] == 2
    serial = run({**OVERLAP_RUN, "concurrency": "serial", "baseline": False},
                 settings=runner_settings, progress=False).summary  # fmt: skip
    assert serial["reads"] == a["reads"] and serial["writes"] == a["writes"]  # same stream


def test_overlap_parameters_are_checked() -> None:
    from evalcache.errors import ConfigError
    from evalcache.runner import validate_params

    with pytest.raises(ConfigError, match="mode 'virtual' only"):
        validate_params({"concurrency": "overlap", "mode": "live"})
    with pytest.raises(ConfigError, match="db_pool"):
        validate_params({"concurrency": "overlap", "db_pool": 0})
    with pytest.raises(ConfigError, match="accepted: serial, overlap"):
        validate_params({"concurrency": "parallel"})
    assert validate_params({})["concurrency"] == "serial"


def test_a_hit_a_write_committed_inside_is_not_judged_in_overlap() -> None:
    # A read spanning several round trips (a batch, a lease wait) may return the value from
    # before a write that commits meanwhile: in overlap such a hit is not judged.
    oracle = StalenessOracle(lambda *a: None, create_engine("sqlite://"), 1.0, 0)
    oracle.judge_in_flight = False
    assert oracle.judgeable(START)  # no write yet
    oracle.writing(START + 1.0)
    assert oracle.judgeable(START + 1.0)  # the write committed as the read began: before it
    assert oracle.judgeable(START + 2.0)
    assert not oracle.judgeable(START + 0.5)  # began before the write, judged after it
    oracle.judge_in_flight = True  # serial and live runs judge every sampled hit
    assert oracle.judgeable(START + 0.5)
