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
import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import redis
from sqlalchemy import Engine, create_engine

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.domain.invalidation import Related, lookup_related, needs_lookup
from evalcache.domain.readspecs import TTLSettings, entry_family
from evalcache.metrics import (
    KeyUsage,
    grouped_usage,
    namespace_usage,
    redis_snapshot,
)
from evalcache.model import predicted_hit_rate
from evalcache.results import RunResult, run_folder_name
from evalcache.runner import live, virtual
from evalcache.runner.baseline import (
    Baseline,
    forget,
    measured_baseline,
    memo_key,
    template_fingerprint,
    with_baseline_windows,
)
from evalcache.runner.closed import (
    ClosedLoop,
    replay_closed_live,
    replay_closed_overlap,
    replay_closed_virtual,
)
from evalcache.runner.database import database_copy, prepare_template
from evalcache.runner.ideal import ideal_cache
from evalcache.runner.overlap import TIME_MODEL as OVERLAP_TIME_MODEL
from evalcache.runner.overlap import families_model, lag_model, replay_overlap
from evalcache.runner.params import (
    RunParams,
    default_warmup,
    parse_params,
)
from evalcache.runner.record import TraceRecorder, value_bytes
from evalcache.runner.resources import RunResources, Seeded, open_resources, read_seeded
from evalcache.runner.serve import Executor
from evalcache.runner.summary import Measured, build_summary
from evalcache.services import services_session
from evalcache.settings import Settings
from evalcache.strategies import strategy_class
from evalcache.strategies.api import WriteEvent
from evalcache.workload import WorkloadGenerator, WorkloadSpec
from evalcache.workload.trace import (
    RequestSource,
    TraceMeta,
    TraceSource,
    is_trace_workload,
)


def model_write_effect(rp: RunParams) -> str:
    """What a write does to entries in ``rp``'s run, as the TTL model knows it.

    The strategy's ``write_effect``; a ``write_through`` rewrite reaches every entry Redis
    still holds, and on a virtual clock Redis holds entries past their TTL (it only bounds
    memory), so there an expired entry is rewritten too (``refresh_held``).
    """
    effect = strategy_class(rp.strategy).write_effect
    return "refresh_held" if effect == "refresh" and rp.mode == "virtual" else effect


def model_hit_rate(
    rp: RunParams, spec: WorkloadSpec, gen: RequestSource, ttl: float
) -> float | None:
    """The TTL-cache model's prediction for the ``synthetic`` workload (``None`` otherwise).

    Every synthetic write updates a user's profile, so it reaches the family's tables: for a
    ``family`` strategy each entry sees every write, otherwise its own key's share
    (:mod:`evalcache.model`).
    """
    if spec.name != "synthetic" or rp.refresh != "none" or not rp.cache:
        return None
    if spec.clients is not None:  # the rate is what the clients achieve, not a Poisson input
        return None
    _, rates = gen.key_rates("read:user_profile")  # a varying rate: its time average
    read_rate = float(rates.sum())
    probs = gen.popularity("users").probabilities()
    mu = gen.mean_rate() * spec.write_ratio
    return predicted_hit_rate(
        read_rate, probs, ttl, write_rate=mu, write_effect=model_write_effect(rp)
    )


def run_warmup(rp: RunParams) -> float:
    """The simulated seconds ``rp``'s run replays before it measures."""
    return default_warmup(rp, rp.spec(), float(_ttls(rp).for_family("user_profile")))


def _ttls(rp: RunParams) -> TTLSettings:
    return TTLSettings(**rp.ttl).scaled(rp.ttl_scale)


class Footprint(NamedTuple):
    """The run's namespace at the end: keys and bytes, and its live entries by query family."""

    keys: int
    bytes: int
    families: dict[str, KeyUsage]


