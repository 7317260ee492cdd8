"""What a cached read is: TTL settings, the seed plan's keys, and the uncached query per family.

Used by :class:`~evalcache.domain.repositories.CachedRepository`; kept apart so the key
layout (which the seed strategy's patterns must match) is in one place:

    family               key (``cache.key(key_family, *parts)``)        TTL (seed plan)
    user_profile         user_profile:U                                 3600
    user_profiles_batch  user_profile:U per id                          3600
    expert_basic         expert_profile:E:basic                         1800
    expert_full          expert_profile:E:full                          300
    experts_by_spec      experts_by_spec:S:limit                        900
    user_appointments    user_appointments:U:<status|all>               600
    expert_appointments  expert_appointments:E:<start iso>:<end iso>    300
    dashboard_admin      dashboard:admin:<admin user id>                300
    dashboard_expert     dashboard:expert:E                             600
    dashboard_user       dashboard:user:U                               900
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection

from evalcache.domain import queries as q
from evalcache.domain.dashboards import (
    get_admin_dashboard,
    get_expert_dashboard,
    get_user_dashboard,
)
from evalcache.errors import ConfigError, UnknownNameError
from evalcache.strategies.base import ReadSpec
from evalcache.strategies.deps import FAMILY_TABLES, entry_groups
from evalcache.workload.spec import FAMILIES as _WORKLOAD_FAMILIES

FAMILIES: tuple[str, ...] = _WORKLOAD_FAMILIES
DEFAULT_LIMIT = 20
WINDOW_DAYS = 7


@dataclass(frozen=True)
class TTLSettings:
    """Entry TTLs in clock seconds per family (defaults: the seed plan's), plus ``negative``
    for cached "not found" answers.

    Examples
    --------
    >>> TTLSettings().scaled(0.5).expert_full
    150.0
    >>> TTLSettings.from_mapping({"dashboard_admin": 60}).for_family("dashboard_admin")
    60.0
    """

    user_profile: float = 3600
    expert_basic: float = 1800
    expert_full: float = 300
    experts_by_spec: float = 900
    user_appointments: float = 600
    expert_appointments: float = 300
    dashboard_admin: float = 300
    dashboard_expert: float = 600
    dashboard_user: float = 900
    negative: float = 60

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ConfigError(f"ttls.{f.name}", f"{v!r} is not a number of seconds")
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"ttls.{f.name}", f"{v!r} is not a positive finite TTL")
            object.__setattr__(self, f.name, float(v))

    def scaled(self, factor: float) -> TTLSettings:
        """Every TTL (``negative`` included) multiplied by ``factor`` (> 0)."""
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 0:
            raise ConfigError("factor", f"{factor!r} is not a positive number")
        return replace(self, **{f.name: getattr(self, f.name) * factor for f in fields(self)})

    @classmethod
    def from_mapping(cls, m: Mapping[str, float]) -> TTLSettings:
        """Defaults overridden by ``m`` (notebook parameters); unknown names are refused."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(m) - set(known))
        if unknown:
            raise ConfigError("ttls", f"unknown TTL names {unknown}; accepted: {', '.join(known)}")
        return cls(**dict(m))

    def for_family(self, family: str) -> float:
        """The TTL of ``family`` (``user_profiles_batch`` uses ``user_profile``)."""
        if family == "user_profiles_batch":
            family = "user_profile"
        if family not in FAMILIES:
            raise UnknownNameError("query family", family, FAMILIES)
        return float(getattr(self, family))


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


def build_spec(
    family: str,
    args: tuple[Any, ...],
    ttls: TTLSettings,
    now: datetime | Callable[[], datetime],
    admin_id: int,
) -> ReadSpec:
    """The :class:`ReadSpec` of one read (one id for ``user_profiles_batch``: call per id).

    ``now`` may be a callable: only a default expert-appointments window needs the time, and
    reads are the hot path.
    """
    if family not in FAMILIES:
        raise UnknownNameError("query family", family, FAMILIES)
    ttl = ttls.for_family(family)
    tables = FAMILY_TABLES[family]
    if family in ("user_profile", "user_profiles_batch"):
        _arity(family, args, 1, 1)
        u = as_id("user_id", args[0])
        return ReadSpec(family, "user_profile", (u,), ttl, entry_groups(family, u), tables, (u,))
    if family in ("expert_basic", "expert_full"):
        _arity(family, args, 1, 1)
        e = as_id("expert_id", args[0])
        kind = "basic" if family == "expert_basic" else "full"
        groups = entry_groups(family, e)
        return ReadSpec(family, "expert_profile", (e, kind), ttl, groups, tables, (e,))
    if family == "experts_by_spec":
        _arity(family, args, 1, 2)
        name = args[0]
        if not isinstance(name, str) or not name:
            raise ConfigError("specialization", f"must be a non-empty str, got {name!r}")
        limit = q.check_limit(args[1] if len(args) > 1 else DEFAULT_LIMIT)
        groups = entry_groups(family, name)
        return ReadSpec(
            family, "experts_by_spec", (name, limit), ttl, groups, tables, (name, limit)
        )
    if family == "user_appointments":
        _arity(family, args, 1, 2)
        u = as_id("user_id", args[0])
        status = None if len(args) < 2 or args[1] is None else q.check_status(args[1])
        groups = entry_groups(family, u)
        parts2 = (u, status or "all")
        return ReadSpec(family, "user_appointments", parts2, ttl, groups, tables, (u, status))
    if family == "expert_appointments":
        _arity(family, args, 1, 3)
        e = as_id("expert_id", args[0])
        start, end = window(now() if callable(now) else now)
        if len(args) == 3:
            start, end = args[1], args[2]
        elif len(args) == 2:
            raise ConfigError(family, "pass both start and end, or neither")
        if not (isinstance(start, datetime) and start.tzinfo and isinstance(end, datetime)
                and end.tzinfo):  # fmt: skip
            raise ConfigError(family, f"start/end must be aware datetimes, got {start!r}, {end!r}")
        iso = (start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat())
        return ReadSpec(family, "expert_appointments", (e, *iso), ttl, entry_groups(family, e),
                        tables, (e, start, end))  # fmt: skip
    if family == "dashboard_admin":
        _arity(family, args, 0, 0)
        return ReadSpec(family, "dashboard", ("admin", admin_id), ttl, ("admin",), tables, ())
    _arity(family, args, 1, 1)
    i = as_id("expert_id" if family == "dashboard_expert" else "user_id", args[0])
    role = "expert" if family == "dashboard_expert" else "user"
    return ReadSpec(family, "dashboard", (role, i), ttl, entry_groups(family, i), tables, (i,))


def spec_from_key(
    key: str, prefix: str, ttls: TTLSettings, now: datetime, admin_id: int
) -> ReadSpec | None:
    """Parse an entry key of the seed layout back into its spec (``None`` if foreign)."""
    if not key.startswith(prefix):
        return None
    kf, *raw = key[len(prefix) :].split(":")
    p = [unquote(x) for x in raw]
    try:
        if kf == "user_profile" and len(p) == 1:
            return build_spec("user_profile", (int(p[0]),), ttls, now, admin_id)
        if kf == "expert_profile" and len(p) == 2:
            fam = "expert_basic" if p[1] == "basic" else "expert_full"
            return build_spec(fam, (int(p[0]),), ttls, now, admin_id)
        if kf == "experts_by_spec" and len(p) == 2:
            return build_spec(kf, (p[0], int(p[1])), ttls, now, admin_id)
        if kf == "user_appointments" and len(p) == 2:
            status = None if p[1] == "all" else p[1]
            return build_spec(kf, (int(p[0]), status), ttls, now, admin_id)
        if kf == "expert_appointments" and len(p) == 3:
            args = (int(p[0]), datetime.fromisoformat(p[1]), datetime.fromisoformat(p[2]))
            return build_spec(kf, args, ttls, now, admin_id)
        if kf == "dashboard" and len(p) == 2:
            if p[0] == "admin":
                return build_spec("dashboard_admin", (), ttls, now, admin_id)
            return build_spec(f"dashboard_{p[0]}", (int(p[1]),), ttls, now, admin_id)
    except (ValueError, ConfigError, UnknownNameError):
        return None
    return None


def run_query(conn: Connection, spec: ReadSpec, now: datetime) -> Any:
    """The uncached answer of ``spec`` at clock time ``now``."""
    f, a = spec.family, spec.args
    if f in ("user_profile", "user_profiles_batch"):
        return q.get_user_profile(conn, a[0])
    if f in ("expert_basic", "expert_full"):
        return q.get_expert_profile(conn, a[0], include_availability=f == "expert_full", now=now)
    if f == "experts_by_spec":
        return q.get_experts_by_specialization(conn, a[0], a[1])
    if f == "user_appointments":
        return q.get_user_appointments(conn, a[0], a[1])
    if f == "expert_appointments":
        return q.get_expert_appointments(conn, a[0], a[1], a[2])
    if f == "dashboard_admin":
        return get_admin_dashboard(conn, now)
    if f == "dashboard_expert":
        return get_expert_dashboard(conn, a[0], now)
    return get_user_dashboard(conn, a[0], now)


def run_many(conn: Connection, specs: Sequence[ReadSpec], now: datetime) -> list[Any]:
    """Answers of several specs; user profiles in ONE query (``get_user_profiles``)."""
    if specs and all(s.key_family == "user_profile" for s in specs):
        return q.get_user_profiles(conn, [s.args[0] for s in specs])
    return [run_query(conn, s, now) for s in specs]
