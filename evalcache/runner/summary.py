"""Assemble a run's measurements into a ``summary.json`` (:mod:`evalcache.results_schema`).

Counted window: every figure except the Redis keys/memory and the time series covers the
requests after ``warmup_s`` (statement counts, server counts, cache and strategy counters are
snapshotted at that moment); the time series covers the whole run, warm-up included, so
charts show it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evalcache.domain.families import FAMILIES
from evalcache.metrics import (
    DbCounts,
    KeyUsage,
    LatencyRecorder,
    RedisSnapshot,
    ServerCounts,
    age_percentiles,
)
from evalcache.results_schema import empty_summary
from evalcache.runner.ideal import (
    IdealCache,
    IdealCounts,
    efficiency,
    ideal_db_reduction,
    ideal_saved,
)
from evalcache.runner.oracle import CAUSES
from evalcache.runner.params import RunParams
from evalcache.runner.serve import Executor
from evalcache.workload import WorkloadSpec

if TYPE_CHECKING:  # baseline imports this module
    from evalcache.runner.baseline import Baseline
    from evalcache.runner.closed import ClosedOutcome


@dataclass
class Measured:
    """Raw figures of one execution (baseline or cached run)."""

    rp: RunParams
    spec: WorkloadSpec
    cache_on: bool
    warmup_s: float
    executor: Executor
    served: int = 0
    elapsed_s: float = 0.0
    saturated: bool = False
    max_lag_s: float | None = None
    time_model: str = ""
    template: str = ""
    db_start: DbCounts = field(default_factory=DbCounts)
    db_end: DbCounts = field(default_factory=DbCounts)
    server_start: ServerCounts | None = None
    server_end: ServerCounts | None = None
    has_server_statements: bool = False
    server_statements_note: str | None = None  # why the server cannot count, in words
    cache_start: dict[str, int] = field(default_factory=dict)
    cache_end: dict[str, int] = field(default_factory=dict)
    family_start: dict[str, dict[str, int]] = field(default_factory=dict)
    family_end: dict[str, dict[str, int]] = field(default_factory=dict)
    strategy_start: dict[str, Any] = field(default_factory=dict)
    strategy_end: dict[str, Any] = field(default_factory=dict)
    redis_before: RedisSnapshot | None = None
    redis_after: RedisSnapshot | None = None
    commands_start: int = 0
    commands_end: int = 0
    scans_start: int = 0
    scans_end: int = 0
    namespace_keys: int = 0
    namespace_bytes: int = 0
    family_bytes: dict[str, KeyUsage] = field(default_factory=dict)  # live entries by family
    ideal: IdealCache | None = None  # the ideal cache over the same stream (cached runs)
    model_hit_rate: float | None = None
    # loader against truth (StalenessOracle); None without an oracle
    oracle_loads_checked: int | None = None
    oracle_errors: int | None = None
    oracle_error_example: str | None = None
    service_times: dict[str, Any] | None = None  # overlap: model means beside real times
    data_as_of: str = ""  # the seeded data's reference time, ISO-8601 UTC
    postgres_version: str = ""
    invalidation_accuracy: dict[str, Any] | None = None  # the per-write check (with an oracle)
    check_commands: int = 0  # Redis commands the check sent (not the run's)
    offered_rate: float | None = None  # the stream's mean rate, requests/s
    achieved_rate: float | None = None  # requests served / the run's span
    stream_exhausted: bool | None = None  # closed loop: the clients used the stream up
    closed: ClosedOutcome | None = None  # closed loop: what its clients served, and when

    @property
    def db(self) -> DbCounts:
        return self.db_end - self.db_start

    @property
    def server(self) -> ServerCounts | None:
        if self.server_start is None or self.server_end is None:
            return None
        return self.server_end - self.server_start

    def cache_delta(self, name: str) -> int:
        return int(self.cache_end.get(name, 0)) - int(self.cache_start.get(name, 0))

    def family_delta(self, family: str, name: str) -> int:
        end = self.family_end.get(family, {}).get(name, 0)
        return int(end) - int(self.family_start.get(family, {}).get(name, 0))

    def strategy_delta(self, name: str) -> float:
        end, start = self.strategy_end.get(name, 0), self.strategy_start.get(name, 0)
        if isinstance(end, int | float) and isinstance(start, int | float):
            return float(end) - float(start)
        return 0.0


def _notify_lags(m: Measured) -> tuple[float | None, float | None]:
    # The notify strategy's stats carry its commit-to-invalidation lags; others have none.
    lags = m.strategy_end.get("lag_ms")
    if isinstance(lags, list | tuple) and lags:
        arr = np.asarray(lags, dtype=np.float64)
        return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))
    return None, None


def build_summary(
    m: Measured,
    baseline: Baseline | None,
    params: dict[str, Any],
    *,
    run_id: str,
    started_at: str,
) -> dict[str, Any]:
    """The summary dict (schema 1) of run ``m``, with ``baseline`` filling ``db_reduction``."""
    ex = m.executor
    s = empty_summary({**params, "cache": m.cache_on}, run_id=run_id, started_at=started_at)
    total = ex.counters.total()
    reads = total.reads
    s.update(
        requests=total.reads + total.writes,
        reads=reads,
        writes=total.writes,
        writes_noop=ex.noop_writes,
        hits=total.hits,
        misses=total.misses,
        negative_hits=total.negative_hits,
        uncached=total.uncached,
        hit_rate=total.hit_rate,
        stale_reads=total.stale_reads,
        stale_checked=total.stale_checked,
        stale_read_rate=total.stale_read_rate,
        stale_read_rate_upper95=total.stale_read_rate_upper95,
    )
    ages = age_percentiles(ex.stale_ages)
    s.update(stale_age_p50_s=ages.p50_s, stale_age_p99_s=ages.p99_s, stale_age_max_s=ages.max_s)
    db = m.db
    server = m.server
    s.update(
        db_statements=db.statements,
        db_rows=db.rows,
        db_time_ms=db.time_ms,
        db_statements_server=server.statements if server is not None else None,
        db_server=server.as_dict() if server is not None else None,
        model_hit_rate=m.model_hit_rate,
        latency=ex.latency.summary(),
    )
    if m.server_statements_note is not None:
        s["db_statements_server_note"] = (
            f"{m.server_statements_note}: db_statements_server is null and the runner's count "
            "(db_statements) is not checked against the server's. Preload it "
            "(shared_preload_libraries = 'pg_stat_statements', then restart the server and "
            "CREATE EXTENSION pg_stat_statements), or run on the embedded PostgreSQL evalcache "
            "starts when no server is configured, which has it."
        )
    else:
        s["db_statements_server_note"] = None
    if baseline is not None:
        base = baseline.statements
        s["db_statements_baseline"] = base
        s["baseline_reused"] = baseline.reused
        s["latency"]["uncached"] = baseline.uncached_latency()
        # a closed loop's twin serves its own number of requests: compare per read
        scale = _closed_scale(m, reads, sum(r for r, _ in baseline.families.values()))
        s["db_reduction"] = 1.0 - db.statements / (base * scale) if base and scale else None
    # Cache and strategy counters (deltas over the counted window).
    s["expirations"] = m.cache_delta("expirations")
    s["refreshes_tried"] = m.cache_delta("refreshes_tried")
    s["refreshes_succeeded"] = m.cache_delta("refreshes_succeeded")
    s["cache_errors"] = m.cache_delta("errors")
    s["invalidations"] = int(m.strategy_delta("invalidations"))
    s["keys_removed"] = int(m.strategy_delta("keys_removed"))
    s["invalidation_time_ms"] = m.strategy_delta("time_ms")
    s["notify_lag_p50_ms"], s["notify_lag_p99_ms"] = _notify_lags(m)
    s["errors"] = total.errors
    s["error_rate"] = total.errors / s["requests"] if s["requests"] else None
    # This run's own Redis footprint (commands it sent in the counted window; keys and bytes of
    # its namespace at the end), then the server-wide deltas, which concurrent clients share.
    s["redis"] = {
        "commands": m.commands_end - m.commands_start,
        "used_memory_bytes": m.namespace_bytes,
        "keys": m.namespace_keys,
        "scan_calls": m.scans_end - m.scans_start,
    }
    if m.redis_before is not None and m.redis_after is not None:
        wide = (m.redis_after - m.redis_before).summary()
        wide["commands"] -= m.check_commands  # the invalidation check's reads are not the run's
        s["redis"].update({f"server_{k}": v for k, v in wide.items()})
    s.update(
        saturated=m.saturated,
        max_lag_s=m.max_lag_s,
        elapsed_s=m.elapsed_s,
        simulated_s=m.spec.duration_s,
        warmup_s=m.warmup_s,
        time_model=m.time_model,
        service_times=m.service_times,
        template_database=m.template,
        outcome_digest=hashlib.sha256(bytes(ex.trace)).hexdigest()[:16],
    )
    families: dict[str, Any] = {}
    for family in ex.counters.names():
        fc = ex.counters.family(family)
        if family not in FAMILIES:
            continue
        hist = ex.latency.histogram(family=family)
        n = hist.get_total_count()
        families[family] = {
            "reads": fc.reads,
            "hits": fc.hits,
            "misses": fc.misses,
            "negative_hits": fc.negative_hits,
            "expirations": m.family_delta(family, "expirations"),
            "loads": m.family_delta(family, "loads"),
            "coalesced": m.family_delta(family, "coalesced"),
            "hit_rate": fc.hit_rate,
            "stale_reads": fc.stale_reads,
            "stale_checked": fc.stale_checked,
            "stale_read_rate": fc.stale_read_rate,
            "stale_read_rate_upper95": fc.stale_read_rate_upper95,
            "stale_causes": {c: ex.stale_causes.get(family, {}).get(c, 0) for c in CAUSES},
            "p50_ms": hist.get_value_at_percentile(50) / 1e6 if n else None,
            "p99_ms": hist.get_value_at_percentile(99) / 1e6 if n else None,
            "db_statements": fc.db_statements,
            "errors": fc.errors,
            "model_hit_rate": m.model_hit_rate if family == "user_profile" else None,
        }
    s["families"] = families
    s["write_ops"] = {
        name: {"writes": fc.writes, "errors": fc.errors, "db_statements": fc.db_statements}
        for name in ex.counters.names()
        if name.startswith("write:")
        for fc in (ex.counters.family(name),)
    }
    s["stale_causes"] = {c: sum(by.get(c, 0) for by in ex.stale_causes.values()) for c in CAUSES}
    s["stale_unjudged"] = ex.stale_unjudged
    _add_ceilings(s, m, baseline)
    # the plan's "frequently accessed data" (evalcache.metrics.popularity)
    frequent = ex.key_reads.frequent()
    s["frequent_hit_rate"] = frequent.hit_rate
    s["frequent_keys"] = frequent.keys
    s["frequent_reads"] = frequent.reads
    s["keys_read"] = frequent.keys_read
    # provenance: what data and which servers produced these figures
    s["data_as_of"] = m.data_as_of or None
    s["postgres_version"] = m.postgres_version or None
    s["redis_version"] = (m.redis_after.version if m.redis_after is not None else "") or None
    s["oracle_loads_checked"] = m.oracle_loads_checked
    s["oracle_errors"] = m.oracle_errors
    s["oracle_error_example"] = m.oracle_error_example
    s["invalidation_accuracy"] = m.invalidation_accuracy
    # the load: what the workload offered against what the run served, and the workload itself
    s["offered_rate"] = m.offered_rate
    s["achieved_rate"] = m.achieved_rate
    s["stream_exhausted"] = m.stream_exhausted
    s["workload_spec"] = m.spec.to_params()
    return s


def _ms(hist: Any, percentile: float) -> float | None:
    return hist.get_value_at_percentile(percentile) / 1e6 if hist.get_total_count() else None


def _ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def _closed_scale(m: Measured, reads: int, base_reads: int) -> float | None:
    """The factor on a baseline's statements that makes them comparable with the run's.

    1 for an open loop (both serve the same stream); for a closed loop, where the cached run
    and its cache-off twin serve different prefixes of the stream (whatever their clients
    reached), the ratio of the reads they served (``None`` without baseline reads).
    """
    if m.closed is None:
        return 1.0
    return reads / base_reads if base_reads else None


def _add_ceilings(s: dict[str, Any], m: Measured, baseline: Baseline | None) -> None:
    """The ideal cache's ceilings and the run's efficiency against them, overall and per
    family; per family also hit against uncached latency and the live entries' bytes."""
    ideal, ex = m.ideal, m.executor
    base_families = baseline.families if baseline is not None else {}
    s["ideal_hits"] = ideal.hits if ideal is not None else None
    s["ideal_hit_rate"] = ideal.hit_rate if ideal is not None else None
    s["hit_efficiency"] = efficiency(s["hit_rate"], s["ideal_hit_rate"])
    scale = (
        _closed_scale(m, s["reads"], sum(r for r, _ in base_families.values()))
        if baseline is not None
        else None
    )
    s["ideal_db_reduction"] = (
        ideal_db_reduction(ideal, base_families, round(baseline.statements * scale))
        if ideal is not None and baseline is not None and scale
        else None
    )
    s["db_efficiency"] = efficiency(s["db_reduction"], s["ideal_db_reduction"])
    # uncached latency per family: the cache-off twin's, or a cache-off run's own
    uncached = LatencyRecorder.from_frame(baseline.latency) if baseline is not None else ex.latency
    for family, figures in s["families"].items():
        counts = ideal.families.get(family, IdealCounts()) if ideal is not None else None
        figures["ideal_hits"] = counts.hits if counts is not None else None
        figures["ideal_hit_rate"] = counts.hit_rate if counts is not None else None
        figures["hit_efficiency"] = efficiency(figures["hit_rate"], figures["ideal_hit_rate"])
        base_reads, base_statements = base_families.get(family, (0, 0))
        has_base = baseline is not None and base_statements > 0
        figures["db_statements_baseline"] = base_statements if baseline is not None else None
        # what the baseline's statements are compared as: per read in a closed loop
        compared = float(base_statements)
        if has_base and m.closed is not None:
            compared = base_statements * figures["reads"] / base_reads
            has_base = compared > 0
        figures["db_reduction"] = 1.0 - figures["db_statements"] / compared if has_base else None
        figures["ideal_db_reduction"] = (
            ideal_saved(counts, base_reads, base_statements) / compared
            if has_base and counts is not None
            else None
        )
        figures["db_efficiency"] = efficiency(
            figures["db_reduction"], figures["ideal_db_reduction"]
        )
        hit = ex.latency.histogram(family=family, outcome="hit")
        off = uncached.histogram(family=family, outcome="uncached")
        figures["hit_p50_ms"], figures["hit_p99_ms"] = _ms(hit, 50), _ms(hit, 99)
        figures["uncached_p50_ms"], figures["uncached_p99_ms"] = _ms(off, 50), _ms(off, 99)
        figures["speedup_p50"] = _ratio(figures["uncached_p50_ms"], figures["hit_p50_ms"])
        figures["speedup_p99"] = _ratio(figures["uncached_p99_ms"], figures["hit_p99_ms"])
        # a batch or scan family reads another family's entries: they are counted there
        owns = m.cache_on and not FAMILIES[family].per_id
        usage = m.family_bytes.get(family, KeyUsage()) if owns else None
        figures["entries"] = usage.keys if usage is not None else None
        figures["bytes_per_entry"] = (
            _ratio(usage.value_bytes, usage.keys) if usage is not None else None
        )
        figures["footprint_bytes"] = usage.memory_bytes if usage is not None else None
