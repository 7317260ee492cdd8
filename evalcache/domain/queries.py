"""Uncached domain queries: the source of truth that cached repositories wrap.

Every function takes an explicit SQLAlchemy :class:`~sqlalchemy.Connection` first and, where
the answer depends on time, an explicit timezone-aware ``now`` (the run's clock, never the wall
clock). Results are plain JSON data (see :mod:`evalcache.domain._json`): ISO-8601 UTC strings
for timestamps, ``float`` for NUMERIC, deterministic order with ``id`` as the tie-break, and no
wall-clock field, so a cached copy can be compared with a fresh one by equality.

Which family each query serves, and the tables it reads, is its record in
:data:`evalcache.domain.families.FAMILIES`; which writes make it stale is
:mod:`evalcache.domain.invalidation`.

Examples
--------
>>> with engine.connect() as conn:                      # doctest: +SKIP
...     get_expert_profile(conn, 7, include_availability=True, now=now)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from evalcache.domain._json import (
    PAY_COLS,
    JSONDict,
    appointment_dict,
    iso,
    num,
    payment_dict,
    require_aware,
    review_dict,
    with_patient,
)
from evalcache.domain.dashboards import (
    get_admin_dashboard,
    get_expert_dashboard,
    get_user_dashboard,
)
from evalcache.domain.models import APPOINTMENT_STATUSES
from evalcache.errors import ConfigError

__all__ = [
    "get_admin_dashboard",
    "get_expert_appointments",
    "get_expert_dashboard",
    "get_expert_profile",
    "get_experts_by_specialization",
    "get_user_appointments",
    "get_user_dashboard",
    "get_user_profile",
    "get_user_profiles",
]

MAX_LIST_LIMIT = 100

_USER_PROFILES_SQL = text(
    """
    SELECT u.id, u.email, u.role, u.created_at, u.updated_at, u.version,
           p.user_id AS p_user_id, p.first_name, p.last_name, p.phone, p.city, p.bio,
           p.version AS p_version,
           pr.user_id AS pr_user_id, pr.language, pr.timezone, pr.email_notifications,
           pr.sms_notifications, pr.version AS pr_version,
           v.user_id AS v_user_id, v.status AS v_status, v.submitted_at, v.verified_at,
           v.version AS v_version
    FROM users u
    LEFT JOIN profiles p ON p.user_id = u.id
    LEFT JOIN preferences pr ON pr.user_id = u.id
    LEFT JOIN verifications v ON v.user_id = u.id
    WHERE u.id = ANY(CAST(:ids AS bigint[]))
    """
)


def _user_profile(r: RowMapping) -> JSONDict:
    return {
        "id": r["id"],
        "email": r["email"],
        "role": r["role"],
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
        "version": r["version"],
        "profile": None
        if r["p_user_id"] is None
        else {
            "first_name": r["first_name"],
            "last_name": r["last_name"],
            "phone": r["phone"],
            "city": r["city"],
            "bio": r["bio"],
            "version": r["p_version"],
        },
        "preferences": None
        if r["pr_user_id"] is None
        else {
            "language": r["language"],
            "timezone": r["timezone"],
            "email_notifications": r["email_notifications"],
            "sms_notifications": r["sms_notifications"],
            "version": r["pr_version"],
        },
        "verification": None
        if r["v_user_id"] is None
        else {
            "status": r["v_status"],
            "submitted_at": iso(r["submitted_at"]),
            "verified_at": iso(r["verified_at"]),
            "version": r["v_version"],
        },
    }


def get_user_profile(conn: Connection, user_id: int) -> JSONDict | None:
    """A user with profile, preferences and verification status; ``None`` if unknown."""
    return get_user_profiles(conn, [user_id])[0]


def get_user_profiles(conn: Connection, user_ids: Sequence[int]) -> list[JSONDict | None]:
    """Batch of :func:`get_user_profile` in one round trip.

    Returns one entry per id asked, in the order asked (duplicates repeated), ``None`` for an
    unknown id.
    """
    ids = [int(i) for i in user_ids]
    if not ids:
        return []
    rows = conn.execute(_USER_PROFILES_SQL, {"ids": sorted(set(ids))}).mappings()
    by_id = {r["id"]: _user_profile(r) for r in rows}
    return [by_id.get(i) for i in ids]


_EXPERT_SQL = text(
    """
    SELECT e.id, e.user_id, e.headline, e.hourly_rate, e.rating, e.total_reviews, e.is_active,
           e.is_verified, e.created_at, e.updated_at, e.version,
           p.first_name, p.last_name, p.city, p.bio
    FROM experts e LEFT JOIN profiles p ON p.user_id = e.user_id
    WHERE e.id = :id
    """
)
_EXPERT_SPECS_SQL = text(
    """
    SELECT s.name FROM expert_specializations es
    JOIN specializations s ON s.id = es.specialization_id
    WHERE es.expert_id = :id ORDER BY s.name
    """
)
_EXPERT_REVIEWS_SQL = text(
    """
    SELECT id, user_id, rating, comment, created_at FROM reviews
    WHERE expert_id = :id ORDER BY created_at DESC, id DESC LIMIT :limit
    """
)
_EXPERT_AVAILABILITY_SQL = text(
    """
    SELECT id, starts_at, ends_at, is_booked FROM availability_slots
    WHERE expert_id = :id AND starts_at >= :now ORDER BY starts_at, id
    """
)


def get_expert_profile(
    conn: Connection, expert_id: int, *, include_availability: bool, now: datetime
) -> JSONDict | None:
    """An expert's profile, specializations (by name) and 10 latest reviews.

    With ``include_availability`` ("full" profile) it also lists the slots starting at or
    after ``now`` in time order. ``None`` if the expert is unknown. ``now`` is only read for
    availability, but is required so callers cannot forget it.
    """
    now = require_aware("now", now)
    row = conn.execute(_EXPERT_SQL, {"id": expert_id}).mappings().first()
    if row is None:
        return None
    result: JSONDict = {
        "id": row["id"],
        "user_id": row["user_id"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "city": row["city"],
        "bio": row["bio"],
        "headline": row["headline"],
        "hourly_rate": num(row["hourly_rate"]),
        "rating": num(row["rating"]),
        "total_reviews": row["total_reviews"],
        "is_active": row["is_active"],
        "is_verified": row["is_verified"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "version": row["version"],
        "specializations": list(conn.execute(_EXPERT_SPECS_SQL, {"id": expert_id}).scalars()),
        "reviews": [
            review_dict(r)
            for r in conn.execute(_EXPERT_REVIEWS_SQL, {"id": expert_id, "limit": 10}).mappings()
        ],
    }
    if include_availability:
        result["availability"] = [
            {
                "id": r["id"],
                "starts_at": iso(r["starts_at"]),
                "ends_at": iso(r["ends_at"]),
                "is_booked": r["is_booked"],
            }
            for r in conn.execute(
                _EXPERT_AVAILABILITY_SQL, {"id": expert_id, "now": now}
            ).mappings()
        ]
    return result


_BY_SPEC_SQL = text(
    """
    SELECT e.id, e.user_id, e.headline, e.hourly_rate, e.rating, e.total_reviews, e.version,
           p.first_name, p.last_name
    FROM specializations s
    JOIN expert_specializations es ON es.specialization_id = s.id
    JOIN experts e ON e.id = es.expert_id
    LEFT JOIN profiles p ON p.user_id = e.user_id
    WHERE s.name = :name AND e.is_active AND e.is_verified
    ORDER BY e.rating DESC, e.total_reviews DESC, e.id
    LIMIT :limit
    """
)
# Five latest reviews of each listed expert in one statement (index scan per expert).
_LATEST_REVIEWS_SQL = text(
    """
    SELECT x.expert_id, r.id, r.user_id, r.rating, r.comment, r.created_at
    FROM unnest(CAST(:ids AS bigint[])) AS x(expert_id)
    CROSS JOIN LATERAL (
        SELECT id, user_id, rating, comment, created_at FROM reviews
        WHERE expert_id = x.expert_id ORDER BY created_at DESC, id DESC LIMIT :per
    ) r
    """
)


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise ConfigError("limit", f"must be an int in 1..{MAX_LIST_LIMIT}, got {limit!r}")
    return limit


def get_experts_by_specialization(
    conn: Connection, specialization: str, limit: int = 20
) -> list[JSONDict]:
    """Active, verified experts having ``specialization``, best first, each with 5 latest reviews.

    Order: rating desc, total_reviews desc, id asc. An unknown specialization gives ``[]``.
    """
    check_limit(limit)
    rows = conn.execute(_BY_SPEC_SQL, {"name": specialization, "limit": limit}).mappings().all()
    reviews: dict[int, list[JSONDict]] = {r["id"]: [] for r in rows}
    if rows:
        params = {"ids": list(reviews), "per": 5}
        for r in conn.execute(_LATEST_REVIEWS_SQL, params).mappings():
            reviews[r["expert_id"]].append(review_dict(r))
    return [
        {
            "id": r["id"],
            "user_id": r["user_id"],
            "first_name": r["first_name"],
            "last_name": r["last_name"],
            "headline": r["headline"],
            "hourly_rate": num(r["hourly_rate"]),
            "rating": num(r["rating"]),
            "total_reviews": r["total_reviews"],
            "version": r["version"],
            "specialization": specialization,
            "reviews": reviews[r["id"]],
        }
        for r in rows
    ]


_USER_APPTS_SQL = f"""
    SELECT a.id, a.user_id, a.expert_id, a.scheduled_at, a.duration_minutes, a.status,
           a.created_at, a.version, e.headline, p.first_name, p.last_name, {PAY_COLS}
    FROM appointments a
    JOIN experts e ON e.id = a.expert_id
    LEFT JOIN profiles p ON p.user_id = e.user_id
    LEFT JOIN payments pay ON pay.appointment_id = a.id
    WHERE a.user_id = :uid {{status}}
    ORDER BY a.scheduled_at DESC, a.id DESC
