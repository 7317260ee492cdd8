"""Dependencies of cached entries, derived from ``domain.dependencies.QUERY_FAMILIES``.

Every cached entry depends on a few *groups* (dependency tags ``kind:id``); every write event
touches a few groups. A strategy invalidates the entries of the groups an event touches:
``tags`` and ``notify`` use the groups as Redis tags, ``generation`` as counters, ``explicit``,
``lease`` and ``write_through`` turn them into keys and patterns (:func:`group_targets`),
``pattern`` into whole-family globs (every id wildcarded).

One table, entry side (groups an entry of each family depends on; the tables each family
reads are :data:`FAMILY_TABLES`, used by the ``table`` strategy)::

    family               groups
    user_profile         user:U
    expert_basic         expert:E
    expert_full          expert:E slots:E
    experts_by_spec      spec:S
    user_appointments    patient:U
    expert_appointments  expert_appts:E
    dashboard_admin      admin
    dashboard_expert     expert:E slots:E expert_appts:E
    dashboard_user       patient:U

Write side (QUERY_FAMILIES ``stale_on`` rewritten as groups; ``specs(E)`` static after seeding,
``patients(E)`` / ``experts(U)`` looked up after the commit, see :func:`lookup_related`)::

    user_updated                user:U; +admin if detail 'verification'; if detail 'profile':
                                expert:E + spec:S for S in specs(E) (U is expert E's user),
                                patient:P for P in patients(E) (their lists embed E's name),
                                expert_appts:X for X in experts(U) (X's lists embed U's name)
    availability_updated        slots:E
    appointment_created         patient:U expert_appts:E admin (+slots:E if a slot was booked)
    appointment_status_changed  patient:U expert_appts:E admin
    payment_completed           patient:U expert_appts:E admin
    review_added                expert:E + spec:S for S in specs(E) (rating and order change)

The post-commit lookups are exact because appointments are never deleted: an entry embedding
E's name for patient P exists only if an appointment (P, E) exists, which the lookup sees; an
appointment created concurrently invalidates ``patient:P`` itself after its own commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from evalcache.cache.keys import ANY, Part, _Any
from evalcache.domain.dependencies import QUERY_FAMILIES
from evalcache.domain.models import APPOINTMENT_STATUSES
from evalcache.events import WriteEvent

WILD = "*"  # an id standing for "every id": only produced when lookups are skipped

#: contract family -> the QUERY_FAMILIES entry it caches (kept to check the tables stay in sync)
QUERY_FAMILY_OF: dict[str, str] = {
    "user_profile": "user_profile",
    "user_profiles_batch": "user_profile",
    "expert_basic": "expert_profile_basic",
    "expert_full": "expert_profile_full",
    "experts_by_spec": "experts_by_specialization",
    "user_appointments": "user_appointments",
    "expert_appointments": "expert_appointments",
    "dashboard_admin": "admin_dashboard",
    "dashboard_expert": "expert_dashboard",
    "dashboard_user": "user_dashboard",
}
assert set(QUERY_FAMILY_OF.values()) == set(QUERY_FAMILIES)

#: contract family -> dependency group kinds (the id is the family's first argument)
FAMILY_GROUPS: dict[str, tuple[str, ...]] = {
    "user_profile": ("user",),
    "user_profiles_batch": ("user",),
    "expert_basic": ("expert",),
    "expert_full": ("expert", "slots"),
    "experts_by_spec": ("spec",),
    "user_appointments": ("patient",),
    "expert_appointments": ("expert_appts",),
    "dashboard_admin": ("admin",),
    "dashboard_expert": ("expert", "slots", "expert_appts"),
    "dashboard_user": ("patient",),
}

_USER_TABLES = ("users", "profiles", "preferences", "verifications")
_EXPERT_TABLES = ("experts", "profiles", "expert_specializations", "specializations", "reviews")
#: contract family -> tables its query reads (``table`` strategy)
FAMILY_TABLES: dict[str, tuple[str, ...]] = {
    "user_profile": _USER_TABLES,
    "user_profiles_batch": _USER_TABLES,
    "expert_basic": _EXPERT_TABLES,
    "expert_full": (*_EXPERT_TABLES, "availability_slots"),
    "experts_by_spec": _EXPERT_TABLES,
    "user_appointments": ("appointments", "payments", "experts", "profiles"),
    "expert_appointments": ("appointments", "payments", "profiles"),
    "dashboard_admin": ("users", "experts", "appointments", "payments", "verifications"),
    "dashboard_expert": (
        "experts",
        "appointments",
        "profiles",
        "reviews",
        "payments",
        "availability_slots",
    ),
    "dashboard_user": ("users", "appointments", "experts", "profiles", "payments"),
}

STATUS_PARTS: tuple[str, ...] = ("all", *APPOINTMENT_STATUSES)

Target = tuple[str, tuple[Part | _Any, ...]]


def entry_groups(family: str, first_arg: object) -> tuple[str, ...]:
    """Dependency groups of an entry of ``family`` whose first argument is ``first_arg``."""
    kinds = FAMILY_GROUPS[family]
    return tuple(k if k == "admin" else f"{k}:{first_arg}" for k in kinds)


@dataclass(frozen=True, slots=True)
class Related:
    """Ids looked up after a profile commit. ``None`` = not looked up (wildcard)."""

    patients: tuple[int, ...] | None = None  # patients of ev.expert_id
    experts: tuple[int, ...] | None = None  # experts of ev.user_id (as a patient)
    looked_up: bool = field(default=False)


def needs_lookup(event: WriteEvent) -> bool:
    """True when :func:`event_groups` needs :func:`lookup_related` to be exact."""
    return event.kind == "user_updated" and event.detail == "profile"


def lookup_related(conn: Connection, event: WriteEvent) -> Related:
    """Patients of the event's expert and experts of its user, read after the commit."""
    if not needs_lookup(event):
        return Related(looked_up=True)
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


