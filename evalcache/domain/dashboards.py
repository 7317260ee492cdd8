"""Role dashboards (admin, expert, user): the aggregate-heavy reads of the seed plan.

Re-exported by :mod:`evalcache.domain.queries`. Every dashboard depends on ``now`` (upcoming
appointments, 30-day windows), which is passed in explicitly.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from evalcache.domain._json import (
    JSONDict,
    appointment_dict,
    iso,
    num,
    require_aware,
    review_dict,
    with_patient,
)

WINDOW_DAYS = 30
RECENT_APPOINTMENTS = 50
PENDING_VERIFICATIONS_LISTED = 20
UPCOMING_LISTED = 20
RECENT_REVIEWS = 5
RECENT_PAYMENTS = 10

_ADMIN_COUNTS_SQL = text(
    """
    SELECT (SELECT count(*) FROM users) AS total_users,
           (SELECT count(*) FROM experts) AS total_experts,
           (SELECT count(*) FROM verifications WHERE status = 'pending') AS pending
    """
)
_RECENT_APPTS_SQL = text(
    """
    SELECT id, user_id, expert_id, scheduled_at, duration_minutes, status, created_at, version
    FROM appointments ORDER BY created_at DESC, id DESC LIMIT :limit
    """
)
_REVENUE_SQL = text(
    """
    SELECT count(*) AS n, coalesce(sum(amount), 0) AS total
    FROM payments
    WHERE status = 'succeeded' AND paid_at > :since AND paid_at <= :now
    """
)
_PENDING_SQL = text(
    """
    SELECT user_id, submitted_at FROM verifications WHERE status = 'pending'
    ORDER BY submitted_at, user_id LIMIT :limit
    """
)


def _money(n: int, total: object) -> JSONDict:
    gross = num(total)  # type: ignore[arg-type]
    return {
        "window_days": WINDOW_DAYS,
        "payments": n,
        "total": gross,
        "average": round(gross / n, 2) if n and gross is not None else None,
    }


def get_admin_dashboard(conn: Connection, now: datetime) -> JSONDict:
    """Platform totals, 50 most recently booked appointments, revenue of the 30 days ending at
    ``now`` (succeeded payments with ``now - 30d < paid_at <= now``) and the pending
    verifications (count and the 20 oldest)."""
    now = require_aware("now", now)
    counts = conn.execute(_ADMIN_COUNTS_SQL).mappings().one()
    recent = conn.execute(_RECENT_APPTS_SQL, {"limit": RECENT_APPOINTMENTS}).mappings()
    revenue = (
        conn.execute(_REVENUE_SQL, {"since": now - timedelta(days=WINDOW_DAYS), "now": now})
        .mappings()
        .one()
    )
    pending = conn.execute(_PENDING_SQL, {"limit": PENDING_VERIFICATIONS_LISTED}).mappings()
    return {
        "total_users": counts["total_users"],
        "total_experts": counts["total_experts"],
        "recent_appointments": [appointment_dict(r) for r in recent],
        "revenue": _money(revenue["n"], revenue["total"]),
        "pending_verifications": {
            "count": counts["pending"],
            "oldest": [
                {"user_id": r["user_id"], "submitted_at": iso(r["submitted_at"])} for r in pending
            ],
        },
    }


_EXPERT_EXISTS_SQL = text("SELECT id FROM experts WHERE id = :eid")
_EXPERT_UPCOMING_SQL = text(
    """
    SELECT a.id, a.user_id, a.expert_id, a.scheduled_at, a.duration_minutes, a.status,
           a.created_at, a.version, p.first_name, p.last_name
    FROM appointments a LEFT JOIN profiles p ON p.user_id = a.user_id
    WHERE a.expert_id = :eid AND a.scheduled_at >= :now
      AND a.status IN ('scheduled', 'confirmed')
    ORDER BY a.scheduled_at, a.id LIMIT :limit
    """
)
_EXPERT_REVIEWS_SQL = text(
    """
    SELECT id, user_id, rating, comment, created_at FROM reviews
    WHERE expert_id = :eid ORDER BY created_at DESC, id DESC LIMIT :limit
    """
)
_EARNINGS_SQL = text(
    """
    SELECT count(*) AS n, coalesce(sum(amount), 0) AS total
    FROM payments
    WHERE expert_id = :eid AND paid_at > :since AND paid_at <= :now AND status = 'succeeded'
    """
)
_AVAILABILITY_SQL = text(
    """
    SELECT count(*) AS total, count(*) FILTER (WHERE NOT is_booked) AS open,
           min(starts_at) FILTER (WHERE NOT is_booked) AS next_open
    FROM availability_slots WHERE expert_id = :eid AND starts_at >= :now
    """
)


def get_expert_dashboard(conn: Connection, expert_id: int, now: datetime) -> JSONDict | None:
    """An expert's upcoming appointments (scheduled/confirmed, from ``now``, first 20, with
    patient), 5 latest reviews, 30-day earnings and availability status; ``None`` if unknown."""
    now = require_aware("now", now)
    head = conn.execute(_EXPERT_EXISTS_SQL, {"eid": expert_id}).mappings().first()
    if head is None:
        return None
    p = {"eid": expert_id, "now": now}
    upcoming = conn.execute(_EXPERT_UPCOMING_SQL, {**p, "limit": UPCOMING_LISTED}).mappings()
    reviews = conn.execute(_EXPERT_REVIEWS_SQL, {"eid": expert_id, "limit": RECENT_REVIEWS})
    earn = (
        conn.execute(_EARNINGS_SQL, {**p, "since": now - timedelta(days=WINDOW_DAYS)})
        .mappings()
        .one()
    )
    avail = conn.execute(_AVAILABILITY_SQL, p).mappings().one()
    return {
        "expert_id": head["id"],
        "upcoming_appointments": [with_patient(r) for r in upcoming],
        "recent_reviews": [review_dict(r) for r in reviews.mappings()],
        "earnings": _money(earn["n"], earn["total"]),
        "availability": {
            "future_slots": avail["total"],
            "open_slots": avail["open"],
            "next_open_slot": iso(avail["next_open"]),
        },
    }


_USER_EXISTS_SQL = text("SELECT id FROM users WHERE id = :uid")
_USER_UPCOMING_SQL = text(
    """
    SELECT a.id, a.user_id, a.expert_id, a.scheduled_at, a.duration_minutes, a.status,
           a.created_at, a.version, e.headline, p.first_name, p.last_name
    FROM appointments a
    JOIN experts e ON e.id = a.expert_id
    LEFT JOIN profiles p ON p.user_id = e.user_id
    WHERE a.user_id = :uid AND a.scheduled_at >= :now AND a.status IN ('scheduled', 'confirmed')
    ORDER BY a.scheduled_at, a.id LIMIT :limit
    """
)
_USER_PAYMENTS_SQL = text(
    """
    SELECT id, appointment_id, expert_id, amount, currency, status, paid_at, created_at, version
    FROM payments WHERE user_id = :uid ORDER BY created_at DESC, id DESC LIMIT :limit
    """
)


def get_user_dashboard(conn: Connection, user_id: int, now: datetime) -> JSONDict | None:
    """A patient's upcoming appointments (scheduled/confirmed, from ``now``, first 20, with
    expert) and 10 most recent payments; ``None`` if the user is unknown."""
    now = require_aware("now", now)
    head = conn.execute(_USER_EXISTS_SQL, {"uid": user_id}).mappings().first()
    if head is None:
        return None
    upcoming = []
    params = {"uid": user_id, "now": now, "limit": UPCOMING_LISTED}
    for r in conn.execute(_USER_UPCOMING_SQL, params).mappings():
        item = appointment_dict(r)
        item["expert"] = {
            "id": r["expert_id"],
            "first_name": r["first_name"],
            "last_name": r["last_name"],
            "headline": r["headline"],
        }
        upcoming.append(item)
    payments = conn.execute(_USER_PAYMENTS_SQL, {"uid": user_id, "limit": RECENT_PAYMENTS})
    return {
        "user_id": head["id"],
        "upcoming_appointments": upcoming,
        "recent_payments": [
            {
                "id": r["id"],
                "appointment_id": r["appointment_id"],
                "expert_id": r["expert_id"],
                "amount": num(r["amount"]),
                "currency": r["currency"],
                "status": r["status"],
                "paid_at": iso(r["paid_at"]),
                "created_at": iso(r["created_at"]),
                "version": r["version"],
            }
            for r in payments.mappings()
        ],
    }
