"""The ``summary.json`` schema (version 1) in code: the one place its keys are named.

A summary and each object nested in it are typed dicts. Everything that lists keys derives
from them: the keys every summary carries (:func:`required_keys` of :class:`Summary`, in the
order written), an empty summary (:func:`empty_summary`), the one flattener
(:func:`flatten_summary`, used by :func:`evalcache.results.load_runs` and the scorecard), the
flat columns (:func:`run_columns`, :func:`family_columns`), and the key lists that
``docs/results-schema.md`` documents, part by part (:data:`PARTS`, :func:`key_paths`).

A key is required when every schema-1 summary has it. The others (a ``total=False`` class) are
written by today's runner but may be missing from older summaries and test fixtures;
``baseline_reused`` only comes with a baseline. The run's Parquet files are not summaries:
their columns are ``evalcache.metrics.TIMESERIES_COLUMNS`` (plus ``db_statements_baseline``
with a baseline) and ``evalcache.metrics.LATENCY_COLUMNS``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict, get_args, get_origin, get_type_hints, is_typeddict

SCHEMA_VERSION = 1


class LatencyStats(TypedDict):
    """Latency of one outcome in milliseconds (``None`` when it never happened)."""

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    count: int


class Latency(TypedDict):
    """Outcome -> its latency; ``all`` covers reads and writes."""

    all: LatencyStats
    hit: LatencyStats
    miss: LatencyStats
    uncached: LatencyStats
    write: LatencyStats


class _RedisFootprint(TypedDict):
    commands: int
    used_memory_bytes: int
    keys: int


class RedisFootprint(_RedisFootprint, total=False):
    """The run's own Redis footprint, then the server-wide deltas (shared with other clients)."""

    scan_calls: int
    server_commands: int
    server_used_memory_bytes: int
    server_keys: int


class DbServer(TypedDict):
    """The server's counters over the counted window (``evalcache.metrics.ServerCounts``)."""

    statements: int | None
    dealloc: int | None
    xact_commit: int
    xact_rollback: int
    tup_returned: int
    tup_fetched: int
    tup_inserted: int
    tup_updated: int
    tup_deleted: int
    blks_hit: int
    blks_read: int
    seq_scan: int
    idx_scan: int
    n_tup_ins: int
    n_tup_upd: int
    n_tup_del: int


class _Params(TypedDict):
    workload: str
    strategy: str
    ttl_scale: float
    mode: str
    duration_s: float
    seed: int
    scale: float
    stale_sample: float
    rate: float
    refresh: str
    stampede: str
    cache: bool


class Params(_Params, total=False):
    """The run's parameters as validated (``evalcache.runner.RunParams``) plus ``cache``."""

    baseline: bool
    fresh_baseline: bool
    skew: float | None
    write_ratio: float | None
    warmup_s: float | None
    ttl: dict[str, float]
    workers: int
    window_s: float
    saturation_lag_s: float
    namespace: str | None
    concurrency: str
    db_pool: int
    db_service_ms: float
    redis_service_ms: float
    notify_lag: float | dict[str, Any]
    invalidation_delay: float | dict[str, Any]
    service_model: dict[str, Any] | None
    workload_def: dict[str, Any]
    clients: int
    think_time_s: float
    think: str
    record_trace: bool


class _FamilySummary(TypedDict):
    reads: int
    hits: int
    misses: int
    negative_hits: int
    hit_rate: float | None
    stale_reads: int
    stale_checked: int
    stale_read_rate: float | None
    p50_ms: float | None
    p99_ms: float | None
    db_statements: int
    model_hit_rate: float | None


class StaleCauses(TypedDict):
    """Stale reads by cause (``evalcache.runner.oracle.CAUSES``)."""

    fill_race: int
    refresh_race: int
    time_drift: int
    ttl_only: int
    late_invalidation: int
    missed_invalidation: int


