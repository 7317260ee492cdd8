"""Each write's dependency groups are the groups of exactly the cached answers it changes.

For every kind of write, on seeded data: the loader's answers of every entry in the write's
neighbourhood (its users and expert, their appointment partners, the expert's user and
listings, the admin dashboard, and unrelated controls) before and after the write, at the
write's clock time. Every entry whose answer changed must hold one of the write's groups
(nothing is left stale) and each of the write's groups must hold an entry that changed
(nothing is invalidated in vain, at the granularity of groups; the over-approximations the
dependency map documents are avoided by the ids chosen). The inexact groups (no look-ups) must
cover the exact ones, and the seeded invariant on slots must hold after every write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scratch_db import ScratchDatabases
from sqlalchemy import Connection, Engine, create_engine, text

from evalcache.clock import VirtualClock
from evalcache.domain.changefeed import row_event
from evalcache.domain.invalidation import AppDependencies, event_groups
from evalcache.domain.pools import load_expert_specializations
from evalcache.domain.repositories import WRITE_ARGS, CachedRepository
from evalcache.runner.database import AS_OF, SEED, seed_time
from evalcache.strategies.api import WILD, WriteEvent
from evalcache.workload.export import direct_groups

pytestmark = pytest.mark.postgres

Entry = tuple[str, tuple[Any, ...]]


@dataclass
class App:
    engine: Engine
    repo: CachedRepository
    deps: AppDependencies
    clock: VirtualClock

    def one(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()


@pytest.fixture(scope="module")
def app(scratch_databases: ScratchDatabases) -> Iterator[App]:
    with scratch_databases.create("wgrp", scale=0.02, seed=SEED, as_of=AS_OF) as url:
        engine = create_engine(url)
        with engine.connect() as conn:
            t0, specs = seed_time(conn), load_expert_specializations(conn)
        clock = VirtualClock(t0)
        repo = CachedRepository(engine, None, clock=clock, expert_specs=specs)
        yield App(engine, repo, AppDependencies(engine, specs, repo.admin_id), clock)
        repo.close()
        engine.dispose()


def _ids(conn: Connection, sql: str, **params: Any) -> set[Any]:
    return set(conn.execute(text(sql), params).scalars())


SAMPLE = 4  # appointment partners read in full; the others by the list that names them


def _neighbourhood(conn: Connection, users: set[int], experts: set[int]) -> list[Entry]:
    """The entries a write on these ids could change, and unrelated controls: every entry of
    the ids, of the experts' users and of a few appointment partners, the experts' listings,
    and of every other partner the list embedding the name (a patient's appointments, an
    expert's appointments over a window holding them all)."""
    near_users = set(users) | _ids(conn, "SELECT min(id) FROM users WHERE role = 'user'")
    near_experts = set(experts) | _ids(conn, "SELECT min(id) FROM experts")
    partner_users: set[int] = set()
    partner_experts: set[int] = set()
    specs: set[str] = set()
    for e in experts:
        near_users |= _ids(conn, "SELECT user_id FROM experts WHERE id = :e", e=e)
        partners = sorted(_ids(conn, "SELECT user_id FROM appointments WHERE expert_id = :e", e=e))
        near_users |= set(partners[:SAMPLE])
        partner_users |= set(partners)
        specs |= _ids(
            conn,
            "SELECT s.name FROM expert_specializations es JOIN specializations s "
            "ON s.id = es.specialization_id WHERE es.expert_id = :e",
            e=e,
        )
    for u in users:
        partners = sorted(_ids(conn, "SELECT expert_id FROM appointments WHERE user_id = :u", u=u))
        near_experts |= set(partners[:SAMPLE])
        partner_experts |= set(partners)
    specs |= _ids(conn, "SELECT min(name) FROM specializations")
    out: list[Entry] = [("dashboard_admin", ())]
    for u in sorted(near_users):
        out += [("user_profile", (u,)), ("dashboard_user", (u,))]
        out += [("user_appointments", (u, s)) for s in ("scheduled", "confirmed", "cancelled")]
    out += [("user_appointments", (u,)) for u in sorted(near_users | partner_users)]
    as_of = datetime.fromisoformat(AS_OF)
    wide = (as_of - timedelta(days=200), as_of + timedelta(days=30))
    for e in sorted(near_experts):
        out += [(f, (e,)) for f in ("expert_basic", "expert_full", "expert_appointments",
                                    "dashboard_expert")]  # fmt: skip
    out += [("expert_appointments", (e, *wide)) for e in sorted(near_experts | partner_experts)]
    for s in sorted(specs):
        out += [("experts_by_spec", (s,)), ("experts_by_spec", (s, 100))]
    return out


def _answers(app: App, entries: list[Entry], at: float) -> list[Any]:
    with app.engine.connect() as conn:
        return [app.repo.fresh(conn, f, *args, at=at) for f, args in entries]


def _slot_disagreements(app: App) -> int:
    """Slots whose ``is_booked`` disagrees with the appointments (the seeded invariant)."""
    return int(
        app.one(
            """SELECT count(*) FROM availability_slots s WHERE s.is_booked <> EXISTS (
                   SELECT 1 FROM appointments a WHERE a.expert_id = s.expert_id
                   AND a.scheduled_at = s.starts_at AND a.status <> 'cancelled')"""
        )
    )


def _covers(inexact: list[str], group: str) -> bool:
    kind, sep, _ = group.partition(":")
    return group in inexact or (bool(sep) and f"{kind}:{WILD}" in inexact)


def _ids_of(app: App, op: str, args: tuple[Any, ...]) -> tuple[set[int], set[int]]:
    """The users and experts a write's arguments name (an appointment or a payment: its own)."""
    users: set[int] = set()
    experts: set[int] = set()
    for name, value in zip(WRITE_ARGS[op], args, strict=False):
        if name == "user_id":
            users.add(value)
        elif name == "expert_id":
            experts.add(value)
        elif name in ("appointment_id", "payment_id"):
            table = "appointments" if name == "appointment_id" else "payments"
            with app.engine.connect() as conn:
                row = conn.execute(
                    text(f"SELECT user_id, expert_id FROM {table} WHERE id = :i"), {"i": value}
                ).one()
            users.add(int(row.user_id))
            experts.add(int(row.expert_id))
    return users, experts


def check_write(app: App, op: str, *args: Any) -> tuple[WriteEvent, list[str]]:
    """Run ``op`` and check its groups against the answers it changed; return the event and
    its groups."""
    app.clock.advance(61.5)
    at = app.clock.now()
    with app.engine.connect() as conn:
        entries = _neighbourhood(conn, *_ids_of(app, op, args))
    before = _answers(app, entries, at)
    event = app.repo.write(op, *args)
    after = _answers(app, entries, at)
    groups = app.deps.groups(event, exact=True)
    changed = [e for e, b, a in zip(entries, before, after, strict=True) if b != a]
    assert changed, f"{op}{args} changed nothing the test reads"
    held = {e: app.repo.spec(e[0], *e[1]).groups for e in changed}
    missed = [e for e, gs in held.items() if not set(gs) & set(groups)]
    assert missed == [], f"{op}{args}: changed entries outside the groups {groups}: {missed}"
    # each group the neighbourhood holds (every kind the write names) holds a changed entry
    near = {g for e in entries for g in app.repo.spec(e[0], *e[1]).groups}
    assert {g.partition(":")[0] for g in groups} <= {g.partition(":")[0] for g in near}
    vain = [g for g in groups if g in near and not any(g in gs for gs in held.values())]
    assert vain == [], f"{op}{args}: groups without a changed entry: {vain}"
    inexact = event_groups(event, app.deps.specs_of)
    assert all(_covers(inexact, g) for g in groups), (groups, inexact)
    assert _slot_disagreements(app) == 0
    return event, groups


# -- the cases: ids picked from the data as each write needs them ------------------------------
LISTED_BUSY_EXPERT = """SELECT e.id FROM experts e JOIN appointments a ON a.expert_id = e.id
    WHERE e.is_active AND e.is_verified GROUP BY e.id ORDER BY count(*) DESC, e.id LIMIT 1"""
BUSY_PATIENT = """SELECT a.user_id FROM appointments a JOIN users u ON u.id = a.user_id
    WHERE u.role = 'user' GROUP BY a.user_id ORDER BY count(DISTINCT a.expert_id) DESC,
    a.user_id LIMIT 1"""
NOT_RECENT = """a.id NOT IN (SELECT id FROM appointments ORDER BY created_at DESC, id DESC
    LIMIT 50)"""


def expert(app: App) -> int:
    return int(app.one(LISTED_BUSY_EXPERT))


def patient(app: App) -> int:
    return int(app.one(BUSY_PATIENT))


def open_appointment(app: App, status: str = "scheduled", *, recent: bool = False) -> int:
    where = f"NOT ({NOT_RECENT})" if recent else NOT_RECENT
    return int(
        app.one(
            f"""SELECT min(a.id) FROM appointments a WHERE a.status = :s AND {where}
                AND a.scheduled_at > :now AND EXISTS (SELECT 1 FROM availability_slots s
                    WHERE s.expert_id = a.expert_id AND s.starts_at = a.scheduled_at)""",
            s=status,
            now=datetime.fromtimestamp(app.clock.now(), UTC),
        )
    )


Case = Callable[[App], tuple[str, tuple[Any, ...]]]
CASES: dict[str, Case] = {
    "patient name": lambda app: ("patient_profile", (patient(app), "name")),
    "patient bio": lambda app: ("patient_profile", (patient(app), "bio")),
    "expert name": lambda app: ("expert_profile", (expert(app), "name")),
    "expert fee": lambda app: ("expert_profile", (expert(app), "fee")),
    "expert bio": lambda app: ("expert_profile", (expert(app), "bio")),
    "preferences": lambda app: ("preferences", (patient(app),)),
    "expert delisted": lambda app: ("verification", (expert(app),)),
    "expert verified again": lambda app: ("verification", (int(app.one(
        "SELECT e.id FROM experts e JOIN verifications v ON v.user_id = e.user_id "
        "WHERE v.status = 'pending' AND e.is_active ORDER BY e.version DESC, e.id LIMIT 1")),)),
    "availability": lambda app: ("availability", (expert(app),)),
    "booking": lambda app: ("create_appointment", (patient(app), expert(app))),
    "confirm a recent one": lambda app: ("appointment_status", (int(app.one(
        "SELECT max(id) FROM appointments WHERE status = 'scheduled'")), "confirmed")),
    "confirm an old one": lambda app: ("appointment_status", (open_appointment(app),
                                                              "confirmed")),
    "reschedule": lambda app: ("reschedule_appointment", (open_appointment(app),)),
    "cancel": lambda app: ("cancel_appointment", (open_appointment(app, "confirmed"),)),
    "payment": lambda app: ("complete_payment", (int(app.one(
        "SELECT min(id) FROM payments WHERE status = 'pending'")),)),
    "refund": lambda app: ("refund_payment", (int(app.one(
        "SELECT id FROM payments WHERE status = 'succeeded' ORDER BY paid_at DESC LIMIT 1")),)),
    "review": lambda app: ("add_review", (patient(app), expert(app))),
    "new user": lambda app: ("insert_user", (int(app.one("SELECT max(id) FROM users")) + 1,)),
}  # fmt: skip


def test_the_seeded_slots_agree_with_the_appointments(app: App) -> None:
    assert _slot_disagreements(app) == 0
    assert int(app.one("SELECT count(*) FROM availability_slots WHERE is_booked")) > 10


@pytest.mark.parametrize("case", list(CASES))
def test_groups_are_the_changed_answers(app: App, case: str) -> None:
    op, args = CASES[case](app)
    event, groups = check_write(app, op, *args)
    # an imported log's write (no event) deletes what its own ids name: never more
    ids = [a for a in args if isinstance(a, int)]
    detail = next((a for a in args if isinstance(a, str)), None)
    assert set(direct_groups(op, ids, detail)) <= set(groups)
    # the look-ups decide the groups that depend on other rows
    if case == "confirm an old one" or case == "reschedule":
        assert "admin" not in groups  # the admin dashboard lists the 50 latest only
    if case in ("confirm a recent one", "booking", "refund", "payment"):
        assert "admin" in groups
    if case in ("expert name", "patient name"):
        assert any(g.startswith(("patient:", "expert_appts:")) for g in groups), groups
    if case in ("patient bio", "preferences", "expert bio", "expert fee"):
        assert not any(g.startswith(("patient:", "expert_appts:")) for g in groups), groups
    if case in ("cancel", "reschedule"):
        assert f"slots:{event.expert_id}" in groups


def test_the_change_feed_names_each_row_change() -> None:
    def expert_of(user: Any) -> int | None:
        return 7 if user == 70 else None

    def kind(**payload: Any) -> str | None:
        event = row_event(payload, expert_of)
        return None if event is None else event.kind

    assert kind(t="users", op="INSERT", id=5) == "user_created"
    assert kind(t="users", op="UPDATE", id=5) == "user_updated"
    assert kind(t="experts", op="UPDATE", id=7) == "expert_updated"  # a fee, a flag, a rating
    assert kind(t="payments", op="UPDATE", u=5, e=7) == "payment_completed"  # or a refund
    assert kind(t="specializations", op="INSERT") is None
    profile = row_event({"t": "profiles", "op": "UPDATE", "u": 70}, expert_of)
    assert profile is not None and (profile.expert_id, profile.columns) == (7, ())
    # unknown columns: every group a profile change may need (wildcards without look-ups)
    assert "spec:x" in event_groups(profile, lambda e: ("x",))
