"""Ground truth for the staleness oracle: every family answered by hand-written SQL of its own.

The oracle must not judge cached answers with the code that produced them: a bug in a loader
query would then be invisible (the cache would faithfully serve the wrong answer and the
oracle would agree). So each family is answered here a second time, from the schema
(:mod:`evalcache.domain.models`) and the family's meaning (the table in
:mod:`evalcache.domain.families`), by one SQL statement that builds the whole answer as JSON
on the server (``json_build_object`` / ``json_agg``, correlated subqueries where the loader
joins), never through :mod:`evalcache.domain.queries` or :mod:`evalcache.domain.dashboards`.
The answers are the loader's shapes and compare equal to them: timestamps as ISO-8601 UTC
strings with microseconds only when non-zero (Python's ``isoformat``), NUMERIC as numbers.

One step stays in Python: a money summary's ``average`` is ``round(total / n, 2)`` on floats,
as the loader's contract defines it; SQL's NUMERIC ``round`` breaks ties away from zero and
would disagree on a total like 100.01 over 2 payments.

Examples
--------
>>> with engine.connect() as conn:                                      # doctest: +SKIP
...     truth_answer(conn, "expert_full", (7,), now)
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, TextClause, text

from evalcache.clock import Clock
from evalcache.errors import ConfigError, UnknownNameError

__all__ = ["TRUTH_FAMILIES", "Truth", "truth_answer"]

#: Days of the expert-appointments default window (from the day of ``now``, 00:00 UTC).
APPOINTMENTS_WINDOW_DAYS = 7
#: Days of the dashboards' money windows (``now - 30 days < paid_at <= now``).
MONEY_WINDOW_DAYS = 30
DEFAULT_BY_SPEC_LIMIT = 20


def _ts(col: str) -> str:
    """SQL for ``col`` (timestamptz) as Python's ``isoformat()`` of it in UTC, or NULL."""
    utc = f"({col} AT TIME ZONE 'UTC')"
    # to_char's colons follow a word character, so text() reads none of them as a bind
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', {utc})"
        f" = {utc} THEN '' ELSE to_char({utc}, '.US') END || '+00:00')"
    )


def _appointment(a: str) -> str:
    """The json_build_object pairs of appointment row alias ``a``."""
    return (
        f"'id', {a}.id, 'user_id', {a}.user_id, 'expert_id', {a}.expert_id, "
        f"'scheduled_at', {_ts(f'{a}.scheduled_at')}, "
        f"'duration_minutes', {a}.duration_minutes, 'status', {a}.status, "
        f"'created_at', {_ts(f'{a}.created_at')}, 'version', {a}.version"
    )


def _person(user: str) -> str:
    """first_name/last_name pairs of the profile of user id expression ``user`` (NULL if none)."""
    return (
        f"'first_name', (SELECT pf.first_name FROM profiles pf WHERE pf.user_id = {user}), "
        f"'last_name', (SELECT pf.last_name FROM profiles pf WHERE pf.user_id = {user})"
    )


def _payment_of(a: str) -> str:
    """The payment object of appointment alias ``a`` (at most one per appointment), or NULL."""
    return f"""(SELECT json_build_object('id', py.id, 'amount', py.amount,
                 'currency', py.currency, 'status', py.status,
                 'paid_at', {_ts("py.paid_at")}, 'version', py.version)
               FROM payments py WHERE py.appointment_id = {a}.id)"""


def _reviews_of(expert: str, limit: int) -> str:
    """The ``limit`` latest reviews of expert id expression ``expert`` as a JSON array."""
    return f"""coalesce((SELECT json_agg(json_build_object('id', rv.id, 'user_id', rv.user_id,
                   'rating', rv.rating, 'comment', rv.comment,
                   'created_at', {_ts("rv.created_at")}) ORDER BY rv.created_at DESC, rv.id DESC)
               FROM (SELECT * FROM reviews r WHERE r.expert_id = {expert}
                     ORDER BY r.created_at DESC, r.id DESC LIMIT {int(limit)}) rv), '[]'::json)"""


def _money(where: str) -> str:
    """count and sum of the payments matching ``where`` over the 30 days ending at :now."""
    return f"""(SELECT json_build_object('n', count(*), 'total', coalesce(sum(mp.amount), 0))
               FROM payments mp WHERE {where} AND mp.status = 'succeeded'
                 AND mp.paid_at > :since AND mp.paid_at <= :now)"""