class FamilySummary(_FamilySummary, total=False):
    """The figures of one query family; ``errors`` counts its reads that raised.

    Then the ceilings as the top level's, the baseline's statements, hit against uncached
    latency (``speedup_*`` = uncached / hit) and the family's live entries at the end.
    """

    expirations: int
    errors: int
    loads: int
    coalesced: int
    stale_read_rate_upper95: float | None
    stale_causes: StaleCauses
    ideal_hits: int | None
    ideal_hit_rate: float | None
    hit_efficiency: float | None
    db_statements_baseline: int | None
    db_reduction: float | None
    ideal_db_reduction: float | None
    db_efficiency: float | None
    hit_p50_ms: float | None
    hit_p99_ms: float | None
    uncached_p50_ms: float | None
    uncached_p99_ms: float | None
    speedup_p50: float | None
    speedup_p99: float | None
    entries: int | None
    bytes_per_entry: float | None
    footprint_bytes: int | None


class WriteOpSummary(TypedDict):
    """The figures of one write operation; ``errors`` counts its writes that raised."""

    writes: int
    errors: int
    db_statements: int


class WriteAccuracy(TypedDict):
    """Invalidation accuracy of one write op, or of all (``evalcache.runner.accuracy``)."""

    writes: int
    writes_with_dependents: int
    writes_fully_invalidated: int
    fully_invalidated_share: float | None
    entries_checked: int
    entries_stale: int
    entries_consistent_later: int
    entries_never_consistent: int
    consistent_p50_s: float | None
    consistent_p99_s: float | None
    consistent_max_s: float | None
    never_age_max_s: float | None


class InvalidationAccuracy(TypedDict):
    """The per-write invalidation check: all writes, and per write op (``write:<op>``)."""

    overall: WriteAccuracy
    by_write: dict[str, WriteAccuracy]


class _Summary(TypedDict):
    schema_version: int
    run_id: str
    started_at: str
    params: Params
    requests: int
    reads: int
    writes: int
    hits: int
    misses: int
    negative_hits: int
    expirations: int
    hit_rate: float | None
    stale_reads: int
    stale_checked: int
    stale_read_rate: float | None
    stale_age_p50_s: float | None
    stale_age_max_s: float | None
    db_statements: int
    db_statements_server: int | None
    db_rows: int
    db_time_ms: float
    db_statements_baseline: int | None
    db_reduction: float | None
    model_hit_rate: float | None
    latency: Latency
    invalidations: int
    keys_removed: int
    invalidation_time_ms: float
    notify_lag_p50_ms: float | None
    notify_lag_p99_ms: float | None
    refreshes_tried: int
    refreshes_succeeded: int
    errors: int
    error_rate: float | None
    redis: RedisFootprint
    saturated: bool
    elapsed_s: float | None
    simulated_s: float | None
    warmup_s: float | None
    time_model: str
    families: dict[str, FamilySummary]


class Summary(_Summary, total=False):
    """One run's ``summary.json``; the optional keys in the order the runner adds them.

    Two error counts, never mixed: ``errors`` (and ``error_rate``, its share of ``requests``)
    counts *requests* that raised, which the runner counts and goes on; ``cache_errors``
    counts *cache* errors that did not fail a request: Redis calls the fail-open guard caught
    (answered from the database, or skipped as a no-op) and, with strategy ``seed``, the plan's
    background refreshes that raised. A Redis outage shows in ``cache_errors`` while ``errors``
    stays 0.

    ``stale_read_rate_upper95`` is the one-sided 95 % upper confidence bound of
    ``stale_read_rate`` (Wilson score bound, :func:`evalcache.metrics.wilson_upper`).

    Ceilings (``ideal_*``): the ideal cache over the same stream (unbounded, never expires,
    always fresh; :mod:`evalcache.runner.ideal`); ``*_efficiency`` is the run's figure over
    the ideal's.

    ``frequent_hit_rate`` is the hit rate on the frequently accessed keys: the most-read keys
    that together take 80 % of the cacheable reads (:mod:`evalcache.metrics.popularity`).
    """

    writes_noop: int
    uncached: int
    stale_read_rate_upper95: float | None
    stale_age_p99_s: float | None
    db_server: DbServer | None
    db_statements_server_note: str | None
    baseline_reused: bool
    cache_errors: int
    max_lag_s: float | None
    service_times: dict[str, Any] | None
    template_database: str
    outcome_digest: str
    write_ops: dict[str, WriteOpSummary]
    stale_causes: StaleCauses
    stale_unjudged: int
    ideal_hits: int | None
    ideal_hit_rate: float | None
    hit_efficiency: float | None
    ideal_db_reduction: float | None
    db_efficiency: float | None
    frequent_hit_rate: float | None
    frequent_keys: int
    frequent_reads: int
    keys_read: int
    data_as_of: str | None
    postgres_version: str | None
    redis_version: str | None
    oracle_loads_checked: int | None
    oracle_errors: int | None
    oracle_error_example: str | None
    invalidation_accuracy: InvalidationAccuracy | None
    offered_rate: float | None
    achieved_rate: float | None
    stream_exhausted: bool | None
    workload_spec: dict[str, Any]