def live_footprint(client: redis.Redis, cache: DatabaseCache) -> Footprint:
    """Keys and bytes of the run's namespace that are live at the clock's time.

    On a virtual clock Redis keeps entries past their virtual TTL (it only bounds memory), so
    those are left out: the figure is what a cache on the wall clock would hold. Tag sets and
    locks count as they are. Entries are also added up by query family (MEMORY USAGE and
    STRLEN), in the same SCAN.
    """
    entries, others = cache.keys.namespace_patterns()
    prefix = cache.keys.prefix
    by_family = grouped_usage(
        client,
        entries,
        lambda k: entry_family(k.decode(), prefix),
        keep=lambda k: cache.get_with_metadata(k.decode()) is not None,
        strlen=True,
    )
    rest = namespace_usage(client, [others])
    keys = sum(u.keys for u in by_family.values()) + rest[0]
    used = sum(u.memory_bytes for u in by_family.values()) + rest[1]
    return Footprint(keys, used, {f: u for f, u in by_family.items() if f is not None})


def build_executor(
    rp: RunParams, spec: WorkloadSpec, res: RunResources, spec_names: list[str], *, cache_on: bool
) -> Executor:
    """The request executor of a run (virtual mode: drained writes unless the notify lag is
    modelled, no locking)."""
    virtual_mode = rp.mode == "virtual"
    modelled_lag = res.deferred is not None  # the lagged deliveries are processes of their own
    if res.sim is None or res.hooks is None:
        overlap: dict[str, Any] = {}
    else:
        clock, t0 = res.sim.clock, res.sim.now  # latency on the simulation's clock, in ns

        def now_ns() -> int:
            return round((clock.now() - t0) * 1e9)

        overlap = {
            "now_ns": now_ns,
            "statements": res.hooks.statements,
            "atomic": res.hooks.atomic,
            "label": res.hooks.label,
        }
    return Executor(
        res.repo,
        res.counter,
        res.oracle,
        spec_names,
        window_s=rp.window_s,
        drain=virtual_mode and cache_on and not modelled_lag,
        locked=not virtual_mode,
        checker=res.checker,
        check_at_commit=res.sim is not None,
        **overlap,
    )


def overlap_time_model(rp: RunParams, res: RunResources) -> str:
    """The ``time_model`` of a run with overlapping requests."""
    assert res.hooks is not None
    return OVERLAP_TIME_MODEL.format(
        db_pool=rp.db_pool,
        db_ms=rp.db_service_ms,
        redis_ms=rp.redis_service_ms,
        families=families_model((rp.service_model or {}).get("families", {})),
        redis_ops=families_model((rp.service_model or {}).get("redis_ops", {}), "command"),
        sigma=res.hooks.model.sigma,
        lag=lag_model(*rp.delays()),
    )


def replay(
    m: Measured, res: RunResources, gen: RequestSource, t0: float, *, progress: bool
) -> None:
    """Serve the whole stream into ``m``; the start figures are taken when warm-up ends."""
    rp, spec, cache, ex = m.rp, m.spec, res.cache, m.executor

    def on_measure() -> None:
        m.db_start = res.counter.snapshot()
        m.server_start = res.probe.snapshot()
        m.strategy_start = dict(res.repo.strategy.stats()) if m.cache_on else {}
        m.commands_start, m.scans_start = res.commands.value, res.commands.scans
        if cache is not None:
            m.cache_start, m.family_start = cache.stats(), cache.family_stats()
        if res.hooks is not None:
            res.hooks.reset_real()

    # what every replay takes: the stream's clock hooks, warm-up and progress
    common: dict[str, Any] = {
        "tick": res.repo.tick,
        "warmup_s": m.warmup_s,
        "on_measure": on_measure,
        "total": round(gen.expected_requests()),
        "progress": progress,
    }
    m.offered_rate = gen.mean_rate()
    loop = ClosedLoop.of(spec, rp.seed)
    started = time.perf_counter()
    end_s: float
    if loop is not None:
        m.time_model, end_s = replay_closed(m, res, gen, t0, loop, common)
    elif res.sim is not None and res.hooks is not None:
        m.served = replay_overlap(gen.batches(), ex, res.sim, res.hooks, t0, **common)
        m.time_model = overlap_time_model(rp, res)
        end_s = res.sim.now - t0
    elif rp.mode == "virtual":
        assert isinstance(res.clock, VirtualClock)
        m.served = virtual.replay_virtual(gen.batches(), ex, res.clock, t0, **common)
        m.time_model = virtual.TIME_MODEL
        end_s = res.clock.now() - t0
    else:
        outcome = live.replay_live(
            gen.batches(), ex, workers=rp.workers, saturation_lag_s=rp.saturation_lag_s, **common
        )
        m.served, m.saturated, m.max_lag_s = outcome.served, outcome.saturated, outcome.max_lag_s
        m.time_model = live.TIME_MODEL
        end_s = outcome.end_s
    m.elapsed_s = time.perf_counter() - started
    # over the run's span: its duration, or longer when the last request completed later
    m.achieved_rate = m.served / max(spec.duration_s, end_s)


