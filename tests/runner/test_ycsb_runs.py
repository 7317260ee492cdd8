"""Short real runs of the YCSB workloads whose requests are not plain reads and updates:
D's inserts with reads of the latest users, E's scans, F's read-modify-writes as one request."""

from __future__ import annotations

from typing import Any

import pytest

from evalcache.runner import run
from evalcache.settings import Settings

from .conftest import SCALE

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BASE = {
    "strategy": "explicit",
    "scale": SCALE,
    "rate": 40.0,
    "duration_s": 15,
    "warmup_s": 0,
    "stale_sample": 1.0,
    "baseline": False,
}


def _run(settings: Settings, **params: Any) -> tuple[dict[str, Any], Any]:
    result = run({**BASE, **params}, settings=settings, progress=False)
    return result.summary, result.latency


def test_ycsb_d_inserts_users_that_reads_of_the_latest_find(runner_settings: Settings) -> None:
    s, _ = _run(runner_settings, workload="ycsb_d")
    inserts = s["write_ops"]["write:insert_user"]
    assert inserts["writes"] > 10 and inserts["errors"] == 0 and s["writes_noop"] == 0
    assert s["errors"] == 0 and s["oracle_errors"] == 0
    profile = s["families"]["user_profile"]
    assert profile["reads"] > 400 and profile["stale_reads"] == 0 and s["stale_checked"] > 0
    # an insert's dependents (a cached "not found" of its id, the admin dashboard) are dropped
    accuracy = s["invalidation_accuracy"]["by_write"]["write:insert_user"]
    assert accuracy["entries_stale"] == 0


def test_ycsb_e_scans_ranges_of_profiles(runner_settings: Settings) -> None:
    s, _ = _run(runner_settings, workload="ycsb_e", duration_s=8)
    scans = s["families"]["user_profiles_scan"]
    assert scans["reads"] > 200 and scans["hits"] > 0 and scans["misses"] > 0
    assert s["errors"] == 0 and s["oracle_errors"] == 0 and scans["stale_reads"] == 0
    assert s["write_ops"]["write:insert_user"]["writes"] > 3


def test_ycsb_f_read_modify_write_is_one_request(runner_settings: Settings) -> None:
    s, latency = _run(runner_settings, workload="ycsb_f", duration_s=12, stale_sample=0.0)
    rmw = s["write_ops"]["write:rmw_user_profile"]["writes"]
    profile = s["families"]["user_profile"]
    assert rmw > 150 and s["writes"] == rmw and s["errors"] == 0
    # one request and one latency per read-modify-write
    assert s["requests"] == s["reads"] + rmw == s["latency"]["all"]["count"]
    rows = latency[latency["family"] == "write:rmw_user_profile"]
    assert rows["count"].sum() == rmw
    # its read went through the cache: counted in the family's hits and misses, not its reads
    assert profile["reads"] == s["reads"]
    assert profile["hits"] + profile["misses"] == s["reads"] + rmw == s["hits"] + s["misses"]