_PROFILE_DOC = f"""(SELECT json_build_object(
      'id', u.id, 'email', u.email, 'role', u.role,
      'created_at', {_ts("u.created_at")}, 'updated_at', {_ts("u.updated_at")},
      'version', u.version,
      'profile', (SELECT json_build_object('first_name', p.first_name,
                    'last_name', p.last_name, 'phone', p.phone, 'city', p.city, 'bio', p.bio,
                    'version', p.version) FROM profiles p WHERE p.user_id = u.id),
      'preferences', (SELECT json_build_object('language', pr.language,
                    'timezone', pr.timezone, 'email_notifications', pr.email_notifications,
                    'sms_notifications', pr.sms_notifications, 'version', pr.version)
                    FROM preferences pr WHERE pr.user_id = u.id),
      'verification', (SELECT json_build_object('status', v.status,
                    'submitted_at', {_ts("v.submitted_at")},
                    'verified_at', {_ts("v.verified_at")}, 'version', v.version)
                    FROM verifications v WHERE v.user_id = u.id))
    FROM users u WHERE u.id = x.id)"""

# One entry per id asked, in order, duplicates repeated, NULL for an unknown id.
_PROFILES = text(
    f"""SELECT coalesce(json_agg({_PROFILE_DOC} ORDER BY x.ord), '[]'::json)::text
    FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS x(id, ord)"""
)


def _expert_doc(availability: bool) -> TextClause:
    slots = (
        f""", 'availability', coalesce((SELECT json_agg(json_build_object('id', sl.id,
                'starts_at', {_ts("sl.starts_at")}, 'ends_at', {_ts("sl.ends_at")},
                'is_booked', sl.is_booked) ORDER BY sl.starts_at, sl.id)
              FROM availability_slots sl WHERE sl.expert_id = e.id AND sl.starts_at >= :now),
            '[]'::json)"""
        if availability
        else ""
    )
    return text(
        f"""SELECT json_build_object(
          'id', e.id, 'user_id', e.user_id,
          {_person("e.user_id")},
          'city', (SELECT pf.city FROM profiles pf WHERE pf.user_id = e.user_id),
          'bio', (SELECT pf.bio FROM profiles pf WHERE pf.user_id = e.user_id),
          'headline', e.headline, 'hourly_rate', e.hourly_rate, 'rating', e.rating,
          'total_reviews', e.total_reviews, 'is_active', e.is_active,
          'is_verified', e.is_verified, 'created_at', {_ts("e.created_at")},
          'updated_at', {_ts("e.updated_at")}, 'version', e.version,
          'specializations', coalesce((SELECT json_agg(s.name ORDER BY s.name)
              FROM specializations s WHERE s.id IN (SELECT es.specialization_id
                FROM expert_specializations es WHERE es.expert_id = e.id)), '[]'::json),
          'reviews', {_reviews_of("e.id", 10)}{slots})::text
        FROM experts e WHERE e.id = :id"""
    )


_EXPERT_BASIC = _expert_doc(False)
_EXPERT_FULL = _expert_doc(True)

_BY_SPEC = text(
    f"""SELECT coalesce(json_agg(x.doc ORDER BY x.rating DESC, x.total_reviews DESC, x.id),
                        '[]'::json)::text
    FROM (SELECT e.id, e.rating, e.total_reviews, json_build_object(
            'id', e.id, 'user_id', e.user_id, {_person("e.user_id")},
            'headline', e.headline, 'hourly_rate', e.hourly_rate, 'rating', e.rating,
            'total_reviews', e.total_reviews, 'version', e.version,
            'specialization', CAST(:name AS text), 'reviews', {_reviews_of("e.id", 5)}) AS doc
          FROM experts e
          WHERE e.is_active AND e.is_verified AND EXISTS (
              SELECT 1 FROM expert_specializations es, specializations s
              WHERE es.expert_id = e.id AND s.id = es.specialization_id AND s.name = :name)
          ORDER BY e.rating DESC, e.total_reviews DESC, e.id LIMIT :limit) x"""
)


def _expert_of(a: str) -> str:
    return (
        f"json_build_object('id', {a}.expert_id, "
        f"{_person(f'(SELECT ex.user_id FROM experts ex WHERE ex.id = {a}.expert_id)')}, "
        f"'headline', (SELECT ex.headline FROM experts ex WHERE ex.id = {a}.expert_id))"
    )


def _patient_of(a: str) -> str:
    return f"json_build_object('id', {a}.user_id, {_person(f'{a}.user_id')})"


# status NULL means every status
_USER_APPOINTMENTS = text(
    f"""SELECT coalesce(json_agg(json_build_object({_appointment("a")},
             'expert', {_expert_of("a")}, 'payment', {_payment_of("a")})
           ORDER BY a.scheduled_at DESC, a.id DESC), '[]'::json)::text
    FROM appointments a
    WHERE a.user_id = :uid AND (CAST(:status AS text) IS NULL OR a.status = :status)"""
)

