"""The resources of one execution: its database copy's seeded facts, the engines, Redis client,
cache, repository, probes and oracle, opened on an ExitStack (see :func:`open_resources`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from evalcache.cache import DatabaseCache
from evalcache.clock import Clock, SystemClock, VirtualClock
from evalcache.domain.invalidation import AppDependencies
from evalcache.domain.pools import load_expert_specializations, load_id_pools
from evalcache.domain.readspecs import TTLSettings
from evalcache.domain.repositories import CachedRepository
from evalcache.domain.truth import Truth
from evalcache.metrics import CommandCount, ServerStatsProbe, StatementCounter, count_commands
from evalcache.runner.accuracy import InvalidationChecker
from evalcache.runner.database import seed_time
from evalcache.runner.des import Simulation
from evalcache.runner.oracle import StalenessOracle
from evalcache.runner.overlap import DeferredInvalidation, ServiceModel, SimHooks, SimQueuePool
from evalcache.runner.params import SEED_REFRESH_THRESHOLD, XFETCH_BETA, RunParams
from evalcache.strategies.notify import NotifyStrategy


def refresh_process(sim: Simulation, hooks: SimHooks) -> Callable[[Callable[[], None]], None]:
    """The cache's ``refresh_spawn`` with overlapping requests: each refresh is a process of
    its own from the virtual instant that triggers it, so the hit returns at once and the
    refresh's load and store take service time (a write can land in between). Outside a
    process (no simulation running) the refresh runs inline."""

    def process(job: Callable[[], None]) -> None:
        try:
            job()
        finally:
            hooks.forget()  # the process's statement tally

    def spawn(job: Callable[[], None]) -> None:
        if sim.in_process():
            sim.spawn(sim.now, process, job)
        else:
            job()

    return spawn


def map_pools(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The workload's id pools from ``load_id_pools`` output, and the specialization names.

    ``users`` are the patients (most appointments first, so Zipf follows the seeded skew);
    appointment writes draw the open (scheduled or confirmed) appointments, refunds the
    succeeded payments (most recently paid first); specializations are drawn as positions into
    the returned name list. Empty pools are left out so the generator names them if a workload
    needs them.
    """
    names = [str(s) for s in raw.get("specializations", [])]
    pools: dict[str, Any] = {
        "users": raw["patients"],
        "experts": raw["experts"],
        "open_appointments": raw["open_appointments"],
        "pending_payments": raw["pending_payments"],
        "succeeded_payments": raw["succeeded_payments"],
        "specializations": np.arange(len(names), dtype=np.int64),
    }
    return {k: v for k, v in pools.items() if len(v)}, names


@dataclasses.dataclass(frozen=True)
class Seeded:
    """What a run reads from its database copy before anything else opens."""

    pools: dict[str, Any]
    spec_names: list[str]
    expert_specs: dict[int, tuple[str, ...]]
    t0: float
    server_version: str = ""  # PostgreSQL's ``server_version``


def read_seeded(url: str) -> Seeded:
    """The workload's id pools, expert specializations, the seed's time (t0) and the server's
    version at ``url``."""
    setup = create_engine(url, poolclass=NullPool)
    try:
        with setup.connect() as conn:
            pools, spec_names = map_pools(load_id_pools(conn))
            expert_specs = load_expert_specializations(conn)
            t0 = seed_time(conn)
            version = str(conn.execute(text("SHOW server_version")).scalar() or "")
    finally:
        setup.dispose()
    return Seeded(pools, spec_names, expert_specs, t0, version)


@dataclasses.dataclass(frozen=True)
class RunResources:
    """The open resources of one execution (the ExitStack that opened them closes them)."""

    clock: Clock
    commands: CommandCount
    client: redis.Redis
    cache: DatabaseCache | None
    app: Engine
    repo: CachedRepository
    probe: ServerStatsProbe
    oracle: StalenessOracle | None
    counter: StatementCounter
    sim: Simulation | None = None  # overlapping requests (concurrency "overlap")
    hooks: SimHooks | None = None
    deferred: DeferredInvalidation | None = None  # notify_lag / invalidation_delay in overlap
    checker: InvalidationChecker | None = None  # per-write invalidation check (with an oracle)