#: Every object of a summary, named as ``docs/results-schema.md`` heads its table; names with
#: ``<...>`` stand for each entry of a mapping (each outcome, family, write operation).
PARTS: dict[str, type[Any]] = {
    "summary.json": Summary,
    "params": Params,
    "latency": Latency,
    "latency.<outcome>": LatencyStats,
    "redis": RedisFootprint,
    "stale_causes": StaleCauses,
    "db_server": DbServer,
    "families.<family>": FamilySummary,
    "write_ops.<op>": WriteOpSummary,
    "invalidation_accuracy": InvalidationAccuracy,
    "invalidation_accuracy.overall": WriteAccuracy,
    "invalidation_accuracy.by_write.<op>": WriteAccuracy,
}


def keys(part: type[Any]) -> tuple[str, ...]:
    """A part's keys in declared order, required ones first (the order a summary has them)."""
    return tuple(part.__annotations__)


def required_keys(part: type[Any]) -> tuple[str, ...]:
    """The keys every schema-1 summary's ``part`` carries, in declared order."""
    required: frozenset[str] = part.__required_keys__
    return tuple(k for k in keys(part) if k in required)


def _empty(tp: Any) -> Any:
    # Typed dicts get their required keys; then None where allowed, else the type's zero.
    if is_typeddict(tp):
        hints = get_type_hints(tp)
        return {k: _empty(hints[k]) for k in required_keys(tp)}
    if type(None) in get_args(tp):
        return None
    return (get_origin(tp) or tp)()


def empty_summary(
    params: Mapping[str, Any], run_id: str = "", started_at: str = ""
) -> dict[str, Any]:
    """A summary with every required key: counts 0, rates and optional figures ``None``.

    The runner fills it in; tests and tools get a valid skeleton.
    """
    out: dict[str, Any] = _empty(Summary)
    out.update(
        schema_version=SCHEMA_VERSION, run_id=run_id, started_at=started_at, params=dict(params)
    )
    return out


def mapping_keys() -> tuple[str, ...]:
    """The required top-level keys whose value is a mapping."""
    hints = get_type_hints(Summary)
    return tuple(
        k for k in required_keys(Summary) if is_typeddict(hints[k]) or get_origin(hints[k]) is dict
    )