_EXPERT_APPOINTMENTS = text(
    f"""SELECT coalesce(json_agg(json_build_object({_appointment("a")},
             'patient', {_patient_of("a")}, 'payment', {_payment_of("a")})
           ORDER BY a.scheduled_at, a.id), '[]'::json)::text
    FROM appointments a
    WHERE a.expert_id = :eid AND a.scheduled_at BETWEEN :start AND :end"""
)

_ADMIN = text(
    f"""SELECT json_build_object(
      'total_users', (SELECT count(*) FROM users),
      'total_experts', (SELECT count(*) FROM experts),
      'recent_appointments', coalesce((SELECT json_agg(json_build_object({_appointment("ra")})
            ORDER BY ra.created_at DESC, ra.id DESC)
          FROM (SELECT * FROM appointments ORDER BY created_at DESC, id DESC LIMIT 50) ra),
          '[]'::json),
      'revenue', {_money("TRUE")},
      'pending_count', (SELECT count(*) FROM verifications WHERE status = 'pending'),
      'oldest', coalesce((SELECT json_agg(json_build_object('user_id', pv.user_id,
              'submitted_at', {_ts("pv.submitted_at")})
            ORDER BY pv.submitted_at NULLS LAST, pv.user_id)
          FROM (SELECT * FROM verifications WHERE status = 'pending'
                ORDER BY submitted_at NULLS LAST, user_id LIMIT 20) pv), '[]'::json))::text"""
)

# scheduled or confirmed, from now on, the first 20
_UPCOMING = """(SELECT * FROM appointments up WHERE up.{who} = {id}
      AND up.scheduled_at >= :now AND up.status IN ('scheduled', 'confirmed')
      ORDER BY up.scheduled_at, up.id LIMIT 20) ua"""

_EXPERT_DASHBOARD = text(
    f"""SELECT json_build_object(
      'expert_id', e.id,
      'upcoming_appointments', coalesce((SELECT json_agg(json_build_object(
              {_appointment("ua")}, 'patient', {_patient_of("ua")})
            ORDER BY ua.scheduled_at, ua.id)
          FROM {_UPCOMING.format(who="expert_id", id="e.id")}), '[]'::json),
      'recent_reviews', {_reviews_of("e.id", 5)},
      'earnings', {_money("mp.expert_id = e.id")},
      'future_slots', (SELECT count(*) FROM availability_slots fs
          WHERE fs.expert_id = e.id AND fs.starts_at >= :now),
      'open_slots', (SELECT count(*) FROM availability_slots fs
          WHERE fs.expert_id = e.id AND fs.starts_at >= :now AND NOT fs.is_booked),
      'next_open_slot', (SELECT {_ts("fs.starts_at")} FROM availability_slots fs
          WHERE fs.expert_id = e.id AND fs.starts_at >= :now AND NOT fs.is_booked
          ORDER BY fs.starts_at LIMIT 1))::text
    FROM experts e WHERE e.id = :id"""
)

_USER_DASHBOARD = text(
    f"""SELECT json_build_object(
      'user_id', u.id,
      'upcoming_appointments', coalesce((SELECT json_agg(json_build_object(
              {_appointment("ua")}, 'expert', {_expert_of("ua")})
            ORDER BY ua.scheduled_at, ua.id)
          FROM {_UPCOMING.format(who="user_id", id="u.id")}), '[]'::json),
      'recent_payments', coalesce((SELECT json_agg(json_build_object('id', rp.id,
              'appointment_id', rp.appointment_id, 'expert_id', rp.expert_id,
              'amount', rp.amount, 'currency', rp.currency, 'status', rp.status,
              'paid_at', {_ts("rp.paid_at")}, 'created_at', {_ts("rp.created_at")},
              'version', rp.version) ORDER BY rp.created_at DESC, rp.id DESC)
          FROM (SELECT * FROM payments p WHERE p.user_id = u.id
                ORDER BY p.created_at DESC, p.id DESC LIMIT 10) rp), '[]'::json))::text
    FROM users u WHERE u.id = :id"""
)


# -- answering --------------------------------------------------------------------------------
def _one(conn: Connection, stmt: TextClause, **params: Any) -> Any:
    raw = conn.execute(stmt, params).scalar()
    return None if raw is None else json.loads(raw)


def _money_out(m: dict[str, Any]) -> dict[str, Any]:
    n, total = int(m["n"]), float(m["total"])
    return {
        "window_days": MONEY_WINDOW_DAYS,
        "payments": n,
        "total": total,
        "average": round(total / n, 2) if n else None,
    }


def _windows(now: datetime) -> dict[str, datetime]:
    return {"now": now, "since": now - timedelta(days=MONEY_WINDOW_DAYS)}


