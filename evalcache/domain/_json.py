"""Conversions of database values to plain JSON-serialisable values.

Every query result is built from these, so a cached copy (decoded from JSON) compares equal to
a fresh one: timestamps become ISO-8601 strings in UTC, NUMERIC becomes ``float``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping

from evalcache.errors import ConfigError

JSONDict = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC (``2024-05-01T08:00:00+00:00``), whatever the session time zone."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat()


def num(value: Decimal | float | int | None) -> float | None:
    """NUMERIC as float (2 decimals are exact enough for money and ratings in this workbench)."""
    if value is None:
        return None
    return round(float(value), 2)


def require_aware(name: str, value: datetime) -> datetime:
    """Reject naive datetimes: every time in evalcache is timezone-aware UTC."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigError(name, f"must be a timezone-aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


PAY_COLS = """pay.id AS pay_id, pay.amount AS pay_amount, pay.currency AS pay_currency,
           pay.status AS pay_status, pay.paid_at AS pay_paid_at, pay.version AS pay_version"""


def review_dict(r: RowMapping) -> JSONDict:
    return {
        "id": r["id"],
        "user_id": r["user_id"],
        "rating": r["rating"],
        "comment": r["comment"],
        "created_at": iso(r["created_at"]),
    }


def payment_dict(r: RowMapping) -> JSONDict | None:
    """The payment columns of an appointment row (``pay_*`` aliases), or ``None``."""
    if r["pay_id"] is None:
        return None
    return {
        "id": r["pay_id"],
        "amount": num(r["pay_amount"]),
        "currency": r["pay_currency"],
        "status": r["pay_status"],
        "paid_at": iso(r["pay_paid_at"]),
        "version": r["pay_version"],
    }


def appointment_dict(r: RowMapping) -> JSONDict:
    return {
        "id": r["id"],
        "user_id": r["user_id"],
        "expert_id": r["expert_id"],
        "scheduled_at": iso(r["scheduled_at"]),
        "duration_minutes": r["duration_minutes"],
        "status": r["status"],
        "created_at": iso(r["created_at"]),
        "version": r["version"],
    }


def with_patient(r: RowMapping) -> JSONDict:
    item = appointment_dict(r)
    item["patient"] = {
        "id": r["user_id"],
        "first_name": r["first_name"],
        "last_name": r["last_name"],
    }
    return item
