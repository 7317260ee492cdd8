"""Run metrics: latency histograms, counters, time series, database and Redis load."""

from __future__ import annotations

from evalcache.metrics.bounds import wilson_upper
from evalcache.metrics.counters import (
    COUNTER_FIELDS,
    AgePercentiles,
    Counters,
    FamilyCounters,
    age_percentiles,
)
from evalcache.metrics.dbstats import DbCounts, ServerCounts, ServerStatsProbe, StatementCounter
from evalcache.metrics.latency import (
    LATENCY_COLUMNS,
    OUTCOMES,
    LatencyRecorder,
    decode_histogram,
    encode_histogram,
    histogram_stats,
    merge_encoded,
    new_histogram,
)
from evalcache.metrics.redisstats import (
    CommandCount,
    KeyUsage,
    RedisSnapshot,
    count_commands,
    grouped_usage,
    namespace_usage,
    redis_snapshot,
)
from evalcache.metrics.timeseries import TIMESERIES_COLUMNS, TimeSeries, empty_timeseries

__all__ = [
    "COUNTER_FIELDS",
    "LATENCY_COLUMNS",
    "OUTCOMES",
    "TIMESERIES_COLUMNS",
    "AgePercentiles",
    "CommandCount",
    "Counters",
    "DbCounts",
    "FamilyCounters",
    "KeyUsage",
    "LatencyRecorder",
    "RedisSnapshot",
    "ServerCounts",
    "ServerStatsProbe",
    "StatementCounter",
    "TimeSeries",
    "age_percentiles",
    "count_commands",
    "decode_histogram",
    "empty_timeseries",
    "encode_histogram",
    "grouped_usage",
    "histogram_stats",
    "merge_encoded",
    "namespace_usage",
    "new_histogram",
    "redis_snapshot",
    "wilson_upper",
]
