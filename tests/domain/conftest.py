"""Domain test fixtures: each module gets an empty database of its own, so domain tests never
see other modules' tables and vice versa."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from scratch_db import ScratchDatabases
from sqlalchemy import Engine, create_engine, insert, text

from evalcache.domain import models as m
from evalcache.domain.seeding import create_schema, drop_schema

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 1, 10, 12, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def domain_engine(scratch_databases: ScratchDatabases) -> Iterator[Engine]:
    """An engine on an empty database of this module's own."""
    with scratch_databases.create("domain") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


def _row(**kw: object) -> dict[str, object]:
    kw.setdefault("updated_at", T0)
    kw.setdefault("version", 1)
    return kw


def load_small(engine: Engine) -> None:
    """A hand-built data set whose query answers the tests spell out literally."""
    drop_schema(engine)
    create_schema(engine)
    users = [
        _row(id=1, email="admin@x.org", role="admin", created_at=T0),
        _row(id=2, email="eve@x.org", role="expert", created_at=T0),
        _row(id=3, email="xavier@x.org", role="expert", created_at=T0),
        _row(id=4, email="pat@x.org", role="user", created_at=T0),
        _row(id=5, email="quinn@x.org", role="user", created_at=T0),  # no profile rows
        _row(id=6, email="ina@x.org", role="expert", created_at=T0),
    ]
    names = {1: ("Ada", "Admin"), 2: ("Eve", "Expert"), 3: ("Xavier", "Doc"),
             4: ("Pat", "One"), 6: ("Ina", "Active")}  # fmt: skip
    profiles = [
        _row(user_id=u, first_name=f, last_name=ln, phone=None, city="Lyon", bio=None)
        for u, (f, ln) in names.items()
    ]
    prefs = [
        _row(user_id=u, language="en", timezone="Europe/Paris", email_notifications=True,
             sms_notifications=False)
        for u in names
    ]  # fmt: skip
    verif = [
        _row(user_id=1, status="verified", submitted_at=T0, verified_at=T0),
        _row(user_id=2, status="verified", submitted_at=T0, verified_at=T0),
        _row(user_id=3, status="pending", submitted_at=T0 + D, verified_at=None),
        _row(user_id=4, status="pending", submitted_at=T0 + 2 * D, verified_at=None),
        _row(user_id=6, status="unverified", submitted_at=None, verified_at=None),
    ]
    specs = [{"id": 1, "name": "Cardiology"}, {"id": 2, "name": "Dermatology"},
             {"id": 3, "name": "Nutrition"}]  # fmt: skip
    experts = [
        _row(id=10, user_id=2, headline="Heart", hourly_rate=100, rating=4.5, total_reviews=2,
             is_active=True, is_verified=True, created_at=T0),
        _row(id=11, user_id=3, headline="Cardio", hourly_rate=80, rating=4.5, total_reviews=12,
             is_active=True, is_verified=True, created_at=T0),
        _row(id=12, user_id=6, headline="Idle", hourly_rate=90, rating=5, total_reviews=1,
             is_active=False, is_verified=True, created_at=T0),
    ]  # fmt: skip
    links = [
        {"expert_id": e, "specialization_id": sp} for e, sp in [(10, 1), (10, 3), (11, 1), (12, 1)]
    ]
    reviews = [
        _row(id=1, expert_id=10, user_id=4, rating=5, comment="great", created_at=T0 + D),
        _row(id=2, expert_id=10, user_id=5, rating=4, comment=None, created_at=T0 + 2 * D),
    ]
    # expert 11: 12 reviews one hour apart; ids 101 and 102 share a timestamp (id tie-break)
    for i in range(12):
        at = T0 + (max(i, 1)) * H
        reviews.append(_row(id=101 + i, expert_id=11, user_id=4, rating=4 + i % 2,
                            comment=f"r{i}", created_at=at))  # fmt: skip
    slots = [
        _row(id=201, expert_id=10, starts_at=NOW - H, ends_at=NOW, is_booked=False),
        _row(id=202, expert_id=10, starts_at=NOW + D, ends_at=NOW + D + H, is_booked=True),
        _row(id=203, expert_id=10, starts_at=NOW + 2 * H, ends_at=NOW + 3 * H, is_booked=False),
    ]

    def appt(i: int, u: int, e: int, at: datetime, st: str, dur: int, cr: datetime) -> object:
        return _row(id=i, user_id=u, expert_id=e, scheduled_at=at, status=st,
                    duration_minutes=dur, created_at=cr)  # fmt: skip

    appts = [
        appt(301, 4, 10, T0 + 2 * D, "completed", 60, T0),
        appt(302, 4, 11, NOW + D, "confirmed", 30, T0 + 5 * D),
        appt(303, 4, 10, NOW + 2 * D, "scheduled", 60, T0 + 6 * D),
        appt(304, 5, 10, T0 + 3 * D, "cancelled", 60, T0 + D),
        appt(305, 4, 10, NOW + 2 * D, "cancelled", 60, T0 + 6 * D),
        appt(306, 4, 10, NOW - 40 * D, "completed", 30, NOW - 45 * D),
    ]

    def pay(
        i: int, a: int, u: int, e: int, amt: str, st: str, paid: object, cr: datetime
    ) -> object:
        return _row(id=i, appointment_id=a, user_id=u, expert_id=e, amount=amt, currency="USD",
                    status=st, paid_at=paid, created_at=cr)  # fmt: skip

    payments = [
        pay(401, 301, 4, 10, "100.00", "succeeded", T0 + 2 * D + H, T0),
        pay(402, 302, 4, 11, "40.00", "pending", None, T0 + 5 * D),
        pay(403, 303, 4, 10, "100.00", "pending", None, T0 + 6 * D),
        pay(404, 306, 4, 10, "50.00", "succeeded", NOW - 40 * D, NOW - 45 * D),
    ]
    with engine.begin() as conn:
        for model, rows in [
            (m.User, users), (m.Profile, profiles), (m.Preference, prefs),
            (m.Verification, verif), (m.Specialization, specs), (m.Expert, experts),
            (m.ExpertSpecialization, links), (m.Review, reviews), (m.AvailabilitySlot, slots),
            (m.Appointment, appts), (m.Payment, payments),
        ]:  # fmt: skip
            conn.execute(insert(model), rows)
        for table in ("users", "experts", "reviews", "availability_slots", "appointments",
                      "payments"):  # fmt: skip
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1000, false)")
            )
