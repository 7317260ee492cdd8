"""Invalidation accuracy per write (``evalcache.runner.accuracy``), on the real servers.

First the checker alone, wired as the runner wires it, on one hot user: a strategy that skips
an invalidation leaves the dependent entry stale until its TTL, one that invalidates does not,
and an entry deleted later is consistent from then. Then whole runs: ``ttl`` leaves written
dependents stale, ``explicit`` and ``tags`` none on a serial stream, ``seed`` its known gaps,
``notify`` with a lag stale entries that become consistent after it; the check changes nothing
the run measures, and the same seed gives the same figures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.domain.invalidation import AppDependencies
from evalcache.domain.readspecs import TTLSettings
from evalcache.domain.repositories import CachedRepository
from evalcache.metrics import count_commands
from evalcache.runner import run
from evalcache.runner.accuracy import InvalidationChecker
from evalcache.runner.oracle import StalenessOracle
from evalcache.settings import Settings
from evalcache.strategies.api import WriteEvent
from evalcache.strategies.generation import GenerationStrategy
from evalcache.workload.scenarios import WORKLOADS

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
START = AS_OF.timestamp() + 8 * 3600
PROFILE_TTL = 10.0
OP = "write:user_profile"


class SkipsWrites(GenerationStrategy):
    """``generation`` keys (counters in the key) without its bumps: every write missed."""

    name = "skips_writes"

    def invalidate(self, event: WriteEvent) -> int:
        return 0


@pytest.fixture(scope="module")
def db_url(scratch_databases: Any) -> Iterator[str]:
    with scratch_databases.create("acc", scale=0.02, seed=7, as_of=AS_OF) as url:
        yield url


class Bench:
    """A repository, its cache and the checker fed by the staleness oracle, as the runner
    wires them (``resources.open_resources``), on a virtual clock."""

    def __init__(self, stack: ExitStack, db_url: str, redis_url: str, strategy: Any) -> None:
        self.clock = VirtualClock(START)
        client = redis.Redis.from_url(redis_url)
        stack.callback(client.close)
        app, truth = create_engine(db_url), create_engine(db_url)
        stack.callback(app.dispose)
        stack.callback(truth.dispose)
        self.cache = DatabaseCache(
            client, namespace=f"acc{uuid.uuid4().hex[:8]}", clock=self.clock, default_ttl=3600
        )
        stack.callback(self.cache.close)
        stack.callback(self.cache.flush_namespace)
        ttls = TTLSettings(user_profile=PROFILE_TTL)
        self.repo = CachedRepository(app, self.cache, strategy, ttls=ttls, clock=self.clock)
        stack.callback(self.repo.close)
        oracle = StalenessOracle(self.repo.fresh, truth, 1.0, seed=1)
        stack.callback(oracle.close)
        oracle.now = self.clock.now
        self.repo.load_observer = oracle.loaded
        self.cache.observe_stores(oracle.stored)
        pool = redis.ConnectionPool.from_url(redis_url)
        stack.callback(pool.disconnect)
        commands = count_commands(pool)
        with truth.connect() as conn:
            self.user = int(
                conn.execute(text("SELECT min(id) FROM users WHERE role = 'user'")).scalar_one()
            )
        deps = AppDependencies(truth, {}, self.repo.admin_id)
        self.checker = InvalidationChecker(
            self.repo,
            self.cache,
            redis.Redis(connection_pool=pool),
            deps,
            oracle.connection,
            self.clock,
            commands,
        )
        oracle.on_store = self.checker.stored

    def read(self, at: float) -> str:
        self.clock.set(START + at)
        out = self.repo.read("user_profile", self.user).outcome
        self.checker.settle()
        return out

    def write(self, at: float) -> None:
        self.clock.set(START + at)
        event = self.repo.write("user_profile", self.user, "preferences")
        self.checker.wrote(OP, event, True)
        self.checker.settle()

    def end(self, at: float) -> dict[str, Any]:
        self.clock.set(START + at)
        self.checker.finish()
        return dict(self.checker.figures()["by_write"][OP])


def test_a_missed_invalidation_is_stale_until_the_ttl_ends_it(db_url: str, redis_url: str) -> None:
    with ExitStack() as stack:
        bench = Bench(stack, db_url, redis_url, SkipsWrites())
        assert bench.read(0.0) == "miss"
        assert bench.read(0.5) == "hit"  # the reader's key (counters in it) holds the entry
        bench.write(1.0)
        f = bench.end(20.0)
        commands = bench.checker.commands.value
    assert (f["writes"], f["writes_with_dependents"], f["writes_fully_invalidated"]) == (1, 1, 0)
    assert (f["entries_checked"], f["entries_stale"]) == (1, 1)
    # stored at 0, so its TTL ended at 10: consistent 9 s after the write, exactly
    assert f["entries_consistent_later"] == 1 and f["entries_never_consistent"] == 0
    assert f["consistent_max_s"] == pytest.approx(PROFILE_TTL - 1.0)
    assert f["fully_invalidated_share"] == 0.0
    assert commands > 0  # the checker read Redis through its own, counted client


def test_a_stale_entry_still_there_at_the_end_never_became_consistent(
    db_url: str, redis_url: str
) -> None:
    with ExitStack() as stack:
        bench = Bench(stack, db_url, redis_url, SkipsWrites())
        bench.read(0.0)
        bench.write(1.0)
        f = bench.end(5.0)
    assert f["entries_stale"] == 1 and f["entries_never_consistent"] == 1
    assert f["never_age_max_s"] == pytest.approx(4.0) and f["consistent_max_s"] is None


def test_an_entry_past_its_ttl_is_no_dependent(db_url: str, redis_url: str) -> None:
    with ExitStack() as stack:
        bench = Bench(stack, db_url, redis_url, SkipsWrites())
        bench.read(0.0)
        bench.write(PROFILE_TTL + 1.0)  # Redis still holds it; on the run's clock it expired
        f = bench.end(20.0)
    assert (f["writes"], f["writes_with_dependents"], f["entries_checked"]) == (1, 0, 0)
    assert f["fully_invalidated_share"] is None


def test_an_invalidating_strategy_leaves_nothing_stale(db_url: str, redis_url: str) -> None:
    with ExitStack() as stack:
        bench = Bench(stack, db_url, redis_url, "generation")
        bench.read(0.0)
        bench.write(1.0)
        assert bench.read(2.0) == "miss"
        bench.write(3.0)  # the refilled entry is a dependent again, and invalidated again
        f = bench.end(20.0)
    assert (f["writes"], f["writes_with_dependents"], f["writes_fully_invalidated"]) == (2, 2, 2)
    assert f["entries_checked"] == 2 and f["entries_stale"] == 0
    assert f["fully_invalidated_share"] == 1.0


def test_a_late_delete_ends_staleness_when_it_happens(db_url: str, redis_url: str) -> None:
    with ExitStack() as stack:
        bench = Bench(stack, db_url, redis_url, "ttl")
        bench.read(0.0)
        bench.write(1.0)
        bench.clock.set(START + 3.5)
        # what a late invalidation does: the cache counts it, the next request re-checks
        bench.cache.invalidate(bench.cache.key("user_profile", bench.user))
        bench.read(4.0)  # a miss that refills with the database's answer
        f = bench.end(20.0)
    assert f["entries_stale"] == 1 and f["entries_consistent_later"] == 1
    assert f["consistent_max_s"] == pytest.approx(3.0)  # seen at the next request's end


# -- whole runs ----------------------------------------------------------------------------

# The check runs whenever the staleness oracle does, whatever share of hits it samples: a
# small share keeps the oracle's own checks (most of a run's cost) out of the way.
SERIAL = {
    "workload": "mixed",
    "scale": 0.02,
    "duration_s": 40,
    "rate": 20.0,
    "seed": 3,
    "stale_sample": 0.05,
    "baseline": False,
}


def _accuracy(summary: dict[str, Any]) -> dict[str, Any]:
    acc = summary["invalidation_accuracy"]
    assert acc is not None
    by_write = acc["by_write"]
    assert set(by_write) <= set(summary["write_ops"])
    overall = acc["overall"]
    assert overall["writes"] == sum(f["writes"] for f in by_write.values())
    assert overall["writes"] == summary["writes"] - summary["writes_noop"] - summary["errors"]
    for f in (overall, *by_write.values()):
        # every stale entry either became consistent or was still stale at the end
        assert f["entries_consistent_later"] + f["entries_never_consistent"] == f["entries_stale"]
        assert f["writes_fully_invalidated"] <= f["writes_with_dependents"] <= f["writes"]
    return dict(acc)


def test_ttl_leaves_the_written_dependents_stale(runner_settings: Settings) -> None:
    s = run({**SERIAL, "strategy": "ttl"}, settings=runner_settings, progress=False).summary
    overall = _accuracy(s)["overall"]
    assert overall["writes_with_dependents"] > 20
    assert overall["entries_stale"] > overall["writes_with_dependents"]
    assert overall["fully_invalidated_share"] < 0.2
    # nothing deletes them: only TTLs, longer than the run, would end them
    assert overall["entries_never_consistent"] == overall["entries_stale"]


@pytest.mark.parametrize("strategy", ["explicit", "tags"])
def test_exact_strategies_fully_invalidate_every_write(
    runner_settings: Settings, strategy: str
) -> None:
    s = run({**SERIAL, "strategy": strategy}, settings=runner_settings, progress=False).summary
    acc = _accuracy(s)
    overall = acc["overall"]
    assert overall["writes_with_dependents"] > 20 and overall["entries_checked"] > 50
    assert overall["entries_stale"] == 0 and overall["fully_invalidated_share"] == 1.0
    assert len([f for f in acc["by_write"].values() if f["writes_with_dependents"]]) >= 4


def test_seed_shows_its_gaps_by_write_type(runner_settings: Settings) -> None:
    s = run({**SERIAL, "strategy": "seed"}, settings=runner_settings, progress=False).summary
    acc = _accuracy(s)
    # the plan has no invalidation for reviews: their expert entries stay stale
    review = acc["by_write"]["write:add_review"]
    assert review["writes_with_dependents"] > 0 and review["entries_stale"] > 0
    assert review["fully_invalidated_share"] < 0.5
    assert 0 < acc["overall"]["fully_invalidated_share"] < 0.95


# Every write of the application, often enough that each occurs in a short run.
EVERY_WRITE = {**SERIAL, "write_ratio": 0.5, "duration_s": 20}
MIXED_WRITES = [op for op in WORKLOADS["mixed"].operations if op.startswith("write:")]


@pytest.fixture(scope="module")
def every_write(runner_settings: Settings) -> dict[str, dict[str, Any]]:
    """``mixed`` at a high write ratio under ``tags`` and under ``seed``: strategy -> summary."""
    return {
        name: run(
            {**EVERY_WRITE, "strategy": name}, settings=runner_settings, progress=False
        ).summary
        for name in ("tags", "seed")
    }


def test_every_write_of_mixed_occurs_and_tags_misses_none(
    every_write: dict[str, dict[str, Any]],
) -> None:
    s = every_write["tags"]
    by_write = _accuracy(s)["by_write"]
    assert len(MIXED_WRITES) == 12 and set(MIXED_WRITES) == set(by_write)
    for op in MIXED_WRITES:
        f = by_write[op]
        assert f["writes"] > 0 and f["entries_stale"] == 0, (op, f)
    # the writes that change cached answers others read had cached dependents to check
    with_dependents = {op for op, f in by_write.items() if f["writes_with_dependents"]}
    assert len(with_dependents) >= 9, sorted(set(MIXED_WRITES) - with_dependents)
    assert s["stale_reads"] == 0


def test_seed_leaves_its_gaps_by_write(every_write: dict[str, dict[str, Any]]) -> None:
    by_write = _accuracy(every_write["seed"])["by_write"]
    assert set(MIXED_WRITES) == set(by_write)
    # the plan never invalidates an expert's profile or listings on the expert's own edits, nor
    # other users' lists embedding a new name
    for op in ("write:expert_profile", "write:verification", "write:patient_profile"):
        f = by_write[op]
        assert f["writes_with_dependents"] > 0 and f["entries_stale"] > 0, (op, f)
    # the plan's calls cover a preference change: its one dependent is the user's profile
    assert by_write["write:preferences"]["entries_stale"] == 0
    stale = sum(f["entries_stale"] for f in by_write.values())
    assert stale > 10


HOT = {
    "workload": "profile",
    "skew": 1.2,
    "write_ratio": 0.2,
    "rate": 50,
    "duration_s": 10,
    "concurrency": "overlap",
    "db_service_ms": 2.0,
    "stale_sample": 0.05,
    "baseline": False,
    "strategy": "notify",
    "seed": 2,
    "scale": 0.02,
}
LAG_MS = 100
LAGGED = {**HOT, "notify_lag": LAG_MS}


@pytest.fixture(scope="module")
def lagged(runner_settings: Settings) -> dict[str, Any]:
    """Hot profile writes with overlapping requests, notify's invalidation 100 ms late."""
    return run(LAGGED, settings=runner_settings, progress=False).summary


