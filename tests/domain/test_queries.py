"""Every read query against the hand-built data set of conftest.load_small (literal answers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, event

from evalcache.domain import queries as q
from evalcache.errors import ConfigError

from .conftest import NOW, T0, D, load_small

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def conn(domain_engine: Engine) -> Iterator[Connection]:
    load_small(domain_engine)
    with domain_engine.connect() as c:
        yield c


def ts(d: datetime) -> str:
    return d.isoformat()


PAT = {
    "id": 4,
    "email": "pat@x.org",
    "role": "user",
    "created_at": "2025-01-01T00:00:00+00:00",
    "updated_at": "2025-01-01T00:00:00+00:00",
    "version": 1,
    "profile": {"first_name": "Pat", "last_name": "One", "phone": None, "city": "Lyon",
                "bio": None, "version": 1},
    "preferences": {"language": "en", "timezone": "Europe/Paris", "email_notifications": True,
                    "sms_notifications": False, "version": 1},
    "verification": {"status": "pending", "submitted_at": "2025-01-03T00:00:00+00:00",
                     "verified_at": None, "version": 1},
}  # fmt: skip


def test_user_profile(conn: Connection) -> None:
    assert q.get_user_profile(conn, 4) == PAT
    quinn = q.get_user_profile(conn, 5)
    assert quinn is not None
    assert (quinn["email"], quinn["profile"], quinn["preferences"], quinn["verification"]) == (
        "quinn@x.org", None, None, None,
    )  # fmt: skip
    assert q.get_user_profile(conn, 999) is None


def test_user_profiles_batch_is_one_statement_in_order(conn: Connection) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(conn, "before_cursor_execute", count)
    try:
        got = q.get_user_profiles(conn, [4, 999, 1, 4])
    finally:
        event.remove(conn, "before_cursor_execute", count)
    assert len(statements) == 1
    assert got[0] == PAT and got[3] == PAT and got[1] is None
    assert got[2] is not None and got[2]["role"] == "admin"
    assert q.get_user_profiles(conn, []) == []


EVE_REVIEWS = [
    {"id": 2, "user_id": 5, "rating": 4, "comment": None,
     "created_at": "2025-01-03T00:00:00+00:00"},
    {"id": 1, "user_id": 4, "rating": 5, "comment": "great",
     "created_at": "2025-01-02T00:00:00+00:00"},
]  # fmt: skip
EVE_BASIC = {
    "id": 10, "user_id": 2, "first_name": "Eve", "last_name": "Expert", "city": "Lyon",
    "bio": None, "headline": "Heart", "hourly_rate": 100.0, "rating": 4.5, "total_reviews": 2,
    "is_active": True, "is_verified": True, "created_at": "2025-01-01T00:00:00+00:00",
    "updated_at": "2025-01-01T00:00:00+00:00", "version": 1,
    "specializations": ["Cardiology", "Nutrition"], "reviews": EVE_REVIEWS,
}  # fmt: skip


def test_expert_profile_basic_and_full(conn: Connection) -> None:
    assert q.get_expert_profile(conn, 10, include_availability=False, now=NOW) == EVE_BASIC
    full = q.get_expert_profile(conn, 10, include_availability=True, now=NOW)
    assert full == {
        **EVE_BASIC,
        "availability": [  # slot 201 started before now; 203 starts before 202
            {"id": 203, "starts_at": "2025-01-10T14:00:00+00:00",
             "ends_at": "2025-01-10T15:00:00+00:00", "is_booked": False},
            {"id": 202, "starts_at": "2025-01-11T12:00:00+00:00",
             "ends_at": "2025-01-11T13:00:00+00:00", "is_booked": True},
        ],
    }  # fmt: skip
    assert q.get_expert_profile(conn, 999, include_availability=True, now=NOW) is None
    assert json.loads(json.dumps(full)) == full


def test_expert_profile_ten_latest_reviews_with_id_tie_break(conn: Connection) -> None:
    got = q.get_expert_profile(conn, 11, include_availability=False, now=NOW)
    assert got is not None
    assert [r["id"] for r in got["reviews"]] == [112, 111, 110, 109, 108, 107, 106, 105, 104, 103]
    got_all = q.get_expert_profile(conn, 11, include_availability=True, now=T0)
    assert got_all is not None and got_all["availability"] == []


def test_experts_by_specialization(conn: Connection) -> None:
    cardio = q.get_experts_by_specialization(conn, "Cardiology")
    # 12 is inactive; 11 and 10 tie on rating, 11 has more reviews
    assert [e["id"] for e in cardio] == [11, 10]
    assert [r["id"] for r in cardio[0]["reviews"]] == [112, 111, 110, 109, 108]
    assert cardio[1] == {
        "id": 10, "user_id": 2, "first_name": "Eve", "last_name": "Expert", "headline": "Heart",
        "hourly_rate": 100.0, "rating": 4.5, "total_reviews": 2, "version": 1,
        "specialization": "Cardiology", "reviews": EVE_REVIEWS,
    }  # fmt: skip
    assert [e["id"] for e in q.get_experts_by_specialization(conn, "Cardiology", 1)] == [11]
    assert [e["id"] for e in q.get_experts_by_specialization(conn, "Nutrition")] == [10]
    assert q.get_experts_by_specialization(conn, "Dermatology") == []
    assert q.get_experts_by_specialization(conn, "No such thing") == []
    for bad in (0, 101, "5"):
        with pytest.raises(ConfigError, match="limit"):
            q.get_experts_by_specialization(conn, "Cardiology", bad)  # type: ignore[arg-type]


def test_user_appointments(conn: Connection) -> None:
    got = q.get_user_appointments(conn, 4)
    assert [a["id"] for a in got] == [305, 303, 302, 301, 306]
    assert got[3] == {
        "id": 301, "user_id": 4, "expert_id": 10, "scheduled_at": "2025-01-03T00:00:00+00:00",
        "duration_minutes": 60, "status": "completed", "created_at": "2025-01-01T00:00:00+00:00",
        "version": 1,
        "expert": {"id": 10, "first_name": "Eve", "last_name": "Expert", "headline": "Heart"},
        "payment": {"id": 401, "amount": 100.0, "currency": "USD", "status": "succeeded",
                    "paid_at": "2025-01-03T01:00:00+00:00", "version": 1},
    }  # fmt: skip
    assert got[0]["payment"] is None
    assert [a["id"] for a in q.get_user_appointments(conn, 4, "cancelled")] == [305]
    assert q.get_user_appointments(conn, 999) == []
    with pytest.raises(ConfigError, match="scheduled, confirmed"):
        q.get_user_appointments(conn, 4, "pending")


def test_expert_appointments(conn: Connection) -> None:
    got = q.get_expert_appointments(conn, 10, T0, NOW + 3 * D)
    assert [a["id"] for a in got] == [301, 304, 303, 305]
    assert got[1]["patient"] == {"id": 5, "first_name": None, "last_name": None}
    assert got[0]["patient"] == {"id": 4, "first_name": "Pat", "last_name": "One"}
    assert got[2]["payment"] == {"id": 403, "amount": 100.0, "currency": "USD",
                                 "status": "pending", "paid_at": None, "version": 1}  # fmt: skip
    assert [a["id"] for a in q.get_expert_appointments(conn, 10, T0, T0 + 2 * D)] == [301]
    with pytest.raises(ConfigError, match="end"):
        q.get_expert_appointments(conn, 10, NOW, T0)
    with pytest.raises(ConfigError, match="timezone-aware"):
        q.get_expert_appointments(conn, 10, datetime(2025, 1, 1), NOW)


def test_admin_dashboard(conn: Connection) -> None:
    got = q.get_admin_dashboard(conn, NOW)
    assert (got["total_users"], got["total_experts"]) == (6, 3)
    assert [a["id"] for a in got["recent_appointments"]] == [305, 303, 302, 304, 301, 306]
    # 404 was paid 40 days before now: outside the window
    assert got["revenue"] == {"window_days": 30, "payments": 1, "total": 100.0, "average": 100.0}
    assert got["pending_verifications"] == {
        "count": 2,
        "oldest": [{"user_id": 3, "submitted_at": "2025-01-02T00:00:00+00:00"},
                   {"user_id": 4, "submitted_at": "2025-01-03T00:00:00+00:00"}],
    }  # fmt: skip
    later = q.get_admin_dashboard(conn, NOW + 60 * D)
    assert later["revenue"] == {"window_days": 30, "payments": 0, "total": 0.0, "average": None}


def test_expert_dashboard(conn: Connection) -> None:
    assert q.get_expert_dashboard(conn, 10, NOW) == {
        "expert_id": 10,
        "upcoming_appointments": [
            {"id": 303, "user_id": 4, "expert_id": 10, "scheduled_at": "2025-01-12T12:00:00+00:00",
             "duration_minutes": 60, "status": "scheduled",
             "created_at": "2025-01-07T00:00:00+00:00", "version": 1,
             "patient": {"id": 4, "first_name": "Pat", "last_name": "One"}},
        ],
        "recent_reviews": EVE_REVIEWS,
        "earnings": {"window_days": 30, "payments": 1, "total": 100.0, "average": 100.0},
        "availability": {"future_slots": 2, "open_slots": 1,
                         "next_open_slot": "2025-01-10T14:00:00+00:00"},
    }  # fmt: skip
    assert q.get_expert_dashboard(conn, 999, NOW) is None


def test_user_dashboard(conn: Connection) -> None:
    got = q.get_user_dashboard(conn, 4, NOW)
    assert got is not None
    assert [a["id"] for a in got["upcoming_appointments"]] == [302, 303]
    assert got["upcoming_appointments"][0]["expert"] == {
        "id": 11, "first_name": "Xavier", "last_name": "Doc", "headline": "Cardio"
    }  # fmt: skip
    assert [p["id"] for p in got["recent_payments"]] == [403, 402, 401, 404]
    assert got["recent_payments"][1] == {
        "id": 402, "appointment_id": 302, "expert_id": 11, "amount": 40.0, "currency": "USD",
        "status": "pending", "paid_at": None, "created_at": "2025-01-06T00:00:00+00:00",
        "version": 1,
    }  # fmt: skip
    assert q.get_user_dashboard(conn, 999, NOW) is None
    assert q.get_user_dashboard(conn, 4, NOW + 3 * D)["upcoming_appointments"] == []  # type: ignore[index]


def test_results_do_not_depend_on_session_time_zone(conn: Connection) -> None:
    from sqlalchemy import text

    before = q.get_expert_profile(conn, 10, include_availability=True, now=NOW)
    conn.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
    try:
        assert q.get_expert_profile(conn, 10, include_availability=True, now=NOW) == before
    finally:
        conn.execute(text("SET TIME ZONE 'UTC'"))
    assert ts(NOW - timedelta(0)) == "2025-01-10T12:00:00+00:00"
