"""``run(params)``: one experiment from parameters to a saved, versioned result.

Order of work: validate every parameter (nothing runs on bad input); resolve the servers; make
sure the template database is seeded at the requested scale; then, each on its own fresh copy
of the template and its own Redis namespace, the cache-off baseline (when asked) and the cached
run replay the *same* request stream. Figures are assembled into the schema of
:mod:`evalcache.results`.

Examples
--------
>>> from evalcache.runner import run                                    # doctest: +SKIP
>>> result = run({"workload": "mixed", "strategy": "tags", "duration_s": "10m"})  # doctest: +SKIP
>>> result.summary["hit_rate"], result.summary["db_reduction"]         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from evalcache.cache import DatabaseCache
from evalcache.clock import Clock, SystemClock, VirtualClock
from evalcache.domain.pools import load_expert_specializations, load_id_pools
from evalcache.domain.readspecs import TTLSettings
from evalcache.domain.repositories import CachedRepository
from evalcache.metrics import (
    CommandCount,
    ServerStatsProbe,
    StatementCounter,
    count_commands,
    namespace_usage,
    redis_snapshot,
)
from evalcache.model import predicted_hit_rate
from evalcache.results import RunResult, run_folder_name
from evalcache.runner import live, virtual
from evalcache.runner.baseline import Baseline, measured_baseline, with_baseline_windows
from evalcache.runner.database import database_copy, prepare_template, seed_time
from evalcache.runner.oracle import StalenessOracle
from evalcache.runner.params import (
    SEED_REFRESH_THRESHOLD,
    XFETCH_BETA,
    RunParams,
    default_warmup,
    parse_params,
)
from evalcache.runner.serve import Executor
from evalcache.runner.summary import Measured, build_summary
from evalcache.services import services_session
from evalcache.settings import Settings
from evalcache.strategies import strategy_class
from evalcache.workload import WorkloadGenerator, WorkloadSpec


def map_pools(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The workload's id pools from ``load_id_pools`` output, and the specialization names.

    ``users`` are the patients (most appointments first, so Zipf follows the seeded skew);
    specializations are drawn as positions into the returned name list. Empty pools are left
    out so the generator names them if a workload needs them.
    """
    names = [str(s) for s in raw.get("specializations", [])]
    pools: dict[str, Any] = {
        "users": raw["patients"],
        "experts": raw["experts"],
        "appointments": raw["appointments"],
        "pending_payments": raw["pending_payments"],
        "specializations": np.arange(len(names), dtype=np.int64),
    }
    return {k: v for k, v in pools.items() if len(v)}, names


def model_hit_rate(
    rp: RunParams, spec: WorkloadSpec, gen: WorkloadGenerator, ttl: float
) -> float | None:
    """The TTL-cache model's prediction for the ``synthetic`` workload (``None`` otherwise)."""
    if spec.name != "synthetic" or rp.refresh != "none" or not rp.cache:
        return None
    _, rates = gen.key_rates("read:user_profile")
    read_rate = float(rates.sum())
    probs = gen.popularity("users").probabilities()
    # a strategy that leaves entries in place on a write gives the model no delete rate
    misses = strategy_class(rp.strategy).misses_after_write
    mu = spec.rate * spec.write_ratio if misses else 0.0
    return predicted_hit_rate(read_rate, probs, ttl, write_rate=mu)


def run_warmup(rp: RunParams) -> float:
    """The simulated seconds ``rp``'s run replays before it measures."""
    return default_warmup(rp, rp.spec(), float(_ttls(rp).for_family("user_profile")))


def _ttls(rp: RunParams) -> TTLSettings:
    return TTLSettings(**rp.ttl).scaled(rp.ttl_scale)


def live_footprint(client: redis.Redis, cache: DatabaseCache) -> tuple[int, int]:
    """Keys and bytes of the run's namespace that are live at the clock's time.

    On a virtual clock Redis keeps entries past their virtual TTL (it only bounds memory), so
    those are left out: the figure is what a cache on the wall clock would hold. Tag sets and
    locks count as they are.
    """
    entries, others = cache.keys.namespace_patterns()
    live = namespace_usage(
        client, [entries], keep=lambda k: cache.get_with_metadata(k.decode()) is not None
    )
    rest = namespace_usage(client, [others])
    return live[0] + rest[0], live[1] + rest[1]