def replay_closed(
    m: Measured,
    res: RunResources,
    gen: RequestSource,
    t0: float,
    loop: ClosedLoop,
    common: dict[str, Any],
) -> tuple[str, float]:
    """Serve the stream to closed-loop clients (:mod:`evalcache.runner.closed`) in the run's
    mode; return its ``time_model`` and when the last request completed."""
    rp, ex = m.rp, m.executor
    if res.sim is not None and res.hooks is not None:
        out = replay_closed_overlap(gen.batches(), ex, res.sim, res.hooks, t0, loop, **common)
        model = overlap_time_model(rp, res)
    elif rp.mode == "virtual":
        assert isinstance(res.clock, VirtualClock)
        out = replay_closed_virtual(gen.batches(), ex, res.clock, t0, loop, **common)
        model = virtual.TIME_MODEL
    else:
        out = replay_closed_live(gen.batches(), ex, loop, **common)
        model = live.TIME_MODEL.replace("; open loop", "")
    m.served, m.stream_exhausted, m.closed = out.served, out.exhausted, out
    return f"{model}; {loop.describe()}", out.end_s


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
    m.server_statements_note = res.probe.statements_note
    m.commands_end, m.scans_end = res.commands.value, res.commands.scans
    if res.hooks is not None:
        m.service_times = res.hooks.service_times()
    if res.oracle is not None:
        o = res.oracle
        m.oracle_loads_checked, m.oracle_errors = o.loads_checked, o.errors
        m.oracle_error_example = o.error_example
    if res.checker is not None:  # before the server-wide snapshot, which leaves it out
        res.checker.finish()
        m.invalidation_accuracy = res.checker.figures()
        m.check_commands = res.checker.commands.value
    m.redis_after = redis_snapshot(res.client)
    if cache is not None:
        m.namespace_keys, m.namespace_bytes, m.family_bytes = live_footprint(res.client, cache)


def request_source(rp: RunParams, spec: WorkloadSpec, seeded: Seeded) -> RequestSource:
    """The run's request stream: generated from the spec, or read from a trace file (whose ids
    are checked against the database's pools here, before anything runs)."""
    if is_trace_workload(rp.workload):
        return TraceSource(spec, seeded.pools, seeded.spec_names)
    return WorkloadGenerator(spec, seeded.pools, rp.seed)


