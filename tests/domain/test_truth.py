"""The oracle's ground truth (evalcache.domain.truth) agrees with the loader, family by family,
on the hand-built data, on seeded data, and after every kind of write."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from scratch_db import ScratchDatabases
from sqlalchemy import Engine, create_engine, insert

from evalcache.clock import VirtualClock
from evalcache.domain import models as m
from evalcache.domain.families import FAMILY_NAMES
from evalcache.domain.models import APPOINTMENT_STATUSES
from evalcache.domain.pools import load_id_pools
from evalcache.domain.repositories import CachedRepository
from evalcache.domain.truth import TRUTH_FAMILIES, Truth, truth_answer
from evalcache.runner.database import AS_OF, SEED, seed_time
from evalcache.strategies.api import EventKind

from .conftest import NOW, T0, D, H, load_small

pytestmark = pytest.mark.postgres

Case = tuple[str, tuple[Any, ...]]


def _cases(users: list[int], experts: list[int], specs: list[str], now: datetime) -> list[Case]:
    """Arguments of every family over these ids (unknown ones included by the caller)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    out: list[Case] = [("dashboard_admin", ())]
    for u in users:
        out += [("user_profile", (u,)), ("user_appointments", (u,)), ("dashboard_user", (u,))]
        out += [("user_appointments", (u, s)) for s in APPOINTMENT_STATUSES]
    out.append(("user_profiles_batch", (*users[:25], users[0], 99_999)))
    out.append(("user_profiles_scan", (users[0], 30)))
    # the callers' last id is unknown: a scan from before their largest known id runs past it
    last = sorted(users)[-2] if len(users) > 1 else users[0]
    out.append(("user_profiles_scan", (last - 1, 4)))
    for e in experts:
        out += [(f, (e,)) for f in ("expert_basic", "expert_full", "expert_appointments",
                                    "dashboard_expert")]  # fmt: skip
        # an explicit window, bounds included (an appointment exactly at a bound counts)
        out.append(("expert_appointments", (e, day - 30 * D, day + 30 * D)))
    for s in specs:
        out += [("experts_by_spec", (s,)), ("experts_by_spec", (s, 1))]
    return out


def _disagreements(
    engine: Engine, repo: CachedRepository, cases: list[Case], ats: list[float]
) -> list[str]:
    bad = []
    with engine.connect() as conn:
        for at in ats:
            for family, args in cases:
                loader = repo.fresh(conn, family, *args, at=at)
                truth = truth_answer(conn, family, args, datetime.fromtimestamp(at, UTC))
                if loader != truth:
                    bad.append(f"{family}{args} at {at}: {loader!r} != {truth!r}"[:400])
    return bad


def test_every_family_has_a_truth() -> None:
    assert tuple(TRUTH_FAMILIES) == FAMILY_NAMES


def test_truth_shares_no_code_with_the_loader() -> None:
    # Independence is the point: the truth must not reach the loader's queries or helpers.
    path = Path(__file__).resolve().parents[2] / "evalcache" / "domain" / "truth.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    loader = {"queries", "dashboards", "families", "readspecs", "repositories", "_json"}
    assert not {m for m in imported if m.rsplit(".", 1)[-1] in loader}, imported


@pytest.fixture(scope="module")
def small(domain_engine: Engine) -> Iterator[CachedRepository]:
    load_small(domain_engine)
    # ties that only an id breaks: appointment 307 shares scheduled_at and created_at with
    # 303 and 305, its payment shares created_at with 403's
    with domain_engine.begin() as conn:
        conn.execute(
            insert(m.Appointment),
            [{"id": 307, "user_id": 4, "expert_id": 10, "scheduled_at": NOW + 2 * D,
              "duration_minutes": 45, "status": "confirmed", "created_at": T0 + 6 * D,
              "updated_at": T0, "version": 1}],
        )  # fmt: skip
        conn.execute(
            insert(m.Payment),
            [{"id": 405, "appointment_id": 307, "user_id": 4, "expert_id": 10,
              "amount": "100.01", "currency": "USD", "status": "succeeded",
              "paid_at": NOW - 2 * H, "created_at": T0 + 6 * D, "updated_at": T0,
              "version": 1}],
        )  # fmt: skip
    repo = CachedRepository(domain_engine, None, clock=VirtualClock(NOW.timestamp()))
    yield repo
    repo.close()


