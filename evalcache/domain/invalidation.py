"""The application's invalidation knowledge: which dependency groups a write makes stale, and
which cache keys hold a group's entries (the :class:`~evalcache.strategies.api.DependencyMap`
strategies are given).

Entry side: each family's groups are in its registry record (:mod:`evalcache.domain.families`).
Write side (``specs(E)`` static after seeding; ``patients(E)``, ``experts(U)`` and ``recent(A)``
looked up after the commit, see :func:`lookup_related`)::

    user_updated                user:U; and by detail:
      profile                   +expert:E if U is expert E's user and a column E's profile
                                shows changed (names, city, bio); if a name changed:
                                +spec:S for S in specs(E) (listings show E's name),
                                patient:P for P in patients(E) (their lists embed it),
                                expert_appts:X for X in experts(U) (X's lists embed U's name)
      preferences               nothing more
      verification              +admin (pending verifications); +expert:E + spec:S for S in
                                specs(E) if E's ``is_verified`` flipped (``experts`` written)
    expert_updated              expert:E + spec:S for S in specs(E) (the fee: profile, listings)
    availability_updated        slots:E
    appointment_created         patient:U expert_appts:E admin (+slots:E if a slot was booked)
    appointment_status_changed  patient:U expert_appts:E (+slots:E if a slot was freed or
                                booked) (+admin if recent(A): the appointment is among the
                                admin dashboard's latest)
    appointment_rescheduled     patient:U expert_appts:E slots:E (+admin if recent(A))
    payment_completed           patient:U expert_appts:E admin
    payment_refunded            patient:U expert_appts:E admin
    review_added                expert:E + spec:S for S in specs(E) (rating and order change)
    user_created                user:U (a cached "not found" of the new id, alone or in a
                                batch or scan) patient:U (its dashboard, "not found" before)
                                admin (it counts the users)

Profile events whose ``columns`` are unknown (``()``, the change feed's) count every column as
changed. Without look-ups (``exact=False``) the looked-up groups are wildcards (``patient:*``)
and ``admin`` is always included.

Over-approximations left on purpose (a group holds more entries than a write changes):
``expert:E`` also names the expert's dashboard, which a fee, name or bio edit leaves as it is;
a refund's ``admin`` and ``expert_appts:E`` (30-day money windows) hold even for a payment paid
long ago, because an entry computed earlier covered an earlier window (the per-write check
judges an entry against the answer at its creation too), and a status filter of
``user_appointments`` is invalidated with the patient's other lists.

The post-commit look-ups are exact because appointments are never deleted: an entry embedding
E's name for patient P exists only if an appointment (P, E) exists, which the look-up sees; an
appointment created concurrently invalidates ``patient:P`` itself after its own commit. Likewise
an appointment leaves the admin dashboard's latest only when newer ones are created, and each
of those invalidates ``admin`` after its own commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from evalcache.cache.keys import ANY, Part, _Any
from evalcache.domain.changefeed import PgChangeFeed
from evalcache.domain.dashboards import RECENT_APPOINTMENTS
from evalcache.domain.models import APPOINTMENT_STATUSES
from evalcache.strategies.api import WILD, ChangeHandler, Target, WriteEvent

STATUS_PARTS: tuple[str, ...] = ("all", *APPOINTMENT_STATUSES)
#: profile columns an expert's profile (``expert_basic``/``expert_full``) shows
EXPERT_PROFILE_COLUMNS: frozenset[str] = frozenset({"first_name", "last_name", "city", "bio"})
#: profile columns other users' lists and the listings embed
NAME_COLUMNS: frozenset[str] = frozenset({"first_name", "last_name"})
#: the appointment kinds the admin dashboard's latest appointments show unless the appointment
#: has left them (looked up); creation and payments always change the dashboard
_RECENT_KINDS = ("appointment_status_changed", "appointment_rescheduled")

_RECENT_SQL = text(
    f"""SELECT EXISTS (SELECT 1 FROM (SELECT id FROM appointments
        ORDER BY created_at DESC, id DESC LIMIT {RECENT_APPOINTMENTS}) r WHERE r.id = :a)"""
)


@dataclass(frozen=True, slots=True)
class Related:
    """Ids looked up after a commit. ``None`` = not looked up (wildcard, or admin kept)."""

    patients: tuple[int, ...] | None = None  # patients of ev.expert_id
    experts: tuple[int, ...] | None = None  # experts of ev.user_id (as a patient)
    looked_up: bool = field(default=False)
    recent: bool | None = None  # ev.appointment_id is among the admin dashboard's latest


def _changed(event: WriteEvent, columns: frozenset[str]) -> bool:
    """Whether the profile event changed one of ``columns`` (unknown columns: any)."""
    return not event.columns or not columns.isdisjoint(event.columns)


def needs_lookup(event: WriteEvent) -> bool:
    """True when :func:`event_groups` needs :func:`lookup_related` to be exact."""
    if event.kind in _RECENT_KINDS:
        return event.appointment_id is not None
    return (
        event.kind == "user_updated" and event.detail == "profile" and _changed(event, NAME_COLUMNS)
    )


def lookup_related(conn: Connection, event: WriteEvent) -> Related:
    """What the event's groups depend on, read after the commit: the patients of its expert
    and the experts of its user (a renamed user), or whether its appointment is still among
    the admin dashboard's latest."""
    if not needs_lookup(event):
        return Related(looked_up=True)
    if event.kind in _RECENT_KINDS:
        recent = conn.execute(_RECENT_SQL, {"a": event.appointment_id}).scalar()
        return Related(looked_up=True, recent=bool(recent))
    patients: tuple[int, ...] = ()
    if event.expert_id is not None:
        patients = tuple(
            int(x)
            for x in conn.execute(
                text("SELECT DISTINCT user_id FROM appointments WHERE expert_id = :e"),
                {"e": event.expert_id},
            ).scalars()
        )
    experts = tuple(
        int(x)
        for x in conn.execute(
            text("SELECT DISTINCT expert_id FROM appointments WHERE user_id = :u"),
            {"u": event.user_id},
        ).scalars()
    )
    return Related(patients, experts, looked_up=True)


