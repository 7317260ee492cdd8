"""The seeder: determinism, shapes relative to as_of, refusals that leave the database as it
was, id pools, and the CLI's argument checks."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import Engine, text

from evalcache.domain import writes as w
from evalcache.domain.generate import Sizes
from evalcache.domain.seeding import (
    SeedError,
    SeedReport,
    add_cli,
    load_expert_specializations,
    load_id_pools,
    seed_database,
    table_checksums,
)
from evalcache.errors import ConfigError

pytestmark = pytest.mark.postgres

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
ARGS = {"scale": 0.02, "seed": 7, "as_of": "2025-01-01", "progress": False}


@pytest.fixture(scope="module")
def seeded(domain_engine: Engine) -> Iterator[tuple[Engine, SeedReport]]:
    report = seed_database(domain_engine, reset=True, **ARGS)  # type: ignore[arg-type]
    yield domain_engine, report


def scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_same_seed_same_bytes_other_seed_other_bytes(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    first = table_checksums(engine)
    assert "absent" not in first.values()
    seed_database(engine, reset=True, **ARGS)  # type: ignore[arg-type]
    assert table_checksums(engine) == first
    seed_database(engine, reset=True, **{**ARGS, "seed": 8})  # type: ignore[arg-type]
    other = table_checksums(engine)
    assert other["specializations"] == first["specializations"]  # fixed reference data
    for table in ("users", "profiles", "reviews", "appointments", "payments"):
        assert other[table] != first[table], table
    seed_database(engine, reset=True, **ARGS)  # type: ignore[arg-type]
    assert table_checksums(engine) == first


def test_row_counts(seeded: tuple[Engine, SeedReport]) -> None:
    engine, report = seeded
    size = Sizes.for_scale(0.02)
    assert report.rows["users"] == size.users == 200
    assert report.rows["experts"] == size.experts == 20
    assert report.rows["reviews"] == size.reviews == 1000
    assert report.rows["appointments"] == size.appointments == 2000
    assert report.rows["specializations"] == 30
    for table, n in report.rows.items():
        assert scalar(engine, f"SELECT count(*) FROM {table}") == n, table
    assert report.as_of == "2025-01-01T00:00:00+00:00"


def test_shapes_relative_to_as_of(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    for table in ("users", "reviews", "appointments", "payments", "experts"):
        latest = scalar(engine, f"SELECT max(greatest(created_at, updated_at)) FROM {table}")
        assert isinstance(latest, datetime) and latest <= AS_OF, table
    assert scalar(engine, "SELECT max(updated_at) FROM availability_slots") <= AS_OF  # type: ignore[operator]
    checks = {
        "future appointments are scheduled/confirmed, past ones are not": """
            SELECT count(*) FROM appointments WHERE (scheduled_at >= '2025-01-01')
                <> (status IN ('scheduled', 'confirmed'))""",
        "completed appointments have settled payments, open ones pending, others none": """
            SELECT count(*) FROM appointments a LEFT JOIN payments p ON p.appointment_id = a.id
            WHERE NOT CASE a.status
                WHEN 'completed' THEN p.status IN ('succeeded', 'refunded', 'failed')
                WHEN 'cancelled' THEN p.id IS NULL WHEN 'no_show' THEN p.id IS NULL
                ELSE p.status = 'pending' END""",
        "expert rating and total agree with reviews": """
            SELECT count(*) FROM experts e LEFT JOIN (
                SELECT expert_id, round(avg(rating), 2) AS avg, count(*) AS n FROM reviews
                GROUP BY expert_id) r ON r.expert_id = e.id
            WHERE (e.rating, e.total_reviews) <> (coalesce(r.avg, 0), coalesce(r.n, 0))""",
        "booked slots are exactly the open appointments' slots": """
            SELECT count(*) FROM availability_slots s WHERE s.is_booked <> EXISTS (
                SELECT 1 FROM appointments a WHERE a.expert_id = s.expert_id
                AND a.scheduled_at = s.starts_at AND a.status IN ('scheduled', 'confirmed'))""",
        "slots lie in the 14 days from as_of": """
            SELECT count(*) FROM availability_slots
            WHERE starts_at < '2025-01-01' OR starts_at >= '2025-01-15'""",
        "payment amount is rate * duration": """
            SELECT count(*) FROM payments p JOIN appointments a ON a.id = p.appointment_id
            JOIN experts e ON e.id = a.expert_id
            WHERE p.amount <> round(e.hourly_rate * a.duration_minutes / 60, 2)""",
    }
    for what, sql in checks.items():
        assert scalar(engine, sql) == 0, what
    assert scalar(engine, "SELECT avg(rating) FROM reviews") > 4  # type: ignore[operator]


def test_rerun_without_reset_is_refused_untouched(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    before = table_checksums(engine)
    with pytest.raises(SeedError, match="reset"):
        seed_database(engine, **ARGS)  # type: ignore[arg-type]
    assert table_checksums(engine) == before


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"scale": 0}, "scale"),
        ({"scale": -1}, "scale"),
        ({"scale": 1000}, "scale"),
        ({"scale": float("nan")}, "scale"),
        ({"scale": "1"}, "scale"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": 20250101}, "as_of"),
    ],
)
def test_bad_arguments_leave_database_untouched(
    seeded: tuple[Engine, SeedReport], bad: dict[str, object], match: str
) -> None:
    engine, _ = seeded
    before = table_checksums(engine)
    with pytest.raises(ConfigError, match=match):
        seed_database(engine, reset=True, **{**ARGS, **bad})  # type: ignore[arg-type]
    assert table_checksums(engine) == before


def test_cli_validates_before_touching_any_database() -> None:
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    # port 1: any attempt to connect would fail with a ServiceError, not a ConfigError
    url = ["--database-url", "postgresql://nobody@127.0.0.1:1/none"]
    args = parser.parse_args(["seed", "--scale", "-0.5", *url])
    with pytest.raises(ConfigError, match="scale"):
        args.func(args)
    args = parser.parse_args(["seed", "--as-of", "31/01/2025", *url])
    with pytest.raises(ConfigError, match="as_of"):
        args.func(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["seed", "--scael", "1"])


def test_id_pools_and_writes_after_seed(seeded: tuple[Engine, SeedReport]) -> None:
    engine, report = seeded
    with engine.connect() as conn:
        pools = load_id_pools(conn)
        specs = load_expert_specializations(conn)
        counts = dict(
            (int(e), int(n))
            for e, n in conn.execute(
                text("SELECT expert_id, count(*) FROM appointments GROUP BY expert_id")
            )
        )
    experts = pools["experts"]
    assert isinstance(experts, np.ndarray) and len(experts) == report.rows["experts"]
    per = [counts.get(int(e), 0) for e in experts]
    assert per == sorted(per, reverse=True) and per[0] > per[-1]
    assert len(pools["specializations"]) == 30
    assert set(specs) <= {int(e) for e in experts} and all(1 <= len(v) <= 3 for v in specs.values())
    pending = pools["pending_payments"]
    assert len(pending) == scalar(engine, "SELECT count(*) FROM payments WHERE status='pending'")
    assert len(pools["patients"]) + len(pools["expert_users"]) + len(pools["admins"]) == 200
    # identity sequences were moved past the seeded ids: new rows get the next id
    ev = w.complete_payment(engine, int(pending[0]), AS_OF)
    assert ev.payment_id == int(pending[0])
    ev = w.create_appointment(engine, int(pools["patients"][0]), int(experts[0]), AS_OF, 30, AS_OF)
    assert ev.appointment_id == report.rows["appointments"] + 1
    assert ev.payment_id == report.rows["payments"] + 1
    seed_database(engine, reset=True, **ARGS)  # leave the module's data as seeded