@dataclasses.dataclass(frozen=True)
class Seeded:
    """What a run reads from its database copy before anything else opens."""

    pools: dict[str, Any]
    spec_names: list[str]
    expert_specs: dict[int, tuple[str, ...]]
    t0: float


def read_seeded(url: str) -> Seeded:
    """The workload's id pools, expert specializations and the seed's time (t0) at ``url``."""
    setup = create_engine(url, poolclass=NullPool)
    try:
        with setup.connect() as conn:
            pools, spec_names = map_pools(load_id_pools(conn))
            expert_specs = load_expert_specializations(conn)
            t0 = seed_time(conn)
    finally:
        setup.dispose()
    return Seeded(pools, spec_names, expert_specs, t0)


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
    clock: Clock = VirtualClock(seeded.t0) if virtual_mode else SystemClock()
    pool = redis.ConnectionPool.from_url(redis_url, socket_timeout=5.0)
    stack.callback(pool.disconnect)
    commands = count_commands(pool)
    # Virtual replay is one thread: one connection skips the pool's get/release per
    # command (thread-safe by redis-py's lock); live workers keep a pool.
    client = redis.Redis(connection_pool=pool, single_connection_client=virtual_mode)
    stack.callback(client.close)
    # Built (no connection yet) before the cache, so the cache's refresh pool, which loads
    # through it, is closed first.
    pool_size = 2 if virtual_mode else rp.workers + 2
    app = create_engine(url, pool_size=pool_size, max_overflow=rp.workers)
    stack.callback(app.dispose)
    namespace = f"{rp.namespace or 'run'}-{uuid.uuid4().hex[:12]}"
    cache = None
    if cache_on:
        cache = DatabaseCache(
            client,
            namespace=namespace,
            clock=clock,
            default_ttl=float(ttls.for_family("user_profile")),
            negative_ttl=float(ttls.negative),
            refresh_threshold=SEED_REFRESH_THRESHOLD if rp.refresh == "threshold" else None,
            xfetch_beta=XFETCH_BETA if rp.refresh == "xfetch" else None,
            refresh_mode="inline" if virtual_mode else "background",
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
        oracle = StalenessOracle(repo.fresh, oracle_engine, rp.stale_sample, rp.seed)
        stack.callback(oracle.close)
        oracle.start = seeded.t0 if virtual_mode else time.time()
    counter = StatementCounter(app)
    stack.callback(counter.close)
    return RunResources(clock, commands, client, cache, app, repo, probe, oracle, counter)


def build_executor(
    rp: RunParams, spec: WorkloadSpec, res: RunResources, spec_names: list[str], *, cache_on: bool
) -> Executor:
    """The request executor of a run (virtual mode: drained writes, no locking)."""
    virtual_mode = rp.mode == "virtual"
    return Executor(
        res.repo,
        res.counter,
        res.oracle,
        spec_names,
        window_s=rp.window_s,
        drain=virtual_mode and cache_on,
        locked=not virtual_mode,
        read_modify_write=spec.read_modify_write,
    )


def replay(
    m: Measured, res: RunResources, gen: WorkloadGenerator, t0: float, *, progress: bool
) -> None:
    """Serve the whole stream into ``m``; the start figures are taken when warm-up ends."""
    rp, spec, cache, ex = m.rp, m.spec, res.cache, m.executor

    def on_measure() -> None:
        m.db_start = res.counter.snapshot()
        m.server_start = res.probe.snapshot()
        m.strategy_start = dict(res.repo.strategy.stats()) if m.cache_on else {}
        m.commands_start = res.commands.value
        if cache is not None:
            m.cache_start, m.family_start = cache.stats(), cache.family_stats()

    expected = int(spec.rate * spec.duration_s)
    started = time.perf_counter()
    if rp.mode == "virtual":
        assert isinstance(res.clock, VirtualClock)
        m.served = virtual.replay_virtual(
            gen.batches(),
            ex,
            res.clock,
            t0,
            tick=res.repo.tick,
            warmup_s=m.warmup_s,
            on_measure=on_measure,
            total=expected,
            progress=progress,
        )
        m.time_model = virtual.TIME_MODEL
    else:
        outcome = live.replay_live(
            gen.batches(),
            ex,
            workers=rp.workers,
            tick=res.repo.tick,
            warmup_s=m.warmup_s,
            on_measure=on_measure,
            saturation_lag_s=rp.saturation_lag_s,
            total=expected,
            progress=progress,
        )
        m.served, m.saturated, m.max_lag_s = outcome.served, outcome.saturated, outcome.max_lag_s
        m.time_model = live.TIME_MODEL
    m.elapsed_s = time.perf_counter() - started


def measure_end(m: Measured, res: RunResources) -> None:
    """The end figures, once asynchronous work (refreshes, invalidations) has settled."""
    cache = res.cache
    if cache is not None and m.rp.mode != "virtual":
        cache.wait_for_refreshes()
    res.repo.drain()
    m.db_end = res.counter.snapshot()
    m.strategy_end = dict(res.repo.strategy.stats()) if m.cache_on else {}
    if cache is not None:
        m.cache_end, m.family_end = cache.stats(), cache.family_stats()
    m.server_end = res.probe.settle(res.app)
    m.has_server_statements = res.probe.has_statements
    m.commands_end = res.commands.value
    m.redis_after = redis_snapshot(res.client)
    if cache is not None:
        m.namespace_keys, m.namespace_bytes = live_footprint(res.client, cache)


def execute(
    rp: RunParams,
    template_url: str,
    redis_url: str,
    *,
    cache_on: bool,
    progress: bool = False,
    label: str = "run",
) -> Measured:
    """Run the stream once on a fresh copy of the template; return the raw measurements."""
    spec = rp.spec()
    ttls = _ttls(rp)
    with database_copy(template_url, "base" if not cache_on else "run") as url:
        seeded = read_seeded(url)
        gen = WorkloadGenerator(spec, seeded.pools, rp.seed)
        ttl_profile = float(ttls.for_family("user_profile"))
        warmup = default_warmup(rp, spec, ttl_profile)
        with contextlib.ExitStack() as stack:
            res = open_resources(stack, rp, url, redis_url, seeded, ttls, cache_on=cache_on)
            ex = build_executor(rp, spec, res, seeded.spec_names, cache_on=cache_on)
            m = Measured(rp=rp, spec=spec, cache_on=cache_on, warmup_s=warmup, executor=ex)
            m.redis_before = redis_snapshot(res.client)
            replay(m, res, gen, seeded.t0, progress=progress)
            measure_end(m, res)
            m.model_hit_rate = model_hit_rate(rp, spec, gen, ttl_profile)
            m.template = template_url.rsplit("/", 1)[-1]
    return m


def run(
    params: Mapping[str, Any],
    *,
    settings: Settings | None = None,
    out: Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Run one experiment and return (and optionally save) its results.

    Parameters
    ----------
    params:
        Run parameters (see :func:`evalcache.runner.validate_params`); checked before anything
        runs.
    settings:
        Where the servers are (default: from the environment).
    out:
        When given, the run is saved under ``out / run_folder_name(params)``.
    progress:
        Show a progress bar.

    Returns
    -------
    RunResult
        ``.summary`` (schema :data:`evalcache.results.SCHEMA_VERSION`), ``.timeseries``,
        ``.latency``.
    """
    rp = parse_params(params)
    norm = rp.as_dict()
    settings = settings if settings is not None else Settings.from_env()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_id = hashlib.sha256(f"{norm}{started_at}{uuid.uuid4()}".encode()).hexdigest()[:12]
    with services_session(settings) as svc:
        template = prepare_template(svc.database_url, rp.scale, progress=progress)
        baseline: Baseline | None = None
        if rp.cache and rp.baseline:
            baseline = measured_baseline(
                rp,
                run_warmup(rp),
                template,
                svc.redis_url,
                lambda: execute(rp, template, svc.redis_url, cache_on=False, progress=progress),
            )
        main = execute(rp, template, svc.redis_url, cache_on=rp.cache, progress=progress)
    summary = build_summary(main, baseline, norm, run_id=run_id, started_at=started_at)
    ex = main.executor
    ts, latency = ex.timeseries.to_frame(), ex.latency.to_frame()
    if baseline is not None:
        ts = with_baseline_windows(ts, baseline)
        latency = pd.concat([latency, baseline.latency], ignore_index=True)
    result = RunResult(summary, ts, latency)
    if out is not None:
        result.save(Path(out) / run_folder_name(norm))
    return result
