"""The seed plan's code for each write (``strategies/seed.py``): with every hot entry cached,
a write deletes exactly the entries the plan's calls for it name, and leaves the rest."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from evalcache.domain.families import FAMILIES
from evalcache.domain.repositories import CachedRepository
from evalcache.strategies.api import WriteEvent

from .conftest import Hot, RepoFactory
from .helpers import Read, all_reads, do_write

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

Expect = Callable[[WriteEvent, list[Read]], set[Read]]


def _profile_path(event: WriteEvent, reads: list[Read]) -> set[Read]:
    """``updateUserProfile(U)`` + ``invalidateOnUserUpdate(U, ...)``: U's profile, and
    ``dashboard:*:U`` (a user dashboard of U, or an expert dashboard whose id equals U)."""
    u = event.user_id
    out = {r for r in reads if r[0] == "user_profile" and r[1] == (u,)}
    out |= {r for r in reads if r[0] in ("dashboard_user", "dashboard_expert") and r[1] == (u,)}
    if event.detail == "verification":
        out.add(("dashboard_admin", ()))
    return out


def _appointment_change(admin: bool) -> Expect:
    """``invalidateOnAppointmentChange``: the patient's and the expert's lists and dashboards,
    the admin's for a status change only."""

    def expect(event: WriteEvent, reads: list[Read]) -> set[Read]:
        u, e = event.user_id, event.expert_id
        out = {r for r in reads if r[0] in ("user_appointments", "dashboard_user") and r[1][0] == u}
        out |= {
            r for r in reads if r[0] in ("expert_appointments", "dashboard_expert") and r[1] == (e,)
        }
        if admin:
            out.add(("dashboard_admin", ()))
        return out

    return expect


CASES: dict[str, tuple[str, tuple[object, ...], Expect]] = {
    "patient name": ("patient_profile", (0, "name"), _profile_path),
    "preferences": ("preferences", (0,), _profile_path),
    "expert name": ("expert_profile", (0, "name"), _profile_path),
    "expert fee": ("expert_profile", (0, "fee"), _profile_path),
    "expert verification": ("verification", (0,), _profile_path),
    "status change": ("appointment_status", (0, "confirmed"), _appointment_change(True)),
    "cancel": ("cancel_appointment", (0,), _appointment_change(True)),
    "reschedule": ("reschedule_appointment", (0,), _appointment_change(False)),
    "refund": ("refund_payment", (0,), lambda event, reads: set()),
}


def _cached(repo: CachedRepository, reads: list[Read]) -> set[Read]:
    """The reads whose entries are in the cache."""
    keys = [repo.cache.key(s.key_family, *s.parts) for s in (repo.spec(f, *a) for f, a in reads)]
    present = set(repo.cache.existing(keys) or ())
    return {r for r, k in zip(reads, keys, strict=True) if k in present}


@pytest.mark.parametrize("case", list(CASES))
def test_seed_deletes_what_the_plans_call_names(
    case: str, make_repo: RepoFactory, seeded_engine: Engine, hot: Hot
) -> None:
    op, idx, expect = CASES[case]
    repo = make_repo("seed")
    # an open appointment of the hot patient: book one (reschedule also needs a free slot)
    do_write(repo, seeded_engine, hot, "availability", (0,))
    do_write(repo, seeded_engine, hot, "create_appointment", (0, 0))
    # one entry per read: the per-id families' entries are user_profile entries
    reads = [r for r in all_reads(hot) if not FAMILIES[r[0]].per_id]
    reads += [("user_profile", (u,)) for u in hot.users]
    reads = list(dict.fromkeys(reads))
    for family, args in reads:
        repo.read(family, *args)
    before = _cached(repo, reads)
    assert before == set(reads)
    event = do_write(repo, seeded_engine, hot, op, idx)
    assert event is not None, case
    gone = before - _cached(repo, reads)
    assert gone == expect(event, reads), (case, event)