def trace_recorder(
    rp: RunParams,
    gen: RequestSource,
    seeded: Seeded,
    ttls: TTLSettings,
    lookups: Engine | None = None,
    **meta: Any,
) -> TraceRecorder:
    """The recorder of ``rp``'s stream (``record_trace``), with what the trace file states.

    ``lookups``: an engine no counter sees, for a write's post-commit look-up.
    """
    spec = gen.spec
    specs = seeded.expert_specs

    def related(event: WriteEvent) -> Related:
        if lookups is None or not needs_lookup(event):
            return Related(looked_up=True) if lookups is not None else Related()
        with lookups.connect() as conn:
            return lookup_related(conn, event)

    return TraceRecorder(
        gen,
        lambda e: specs.get(int(e), ()),
        TraceMeta(
            source="run",
            duration_s=spec.duration_s,
            cold_start=spec.cold_start,
            batch_size=spec.batch_size,
            specializations=tuple(seeded.spec_names),
            pool_sizes={p: len(v) for p, v in seeded.pools.items()},
            ttl={name: ttls[name] for name in TTLSettings.NAMES},
            **meta,
        ),
        related,
    )


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
        gen = request_source(rp, spec, seeded)
        ttl_profile = float(ttls.for_family("user_profile"))
        warmup = default_warmup(rp, spec, ttl_profile)
        with contextlib.ExitStack() as stack:
            res = open_resources(stack, rp, url, redis_url, seeded, ttls, cache_on=cache_on)
            ex = build_executor(rp, spec, res, seeded.spec_names, cache_on=cache_on)
            m = Measured(rp=rp, spec=spec, cache_on=cache_on, warmup_s=warmup, executor=ex)
            m.data_as_of = datetime.fromtimestamp(seeded.t0, UTC).isoformat()
            m.postgres_version = seeded.server_version
            m.redis_before = redis_snapshot(res.client)
            # the clock's time at the stream's start (live: the wall clock's)
            origin = seeded.t0 if rp.mode == "virtual" else time.time()
            if rp.record_trace and cache_on == rp.cache:  # the run's own stream, not a baseline
                # untracked as the oracle's engine: the server's statement count leaves it out
                untracked = {"options": "-c pg_stat_statements.track=none"}
                lookups = create_engine(
                    url, pool_size=1, connect_args=untracked if res.probe.has_statements else {}
                )
                stack.callback(lookups.dispose)
                ex.recorder = trace_recorder(
                    rp, gen, seeded, ttls, lookups, warmup_s=warmup, origin=origin,
                    admin_id=res.repo.admin_id,
                )  # fmt: skip
            replay(m, res, gen, seeded.t0, progress=progress)
            measure_end(m, res)
            m.model_hit_rate = model_hit_rate(rp, spec, gen, ttl_profile)
            m.template = template_url.rsplit("/", 1)[-1]
            admin_id = res.repo.admin_id
    if cache_on:  # the ceiling of this stream, off the measured path and the servers
        # a closed loop serves a prefix of the stream, at the times its clients issued it
        served = gen if m.closed is None else m.closed.requests(gen)
        m.ideal = ideal_cache(
            served,
            warmup_s=warmup,
            origin=origin,
            specializations=seeded.spec_names,
            admin_id=admin_id,
        )
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
                fresh=rp.fresh_baseline,
            )
        main = execute(rp, template, svc.redis_url, cache_on=rp.cache, progress=progress)
    summary = build_summary(main, baseline, norm, run_id=run_id, started_at=started_at)
    ex = main.executor
    ts, latency = ex.timeseries.to_frame(), ex.latency.to_frame()
    if baseline is not None:
        ts = with_baseline_windows(ts, baseline)
        latency = pd.concat([latency, baseline.latency], ignore_index=True)
    recorder = ex.recorder
    trace = None
    if isinstance(recorder, TraceRecorder):
        run_figures = {k: summary.get(k) for k in ("run_id", "outcome_digest", "hit_rate")}
        trace = recorder.trace(
            value_bytes=value_bytes(summary), run={**run_figures, "params": norm}
        )
    result = RunResult(summary, ts, latency, trace=trace)
    if out is not None:
        result.save(Path(out) / run_folder_name(norm))
    return result


def forget_baselines(
    runs: Iterable[Mapping[str, Any]], *, settings: Settings | None = None
) -> tuple[int, int]:
    """Delete the memoised cache-off baselines of these runs' streams, so that the next run of
    each stream measures it anew (and the runs after it reuse that one).

    ``runs`` are run parameters as :func:`run` takes them; cache-off runs and runs without a
    baseline have none and are skipped. Templates are prepared (seeded if needed) as
    :func:`run` prepares them, since a memo's key holds its template's data fingerprint.
    Returns (streams, memos deleted).
    """
    rps = [rp for rp in map(parse_params, runs) if rp.cache and rp.baseline]
    if not rps:
        return 0, 0
    settings = settings if settings is not None else Settings.from_env()
    with services_session(settings) as svc:
        templates = {s: prepare_template(svc.database_url, s) for s in {rp.scale for rp in rps}}
        data = {s: template_fingerprint(url) for s, url in templates.items()}
        keys = {
            memo_key(rp, run_warmup(rp), templates[rp.scale], data=data[rp.scale]) for rp in rps
        }
        return len(keys), forget(svc.redis_url, keys)