def _id(value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        return int(operator.index(value))  # numpy integers too
    except TypeError:
        raise ConfigError("id", f"must be an integer id, got {value!r}") from None


def _arity(family: str, args: tuple[Any, ...], lo: int, hi: int) -> None:
    if not lo <= len(args) <= hi:
        raise ConfigError(family, f"takes {lo}..{hi} arguments, got {len(args)}: {args!r}")


def _user_profile(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("user_profile", args, 1, 1)
    return _one(conn, _PROFILES, ids=[_id(args[0])])[0]


def _user_profiles_batch(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    return _one(conn, _PROFILES, ids=[_id(a) for a in args])


def _user_profiles_scan(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("user_profiles_scan", args, 2, 2)
    start, count = _id(args[0]), _id(args[1])
    return _one(conn, _PROFILES, ids=list(range(start, start + count)))


def _expert_basic(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("expert_basic", args, 1, 1)
    return _one(conn, _EXPERT_BASIC, id=_id(args[0]))


def _expert_full(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("expert_full", args, 1, 1)
    return _one(conn, _EXPERT_FULL, id=_id(args[0]), now=now)


def _experts_by_spec(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("experts_by_spec", args, 1, 2)
    limit = args[1] if len(args) > 1 else DEFAULT_BY_SPEC_LIMIT
    return _one(conn, _BY_SPEC, name=str(args[0]), limit=int(limit))


def _user_appointments(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("user_appointments", args, 1, 2)
    status = args[1] if len(args) > 1 else None
    return _one(conn, _USER_APPOINTMENTS, uid=_id(args[0]), status=status)


def _expert_appointments(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("expert_appointments", args, 1, 3)
    if len(args) == 3:
        start, end = args[1], args[2]
    else:  # the day of ``now`` at 00:00 UTC, and 7 days on
        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        start, end = day, day + timedelta(days=APPOINTMENTS_WINDOW_DAYS)
    return _one(conn, _EXPERT_APPOINTMENTS, eid=_id(args[0]), start=start, end=end)


def _dashboard_admin(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("dashboard_admin", args, 0, 0)
    raw = _one(conn, _ADMIN, **_windows(now))
    return {
        "total_users": raw["total_users"],
        "total_experts": raw["total_experts"],
        "recent_appointments": raw["recent_appointments"],
        "revenue": _money_out(raw["revenue"]),
        "pending_verifications": {"count": raw["pending_count"], "oldest": raw["oldest"]},
    }


def _dashboard_expert(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("dashboard_expert", args, 1, 1)
    raw = _one(conn, _EXPERT_DASHBOARD, id=_id(args[0]), **_windows(now))
    if raw is None:
        return None
    return {
        "expert_id": raw["expert_id"],
        "upcoming_appointments": raw["upcoming_appointments"],
        "recent_reviews": raw["recent_reviews"],
        "earnings": _money_out(raw["earnings"]),
        "availability": {
            "future_slots": raw["future_slots"],
            "open_slots": raw["open_slots"],
            "next_open_slot": raw["next_open_slot"],
        },
    }


def _dashboard_user(conn: Connection, args: tuple[Any, ...], now: datetime) -> Any:
    _arity("dashboard_user", args, 1, 1)
    return _one(conn, _USER_DASHBOARD, id=_id(args[0]), now=now)


#: family -> ``answer(conn, workload args, now)``; the families of the registry, in its order.
TRUTH_FAMILIES: dict[str, Callable[[Connection, tuple[Any, ...], datetime], Any]] = {
    "user_profile": _user_profile,
    "user_profiles_batch": _user_profiles_batch,
    "user_profiles_scan": _user_profiles_scan,
    "expert_basic": _expert_basic,
    "expert_full": _expert_full,
    "experts_by_spec": _experts_by_spec,
    "user_appointments": _user_appointments,
    "expert_appointments": _expert_appointments,
    "dashboard_admin": _dashboard_admin,
    "dashboard_expert": _dashboard_expert,
    "dashboard_user": _dashboard_user,
}


def truth_answer(conn: Connection, family: str, args: tuple[Any, ...], now: datetime) -> Any:
    """The answer of ``family`` for the workload's ``args`` at ``now`` (aware), computed by
    this module's own SQL; equal to what the loader returns when the loader is right."""
    answer = TRUTH_FAMILIES.get(family)
    if answer is None:
        raise UnknownNameError("query family", family, tuple(TRUTH_FAMILIES))
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ConfigError("now", f"must be a timezone-aware datetime, got {now!r}")
    return answer(conn, args, now.astimezone(UTC))


class Truth:
    """The staleness oracle's reference, called like ``CachedRepository.fresh``:
    ``truth(conn, family, *args, at=None)`` answers at the clock's time, or at clock time
    ``at`` over the data as it is now (what a time-dependent answer was then)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, conn: Connection, family: str, *args: Any, at: float | None = None) -> Any:
        when = self.clock.now() if at is None else at
        return truth_answer(conn, family, args, datetime.fromtimestamp(when, UTC))