"""
_USER_APPTS_ALL = text(_USER_APPTS_SQL.format(status=""))
_USER_APPTS_STATUS = text(_USER_APPTS_SQL.format(status="AND a.status = :status"))


def check_status(status: str) -> str:
    if status not in APPOINTMENT_STATUSES:
        raise ConfigError(
            "status",
            f"unknown appointment status {status!r}; known: {', '.join(APPOINTMENT_STATUSES)}",
        )
    return status


def get_user_appointments(
    conn: Connection, user_id: int, status: str | None = None
) -> list[JSONDict]:
    """A patient's appointments, latest first, each with its expert and its payment (or None)."""
    params: dict[str, Any] = {"uid": user_id}
    if status is None:
        stmt = _USER_APPTS_ALL
    else:
        params["status"] = check_status(status)
        stmt = _USER_APPTS_STATUS
    out = []
    for r in conn.execute(stmt, params).mappings():
        item = appointment_dict(r)
        item["expert"] = {
            "id": r["expert_id"],
            "first_name": r["first_name"],
            "last_name": r["last_name"],
            "headline": r["headline"],
        }
        item["payment"] = payment_dict(r)
        out.append(item)
    return out


_EXPERT_APPTS_SQL = text(
    f"""
    SELECT a.id, a.user_id, a.expert_id, a.scheduled_at, a.duration_minutes, a.status,
           a.created_at, a.version, p.first_name, p.last_name, {PAY_COLS}
    FROM appointments a
    LEFT JOIN profiles p ON p.user_id = a.user_id
    LEFT JOIN payments pay ON pay.appointment_id = a.id
    WHERE a.expert_id = :eid AND a.scheduled_at >= :start AND a.scheduled_at <= :end
    ORDER BY a.scheduled_at, a.id
    """
)


def get_expert_appointments(
    conn: Connection, expert_id: int, start: datetime, end: datetime
) -> list[JSONDict]:
    """An expert's appointments with ``start <= scheduled_at <= end``, earliest first, each
    with its patient and its payment (or None)."""
    start = require_aware("start", start)
    end = require_aware("end", end)
    if end < start:
        raise ConfigError("end", f"must not be before start ({iso(start)}), got {iso(end)}")
    params = {"eid": expert_id, "start": start, "end": end}
    out = []
    for r in conn.execute(_EXPERT_APPTS_SQL, params).mappings():
        item = with_patient(r)
        item["payment"] = payment_dict(r)
        out.append(item)
    return out
