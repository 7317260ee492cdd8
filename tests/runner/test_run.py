"""The runner against real PostgreSQL and Redis: model agreement, determinism, baseline, files."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalcache.results import RunResult, load_runs
from evalcache.runner import run
from evalcache.settings import Settings

SCALE = 0.02  # the template's scale (conftest.SCALE)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SYNTHETIC = {
    "workload": "synthetic",
    "strategy": "explicit",
    "scale": SCALE,
    "rate": 100.0,
    "ttl": {"user_profile": 2.0},
    "stale_sample": 0.0,
    "baseline": False,
}


def test_synthetic_no_writes_matches_ttl_model(runner_settings: Settings) -> None:
    s = run({**SYNTHETIC, "duration_s": 150}, settings=runner_settings, progress=False).summary
    assert s["requests"] > 13_000 and s["writes"] == 0 and s["errors"] == 0
    assert s["warmup_s"] == 4.0  # two TTLs not counted (the model is stationary)
    assert s["model_hit_rate"] is not None and 0.3 < s["model_hit_rate"] < 0.95
    assert abs(s["hit_rate"] - s["model_hit_rate"]) < 0.01
    # every miss ran exactly one query; hits none
    assert s["db_statements"] == s["misses"]
    assert s["families"]["user_profile"]["model_hit_rate"] == s["model_hit_rate"]


def test_synthetic_delete_on_write_matches_model(runner_settings: Settings) -> None:
    params = {**SYNTHETIC, "duration_s": 80, "write_ratio": 0.2}
    s = run(params, settings=runner_settings, progress=False).summary
    assert s["writes"] > 1_000 and s["errors"] == 0
    assert s["invalidations"] > 0
    assert abs(s["hit_rate"] - s["model_hit_rate"]) < 0.01


def test_oracle_sees_staleness_only_without_invalidation(runner_settings: Settings) -> None:
    base = {**SYNTHETIC, "duration_s": 30, "write_ratio": 0.2, "stale_sample": 1.0}
    ttl_only = run({**base, "strategy": "ttl"}, settings=runner_settings, progress=False).summary
    explicit = run(base, settings=runner_settings, progress=False).summary
    assert ttl_only["stale_checked"] == ttl_only["hits"] > 0
    assert ttl_only["stale_reads"] > 0 and ttl_only["stale_read_rate"] > 0.05
    ages = [ttl_only[f"stale_age_{q}_s"] for q in ("p50", "p99", "max")]
    assert 0 < ages[0] <= ages[1] <= ages[2] <= 2.0 + 1e-6
    assert explicit["stale_checked"] == explicit["hits"] > 0
    assert explicit["stale_reads"] == 0
    # Nothing stale is not "0 % for sure": the bound is about 3 / checked, and no ages.
    checked = explicit["stale_checked"]
    assert 1.0 / checked < explicit["stale_read_rate_upper95"] < 3.0 / checked
    assert explicit["stale_age_p99_s"] is None


def test_same_seed_same_run_and_baseline_gives_reduction(
    runner_settings: Settings, tmp_path: Path
) -> None:
    params = {
        "workload": "mixed",
        "strategy": "tags",
        "scale": SCALE,
        "duration_s": "90s",
        "rate": 20.0,
        "seed": 7,
        "stale_sample": 1.0,
        "warmup_s": 0,  # every request counted: the summary and the time series agree exactly
    }
    first = run(params, settings=runner_settings, out=tmp_path, progress=False)
    again = run({**params, "baseline": False}, settings=runner_settings, progress=False)
    other = run({**params, "seed": 8, "baseline": False}, settings=runner_settings, progress=False)
    a, b = first.summary, again.summary
    assert a["requests"] > 1_500 and a["writes"] > 0
    assert a["errors"] == 0, a["write_ops"]
    assert a["outcome_digest"] == b["outcome_digest"] != other.summary["outcome_digest"]
    for key in ("hits", "misses", "negative_hits", "db_statements", "stale_reads", "writes"):
        assert a[key] == b[key], key
    # cache-off baseline of the same stream: every read reached the database
    assert a["db_statements_baseline"] > a["db_statements"] > 0
    assert a["db_reduction"] == pytest.approx(1 - a["db_statements"] / a["db_statements_baseline"])
    assert len(a["families"]) >= 8
    # saved and reloadable without rerunning
    assert first.folder is not None and first.folder.parent == tmp_path
    loaded = RunResult.load(first.folder)
    assert loaded.summary["hit_rate"] == a["hit_rate"]
    # the time series covers the whole run (no warm-up here: every request)
    assert loaded.timeseries["requests"].sum() == a["requests"]
    assert set(loaded.latency["outcome"]) >= {"hit", "miss", "write"}
    runs = load_runs(tmp_path)
    assert len(runs) == 1 and runs["param_workload"].iloc[0] == "mixed"
    # the per-window baseline column is the measured cache-off run, window by window
    assert loaded.timeseries["db_statements_baseline"].sum() == a["db_statements_baseline"]
    assert a["baseline_reused"] is False
    # the cache-off run's read latencies are kept as outcome "uncached"
    uncached = loaded.latency[loaded.latency["outcome"] == "uncached"]
    assert uncached["count"].sum() == a["latency"]["uncached"]["count"] == a["reads"]

    # Another strategy and TTL over the same stream reuses that baseline, and it equals what a
    # cache-off run of the stream measures now.
    other_cell = run(
        {**params, "strategy": "explicit", "ttl_scale": 0.5},
        settings=runner_settings,
        progress=False,
    ).summary
    assert other_cell["baseline_reused"] is True
    assert other_cell["db_statements_baseline"] == a["db_statements_baseline"]
    off = run({**params, "cache": False}, settings=runner_settings, progress=False).summary
    assert off["db_statements"] == a["db_statements_baseline"]


def test_cache_off_run(runner_settings: Settings) -> None:
    s = run(
        {**SYNTHETIC, "duration_s": 20, "cache": False, "warmup_s": 0},
        settings=runner_settings,
        progress=False,
    ).summary
    assert s["params"]["cache"] is False
    assert s["hits"] == s["misses"] == 0 and s["uncached"] == s["reads"] > 0
    assert s["db_statements"] == s["reads"] and s["hit_rate"] is None


def test_baseline_memo_matches_the_measured_window(runner_settings: Settings) -> None:
    """Two TTLs over one stream have different default warm-ups (two TTLs each): the second
    cell must not reuse a baseline counted over the first cell's longer window."""
    params = {**SYNTHETIC, "duration_s": 60, "baseline": True}
    for ttl in (2.0, 5.0):
        s = run({**params, "ttl": {"user_profile": ttl}}, settings=runner_settings).summary
        assert s["warmup_s"] == 2 * ttl
        # cache off, every read of the measured window is one statement; no writes, so the
        # reduction is the hit rate
        assert s["db_statements_baseline"] == s["reads"]
        assert s["db_reduction"] == pytest.approx(s["hit_rate"])
