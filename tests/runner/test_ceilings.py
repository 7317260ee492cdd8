"""Ceilings, speedups and per-family bytes of real runs (PostgreSQL and Redis)."""

from __future__ import annotations

import pytest

from evalcache.runner import run
from evalcache.settings import Settings

SCALE = 0.02  # the template's scale (conftest.SCALE)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Reads of one family, Zipf keys; a TTL longer than the run, so nothing expires.
FOREVER = {
    "workload": "synthetic",
    "scale": SCALE,
    "rate": 100.0,
    "duration_s": 20,  # the first half is the warm-up
    "seed": 11,
    "ttl": {"user_profile": 1e7},
    "stale_sample": 0.0,
}


def test_a_cache_that_never_expires_and_is_never_invalidated_is_ideal(
    runner_settings: Settings,
) -> None:
    s = run({**FOREVER, "strategy": "ttl"}, settings=runner_settings, progress=False).summary
    assert s["writes"] == 0 and s["errors"] == 0 and s["reads"] > 800
    assert 0 < s["misses"] < s["reads"]
    # the ideal cache replayed the same stream: the same hits, exactly
    assert s["ideal_hits"] == s["hits"]
    assert s["ideal_hit_rate"] == s["hit_rate"] and s["hit_efficiency"] == 1.0
    profile = s["families"]["user_profile"]
    assert profile["ideal_hits"] == profile["hits"] and profile["hit_efficiency"] == 1.0
    # every miss ran the one statement the cache-off run ran per read
    assert s["db_statements_baseline"] == s["reads"]
    assert s["ideal_db_reduction"] == pytest.approx(s["db_reduction"], abs=1e-12)
    assert s["db_efficiency"] == pytest.approx(1.0, abs=1e-12)
    assert profile["db_statements_baseline"] == s["db_statements_baseline"]
    assert profile["db_efficiency"] == pytest.approx(1.0, abs=1e-12)

    # hits against the cache-off twin's reads of the family
    assert profile["hit_p50_ms"] <= profile["hit_p99_ms"]
    assert profile["uncached_p50_ms"] <= profile["uncached_p99_ms"]
    assert profile["speedup_p50"] == profile["uncached_p50_ms"] / profile["hit_p50_ms"] > 1.0
    assert profile["speedup_p99"] == profile["uncached_p99_ms"] / profile["hit_p99_ms"]
    # nothing expired or was removed: every entry read is live, and only entries are in the
    # namespace (the ttl strategy keeps no tag sets), so the family holds the whole footprint
    assert profile["entries"] == s["redis"]["keys"] >= s["misses"]  # each miss a new entry
    assert profile["bytes_per_entry"] > 0
    assert profile["footprint_bytes"] == s["redis"]["used_memory_bytes"]
    assert profile["footprint_bytes"] > profile["entries"] * profile["bytes_per_entry"]


def test_invalidations_keep_a_run_below_its_ideal(runner_settings: Settings) -> None:
    params = {**FOREVER, "strategy": "explicit", "write_ratio": 0.3, "baseline": False}
    s = run(params, settings=runner_settings, progress=False).summary
    assert s["writes"] > 200 and s["invalidations"] > 0 and s["errors"] == 0
    assert s["hit_rate"] < s["ideal_hit_rate"] and s["hit_efficiency"] < 1.0
    # no baseline: no database ceiling, and no uncached latency to compare hits with
    assert s["ideal_db_reduction"] is None and s["db_efficiency"] is None
    profile = s["families"]["user_profile"]
    assert profile["ideal_db_reduction"] is None and profile["speedup_p50"] is None
    assert profile["hit_p50_ms"] > 0 and profile["entries"] > 0
