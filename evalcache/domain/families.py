"""The query-family registry: one record per cacheable read, which everything iterates over.

A :class:`Family` holds every fact about one family: its name (the label in counters and
results), the seed plan's key layout and how to parse a key back, how workload arguments are
checked and normalised, its TTL setting and default, the id pools a workload draws its
arguments from, the tables its query reads, its dependency groups and the uncached query.
Workloads, read specs, the dependency map, run parameters and tests read :data:`FAMILIES`:
adding a family is one record here, its query, and its tests.

    family               key (``cache.key(key_family, *parts)``)        TTL (seed plan)
    user_profile         user_profile:U                                 3600
    user_profiles_batch  user_profile:U per id                          3600
    user_profiles_scan   user_profile:U per id of start..start+count-1  3600
    expert_basic         expert_profile:E:basic                         1800
    expert_full          expert_profile:E:full                          300
    experts_by_spec      experts_by_spec:S:limit                        900
    user_appointments    user_appointments:U:<status|all>               600
    expert_appointments  expert_appointments:E:<start iso>:<end iso>    300
    dashboard_admin      dashboard:admin:<admin user id>                300
    dashboard_expert     dashboard:expert:E                             600
    dashboard_user       dashboard:user:U                               900

Dependency groups (``kind:id``, the id being the family's first argument; see
:mod:`evalcache.domain.invalidation` for what each write makes stale)::

    user_profile, user_profiles_batch  user:U
    user_profiles_scan                 user:U (each id of the range)
    expert_basic                       expert:E
    expert_full                        expert:E slots:E
    experts_by_spec                    spec:S
    user_appointments, dashboard_user  patient:U
    expert_appointments                expert_appts:E
    dashboard_admin                    admin
    dashboard_expert                   expert:E slots:E expert_appts:E
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from evalcache.cache.keys import Part
from evalcache.domain import queries as q
from evalcache.domain.dashboards import (
    get_admin_dashboard,
    get_expert_dashboard,
    get_user_dashboard,
)
from evalcache.errors import ConfigError

DEFAULT_LIMIT = 20
WINDOW_DAYS = 7
#: Longest scan a read accepts (YCSB's default ``maxscanlength`` is 1000).
MAX_SCAN_LENGTH = 1000

Now = datetime | Callable[[], datetime]
#: ``(key parts, query arguments, group id)`` of one read's normalised arguments
Parsed = tuple[tuple[Part, ...], tuple[Any, ...], object]


@dataclass(frozen=True, slots=True)
class Family:
    """One query family.

    Attributes
    ----------
    name: the family's name in counters, results and workloads.
    key_family, parse, from_key: the key layout. ``parse(args, now, admin_id)`` checks the
        workload's arguments and returns :data:`Parsed`; ``from_key(parts)`` turns the decoded
        parts of a key back into arguments (``None`` if the key is not this family's).
    ttl_setting, ttl_default: the TTL setting it uses and its default (the seed plan's).
    pools: the workload id pool of each drawn argument, in argument order.
    tables: the tables its query reads (``table`` strategy).
    groups: its dependency group kinds; the group id is the first argument.
    query: the uncached answer, ``query(conn, query_args, now)``.
    query_many: answers of several entries in one query, when the family has one.
    batch: a workload read takes a batch of ids (one entry per id).
    scan: a workload read takes a start id and a count: the ids ``start .. start+count-1``
        (users in id order, YCSB's scan), one entry per id; an id past the last user is a
        negative entry.
    reads: what the answer is built from (documentation).
    """

    name: str
    key_family: str
    parse: Callable[[tuple[Any, ...], Now, int], Parsed]
    from_key: Callable[[list[str]], tuple[Any, ...] | None]
    ttl_setting: str
    ttl_default: float
    pools: tuple[str, ...]
    tables: tuple[str, ...]
    groups: tuple[str, ...]
    query: Callable[[Connection, tuple[Any, ...], datetime], Any]
    query_many: Callable[[Connection, Sequence[tuple[Any, ...]]], list[Any]] | None = None
    batch: bool = False
    scan: bool = False
    reads: str = ""

    @property
    def per_id(self) -> bool:
        """Its reads read one entry per id (a batch or a scan): entries of its key layout."""
        return self.batch or self.scan


def as_id(name: str, value: Any) -> int:
    """An id as int (numpy integers accepted); ConfigError otherwise."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)
    except TypeError:
        raise ConfigError(name, f"must be an integer id, got {value!r}") from None
    return int(out)


def window(now: datetime) -> tuple[datetime, datetime]:
    """The expert-appointments range: the clock's day 00:00 UTC to +7 days."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day + timedelta(days=WINDOW_DAYS)


def _arity(family: str, args: tuple[Any, ...], lo: int, hi: int) -> None:
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"{lo}..{hi}"
        raise ConfigError(family, f"takes {want} arguments, got {len(args)}: {args!r}")


# -- argument parsing (one per key layout) ---------------------------------------------------
def _user(family: str) -> Callable[[tuple[Any, ...], Now, int], Parsed]:
    def parse(args: tuple[Any, ...], now: Now, admin_id: int) -> Parsed:
        _arity(family, args, 1, 1)
        u = as_id("user_id", args[0])
        return (u,), (u,), u

    return parse


def _expert(kind: str) -> Callable[[tuple[Any, ...], Now, int], Parsed]:
    family = f"expert_{kind}"

    def parse(args: tuple[Any, ...], now: Now, admin_id: int) -> Parsed:
        _arity(family, args, 1, 1)
        e = as_id("expert_id", args[0])
        return (e, kind), (e,), e

    return parse


def _experts_by_spec(args: tuple[Any, ...], now: Now, admin_id: int) -> Parsed:
    _arity("experts_by_spec", args, 1, 2)
    name = args[0]
    if not isinstance(name, str) or not name:
        raise ConfigError("specialization", f"must be a non-empty str, got {name!r}")
    limit = q.check_limit(args[1] if len(args) > 1 else DEFAULT_LIMIT)
    return (name, limit), (name, limit), name


def _user_appointments(args: tuple[Any, ...], now: Now, admin_id: int) -> Parsed:
    _arity("user_appointments", args, 1, 2)
    u = as_id("user_id", args[0])
    status = None if len(args) < 2 or args[1] is None else q.check_status(args[1])
    return (u, status or "all"), (u, status), u


def _expert_appointments(args: tuple[Any, ...], now: Now, admin_id: int) -> Parsed:
    family = "expert_appointments"
    _arity(family, args, 1, 3)
    e = as_id("expert_id", args[0])
    # the clock is read only for a default window: reads are the hot path
    start, end = window(now() if callable(now) else now)
    if len(args) == 3:
        start, end = args[1], args[2]
    elif len(args) == 2:
        raise ConfigError(family, "pass both start and end, or neither")
    if not (isinstance(start, datetime) and start.tzinfo and isinstance(end, datetime)
            and end.tzinfo):  # fmt: skip
        raise ConfigError(family, f"start/end must be aware datetimes, got {start!r}, {end!r}")
    iso = (start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat())
    return (e, *iso), (e, start, end), e


def _dashboard_admin(args: tuple[Any, ...], now: Now, admin_id: int) -> Parsed:
    _arity("dashboard_admin", args, 0, 0)
    return ("admin", admin_id), (), None


def _dashboard(role: str) -> Callable[[tuple[Any, ...], Now, int], Parsed]:
    family, arg = f"dashboard_{role}", "expert_id" if role == "expert" else "user_id"

    def parse(args: tuple[Any, ...], now: Now, admin_id: int) -> Parsed:
        _arity(family, args, 1, 1)
        i = as_id(arg, args[0])
        return (role, i), (i,), i

    return parse


def scan_ids(args: tuple[Any, ...], family: str = "user_profiles_scan") -> list[int]:
    """The ids a scan reads: ``start .. start+count-1`` (``count`` in 1..MAX_SCAN_LENGTH)."""
    _arity(family, args, 2, 2)
    start, count = as_id("start", args[0]), as_id("count", args[1])
    if not 1 <= count <= MAX_SCAN_LENGTH:
        raise ConfigError("count", f"must be in 1..{MAX_SCAN_LENGTH}, got {count}")
    return list(range(start, start + count))


def entry_args(family: Family, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The args of each entry a read of ``family`` reads: one per id of a batch or a scan
    (in the read's order, repeats kept), else the read's own."""
    if family.scan:
        return [(u,) for u in scan_ids(args, family.name)]
    if family.batch:
        return [(a,) for a in args]
    return [args]


# -- the uncached queries --------------------------------------------------------------------
def _profiles_many(conn: Connection, args: Sequence[tuple[Any, ...]]) -> list[Any]:
    return q.get_user_profiles(conn, [a[0] for a in args])


_USER_TABLES = ("users", "profiles", "preferences", "verifications")
_EXPERT_TABLES = ("experts", "profiles", "expert_specializations", "specializations", "reviews")
_USER_READS = "users[U], profiles[U], preferences[U], verifications[U]"
_EXPERT_READS = (
    "experts[E], profiles of its user, expert_specializations[E] + specializations, "
    "reviews of E (10 latest)"
)

#: Every query family, by name, in a fixed order (workload operations follow it).
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            name="user_profile",
            key_family="user_profile",
            parse=_user("user_profile"),
            from_key=lambda p: (int(p[0]),) if len(p) == 1 else None,
            ttl_setting="user_profile",
            ttl_default=3600,
            pools=("users",),
            tables=_USER_TABLES,
            groups=("user",),
            query=lambda conn, a, now: q.get_user_profile(conn, a[0]),
            query_many=_profiles_many,
            reads=_USER_READS,
        ),
        Family(
            name="user_profiles_batch",
            key_family="user_profile",
            parse=_user("user_profiles_batch"),
            from_key=lambda p: None,  # its entries are user_profile entries
            ttl_setting="user_profile",
            ttl_default=3600,
            pools=("users",),
            tables=_USER_TABLES,
            groups=("user",),
            query=lambda conn, a, now: q.get_user_profile(conn, a[0]),
            query_many=_profiles_many,
            batch=True,
            reads=_USER_READS + " (one entry per id, misses in one query)",
        ),
        Family(
            name="user_profiles_scan",
            key_family="user_profile",
            parse=_user("user_profiles_scan"),
            from_key=lambda p: None,  # its entries are user_profile entries
            ttl_setting="user_profile",
            ttl_default=3600,
            pools=("users",),
            tables=_USER_TABLES,
            groups=("user",),
            query=lambda conn, a, now: q.get_user_profile(conn, a[0]),
            query_many=_profiles_many,
            scan=True,
            reads=_USER_READS + " for U in start..start+count-1 (one entry per id, misses in "
            "one query)",
        ),
        Family(
            name="expert_basic",
            key_family="expert_profile",
            parse=_expert("basic"),
            from_key=lambda p: (int(p[0]),) if len(p) == 2 and p[1] == "basic" else None,
            ttl_setting="expert_basic",
            ttl_default=1800,
            pools=("experts",),
            tables=_EXPERT_TABLES,
            groups=("expert",),
            query=lambda conn, a, now: q.get_expert_profile(
                conn, a[0], include_availability=False, now=now
            ),
            reads=_EXPERT_READS,
        ),
        Family(
            name="expert_full",
            key_family="expert_profile",
            parse=_expert("full"),
            from_key=lambda p: (int(p[0]),) if len(p) == 2 and p[1] != "basic" else None,
            ttl_setting="expert_full",
            ttl_default=300,
            pools=("experts",),
            tables=(*_EXPERT_TABLES, "availability_slots"),
            groups=("expert", "slots"),
            query=lambda conn, a, now: q.get_expert_profile(
                conn, a[0], include_availability=True, now=now
            ),
            reads=_EXPERT_READS + ", availability_slots of E from now (incl. is_booked)",
        ),
        Family(
            name="experts_by_spec",
            key_family="experts_by_spec",
            parse=_experts_by_spec,
            from_key=lambda p: (p[0], int(p[1])) if len(p) == 2 else None,
            ttl_setting="experts_by_spec",
            ttl_default=900,
            pools=("specializations",),
            tables=_EXPERT_TABLES,
            groups=("spec",),
            query=lambda conn, a, now: q.get_experts_by_specialization(conn, a[0], a[1]),
            reads="specializations[name], active verified experts having it (by rating), "
            "profiles of their users, 5 latest reviews of each",
        ),
        Family(
            name="user_appointments",
            key_family="user_appointments",
            parse=_user_appointments,
            from_key=lambda p: (
                (int(p[0]), None if p[1] == "all" else p[1]) if len(p) == 2 else None
            ),
            ttl_setting="user_appointments",
            ttl_default=600,
            pools=("users",),
            tables=("appointments", "payments", "experts", "profiles"),
            groups=("patient",),
            query=lambda conn, a, now: q.get_user_appointments(conn, a[0], a[1]),
            reads="appointments of U, their payments, their experts' profiles (name, headline)",
        ),
        Family(
            name="expert_appointments",
            key_family="expert_appointments",
            parse=_expert_appointments,
            from_key=lambda p: (
                (int(p[0]), datetime.fromisoformat(p[1]), datetime.fromisoformat(p[2]))
                if len(p) == 3
                else None
            ),
            ttl_setting="expert_appointments",
            ttl_default=300,
            pools=("experts",),
            tables=("appointments", "payments", "profiles"),
            groups=("expert_appts",),
            query=lambda conn, a, now: q.get_expert_appointments(conn, a[0], a[1], a[2]),
            reads="appointments of E in [start, end], their payments, patients' names",
        ),
        Family(
            name="dashboard_admin",
            key_family="dashboard",
            parse=_dashboard_admin,
            from_key=lambda p: () if len(p) == 2 and p[0] == "admin" else None,
            ttl_setting="dashboard_admin",
            ttl_default=300,
            pools=(),
            tables=("users", "experts", "appointments", "payments", "verifications"),
            groups=("admin",),
            query=lambda conn, a, now: get_admin_dashboard(conn, now),
            reads="user and expert counts, 50 latest appointments, 30 days of succeeded "
            "payments, pending verifications",
        ),
        Family(
            name="dashboard_expert",
            key_family="dashboard",
            parse=_dashboard("expert"),
            from_key=lambda p: (int(p[1]),) if len(p) == 2 and p[0] == "expert" else None,
            ttl_setting="dashboard_expert",
            ttl_default=600,
            pools=("experts",),
            tables=(
                "experts",
                "appointments",
                "profiles",
                "reviews",
                "payments",
                "availability_slots",
            ),
            groups=("expert", "slots", "expert_appts"),
            query=lambda conn, a, now: get_expert_dashboard(conn, a[0], now),
            reads="upcoming appointments of E + patient names, 5 latest reviews, 30 days of "
            "payments, availability from now",
        ),
        Family(
            name="dashboard_user",
            key_family="dashboard",
            parse=_dashboard("user"),
            from_key=lambda p: (int(p[1]),) if len(p) == 2 and p[0] == "user" else None,
            ttl_setting="dashboard_user",
            ttl_default=900,
            pools=("users",),
            tables=("users", "appointments", "experts", "profiles", "payments"),
            groups=("patient",),
            query=lambda conn, a, now: get_user_dashboard(conn, a[0], now),
            reads="upcoming appointments of U + expert names, 10 latest payments of U",
        ),
    )
}

#: Family names, in registry order.
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
#: TTL settings, each once, in registry order (families may share one).
TTL_SETTINGS: dict[str, float] = {f.ttl_setting: f.ttl_default for f in FAMILIES.values()}
#: Key family -> the families whose keys start with it (key parsing tries them in order).
BY_KEY_FAMILY: dict[str, tuple[Family, ...]] = {
    kf: tuple(f for f in FAMILIES.values() if f.key_family == kf)
    for kf in dict.fromkeys(f.key_family for f in FAMILIES.values())
}


def entry_groups(family: Family, group_id: object) -> tuple[str, ...]:
    """Dependency groups of an entry of ``family`` whose first argument is ``group_id``."""
    return tuple(k if k == "admin" else f"{k}:{group_id}" for k in family.groups)
