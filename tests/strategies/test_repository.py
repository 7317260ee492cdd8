"""The cached repository against the uncached queries; settings, registry and write errors."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event

from evalcache.clock import VirtualClock
from evalcache.domain.families import FAMILIES
from evalcache.domain.repositories import (
    CachedRepository,
    InvalidTransition,
    TTLSettings,
)
from evalcache.domain.writes import NotFoundError
from evalcache.errors import ConfigError, UnknownNameError
from evalcache.strategies import get_strategy, strategy_names

from .conftest import START, Hot, RepoFactory
from .helpers import all_reads

DB = [pytest.mark.postgres, pytest.mark.redis]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("name", ["tags", "generation", "seed"])
def test_cached_read_is_the_uncached_answer(
    name: str, make_repo: RepoFactory, seeded_engine: Engine, hot: Hot
) -> None:
    repo = make_repo(name)
    off = CachedRepository(seeded_engine, None, name, clock=repo.clock)
    for family, args in all_reads(hot):
        first, second = repo.read(family, *args), repo.read(family, *args)
        base = off.read(family, *args)
        with seeded_engine.connect() as conn:
            want = repo.fresh(conn, family, *args)
        assert (first.outcome, second.outcome, base.outcome) == ("miss", "hit", "uncached")
        assert first.value == second.value == base.value == want, family
        assert first.family == family
    assert {f for f, _ in all_reads(hot)} == set(FAMILIES)


@pytest.mark.postgres
@pytest.mark.redis
def test_negative_hit_and_batch_loads_only_missing_ids_in_one_query(
    make_repo: RepoFactory, seeded_engine: Engine, hot: Hot
) -> None:
    repo = make_repo("tags")
    assert repo.read("user_profile", 10**9).outcome == "miss"
    neg = repo.read("user_profile", 10**9)
    assert (neg.outcome, neg.negative, neg.value) == ("hit", True, None)
    u1, u2, u3 = hot.users
    repo.read("user_profile", u1)
    statements: list[str] = []

    def count(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(seeded_engine, "before_cursor_execute", count)
    try:
        got = repo.read("user_profiles_batch", u1, u2, u3, u2)
    finally:
        event.remove(seeded_engine, "before_cursor_execute", count)
    assert got.outcome == "miss"
    assert len(statements) == 1 and "ANY" in statements[0]
    with seeded_engine.connect() as conn:
        assert got.value == repo.fresh(conn, "user_profiles_batch", u1, u2, u3, u2)
    assert [p["id"] for p in got.value] == [u1, u2, u3, u2]
    again = repo.read("user_profiles_batch", u3, u1)
    assert again.outcome == "hit"


@pytest.mark.postgres
@pytest.mark.redis
def test_invalid_transitions_and_bad_writes(make_repo: RepoFactory, hot: Hot) -> None:
    repo = make_repo("explicit")
    ev = repo.write("create_appointment", hot.patients[0], hot.experts[0])
    assert ev.appointment_id and ev.payment_id
    repo.write("appointment_status", ev.appointment_id, "cancelled")
    with pytest.raises(InvalidTransition, match="cancelled"):
        repo.write("appointment_status", ev.appointment_id, "confirmed")
    repo.write("complete_payment", ev.payment_id)
    with pytest.raises(InvalidTransition):
        repo.write("complete_payment", ev.payment_id)
    repo.write("refund_payment", ev.payment_id)
    with pytest.raises(InvalidTransition, match="'refunded'"):
        repo.write("refund_payment", ev.payment_id)
    for op in ("reschedule_appointment", "cancel_appointment"):  # it is cancelled already
        with pytest.raises(InvalidTransition, match="cancelled"):
            repo.write(op, ev.appointment_id)
    with pytest.raises(ConfigError, match="accepted: name, bio"):
        repo.write("patient_profile", hot.patients[0], "fee")
    with pytest.raises(NotFoundError, match="expert 999999"):
        repo.write("verification", 999_999)
    with pytest.raises(UnknownNameError, match=r"known: .*add_review"):
        repo.write("delete_everything", 1)
    with pytest.raises(ConfigError, match="takes 2 arguments"):
        repo.write("add_review", 1)
    with pytest.raises(UnknownNameError, match=r"known: .*dashboard_admin"):
        repo.read("dashboard_nurse", 1)
    with pytest.raises(ConfigError, match="integer id"):
        repo.read("user_profile", "abc")


def test_ttl_settings() -> None:
    t = TTLSettings()
    assert (t["user_profile"], t["expert_full"], t["dashboard_user"], t.negative) == (
        3600,
        300,
        900,
        60,
    )
    assert t.for_family("user_profiles_batch") == 3600
    assert t.scaled(2)["dashboard_admin"] == 600
    assert TTLSettings.from_mapping({"expert_full": 30})["expert_full"] == 30
    with pytest.raises(ConfigError, match="accepted: user_profile"):
        TTLSettings.from_mapping({"profile": 1})
    with pytest.raises(ConfigError, match="expert_full"):
        TTLSettings(expert_full=0)
    with pytest.raises(ConfigError, match="positive"):
        TTLSettings.from_mapping({"negative": -1})
    with pytest.raises(ConfigError):
        t.scaled(0)
    with pytest.raises(UnknownNameError):
        t.for_family("nope")


def test_registry() -> None:
    assert set(strategy_names()) == {
        "ttl", "seed", "explicit", "pattern", "tags", "generation", "write_through",
        "notify", "table", "lease",
    }  # fmt: skip
    for name in strategy_names():
        s = get_strategy(name)
        assert s.name == name and isinstance(s.race_free, bool)
    with pytest.raises(UnknownNameError, match="known: explicit, generation, lease") as info:
        get_strategy("magic")
    assert "magic" in str(info.value)
    with pytest.raises(ConfigError, match="strategy_options"):
        get_strategy("tags", colour="red")
    assert get_strategy("seed", flush_every=60).flush_every == 60  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.redis
def test_seed_periodic_flush_runs_on_clock_time(make_repo: RepoFactory, hot: Hot) -> None:
    clock = VirtualClock(START)
    repo = make_repo("seed", clock=clock, ttls=TTLSettings().scaled(10))  # outlive 30 min
    repo.read("dashboard_user", hot.patients[0])
    repo.tick()
    clock.advance(29 * 60)
    repo.tick()
    assert repo.read("dashboard_user", hot.patients[0]).outcome == "hit"
    clock.advance(60)
    repo.tick()
    assert repo.strategy.stats()["periodic_flushes"] == 1
    assert repo.read("dashboard_user", hot.patients[0]).outcome == "miss"
