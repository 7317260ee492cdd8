"""Measurement truth that needs more time or a private server (marked slow)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scratch_db import ScratchDatabases

from evalcache.runner import run
from evalcache.runner.database import AS_OF, SEED
from evalcache.settings import Settings

SCALE = 0.02


@pytest.fixture(scope="module")
def pgss_settings(pgss_databases: ScratchDatabases, redis_url: str) -> Iterator[Settings]:
    """A private PostgreSQL that preloads pg_stat_statements, with a seeded template."""
    with pgss_databases.create("tpl", scale=SCALE, seed=SEED, as_of=AS_OF) as url:
        yield Settings(database_url=url, redis_url=redis_url)


@pytest.mark.slow
@pytest.mark.embedded
@pytest.mark.redis
def test_runner_statement_count_agrees_with_server(pgss_settings: Settings) -> None:
    params = {
        "workload": "mixed",
        "strategy": "tags",
        "scale": SCALE,
        "duration_s": "2m",
        "rate": 20.0,
        "seed": 3,
        "stale_sample": 1.0,  # the oracle's queries must not show up in either count
    }
    s = run(params, settings=pgss_settings, progress=False).summary
    assert s["db_statements_server"] is not None, "pg_stat_statements not active"
    assert s["db_statements"] > 500
    # The issue asks for agreement within 0.5 %; the counts are in fact equal, and an offset
    # (e.g. the oracle's connection set-up leaking into the server's count) fails here.
    assert s["db_statements"] == s["db_statements_server"]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_virtual_and_live_hit_rates_agree(runner_settings: Settings) -> None:
    params = {
        "workload": "synthetic",
        "strategy": "explicit",
        "scale": SCALE,
        "rate": 300.0,
        "duration_s": 12,
        "ttl": {"user_profile": 1.0},
        "warmup_s": 2.0,
        "stale_sample": 0.0,
        "baseline": False,
        "workers": 4,
    }
    virtual = run(params, settings=runner_settings, progress=False).summary
    live = run({**params, "mode": "live"}, settings=runner_settings, progress=False).summary
    assert live["time_model"].startswith("live") and virtual["time_model"].startswith("virtual")
    assert not live["saturated"], live["max_lag_s"]
    assert live["requests"] > 2_500 and live["errors"] == 0
    assert abs(live["hit_rate"] - virtual["hit_rate"]) < 0.02
    # latency from the intended start is at least the service time
    assert live["latency"]["hit"]["p50_ms"] > 0