def test_notify_lag_shows_as_time_until_consistent(lagged: dict[str, Any]) -> None:
    acc = _accuracy(lagged)["overall"]
    # checked at the commit: the profile is stale until the notification lands, lag later
    assert acc["entries_stale"] > 20 and acc["entries_never_consistent"] == 0
    assert acc["consistent_p50_s"] >= LAG_MS / 1000 - 1e-9
    assert acc["consistent_max_s"] < 2 * LAG_MS / 1000
    assert acc["fully_invalidated_share"] < 0.5


def test_without_the_lag_nothing_is_left_stale(runner_settings: Settings) -> None:
    # lag 0: the writer applies its commit's notifications before the check
    acc = _accuracy(run(HOT, settings=runner_settings, progress=False).summary)["overall"]
    assert acc["writes_with_dependents"] > 20 and acc["entries_stale"] == 0


def test_same_seed_same_figures(runner_settings: Settings, lagged: dict[str, Any]) -> None:
    again = run(LAGGED, settings=runner_settings, progress=False).summary
    assert again["invalidation_accuracy"] == lagged["invalidation_accuracy"]
    assert again["outcome_digest"] == lagged["outcome_digest"]


def test_the_check_costs_the_run_nothing(runner_settings: Settings, lagged: dict[str, Any]) -> None:
    unchecked = run({**LAGGED, "stale_sample": 0.0}, settings=runner_settings, progress=False)
    off = unchecked.summary
    assert off["invalidation_accuracy"] is None  # no oracle: n/a
    for key in ("outcome_digest", "hits", "misses", "writes", "db_statements"):
        assert lagged[key] == off[key], key
    # the run's own Redis commands (server-wide figures are shared with other clients)
    assert lagged["redis"]["commands"] == off["redis"]["commands"]