def test_agrees_on_the_hand_built_data(domain_engine: Engine, small: CachedRepository) -> None:
    # edge cases: a user without profile rows, tied review times, an inactive expert, slots
    # before and after now, payments without paid_at, unknown ids and specializations
    cases = _cases([1, 2, 3, 4, 5, 6, 999], [10, 11, 12, 999],
                   ["Cardiology", "Dermatology", "Nutrition", "Unknown"], NOW)  # fmt: skip
    # explicit windows whose bounds fall on appointments (both bounds count)
    cases += [("expert_appointments", (10, T0 + 2 * D, NOW + 2 * D)),
              ("expert_appointments", (10, NOW + 2 * D, NOW + 2 * D))]  # fmt: skip
    # times on the bounds: a slot starting at now, a payment paid at now and 30 days before
    paid = T0 + 2 * D + H
    times = (T0, paid, paid + 30 * D, NOW - H, NOW, NOW + 2.5 * H, NOW + 50 * D)
    assert _disagreements(domain_engine, small, cases, [t.timestamp() for t in times]) == []
    # the comparison has teeth: answers differ between these times and are not all empty
    with domain_engine.connect() as conn:
        full = [truth_answer(conn, "expert_full", (10,), t) for t in (NOW - 2 * H, NOW + 3 * H)]
        assert [len(f["availability"]) for f in full] == [3, 1]
        assert truth_answer(conn, "dashboard_user", (4,), NOW)["upcoming_appointments"]


def test_truth_callable_reads_the_clock(domain_engine: Engine, small: CachedRepository) -> None:
    clock = VirtualClock((NOW + 3 * H).timestamp())
    truth = Truth(clock)
    with domain_engine.connect() as conn:
        assert truth(conn, "expert_full", 10) == small.fresh(
            conn, "expert_full", 10, at=clock.now()
        )
        early = truth(conn, "expert_full", 10, at=(NOW - 2 * H).timestamp())
        assert early != truth(conn, "expert_full", 10)


@pytest.fixture(scope="module")
def seeded(scratch_databases: ScratchDatabases) -> Iterator[Engine]:
    """Seeded data (as the runner's template), written to by the tests of this module."""
    with scratch_databases.create("truth", scale=0.02, seed=SEED, as_of=AS_OF) as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


def test_agrees_on_seeded_data_for_every_id(seeded: Engine) -> None:
    with seeded.connect() as conn:
        t0, pools = seed_time(conn), load_id_pools(conn)
    repo = CachedRepository(seeded, None, clock=VirtualClock(t0))
    users = [int(u) for u in pools["all_users"]] + [99_999]
    experts = [int(e) for e in pools["experts"]] + [99_999]
    specs = [str(s) for s in pools["specializations"]] + ["Unknown"]
    cases = _cases(users, experts, specs, datetime.fromtimestamp(t0, UTC))
    assert len(cases) > 1_500
    assert _disagreements(seeded, repo, cases, [t0, t0 + 2 * 86_400 + 0.25]) == []
    repo.close()


def test_agrees_after_every_kind_of_write(seeded: Engine) -> None:
    with seeded.connect() as conn:
        t0, pools = seed_time(conn), load_id_pools(conn)
    clock = VirtualClock(t0)
    repo = CachedRepository(seeded, None, clock=clock)
    patients = [int(u) for u in pools["patients"][:3]]
    experts = [int(e) for e in pools["experts"][:3]]
    specs = [str(s) for s in pools["specializations"]]
    kinds: set[str] = set()

    def step(op: str, *args: Any) -> Any:
        clock.advance(37.123457)  # written timestamps get microseconds
        event = repo.write(op, *args)
        kinds.add(event.kind)
        now = datetime.fromtimestamp(clock.now(), UTC)
        users = [u for u in (event.user_id, *patients) if u is not None]
        touched = [e for e in (event.expert_id, *experts) if e is not None]
        cases = _cases(list(dict.fromkeys(users)), list(dict.fromkeys(touched)), specs, now)
        bad = _disagreements(seeded, repo, cases, [clock.now(), clock.now() + 3_600.5])
        assert bad == [], (op, args)
        return event

    u, e = patients[0], experts[0]
    for update in ("profile", "preferences", "verification"):
        step("user_profile", u, update)
    step("user_profile", int(pools["expert_users"][0]), "profile")  # an expert's own profile
    step("expert_profile", e, "name")
    step("expert_profile", e, "fee")
    step("verification", e)  # listed or not: the listings follow
    step("availability", e)
    booked = step("create_appointment", u, e)
    moved = step("create_appointment", patients[1], e)
    step("reschedule_appointment", moved.appointment_id)
    step("cancel_appointment", moved.appointment_id)
    step("complete_payment", booked.payment_id)
    step("refund_payment", booked.payment_id)
    step("appointment_status", booked.appointment_id, "completed")
    step("add_review", u, e)
    step("add_review", patients[2], experts[1])
    step("insert_user", int(max(pools["all_users"])) + 1)
    assert kinds == set(get_args(EventKind)), kinds  # every kind of write the repository makes
    repo.close()