def _profile_groups(
    event: WriteEvent, specs: Callable[[int], list[str]], rel: Related
) -> list[str]:
    out: list[str] = []
    e = event.expert_id
    if e is not None and _changed(event, EXPERT_PROFILE_COLUMNS):
        out.append(f"expert:{e}")
    if not _changed(event, NAME_COLUMNS):
        return out
    if e is not None:
        out += specs(e)
        pats = rel.patients
        out += [f"patient:{WILD}"] if pats is None else [f"patient:{p}" for p in pats]
    exps = rel.experts
    out += [f"expert_appts:{WILD}"] if exps is None else [f"expert_appts:{x}" for x in exps]
    return out


def event_groups(
    event: WriteEvent,
    specs_of: Callable[[int], tuple[str, ...]],
    related: Related | None = None,
) -> list[str]:
    """The groups ``event`` makes stale (the write-side table of the module docstring).

    Without ``related`` (no look-up) the looked-up groups are wildcards (``patient:*``) and
    ``admin`` is kept.
    """
    rel = related or Related()
    out: list[str] = []
    u, e, kind = event.user_id, event.expert_id, event.kind

    def specs(expert_id: int) -> list[str]:
        return [f"spec:{s}" for s in specs_of(expert_id)]

    if kind == "user_updated":
        out.append(f"user:{u}")
        if event.detail == "verification":
            out.append("admin")
            if e is not None and "experts" in event.tables:
                out += [f"expert:{e}", *specs(e)]
        if event.detail == "profile":
            out += _profile_groups(event, specs, rel)
    elif kind in ("expert_updated", "review_added"):
        out += [f"expert:{e}", *specs(e or 0)]
    elif kind == "availability_updated":
        out.append(f"slots:{e}")
    elif kind in ("appointment_created", "payment_completed", "payment_refunded", *_RECENT_KINDS):
        out += [f"patient:{u}", f"expert_appts:{e}"]
        if kind not in _RECENT_KINDS or rel.recent is not False:
            out.append("admin")
        if "availability_slots" in event.tables:
            out.append(f"slots:{e}")
    elif kind == "user_created":
        out += [f"user:{u}", f"patient:{u}", "admin"]
    return list(dict.fromkeys(out))


def group_targets(group: str, admin_id: int) -> list[Target]:
    """Cache key targets of a group (the key layouts of ``families.py``); :data:`ANY` parts
    need a SCAN."""
    kind, _, raw = group.partition(":")
    gid: Part | _Any = ANY if raw == WILD else raw
    if kind == "user":
        return [Target("user_profile", (gid,))]
    if kind == "expert":
        return [
            Target("expert_profile", (gid, "basic")),
            Target("expert_profile", (gid, "full")),
            Target("dashboard", ("expert", gid)),
        ]
    if kind == "slots":
        return [Target("expert_profile", (gid, "full")), Target("dashboard", ("expert", gid))]
    if kind == "spec":
        return [Target("experts_by_spec", (gid, ANY))]
    if kind == "patient":
        if gid is ANY:
            return [Target("user_appointments", (ANY, ANY)), Target("dashboard", ("user", ANY))]
        return [Target("user_appointments", (gid, s)) for s in STATUS_PARTS] + [
            Target("dashboard", ("user", gid))
        ]
    if kind == "expert_appts":
        return [
            Target("expert_appointments", (gid, ANY, ANY)),
            Target("dashboard", ("expert", gid)),
        ]
    if kind == "admin":
        return [Target("dashboard", ("admin", admin_id))]
    raise ValueError(f"unknown dependency group {group!r}")


def targets_for(groups: Sequence[str], admin_id: int) -> list[Target]:
    """Deduplicated targets of several groups."""
    seen: dict[tuple[str, tuple[str, ...]], Target] = {}
    for g in groups:
        for t in group_targets(g, admin_id):
            seen.setdefault((t.family, tuple(repr(p) for p in t.parts)), t)
    return list(seen.values())


class AppDependencies:
    """The marketplace's :class:`~evalcache.strategies.api.DependencyMap`.

    Parameters
    ----------
    engine: where post-commit look-ups run (the application's engine: they are its load).
    expert_specs: expert id -> specialization names (static after seeding).
    admin_id: the admin whose dashboard is cached.
    """

    def __init__(
        self, engine: Engine, expert_specs: Mapping[int, tuple[str, ...]], admin_id: int
    ) -> None:
        self.engine = engine
        self.admin_id = admin_id
        self._specs = {int(k): tuple(v) for k, v in expert_specs.items()}

    def specs_of(self, expert_id: int) -> tuple[str, ...]:
        return self._specs.get(int(expert_id), ())

    def groups(self, event: WriteEvent, *, exact: bool = True) -> list[str]:
        related: Related | None = None
        if exact and needs_lookup(event):
            with self.engine.connect() as conn:
                related = lookup_related(conn, event)
        return event_groups(event, self.specs_of, related)

    def targets(self, groups: Sequence[str]) -> list[Target]:
        return targets_for(groups, self.admin_id)

    def change_feed(self, handler: ChangeHandler, *, keep_triggers: bool = False) -> PgChangeFeed:
        return PgChangeFeed(self.engine, handler, keep_triggers=keep_triggers)