def key_paths(summary: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``(part, key)`` for every key ``summary`` holds, parts named as in :data:`PARTS`."""

    def of(part: str, value: Any) -> set[tuple[str, str]]:
        return {(part, str(k)) for k in value} if isinstance(value, Mapping) else set()

    out = of("summary.json", summary)
    for part in ("params", "latency", "redis", "stale_causes", "db_server"):
        out |= of(part, summary.get(part))
    accuracy = summary.get("invalidation_accuracy")
    if isinstance(accuracy, Mapping):
        out |= of("invalidation_accuracy", accuracy)
        out |= of("invalidation_accuracy.overall", accuracy.get("overall"))
        by_write = accuracy.get("by_write")
        for entry in by_write.values() if isinstance(by_write, Mapping) else ():
            out |= of("invalidation_accuracy.by_write.<op>", entry)
    for part, name in (
        ("latency.<outcome>", "latency"),
        ("families.<family>", "families"),
        ("write_ops.<op>", "write_ops"),
    ):
        entries = summary.get(name)
        for entry in entries.values() if isinstance(entries, Mapping) else ():
            out |= of(part, entry)
    return out


def unknown_keys(summary: Mapping[str, Any]) -> list[str]:
    """``part: key`` for each key of ``summary`` the schema does not declare, sorted."""
    known = {(part, k) for part, td in PARTS.items() for k in keys(td)}
    return sorted(f"{part}: {k}" for part, k in key_paths(summary) - known)


#: Nested parts spread over prefixed columns by :func:`flatten_summary`; ``families`` gets a
#: table of its own (:func:`family_columns`).
_SPREAD = ("params", "latency", "redis", "stale_causes", "families", "invalidation_accuracy")
#: Flat-row prefix of the overall invalidation-accuracy figures; ``<prefix>by_write`` holds
#: the per-op figures as JSON text (:func:`write_accuracy_rows` reads them back).
ACCURACY = "invalidation_accuracy_"


def _cell(value: Any) -> Any:
    # Lists and mappings become JSON text so every column holds scalars.
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def param_columns() -> list[str]:
    """``param_<name>`` for every parameter."""
    return [f"param_{k}" for k in keys(Params)]


def run_columns() -> list[str]:
    """The columns of a flattened summary (:func:`flatten_summary`), in schema order."""
    cols = [k for k in keys(Summary) if k not in _SPREAD]
    cols += param_columns()
    cols += [f"latency_{o}_{s}" for o in keys(Latency) for s in keys(LatencyStats)]
    cols += [f"redis_{k}" for k in keys(RedisFootprint)]
    cols += [f"stale_cause_{k}" for k in keys(StaleCauses)]
    cols += [f"{ACCURACY}{k}" for k in keys(WriteAccuracy)] + [f"{ACCURACY}by_write"]
    return cols


def family_columns() -> list[str]:
    """The columns of a per-family row: run id, family, its figures, the run's parameters."""
    figures = [k for k in keys(FamilySummary) if k != "stale_causes"]
    causes = [f"stale_cause_{k}" for k in keys(StaleCauses)]
    return ["run_id", "family", *figures, *causes, *param_columns()]


def flatten_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """One summary as one flat row of scalars.

    ``params`` become ``param_<name>``, ``latency`` becomes ``latency_<outcome>_<stat>``,
    ``redis`` becomes ``redis_<name>``, the overall ``invalidation_accuracy`` figures
    ``invalidation_accuracy_<name>`` (its ``by_write`` JSON text in
    ``invalidation_accuracy_by_write``); other lists and mappings (``db_server``,
    ``write_ops``) become JSON text; ``families`` is left out (see :func:`family_rows`).
    """
    row: dict[str, Any] = {k: _cell(v) for k, v in summary.items() if k not in _SPREAD}
    for k, v in (summary.get("params") or {}).items():
        row[f"param_{k}"] = _cell(v)
    for outcome, stats in (summary.get("latency") or {}).items():
        for stat, v in (stats or {}).items():
            row[f"latency_{outcome}_{stat}"] = v
    for k, v in (summary.get("redis") or {}).items():
        row[f"redis_{k}"] = _cell(v)
    row.update(_causes(summary))
    accuracy = summary.get("invalidation_accuracy")
    if isinstance(accuracy, Mapping):
        for k, v in (accuracy.get("overall") or {}).items():
            row[f"{ACCURACY}{k}"] = v
        row[f"{ACCURACY}by_write"] = _cell(dict(accuracy.get("by_write") or {}))
    return row


def _causes(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {f"stale_cause_{k}": v for k, v in (figures.get("stale_causes") or {}).items()}


def write_accuracy_rows(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per write op of a flat run row's ``invalidation_accuracy_by_write`` (sorted by
    op): ``write`` and its figures; none for a run without the check."""
    raw = row.get(f"{ACCURACY}by_write")
    by_write = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(by_write, Mapping):
        return []
    return [{"write": op, **figures} for op, figures in sorted(by_write.items())]


def family_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per query family of ``summary`` (sorted by family), with the run's parameters."""
    params = {f"param_{k}": _cell(v) for k, v in (summary.get("params") or {}).items()}
    rows = []
    for family, figures in sorted((summary.get("families") or {}).items()):
        own = {k: v for k, v in (figures or {}).items() if k != "stale_causes"}
        row = {"run_id": summary.get("run_id"), "family": family, **own}
        rows.append({**row, **_causes(figures or {}), **params})
    return rows
