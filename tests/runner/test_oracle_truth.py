"""The staleness oracle judges with its own ground truth: a loader bug shows as oracle errors
(and as stale reads), a correct loader gives none, on every family of the mixed workload."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine

from evalcache.domain.families import FAMILIES
from evalcache.runner import run
from evalcache.runner.oracle import StalenessOracle
from evalcache.settings import Settings

SCALE = 0.02  # the template's scale (conftest.SCALE)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MIXED = {
    "workload": "mixed",
    "strategy": "tags",
    "scale": SCALE,
    "duration_s": 40,
    "rate": 20.0,
    "seed": 5,
    "stale_sample": 1.0,
    "baseline": False,
}


def test_correct_loaders_give_no_oracle_error(runner_settings: Settings) -> None:
    s = run(MIXED, settings=runner_settings, progress=False).summary
    assert s["writes"] > 0 and s["errors"] == 0
    # every load of a serial run is judged: no write can land inside it
    assert s["oracle_loads_checked"] > 300
    assert s["oracle_errors"] == 0, s["oracle_error_example"]
    assert s["oracle_error_example"] is None
    loaded = {f for f, fs in s["families"].items() if fs["misses"]}
    assert len(loaded) >= 8, loaded  # the truth answered (nearly) every family
    assert s["stale_reads"] == 0  # tags is exact, and the truth agrees


def test_a_loader_bug_is_reported_not_absorbed(
    runner_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = FAMILIES["expert_full"]

    def wrong(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
        # a query bug: the last availability slot dropped
        value = family.query(conn, args, now)
        if value is not None and value["availability"]:
            value = {**value, "availability": value["availability"][:-1]}
        return value

    monkeypatch.setitem(FAMILIES, "expert_full", dataclasses.replace(family, query=wrong))
    s = run({**MIXED, "duration_s": 30}, settings=runner_settings, progress=False).summary
    assert s["oracle_errors"] > 0
    assert s["oracle_error_example"].startswith("expert_full(")
    assert "['availability'] (lengths" in s["oracle_error_example"]
    # and the wrong entries, once cached, are judged stale against the truth
    assert s["families"]["expert_full"]["stale_reads"] > 0
    assert s["families"]["expert_basic"]["stale_reads"] == 0


def test_cache_off_runs_have_no_oracle(runner_settings: Settings) -> None:
    s = run(
        {**MIXED, "duration_s": 10, "cache": False}, settings=runner_settings, progress=False
    ).summary
    assert s["oracle_loads_checked"] is None and s["oracle_errors"] is None
    # a server that cannot count statements is named, with the reason, not just a null
    if s["db_statements_server"] is None:
        assert "pg_stat_statements" in s["db_statements_server_note"]
        assert "not checked against the server's" in s["db_statements_server_note"]
    else:  # pragma: no cover - a test server that preloads it
        assert s["db_statements_server_note"] is None


def test_a_load_a_write_may_have_changed_is_not_judged() -> None:
    seen: list[float | None] = []

    def truth(conn: Connection, family: str, *args: Any, at: float | None = None) -> Any:
        seen.append(at)
        return {"rows": [1, 2]}

    oracle = StalenessOracle(truth, create_engine("sqlite://"), 1.0, 0)
    key = ("user_profile", 7)
    oracle.loaded(key, {"rows": [1, 2]}, 10.0)  # judged: agrees
    oracle.loaded(key, {"rows": [1]}, 10.0)  # judged: the loader is wrong
    oracle.writing(11.0)
    oracle.loaded(key, {"rows": [1]}, 12.0)  # a write in flight (live: not committed yet)
    oracle.write_ended()
    oracle.loaded(key, {"rows": [1]}, 10.5)  # a write started after the load began
    oracle.loaded(key, {"rows": [1, 2]}, 12.0)  # judged: agrees
    assert (oracle.loads_checked, oracle.errors) == (3, 1)
    assert seen == [10.0, 10.0, 12.0]  # the truth at the clock time each load began
    assert oracle.error_example == (
        "user_profile(7,): loader and truth differ at answer['rows'] (lengths 1 and 2)"
    )
    # live mode: a write running late (its ``now`` 5.0) starts and ends while a load begun at
    # 15.0 is out; the clock's readings, not the write's ``now``, keep that load unjudged
    clock = [20.0]
    oracle.now = lambda: clock[0]
    oracle.writing(5.0)
    clock[0] = 21.0
    oracle.write_ended()
    oracle.loaded(key, {"rows": [1]}, 15.0)
    oracle.loaded(key, {"rows": [1]}, 22.0)  # begun after it: judged, wrong
    assert (oracle.loads_checked, oracle.errors) == (4, 2)
    oracle.close()
