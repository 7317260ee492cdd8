"""Reads and writes the strategy suites draw from (hot ids of ``conftest.Hot``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from evalcache.domain.repositories import CachedRepository, InvalidTransition
from evalcache.strategies.api import WriteEvent

from .conftest import Hot

Read = tuple[str, tuple[Any, ...]]


def all_reads(hot: Hot) -> list[Read]:
    """Every family on every hot id (the expert's own user included: its name is embedded)."""
    out: list[Read] = [("user_profile", (u,)) for u in hot.users]
    out.append(("user_profiles_batch", (*hot.users, 10**9)))  # an unknown id: negative entry
    out.append(("user_profiles_scan", (hot.patients[0], 3)))  # the patient and the next ids
    for e in hot.experts:
        out += [("expert_basic", (e,)), ("expert_full", (e,)), ("expert_appointments", (e,))]
        out.append(("dashboard_expert", (e,)))
    out += [("experts_by_spec", (s,)) for s in hot.specs]
    out += [("user_appointments", (u,)) for u in hot.patients]
    out.append(("user_appointments", (hot.patients[0], "scheduled")))
    out += [("dashboard_user", (u,)) for u in hot.patients]
    out.append(("dashboard_admin", ()))
    return out


# (op, index args): indexes into hot ids, resolved by do_write
WRITES: list[tuple[str, tuple[Any, ...]]] = [
    *[
        ("user_profile", (i, t))
        for i in range(3)
        for t in ("profile", "preferences", "verification")
    ],
    *[("patient_profile", (i, c)) for i in range(2) for c in ("name", "bio")],
    *[("expert_profile", (i, c)) for i in range(2) for c in ("name", "fee", "bio")],
    *[("preferences", (i,)) for i in range(2)],
    *[("verification", (i,)) for i in range(2)],
    *[("availability", (i,)) for i in range(2)],
    *[("create_appointment", (p, e)) for p in range(2) for e in range(2)],
    *[("appointment_status", (p, s)) for p in range(2) for s in ("confirmed", "completed")],
    *[(op, (p,)) for p in range(2) for op in ("reschedule_appointment", "cancel_appointment")],
    *[("complete_payment", (p,)) for p in range(2)],
    *[("refund_payment", (p,)) for p in range(2)],
    *[("add_review", (p, e)) for p in range(2) for e in range(2)],
]
_OPEN = ("appointment_status", "reschedule_appointment", "cancel_appointment")
_PAYMENT_STATUS = {"complete_payment": "pending", "refund_payment": "succeeded"}


def do_write(
    repo: CachedRepository, engine: Engine, hot: Hot, op: str, idx: tuple[Any, ...]
) -> WriteEvent | None:
    """Run one write; ``None`` when it has no target now or is an invalid transition."""
    if op == "user_profile":
        args: tuple[Any, ...] = (hot.users[idx[0]], idx[1])
    elif op in ("patient_profile", "preferences"):
        args = (hot.patients[idx[0]], *idx[1:])
    elif op in ("expert_profile", "verification", "availability"):
        args = (hot.experts[idx[0]], *idx[1:])
    elif op in ("create_appointment", "add_review"):
        args = (hot.patients[idx[0]], hot.experts[idx[1]])
    elif op in _OPEN:
        with engine.connect() as conn:
            a = conn.execute(
                text("SELECT max(id) FROM appointments WHERE user_id = :u AND expert_id = ANY(:e)"
                     " AND status IN ('scheduled', 'confirmed')"),
                {"u": hot.patients[idx[0]], "e": list(hot.experts)},
            ).scalar()  # fmt: skip
        if a is None:
            return None
        args = (a, *idx[1:])
    else:
        with engine.connect() as conn:
            p = conn.execute(
                text("SELECT max(id) FROM payments WHERE user_id = :u AND status = :s"),
                {"u": hot.patients[idx[0]], "s": _PAYMENT_STATUS[op]},
            ).scalar()
        if p is None:
            return None
        args = (p,)
    try:
        return repo.write(op, *args)
    except InvalidTransition:
        return None


def stale_reads(
    repo: CachedRepository, engine: Engine, reads: list[Read]
) -> tuple[list[str], list[str]]:
    """Read everything through the cache; return (families read stale, outcomes)."""
    stale: list[str] = []
    outcomes: list[str] = []
    for family, args in reads:
        got = repo.read(family, *args)
        with engine.connect() as conn:
            want = repo.fresh(conn, family, *args)
        outcomes.append(f"{family}:{got.outcome}")
        if got.value != want:
            stale.append(family)
    return stale, outcomes
