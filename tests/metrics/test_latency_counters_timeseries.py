from __future__ import annotations

import math

import numpy as np
import pytest

from evalcache.errors import ConfigError
from evalcache.metrics import (
    TIMESERIES_COLUMNS,
    Counters,
    LatencyRecorder,
    TimeSeries,
    age_percentiles,
    decode_histogram,
    encode_histogram,
    merge_encoded,
)


def _recorder(values_us: list[int], outcome: str = "hit") -> LatencyRecorder:
    rec = LatencyRecorder()
    for v in values_us:
        rec.record("user_profile", outcome, v * 1000)
    return rec


def test_percentiles_within_hdr_precision() -> None:
    values = list(range(1, 10_001))  # 1 µs .. 10 ms
    frame = _recorder(values).to_frame()
    row = frame.iloc[0]
    assert row["count"] == 10_000
    assert row["p50_ms"] == pytest.approx(5.0, rel=2e-3)
    assert row["p99_ms"] == pytest.approx(9.9, rel=2e-3)
    assert row["p999_ms"] == pytest.approx(9.99, rel=2e-3)
    assert row["max_ms"] == pytest.approx(10.0, rel=2e-3)
    assert row["mean_ms"] == pytest.approx(5.0, rel=2e-3)


def test_encode_decode_and_merge_are_exact() -> None:
    a, b = _recorder([100] * 99), _recorder([5000])
    blob_a = a.to_frame()["hdr"][0]
    assert isinstance(blob_a, str)
    assert decode_histogram(blob_a).get_total_count() == 99
    merged = merge_encoded([blob_a, b.to_frame()["hdr"][0]])
    assert merged.get_total_count() == 100
    assert merged.get_value_at_percentile(100) == pytest.approx(5_000_000, rel=1e-3)
    a.merge(b)
    assert a.histogram().get_total_count() == 100
    again = LatencyRecorder.from_frame(a.to_frame())
    assert encode_histogram(again.histogram()) == encode_histogram(a.histogram())


def test_summary_by_outcome_has_all_outcomes() -> None:
    rec = _recorder([50, 60])
    rec.record("expert_full", "miss", 2_000_000)
    rec.record("write:availability", "write", 3_000_000)
    s = rec.summary()
    assert list(s) == ["all", "hit", "miss", "uncached", "write"]
    assert s["all"]["count"] == 4 and s["hit"]["count"] == 2
    assert s["uncached"] == {
        "count": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "p999_ms": None,
        "max_ms": None,
    }
    assert s["miss"]["p50_ms"] == pytest.approx(2.0, rel=1e-3)


def test_values_beyond_range_are_clamped_and_counted() -> None:
    rec = LatencyRecorder()
    rec.record("f", "hit", 10**16)
    assert rec.clamped == 1 and rec.histogram().get_total_count() == 1


def test_counters_totals_and_rates() -> None:
    c = Counters()
    c.family("user_profile").hits += 3
    c.family("user_profile").misses += 1
    c.family("expert_full").misses += 4
    c.family("expert_full").stale_checked += 2
    c.family("expert_full").stale_reads += 1
    assert c.total().hit_rate == pytest.approx(3 / 8)
    d = c.as_dict()
    assert d["user_profile"]["hit_rate"] == 0.75
    assert d["expert_full"]["stale_read_rate"] == 0.5
    assert Counters().total().hit_rate is None
    other = Counters()
    other.family("user_profile").hits += 1
    c.merge(other)
    assert c.family("user_profile").hits == 4
    assert age_percentiles([]) == (None, None, None)
    assert age_percentiles([1.0, 3.0, 10.0]) == (3.0, pytest.approx(9.86), 10.0)
    ages = age_percentiles([float(a) for a in range(100, -1, -1)])  # 0..100 s, any order
    assert (ages.p50_s, ages.p99_s, ages.max_s) == (50.0, 99.0, 100.0)


def test_timeseries_windows_and_columns() -> None:
    ts = TimeSeries(window_s=60)
    ts.read(1.0, "user_profile", "hit", 100_000)
    ts.read(59.9, "user_profile", "miss", 3_000_000, db_statements=2)
    ts.read(60.0, "user_profile", "hit", 200_000, negative=True)
    ts.stale_check(61.0, "user_profile", True)
    ts.write(61.0, "write:availability", 5_000_000, db_statements=3)
    f = ts.to_frame()
    assert tuple(f.columns) == TIMESERIES_COLUMNS
    w0 = f[(f.window_start_s == 0.0)].iloc[0]
    assert (w0.reads, w0.hits, w0.misses, w0.db_statements) == (2, 1, 1, 2)
    assert w0.hit_rate == 0.5
    w1 = f[(f.window_start_s == 60.0) & (f.family == "user_profile")].iloc[0]
    assert (w1.negative_hits, w1.stale_checked, w1.stale_reads, w1.stale_read_rate) == (
        1,
        1,
        1,
        1.0,
    )
    wr = f[f.family == "write:availability"].iloc[0]
    assert (wr.writes, wr.reads, wr.db_statements) == (1, 0, 3) and math.isnan(wr.hit_rate)
    assert wr.p99_ms == pytest.approx(5.0)
    assert np.issubdtype(f["hits"].dtype, np.integer)
    assert list(TimeSeries().to_frame().columns) == list(TIMESERIES_COLUMNS)
    with pytest.raises(ConfigError, match="window_s"):
        TimeSeries(window_s=0)
