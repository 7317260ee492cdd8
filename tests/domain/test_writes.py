"""Every write: rows changed, versions and updated_at bumped, the right event, and bad input
refused before anything is written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

from evalcache.domain import queries as q
from evalcache.domain import writes as w
from evalcache.domain.invalidation import event_groups
from evalcache.domain.seeding import table_checksums
from evalcache.domain.truth import truth_answer
from evalcache.errors import ConfigError
from evalcache.strategies.api import WriteEvent

from .conftest import NOW, D, H, load_small

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(domain_engine: Engine) -> Iterator[Engine]:
    load_small(domain_engine)
    yield domain_engine


def row(engine: Engine, sql: str, **params: object) -> tuple[object, ...]:
    with engine.connect() as conn:
        r = conn.execute(text(sql), params).one()
    return tuple(r)


def read(engine: Engine, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with engine.connect() as conn:
        return fn(conn, *args, **kwargs)


def test_update_profile_with_changes(engine: Engine) -> None:
    ev = w.update_user_profile(engine, 4, "profile", {"city": "Paris", "bio": "hi"}, NOW)
    assert ev == WriteEvent(
        kind="user_updated",
        user_id=4,
        expert_id=None,
        detail="profile",
        tables=("profiles", "users"),
        committed_at=NOW.timestamp(),
        columns=("city", "bio"),
    )
    assert row(engine, "SELECT city, bio, version, updated_at FROM profiles WHERE user_id=4") == (
        "Paris",
        "hi",
        2,
        NOW,
    )
    assert row(engine, "SELECT version, updated_at FROM users WHERE id=4") == (2, NOW)
    prof = read(engine, q.get_user_profile, 4)
    assert prof is not None and prof["profile"]["city"] == "Paris" and prof["version"] == 2


def test_update_defaults_are_deterministic_changes(engine: Engine) -> None:
    ev = w.update_user_profile(engine, 2, "profile", None, NOW)
    assert (ev.user_id, ev.expert_id) == (2, 10)  # an expert's user: expert_id is filled
    assert ev.columns == ("bio",)
    assert row(engine, "SELECT bio FROM profiles WHERE user_id=2") == (
        "Profile updated at 2025-01-10T12:00:00+00:00",
    )
    w.update_user_profile(engine, 4, "preferences", None, NOW)
    assert row(engine, "SELECT email_notifications, version FROM preferences WHERE user_id=4") == (
        False,
        2,
    )
    ev = w.update_user_profile(engine, 4, "verification", None, NOW + H)
    assert ev.detail == "verification" and ev.tables == ("verifications", "users")
    assert row(
        engine, "SELECT status, verified_at, version FROM verifications WHERE user_id=4"
    ) == (
        "verified",
        NOW + H,
        2,
    )
    w.update_user_profile(engine, 4, "verification", None, NOW + 2 * H)
    assert row(
        engine, "SELECT status, submitted_at, version FROM verifications WHERE user_id=4"
    ) == (
        "pending",
        NOW + 2 * H,
        3,
    )
    assert row(engine, "SELECT version FROM users WHERE id=4") == (4,)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((4, "avatar", None), ConfigError, "known: profile, preferences, verification"),
        ((4, "profile", {"email": "x"}), ConfigError, "accepted: first_name"),
        ((4, "profile", {"first_name": None}), ConfigError, "must be str"),
        ((4, "preferences", {"sms_notifications": "yes"}), ConfigError, "must be bool"),
        ((4, "verification", {"status": "maybe"}), ConfigError, "known: unverified"),
        ((4, "profile", {}), ConfigError, "at least one"),
        ((0, "profile", None), ConfigError, "positive int"),
        ((999, "profile", None), w.NotFoundError, "user 999"),
        ((5, "profile", None), w.NotFoundError, "profiles row of user 5"),
    ],
)
def test_update_user_profile_refuses_bad_input(
    engine: Engine, args: tuple[object, ...], error: type[Exception], match: str
) -> None:
    before = table_checksums(engine)
    with pytest.raises(error, match=match):
        w.update_user_profile(engine, *args, now=NOW)  # type: ignore[arg-type]
    assert table_checksums(engine) == before


def test_update_expert_availability(engine: Engine) -> None:
    slots = [(NOW + 2 * D, NOW + 2 * D + H), (NOW + 3 * H, NOW + 4 * H)]
    ev = w.update_expert_availability(engine, 10, slots, NOW)
    assert ev == WriteEvent(
        kind="availability_updated",
        user_id=2,
        expert_id=10,
        detail="2 slots",
        tables=("availability_slots",),
        committed_at=NOW.timestamp(),
    )
    full = read(engine, q.get_expert_profile, 10, include_availability=True, now=NOW - 2 * H)
    assert full is not None
    # the past slot 201 stays; 202/203 are replaced; NOW+2d holds appointment 303 -> booked
    assert [(s["id"], s["starts_at"], s["is_booked"]) for s in full["availability"]] == [
        (201, "2025-01-10T11:00:00+00:00", False),
        (1000, "2025-01-10T15:00:00+00:00", False),
        (1001, "2025-01-12T12:00:00+00:00", True),
    ]
    assert row(engine, "SELECT count(*) FROM availability_slots WHERE updated_at = :n", n=NOW) == (
        2,
    )
    before = table_checksums(engine)
    for bad, match in [
        ([(NOW - H, NOW)], "now <= starts_at"),
        ([(NOW + H, NOW)], "< ends_at"),
        ([(datetime(2025, 2, 1), NOW + D)], "timezone-aware"),
        ([(NOW,)], "pair"),
    ]:
        with pytest.raises(ConfigError, match=match):
            w.update_expert_availability(engine, 10, bad, NOW)  # type: ignore[arg-type]
    with pytest.raises(w.NotFoundError, match="expert 99"):
        w.update_expert_availability(engine, 99, [], NOW)
    assert table_checksums(engine) == before


def test_create_appointment(engine: Engine) -> None:
    at = NOW + 2 * H  # slot 203, free
    ev = w.create_appointment(engine, 5, 10, at, 45, NOW)
    assert ev == WriteEvent(
        kind="appointment_created",
        user_id=5,
        expert_id=10,
        appointment_id=1000,
        payment_id=1000,
        tables=("appointments", "payments", "availability_slots"),
        committed_at=NOW.timestamp(),
    )
    assert row(
        engine,
        "SELECT user_id, expert_id, scheduled_at, status, version, created_at "
        "FROM appointments WHERE id=1000",
    ) == (5, 10, at, "scheduled", 1, NOW)
    assert row(
        engine, "SELECT amount, status, paid_at FROM payments WHERE appointment_id=1000"
    ) == (
        75,
        "pending",
        None,
    )  # 100.00/h * 45 min
    assert row(
        engine, "SELECT is_booked, version, updated_at FROM availability_slots WHERE id=203"
    ) == (True, 2, NOW)
    ev2 = w.create_appointment(engine, 5, 11, NOW + 5 * D, 30, NOW)  # no slot there
    assert ev2.tables == ("appointments", "payments")
    before = table_checksums(engine)
    with pytest.raises(ConfigError, match="duration_minutes"):
        w.create_appointment(engine, 5, 10, at, 0, NOW)
    with pytest.raises(w.NotFoundError, match="expert 99"):
        w.create_appointment(engine, 5, 99, at, 30, NOW)
    with pytest.raises(w.NotFoundError, match="user 99"):
        w.create_appointment(engine, 99, 10, at, 30, NOW)
    assert table_checksums(engine) == before


def test_change_appointment_status(engine: Engine) -> None:
    ev = w.change_appointment_status(engine, 303, "confirmed", NOW)
    assert ev == WriteEvent(
        kind="appointment_status_changed",
        user_id=4,
        expert_id=10,
        appointment_id=303,
        detail="confirmed",
        tables=("appointments",),
        committed_at=NOW.timestamp(),
    )
    assert row(engine, "SELECT status, version, updated_at FROM appointments WHERE id=303") == (
        "confirmed",
        2,
        NOW,
    )
    before = table_checksums(engine)
    with pytest.raises(ConfigError, match="known: scheduled"):
        w.change_appointment_status(engine, 303, "done", NOW)
    with pytest.raises(w.NotFoundError, match="appointment 999"):
        w.change_appointment_status(engine, 999, "confirmed", NOW)
    assert table_checksums(engine) == before


def test_complete_payment(engine: Engine) -> None:
    ev = w.complete_payment(engine, 403, NOW)
    assert ev == WriteEvent(
        kind="payment_completed",
        user_id=4,
        expert_id=10,
        appointment_id=303,
        payment_id=403,
        tables=("payments",),
        committed_at=NOW.timestamp(),
    )
    assert row(
        engine, "SELECT status, paid_at, version, updated_at FROM payments WHERE id=403"
    ) == (
        "succeeded",
        NOW,
        2,
        NOW,
    )
    dash = read(engine, q.get_expert_dashboard, 10, NOW)
    assert dash is not None and dash["earnings"]["payments"] == 2
    before = table_checksums(engine)
    with pytest.raises(w.InvalidStateError, match="'succeeded'"):
        w.complete_payment(engine, 403, NOW)
    with pytest.raises(w.NotFoundError):
        w.complete_payment(engine, 999, NOW)
    assert table_checksums(engine) == before


def test_add_review_recomputes_rating(engine: Engine) -> None:
    ev = w.add_review(engine, 10, 5, 3, "ok", NOW)
    assert ev == WriteEvent(
        kind="review_added",
        user_id=5,
        expert_id=10,
        review_id=1000,
        tables=("reviews", "experts"),
        committed_at=NOW.timestamp(),
    )
    # reviews 5, 4, 3 -> 4.00 over 3
    assert row(
        engine, "SELECT rating, total_reviews, version, updated_at FROM experts WHERE id=10"
    ) == (4, 3, 2, NOW)
    prof = read(engine, q.get_expert_profile, 10, include_availability=False, now=NOW)
    assert prof is not None and prof["reviews"][0]["id"] == 1000 and prof["rating"] == 4.0
    w.add_review(engine, 10, 4, 4, None, NOW)  # 16/4 = 4.00; then 5 -> 21/5 = 4.20
    w.add_review(engine, 10, 4, 5, None, NOW)
    assert row(engine, "SELECT rating, total_reviews, version FROM experts WHERE id=10") == (
        Decimal("4.20"),
        5,
        4,
    )
    before = table_checksums(engine)
    for bad in (0, 6, 4.5, True):
        with pytest.raises(ConfigError, match="rating"):
            w.add_review(engine, 10, 5, bad, None, NOW)  # type: ignore[arg-type]
    with pytest.raises(w.NotFoundError, match="user 77"):
        w.add_review(engine, 10, 77, 5, None, NOW)
    assert table_checksums(engine) == before


def test_insert_user_adds_a_user_with_its_profile_rows(engine: Engine) -> None:
    assert read(engine, q.get_user_profile, 20) is None
    ev = w.insert_user(engine, 20, NOW)
    assert ev == WriteEvent(
        kind="user_created",
        user_id=20,
        tables=("users", "profiles", "preferences", "verifications"),
        committed_at=NOW.timestamp(),
    )
    # a profile read finds every part; the truth's own SQL agrees with the loader
    prof = read(engine, q.get_user_profile, 20)
    assert prof is not None and prof["role"] == "user" and prof["version"] == 1
    assert prof["profile"] and prof["preferences"]
    assert prof["verification"]["status"] == "unverified"
    assert read(engine, truth_answer, "user_profile", (20,), NOW) == prof
    # the id sequence moved past it: the next default id does not collide
    seq = "pg_get_serial_sequence('users', 'id')"
    assert row(engine, f"SELECT pg_sequence_last_value({seq})") == (20,)
    w.insert_user(engine, 7, NOW)  # a lower id leaves the sequence where it is
    assert row(engine, f"SELECT pg_sequence_last_value({seq})") == (20,)
    # negative entries of the id (its profile, its dashboard) and the admin's user count go stale
    assert event_groups(ev, lambda e: ()) == ["user:20", "patient:20", "admin"]
    before = table_checksums(engine)
    with pytest.raises(w.InvalidStateError, match="user 20 already exists"):
        w.insert_user(engine, 20, NOW)
    for bad in (0, -3, "21", True):
        with pytest.raises(ConfigError, match="user_id"):
            w.insert_user(engine, bad, NOW)  # type: ignore[arg-type]
    assert table_checksums(engine) == before


def test_an_experts_verification_decides_whether_it_is_listed(engine: Engine) -> None:
    # user 3 is expert 11's user: pending, yet listed (the hand-built data disagree on purpose)
    ev = w.update_user_profile(engine, 3, "verification", None, NOW)
    assert (ev.expert_id, ev.tables, ev.columns) == (
        11,
        ("verifications", "users"),  # verified: the flag already says so, experts untouched
        ("status", "verified_at"),
    )
    assert row(engine, "SELECT is_verified, version FROM experts WHERE id=11") == (True, 1)
    ev = w.update_user_profile(engine, 3, "verification", None, NOW + H)  # back to pending
    assert ev.tables == ("verifications", "users", "experts")
    assert row(engine, "SELECT is_verified, version, updated_at FROM experts WHERE id=11") == (
        False,
        2,
        NOW + H,
    )
    with engine.connect() as conn:
        assert [x["id"] for x in q.get_experts_by_specialization(conn, "Cardiology")] == [10]
    ev = w.update_user_profile(engine, 4, "verification", None, NOW)  # a patient: no expert
    assert (ev.expert_id, ev.tables) == (None, ("verifications", "users"))


def test_rename_user_numbers_the_last_name(engine: Engine) -> None:
    ev = w.rename_user(engine, 2, NOW)
    assert ev == WriteEvent(
        kind="user_updated",
        user_id=2,
        expert_id=10,
        detail="profile",
        tables=("profiles", "users"),
        committed_at=NOW.timestamp(),
        columns=("last_name",),
    )
    w.rename_user(engine, 2, NOW + H)
    assert row(engine, "SELECT first_name, last_name, version FROM profiles WHERE user_id=2") == (
        "Eve",
        "Expert #3",
        3,
    )
    with engine.connect() as conn:
        prof = q.get_expert_profile(conn, 10, include_availability=False, now=NOW)
        lists = q.get_user_appointments(conn, 4)
    assert prof is not None and prof["last_name"] == "Expert #3"
    assert {a["expert"]["last_name"] for a in lists if a["expert_id"] == 10} == {"Expert #3"}
    before = table_checksums(engine)
    with pytest.raises(w.NotFoundError, match="profiles row of user 5"):
        w.rename_user(engine, 5, NOW)
    with pytest.raises(w.NotFoundError, match="user 999"):
        w.rename_user(engine, 999, NOW)
    assert table_checksums(engine) == before


def test_update_expert_rate(engine: Engine) -> None:
    ev = w.update_expert_rate(engine, 10, None, NOW)  # version 1: up
    assert ev == WriteEvent(
        kind="expert_updated",
        user_id=2,
        expert_id=10,
        detail="hourly_rate",
        tables=("experts",),
        committed_at=NOW.timestamp(),
        columns=("hourly_rate",),
    )
    assert row(engine, "SELECT hourly_rate, version, updated_at FROM experts WHERE id=10") == (
        Decimal("105.00"),
        2,
        NOW,
    )
    w.update_expert_rate(engine, 10, None, NOW)  # version 2: back down
    assert row(engine, "SELECT hourly_rate FROM experts WHERE id=10") == (Decimal("100.00"),)
    w.update_expert_rate(engine, 10, Decimal("80.555"), NOW)
    assert row(engine, "SELECT hourly_rate FROM experts WHERE id=10") == (Decimal("80.56"),)
    with engine.connect() as conn:
        listed = q.get_experts_by_specialization(conn, "Nutrition")
    assert listed[0]["hourly_rate"] == 80.56
    before = table_checksums(engine)
    for bad in (0, -5, Decimal("1e9"), Decimal("NaN"), 12.5, True, "80"):
        with pytest.raises(ConfigError, match="hourly_rate"):
            w.update_expert_rate(engine, 10, bad, NOW)  # type: ignore[arg-type]
    with pytest.raises(w.NotFoundError, match="expert 99"):
        w.update_expert_rate(engine, 99, None, NOW)
    assert table_checksums(engine) == before


def slot_booked(engine: Engine, slot: int) -> bool:
    return bool(row(engine, "SELECT is_booked FROM availability_slots WHERE id=:s", s=slot)[0])


def test_cancelling_frees_the_slot_unless_another_appointment_holds_it(engine: Engine) -> None:
    at = NOW + 2 * H  # slot 203 of expert 10
    first = w.create_appointment(engine, 4, 10, at, 60, NOW)
    second = w.create_appointment(engine, 5, 10, at, 60, NOW)  # double-booked: slot unchanged
    assert "availability_slots" not in second.tables and slot_booked(engine, 203)
    ev = w.change_appointment_status(engine, int(first.appointment_id or 0), "cancelled", NOW)
    assert ev.tables == ("appointments",) and slot_booked(engine, 203)  # the second holds it
    ev = w.change_appointment_status(engine, int(second.appointment_id or 0), "cancelled", NOW)
    assert ev == WriteEvent(
        kind="appointment_status_changed",
        user_id=5,
        expert_id=10,
        appointment_id=second.appointment_id,
        detail="cancelled",
        tables=("appointments", "availability_slots"),
        committed_at=NOW.timestamp(),
    )
    assert row(engine, "SELECT is_booked, version, updated_at FROM availability_slots "
               "WHERE id=203") == (False, 3, NOW)  # fmt: skip
    with engine.connect() as conn:
        full = q.get_expert_profile(conn, 10, include_availability=True, now=NOW)
    assert full is not None
    assert {s["id"]: s["is_booked"] for s in full["availability"]}[203] is False
    # leaving cancelled books it again; a confirmation leaves the slot alone
    ev = w.change_appointment_status(engine, int(first.appointment_id or 0), "scheduled", NOW)
    assert ev.tables == ("appointments", "availability_slots") and slot_booked(engine, 203)
    ev = w.change_appointment_status(engine, int(first.appointment_id or 0), "confirmed", NOW)
    assert ev.tables == ("appointments",) and slot_booked(engine, 203)


def test_reschedule_moves_to_a_free_slot_and_frees_the_old_one(engine: Engine) -> None:
    old, new = NOW + 2 * H, NOW + 3 * D
    w.update_expert_availability(engine, 10, [(old, old + H), (new, new + H)], NOW)
    old_slot, new_slot = 1000, 1001
    booked = w.create_appointment(engine, 4, 10, old, 60, NOW)
    a = int(booked.appointment_id or 0)
    ev = w.reschedule_appointment(engine, a, new, NOW + H)
    assert ev == WriteEvent(
        kind="appointment_rescheduled",
        user_id=4,
        expert_id=10,
        appointment_id=a,
        tables=("appointments", "availability_slots"),
        committed_at=(NOW + H).timestamp(),
    )
    assert row(engine, "SELECT scheduled_at, status, version, updated_at FROM appointments "
               "WHERE id=:a", a=a) == (new, "scheduled", 2, NOW + H)  # fmt: skip
    assert (slot_booked(engine, old_slot), slot_booked(engine, new_slot)) == (False, True)
    assert row(engine, "SELECT amount, status FROM payments WHERE appointment_id=:a", a=a) == (
        100,
        "pending",
    )
    before = table_checksums(engine)
    for at, match in [
        (new, "already at"),
        (NOW + 5 * D, "no free slot"),
    ]:
        with pytest.raises(w.InvalidStateError, match=match):
            w.reschedule_appointment(engine, a, at, NOW)
    assert table_checksums(engine) == before
    other = w.create_appointment(engine, 5, 10, old, 60, NOW)  # rebooks the freed slot
    before = table_checksums(engine)
    with pytest.raises(w.InvalidStateError, match="no free slot"):
        w.reschedule_appointment(engine, int(other.appointment_id or 0), new, NOW)
    with pytest.raises(w.InvalidStateError, match="'cancelled'"):
        w.reschedule_appointment(engine, 305, new, NOW)
    with pytest.raises(ConfigError, match="before now"):
        w.reschedule_appointment(engine, a, NOW - H, NOW)
    with pytest.raises(w.NotFoundError, match="appointment 999"):
        w.reschedule_appointment(engine, 999, new, NOW)
    assert table_checksums(engine) == before


def test_refund_payment(engine: Engine) -> None:
    paid = NOW - 40 * D  # payment 404: the expert's earnings window of that day holds it
    dash = read(engine, q.get_expert_dashboard, 10, paid + H)
    assert dash is not None and dash["earnings"]["payments"] == 1
    ev = w.refund_payment(engine, 404, NOW)
    assert ev == WriteEvent(
        kind="payment_refunded",
        user_id=4,
        expert_id=10,
        appointment_id=306,
        payment_id=404,
        tables=("payments",),
        committed_at=NOW.timestamp(),
    )
    assert row(engine, "SELECT status, paid_at, version, updated_at FROM payments "
               "WHERE id=404") == ("refunded", paid, 2, NOW)  # fmt: skip
    dash = read(engine, q.get_expert_dashboard, 10, paid + H)
    assert dash is not None and dash["earnings"]["payments"] == 0
    before = table_checksums(engine)
    with pytest.raises(w.InvalidStateError, match="'refunded'"):
        w.refund_payment(engine, 404, NOW)
    with pytest.raises(w.InvalidStateError, match="'pending'"):
        w.refund_payment(engine, 402, NOW)
    with pytest.raises(w.NotFoundError, match="payment 999"):
        w.refund_payment(engine, 999, NOW)
    assert table_checksums(engine) == before
