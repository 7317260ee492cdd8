"""The one suite every strategy runs: random write sequences, every family read after each.

- every strategy but ttl and seed (notify after ``drain()``): zero stale reads;
- ttl: a stale read is never older than its TTL, and everything is fresh once TTLs pass;
- seed: the families that go stale are only those the seed plan's code misses (listed below).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from evalcache.clock import VirtualClock
from evalcache.domain.families import FAMILIES
from evalcache.domain.readspecs import TTLSettings
from evalcache.strategies import strategy_names

from .conftest import START, Hot, RepoFactory
from .helpers import WRITES, all_reads, do_write, stale_reads

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SETTINGS = settings(
    derandomize=True,
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WRITE_SEQ = st.lists(st.sampled_from(WRITES), min_size=3, max_size=6)
EXACT = [s for s in strategy_names() if s not in ("ttl", "seed")]

# Families the seed plan's invalidation code leaves stale, with why (see strategies/seed.py).
SEED_MISSES = {
    "expert_basic": "review_added invalidates nothing; an expert's own edits (name, fee, bio, "
    "verification) never touch expert_profile:E:*",
    "expert_full": "same as expert_basic, and a cancellation or a reschedule frees a slot it shows",
    "experts_by_spec": "no seed invalidation ever names experts_by_spec (ratings, names, fees, "
    "verifications)",
    "user_appointments": "payment completion only hits user_payments:U:*, a refund nothing; "
    "expert renames are never propagated",
    "expert_appointments": "payment completion, refunds and patient renames do not touch it",
    "dashboard_admin": "appointment creation invalidates dashboard:appointments:*, which matches "
    "nothing; a reschedule and a refund do not name it",
    "dashboard_expert": "reviews, availability, bookings, payments and refunds never hit "
    "dashboard:expert:E",
    "dashboard_user": "booking (dashboard:appointments:*), payment completion, refunds and "
    "expert renames miss dashboard:user:U",
}
SEED_KNOWN_GAPS = {"expert_basic", "experts_by_spec", "dashboard_admin", "user_appointments"}


def _run(
    repo: Any, engine: Engine, hot: Hot, writes: list[tuple[str, tuple[Any, ...]]]
) -> tuple[Counter[str], Counter[str]]:
    """Flush the namespace, warm every family, then write/drain/read everything per step."""
    repo.cache.flush_namespace()
    reads = all_reads(hot)
    stale_total: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    stale, outs = stale_reads(repo, engine, reads)
    stale_total.update(stale)
    outcomes.update(outs)
    for op, idx in writes:
        do_write(repo, engine, hot, op, idx)
        assert repo.drain(10.0)
        stale, outs = stale_reads(repo, engine, reads)
        stale_total.update(stale)
        outcomes.update(outs)
    return stale_total, outcomes


@pytest.mark.parametrize("name", EXACT)
def test_zero_stale_reads(
    name: str, make_repo: RepoFactory, seeded_engine: Engine, hot: Hot
) -> None:
    repo = make_repo(name)
    seen: Counter[str] = Counter()
    stale_seen: Counter[str] = Counter()

    @SETTINGS
    @given(WRITE_SEQ)
    def run(writes: list[tuple[str, tuple[Any, ...]]]) -> None:
        stale, outcomes = _run(repo, seeded_engine, hot, writes)
        seen.update(outcomes)
        stale_seen.update(stale)
        assert not stale, f"{name}: stale reads {dict(stale)} after {writes}"

    run()
    assert not stale_seen
    for family in FAMILIES:  # every family exercised, and actually served from the cache
        assert seen[f"{family}:hit"] > 0, (family, dict(seen))
        assert seen[f"{family}:miss"] > 0, (family, dict(seen))
    stats = repo.strategy.stats()
    assert stats["invalidations"] > 0
    if name == "notify":
        lags = stats["lag_ms"]
        assert lags and all(x >= 0 for x in lags)
        p50, top = stats["lag_ms_p50"], stats["lag_ms_max"]
        print(f"notify lag ms: n={len(lags)} p50={p50:.2f} max={top:.2f}")


def test_seed_stale_only_where_the_plan_misses(
    make_repo: RepoFactory, seeded_engine: Engine, hot: Hot
) -> None:
    repo = make_repo("seed")
    stale_seen: Counter[str] = Counter()

    @SETTINGS
    @given(WRITE_SEQ)
    def run(writes: list[tuple[str, tuple[Any, ...]]]) -> None:
        stale, _ = _run(repo, seeded_engine, hot, writes)
        stale_seen.update(stale)

    run()
    # a fixed sequence that hits the known gaps whatever the random part drew
    fixed = [("add_review", (0, 0)), ("create_appointment", (0, 0)),
             ("expert_profile", (0, "fee")), ("refund_payment", (0,))]  # fmt: skip
    stale, _ = _run(repo, seeded_engine, hot, fixed)
    stale_seen.update(stale)
    assert set(stale_seen) <= set(SEED_MISSES), set(stale_seen) - set(SEED_MISSES)
    assert set(stale_seen) >= SEED_KNOWN_GAPS, (SEED_KNOWN_GAPS, dict(stale_seen))
    print("seed plan stale families:", dict(stale_seen))


def test_ttl_staleness_bounded_by_ttl(
    make_repo: RepoFactory, seeded_engine: Engine, hot: Hot
) -> None:
    clock = VirtualClock(START)
    ttls = TTLSettings().scaled(0.01)  # 3..36 clock seconds
    repo = make_repo("ttl", clock=clock, ttls=ttls)
    reads = all_reads(hot)
    longest = max(ttls.for_family(f) for f in FAMILIES)
    stale_total: Counter[str] = Counter()

    @SETTINGS
    @given(WRITE_SEQ, st.lists(st.floats(0, 5), min_size=6, max_size=6))
    def run(writes: list[tuple[str, tuple[Any, ...]]], steps: list[float]) -> None:
        repo.cache.flush_namespace()
        loaded_at: dict[tuple[str, tuple[Any, ...]], float] = {}
        for (op, idx), dt in zip(writes, steps, strict=False):
            do_write(repo, seeded_engine, hot, op, idx)
            clock.advance(dt)
            for family, args in reads:
                got = repo.read(family, *args)
                if got.outcome == "miss":
                    loaded_at[(family, args)] = clock.now()
                with seeded_engine.connect() as conn:
                    want = repo.fresh(conn, family, *args)
                if got.value != want:
                    stale_total[family] += 1
                    age = clock.now() - loaded_at[(family, args)]
                    assert age < ttls.for_family(family), (family, age)
        clock.advance(longest + 1)  # every entry has expired: everything is fresh again
        for family, args in reads:
            with seeded_engine.connect() as conn:
                assert repo.read(family, *args).value == repo.fresh(conn, family, *args), family

    run()
    assert stale_total, "ttl never served a stale read: the test would not catch staleness"