def event_groups(
    event: WriteEvent,
    specs_of: Callable[[int], tuple[str, ...]],
    related: Related | None = None,
) -> list[str]:
    """The groups ``event`` makes stale (the write-side table of the module docstring).

    Without ``related`` (no lookup) the embedded-name groups are wildcards (``patient:*``).
    """
    out: list[str] = []
    u, e, kind = event.user_id, event.expert_id, event.kind
    if kind == "user_updated":
        out.append(f"user:{u}")
        if event.detail == "verification":
            out.append("admin")
        if event.detail == "profile":
            rel = related or Related()
            if e is not None:
                out.append(f"expert:{e}")
                out += [f"spec:{s}" for s in specs_of(e)]
                pats = rel.patients
                out += [f"patient:{WILD}"] if pats is None else [f"patient:{p}" for p in pats]
            exps = rel.experts
            out += [f"expert_appts:{WILD}"] if exps is None else [f"expert_appts:{x}" for x in exps]
    elif kind == "availability_updated":
        out.append(f"slots:{e}")
    elif kind in ("appointment_created", "appointment_status_changed", "payment_completed"):
        out += [f"patient:{u}", f"expert_appts:{e}", "admin"]
        if kind == "appointment_created" and "availability_slots" in event.tables:
            out.append(f"slots:{e}")
    elif kind == "review_added":
        out.append(f"expert:{e}")
        out += [f"spec:{s}" for s in specs_of(e or 0)]
    return list(dict.fromkeys(out))


def group_targets(group: str, admin_id: int) -> list[Target]:
    """Cache key targets ``(key_family, parts)`` of a group; :data:`ANY` parts need a SCAN."""
    kind, _, raw = group.partition(":")
    gid: Part | _Any = ANY if raw == WILD else raw
    if kind == "user":
        return [("user_profile", (gid,))]
    if kind == "expert":
        return [
            ("expert_profile", (gid, "basic")),
            ("expert_profile", (gid, "full")),
            ("dashboard", ("expert", gid)),
        ]
    if kind == "slots":
        return [("expert_profile", (gid, "full")), ("dashboard", ("expert", gid))]
    if kind == "spec":
        return [("experts_by_spec", (gid, ANY))]
    if kind == "patient":
        if gid is ANY:
            return [("user_appointments", (ANY, ANY)), ("dashboard", ("user", ANY))]
        return [("user_appointments", (gid, s)) for s in STATUS_PARTS] + [
            ("dashboard", ("user", gid))
        ]
    if kind == "expert_appts":
        return [("expert_appointments", (gid, ANY, ANY)), ("dashboard", ("expert", gid))]
    if kind == "admin":
        return [("dashboard", ("admin", admin_id))]
    raise ValueError(f"unknown dependency group {group!r}")


def wildcard(group: str) -> str:
    """The group with its id replaced by the wildcard (``pattern`` strategy: whole families)."""
    kind, sep, _ = group.partition(":")
    return f"{kind}:{WILD}" if sep else group


def targets_for(groups: list[str], admin_id: int) -> list[Target]:
    """Deduplicated targets of several groups."""
    seen: dict[tuple[str, tuple[object, ...]], Target] = {}
    for g in groups:
        for t in group_targets(g, admin_id):
            seen.setdefault((t[0], tuple(repr(p) for p in t[1])), t)
    return list(seen.values())


def family_tables() -> Mapping[str, tuple[str, ...]]:
    """Read-only view of :data:`FAMILY_TABLES`."""
    return FAMILY_TABLES