def open_resources(
    stack: contextlib.ExitStack[Any],
    rp: RunParams,
    url: str,
    redis_url: str,
    seeded: Seeded,
    ttls: TTLSettings,
    *,
    cache_on: bool,
) -> RunResources:
    """Open everything a run on the database ``url`` needs; each close goes on ``stack``.

    The stack closes in reverse order of opening, so a resource closes before the ones it uses
    (counter and repository before the engine, the cache before its Redis client), and one
    close that raises does not keep the others from running.
    """
    virtual_mode = rp.mode == "virtual"
    sim = hooks = None
    if rp.concurrency == "overlap":
        sim = Simulation(start=seeded.t0)
        custom = rp.service_model or {}
        model = ServiceModel(
            rp.redis_service_ms / 1000,
            rp.db_service_ms / 1000,
            sigma=float(custom.get("sigma", ServiceModel.sigma)),
            seed=rp.seed,
            families={k: v / 1000 for k, v in custom.get("families", {}).items()},
            redis_ops={k: v / 1000 for k, v in custom.get("redis_ops", {}).items()},
        )
        hooks = SimHooks(sim, model)
    clock: Clock = sim.clock if sim else VirtualClock(seeded.t0) if virtual_mode else SystemClock()
    pool = redis.ConnectionPool.from_url(redis_url, socket_timeout=5.0)
    stack.callback(pool.disconnect)
    commands = count_commands(pool)
    # Virtual replay is one thread: one connection skips the pool's get/release per
    # command (thread-safe by redis-py's lock); live workers keep a pool.
    client = redis.Redis(connection_pool=pool, single_connection_client=virtual_mode)
    stack.callback(client.close)
    if hooks is not None:
        hooks.attach_redis(client)
    # Built (no connection yet) before the cache, so the cache's refresh pool, which loads
    # through it, is closed first.
    if hooks is not None:  # db_pool connections for the requests, overflow for other threads
        app = create_engine(url, poolclass=SimQueuePool, pool_size=rp.db_pool, max_overflow=-1)
    else:
        pool_size = 2 if virtual_mode else rp.workers + 2
        app = create_engine(url, pool_size=pool_size, max_overflow=rp.workers)
    stack.callback(app.dispose)
    namespace = f"{rp.namespace or 'run'}-{uuid.uuid4().hex[:12]}"
    cache = None
    if cache_on:
        refresh_mode, spawn = "inline" if virtual_mode else "background", None
        if sim is not None and hooks is not None:
            refresh_mode, spawn = "spawn", refresh_process(sim, hooks)
        cache = DatabaseCache(
            client,
            namespace=namespace,
            clock=clock,
            default_ttl=float(ttls.for_family("user_profile")),
            negative_ttl=float(ttls.negative),
            refresh_threshold=SEED_REFRESH_THRESHOLD if rp.refresh == "threshold" else None,
            xfetch_beta=XFETCH_BETA if rp.refresh == "xfetch" else None,
            refresh_mode=refresh_mode,
            refresh_spawn=spawn,
            seed=rp.seed,
            serve_stale=rp.stampede == "stale",
            lock_wait=0.0 if rp.stampede == "none" else None,
        )
        stack.callback(cache.close)
        stack.callback(cache.flush_namespace)  # runs before close
    repo = CachedRepository(
        app, cache, rp.strategy, ttls=ttls, clock=clock, expert_specs=seeded.expert_specs
    )
    stack.callback(repo.close)
    probe = ServerStatsProbe(url)
    stack.callback(probe.close)
    # Untracked from the connection's start: a SET in a connect hook would come after
    # SQLAlchemy's first-connect queries, which the server would then count as load.
    untracked = {"options": "-c pg_stat_statements.track=none"} if probe.has_statements else {}
    oracle_engine = create_engine(url, pool_size=rp.workers + 1, connect_args=untracked)
    stack.callback(oracle_engine.dispose)
    oracle = None
    if cache_on and rp.stale_sample > 0:
        oracle = StalenessOracle(Truth(clock), oracle_engine, rp.stale_sample, rp.seed)
        stack.callback(oracle.close)
        oracle.start = seeded.t0 if virtual_mode else time.time()
        # stale-read causes: loads reported by the repository, stores by the cache
        oracle.now = clock.now
        oracle.never_invalidates = not getattr(repo.strategy, "invalidates", True)
        oracle.judge_in_flight = sim is None
        repo.load_observer = oracle.loaded
        assert cache is not None
        cache.observe_stores(oracle.stored)
    counter = StatementCounter(app)
    stack.callback(counter.close)
    if hooks is not None:  # after the counter: its per-statement tally runs before the hold
        hooks.attach_engine(app, rp.db_pool)
    deferred = None
    notify_lag, delay = rp.delays()
    if sim is not None and hooks is not None and cache_on:
        # notify in overlap always: its commit's notifications are collected by the writer
        # (deterministic), never applied by the listener thread while other requests run
        if isinstance(repo.strategy, NotifyStrategy):
            deferred = DeferredInvalidation(repo, sim, hooks, notify_lag, rp.seed)
        elif not delay.zero:
            deferred = DeferredInvalidation(repo, sim, hooks, delay, rp.seed)
    if oracle is not None and deferred is not None:  # a stale read may await its invalidation
        oracle.pending_since = deferred.pending_since
    checker = None
    if oracle is not None and cache is not None:
        deps = AppDependencies(oracle_engine, seeded.expert_specs, repo.admin_id)
        checker = _checker(stack, redis_url, repo, cache, oracle, deps, clock)
        if deferred is not None:
            deferred.after = checker.recheck
    return RunResources(
        clock,
        commands,
        client,
        cache,
        app,
        repo,
        probe,
        oracle,
        counter,
        sim,
        hooks,
        deferred,
        checker,
    )


def _checker(
    stack: contextlib.ExitStack[Any],
    redis_url: str,
    repo: CachedRepository,
    cache: DatabaseCache,
    oracle: StalenessOracle,
    deps: AppDependencies,
    clock: Clock,
) -> InvalidationChecker:
    """The per-write invalidation check: its own Redis client (its commands counted apart, no
    hold points), the dependency map's look-ups and the comparisons on the oracle's engine."""
    pool = redis.ConnectionPool.from_url(redis_url, socket_timeout=5.0)
    stack.callback(pool.disconnect)
    commands = count_commands(pool)
    client = redis.Redis(connection_pool=pool)
    stack.callback(client.close)
    checker = InvalidationChecker(repo, cache, client, deps, oracle.connection, clock, commands)
    oracle.on_store = checker.stored
    return checker
