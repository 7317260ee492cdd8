"""Domain writes: each runs in its own transaction, commits, then reports a WriteEvent.

Every function takes an :class:`~sqlalchemy.Engine` (it opens, commits and closes its own
transaction, so the event is only reported once the write is durable and visible) and an
explicit timezone-aware ``now`` (the run's clock) used for ``updated_at``, ``paid_at`` etc.
Every row written gets ``version = version + 1`` and ``updated_at = now``.

Bad arguments raise :class:`~evalcache.errors.ConfigError` before the database is touched;
unknown ids raise :class:`NotFoundError` and a write not allowed in the row's current state
raises :class:`InvalidStateError`, both before anything is written (the transaction is rolled
back). Every write keeps one invariant of the seeded data: an availability slot is booked
exactly when an appointment of its expert that is not cancelled starts at its time.

Longer than most modules on purpose: one function per write of the application, each with
its checks, its SQL and the event it reports, read side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from evalcache.domain._json import iso, require_aware
from evalcache.domain.models import APPOINTMENT_STATUSES, VERIFICATION_STATUSES
from evalcache.errors import ConfigError, EvalCacheError
from evalcache.strategies.api import EventKind, WriteEvent

UpdateType = Literal["profile", "preferences", "verification"]
UPDATE_TYPES: tuple[str, ...] = ("profile", "preferences", "verification")
MAX_DURATION_MINUTES = 480

# update type -> (table, {column: accepted python types})
_UPDATABLE: dict[str, tuple[str, dict[str, tuple[type, ...]]]] = {
    "profile": (
        "profiles",
        {
            "first_name": (str,),
            "last_name": (str,),
            "phone": (str, type(None)),
            "city": (str, type(None)),
            "bio": (str, type(None)),
        },
    ),
    "preferences": (
        "preferences",
        {
            "language": (str,),
            "timezone": (str,),
            "email_notifications": (bool,),
            "sms_notifications": (bool,),
        },
    ),
    "verification": ("verifications", {"status": (str,)}),
}


class DomainError(EvalCacheError):
    """A domain write was refused because of the database's current state."""


class NotFoundError(DomainError, LookupError):
    """An id named in a write does not exist."""

    def __init__(self, entity: str, entity_id: int) -> None:
        super().__init__(f"{entity} {entity_id} does not exist")
        self.entity = entity
        self.entity_id = entity_id


class InvalidStateError(DomainError):
    """The row exists but its state does not allow this write."""


def _check_id(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(name, f"must be a positive int id, got {value!r}")
    return value


def _check_changes(update_type: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    _table, columns = _UPDATABLE[update_type]
    if not changes:
        raise ConfigError("changes", "must name at least one column (or be None)")
    out: dict[str, Any] = {}
    for col, value in changes.items():
        if col not in columns:
            raise ConfigError(
                "changes",
                f"{col!r} is not updatable for {update_type!r}; accepted: {', '.join(columns)}",
            )
        if not isinstance(value, columns[col]):
            accepted = " or ".join("None" if t is type(None) else t.__name__ for t in columns[col])
            raise ConfigError(f"changes[{col!r}]", f"must be {accepted}, got {value!r}")
        out[col] = value
    if "status" in out and out["status"] not in VERIFICATION_STATUSES:
        raise ConfigError(
            "changes['status']",
            f"unknown verification status {out['status']!r}; "
            f"known: {', '.join(VERIFICATION_STATUSES)}",
        )
    return out


def _default_change(
    conn: Connection, update_type: str, user_id: int, now: datetime
) -> dict[str, Any]:
    """The deterministic change a workload asks for with ``changes=None``."""
    if update_type == "profile":
        return {"bio": f"Profile updated at {iso(now)}"}
    if update_type == "preferences":
        flag = conn.execute(
            text("SELECT email_notifications FROM preferences WHERE user_id = :u"), {"u": user_id}
        ).scalar()
        return {"email_notifications": not flag}
    status = conn.execute(
        text("SELECT status FROM verifications WHERE user_id = :u"), {"u": user_id}
    ).scalar()
    return {"status": "verified" if status == "pending" else "pending"}


def _renamed(conn: Connection, user_id: int) -> dict[str, Any]:
    """A new last name: the stem (before any `` #n``) numbered with the row's next version, so
    every rename changes it."""
    row = conn.execute(
        text("SELECT last_name, version FROM profiles WHERE user_id = :u"), {"u": user_id}
    ).first()
    if row is None:
        raise NotFoundError("profiles row of user", user_id)
    stem = str(row.last_name).split(" #", 1)[0][:80]
    return {"last_name": f"{stem} #{int(row.version) + 1}"}


def _update_user(
    engine: Engine,
    user_id: int,
    update_type: str,
    change: Callable[[Connection], dict[str, Any]],
    now: datetime,
) -> WriteEvent:
    """One user row update of ``update_type``'s table (columns from ``change``, called inside
    the transaction with the user locked), ``users.version`` bumped; an expert's
    ``experts.is_verified`` follows a verification status (``verified`` or not)."""
    table = _UPDATABLE[update_type][0]
    with engine.begin() as conn:
        role = conn.execute(
            text("SELECT role FROM users WHERE id = :u FOR UPDATE"), {"u": user_id}
        ).scalar()
        if role is None:
            raise NotFoundError("user", user_id)
        values = change(conn)
        if values.get("status") == "pending":
            values["submitted_at"] = now
        elif values.get("status") == "verified":
            values["verified_at"] = now
        sets = ", ".join(f"{col} = :{col}" for col in values)  # columns are whitelisted
        done = conn.execute(
            text(
                f"UPDATE {table} SET {sets}, version = version + 1, updated_at = :now "
                "WHERE user_id = :u"
            ),
            {**values, "now": now, "u": user_id},
        )
        if done.rowcount != 1:
            raise NotFoundError(f"{table} row of user", user_id)
        conn.execute(
            text("UPDATE users SET version = version + 1, updated_at = :now WHERE id = :u"),
            {"now": now, "u": user_id},
        )
        tables = [table, "users"]
        expert_id = None
        if role == "expert":
            expert_id = conn.execute(
                text("SELECT id FROM experts WHERE user_id = :u"), {"u": user_id}
            ).scalar()
        if expert_id is not None and "status" in values:
            # an expert is listed only once verified: the flag follows the verification
            listed = values["status"] == "verified"
            flipped = conn.execute(
                text(
                    "UPDATE experts SET is_verified = :v, version = version + 1, "
                    "updated_at = :now WHERE id = :e AND is_verified <> :v"
                ),
                {"v": listed, "now": now, "e": expert_id},
            )
            if flipped.rowcount:
                tables.append("experts")
    return WriteEvent(
        kind="user_updated",
        user_id=user_id,
        expert_id=expert_id,
        detail=update_type,
        tables=tuple(tables),
        committed_at=now.timestamp(),
        columns=tuple(values),
    )


def update_user_profile(
    engine: Engine,
    user_id: int,
    update_type: UpdateType,
    changes: Mapping[str, Any] | None,
    now: datetime,
) -> WriteEvent:
    """Update a user's profile, preferences or verification row.

    ``changes`` maps column names to new values (accepted columns depend on ``update_type``);
    ``None`` makes a deterministic change: profile -> ``bio`` stamped with ``now``,
    preferences -> toggle ``email_notifications``, verification -> ``pending`` becomes
    ``verified``, anything else becomes ``pending``. A verification status of ``pending`` sets
    ``submitted_at = now``; ``verified`` sets ``verified_at = now``, and an expert's
    ``experts.is_verified`` becomes whether the status is ``verified`` (``experts`` is then
    among the event's tables if the flag changed). Also bumps ``users.version``. The event's
    ``expert_id`` is set when the user is an expert; its ``columns`` are those written.
    """
    _check_id("user_id", user_id)
    if update_type not in UPDATE_TYPES:
        raise ConfigError(
            "update_type", f"unknown update type {update_type!r}; known: {', '.join(UPDATE_TYPES)}"
        )
    checked = None if changes is None else _check_changes(update_type, changes)
    now = require_aware("now", now)

    def change(conn: Connection) -> dict[str, Any]:
        if checked is not None:
            return dict(checked)
        return _default_change(conn, update_type, user_id, now)

    return _update_user(engine, user_id, update_type, change, now)


def rename_user(engine: Engine, user_id: int, now: datetime) -> WriteEvent:
    """A user changes their name: ``profiles.last_name`` becomes its stem numbered with the
    row's next version (``Smith`` -> ``Smith #2`` -> ``Smith #3``), always a new value. The
    event is a ``user_updated``/``profile`` one with ``columns == ("last_name",)``."""
    _check_id("user_id", user_id)
    now = require_aware("now", now)
    return _update_user(engine, user_id, "profile", lambda conn: _renamed(conn, user_id), now)


def _expert_user(conn: Connection, expert_id: int) -> int:
    user_id = conn.execute(
        text("SELECT user_id FROM experts WHERE id = :e FOR UPDATE"), {"e": expert_id}
    ).scalar()
    if user_id is None:
        raise NotFoundError("expert", expert_id)
    return int(user_id)


MAX_HOURLY_RATE = Decimal("99999999.99")  # experts.hourly_rate is NUMERIC(10, 2)
RATE_STEP = Decimal("5.00")


def update_expert_rate(
    engine: Engine, expert_id: int, hourly_rate: Decimal | int | None, now: datetime
) -> WriteEvent:
    """An expert changes their fee (``experts.hourly_rate``, 2 decimals).

    ``None`` makes a deterministic change: ``RATE_STEP`` up when the row's version is odd,
    down when even (up when that would reach 0), so a rate moves and comes back. Payments
    already booked keep their amounts. The event is ``expert_updated`` with detail and
    ``columns`` ``hourly_rate``, ``user_id`` the expert's user.
    """
    _check_id("expert_id", expert_id)
    if hourly_rate is not None:
        if isinstance(hourly_rate, bool) or not isinstance(hourly_rate, int | Decimal):
            raise ConfigError(
                "hourly_rate", f"must be a Decimal or int (or None), got {hourly_rate!r}"
            )
        hourly_rate = Decimal(hourly_rate)
        if not (hourly_rate.is_finite() and 0 < hourly_rate <= MAX_HOURLY_RATE):
            raise ConfigError(
                "hourly_rate", f"must be in (0, {MAX_HOURLY_RATE}], got {hourly_rate}"
            )
        hourly_rate = hourly_rate.quantize(Decimal("0.01"))
    now = require_aware("now", now)
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT user_id, hourly_rate, version FROM experts WHERE id = :e FOR UPDATE"),
            {"e": expert_id},
        ).first()
        if row is None:
            raise NotFoundError("expert", expert_id)
        rate = hourly_rate
        if rate is None:
            down = row.version % 2 == 0 and row.hourly_rate > RATE_STEP
            rate = row.hourly_rate - RATE_STEP if down else row.hourly_rate + RATE_STEP
        conn.execute(
            text(
                "UPDATE experts SET hourly_rate = :r, version = version + 1, updated_at = :now "
                "WHERE id = :e"
            ),
            {"r": rate, "now": now, "e": expert_id},
        )
    return WriteEvent(
        kind="expert_updated",
        user_id=int(row.user_id),
        expert_id=expert_id,
        detail="hourly_rate",
        tables=("experts",),
        committed_at=now.timestamp(),
        columns=("hourly_rate",),
    )


def update_expert_availability(
    engine: Engine,
    expert_id: int,
    slots: Sequence[tuple[datetime, datetime]],
    now: datetime,
) -> WriteEvent:
    """Replace an expert's future availability in one transaction.

    Deletes the expert's slots with ``starts_at >= now`` and inserts ``slots`` (each
    ``(starts_at, ends_at)``, aware, ``now <= starts_at < ends_at``). A new slot is marked
    booked when an appointment of the expert that is not cancelled starts at that time (the
    rule every write keeps: see :func:`_sync_slot`).
    """
    _check_id("expert_id", expert_id)
    now = require_aware("now", now)
    starts, ends = [], []
    for i, slot in enumerate(slots):
        if not (isinstance(slot, tuple | list) and len(slot) == 2):
            raise ConfigError(f"slots[{i}]", f"must be a (starts_at, ends_at) pair, got {slot!r}")
        s = require_aware(f"slots[{i}][0]", slot[0])
        e = require_aware(f"slots[{i}][1]", slot[1])
        if not now <= s < e:
            raise ConfigError(
                f"slots[{i}]", f"must satisfy now <= starts_at < ends_at, got {iso(s)}..{iso(e)}"
            )
        starts.append(s)
        ends.append(e)
    with engine.begin() as conn:
        user_id = _expert_user(conn, expert_id)
        conn.execute(
            text("DELETE FROM availability_slots WHERE expert_id = :e AND starts_at >= :now"),
            {"e": expert_id, "now": now},
        )
        if starts:
            conn.execute(
                text(
                    """
                    INSERT INTO availability_slots
                        (expert_id, starts_at, ends_at, is_booked, updated_at, version)
                    SELECT :e, t.s, t.e, EXISTS (
                        SELECT 1 FROM appointments a WHERE a.expert_id = :e
                        AND a.scheduled_at = t.s AND a.status <> 'cancelled'),
                        :now, 1
                    FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
                        AS t(s, e)
                    ORDER BY t.s, t.e
                    """
                ),
                {"e": expert_id, "now": now, "starts": starts, "ends": ends},
            )
    return WriteEvent(
        kind="availability_updated",
        user_id=user_id,
        expert_id=expert_id,
        detail=f"{len(starts)} slots",
        tables=("availability_slots",),
        committed_at=now.timestamp(),
    )


def create_appointment(
    engine: Engine,
    user_id: int,
    expert_id: int,
    scheduled_at: datetime,
    duration_minutes: int,
    now: datetime,
) -> WriteEvent:
    """Book an appointment (status ``scheduled``) with a ``pending`` payment of
    ``hourly_rate * duration / 60``; the expert's free slot starting at ``scheduled_at``, if
    any, becomes booked. The event carries ``appointment_id`` and ``payment_id``."""
    _check_id("user_id", user_id)
    _check_id("expert_id", expert_id)
    scheduled_at = require_aware("scheduled_at", scheduled_at)
    now = require_aware("now", now)
    if (
        isinstance(duration_minutes, bool)
        or not isinstance(duration_minutes, int)
        or not 1 <= duration_minutes <= MAX_DURATION_MINUTES
    ):
        raise ConfigError(
            "duration_minutes",
            f"must be an int in 1..{MAX_DURATION_MINUTES}, got {duration_minutes!r}",
        )
    tables = ["appointments", "payments"]
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM users WHERE id = :u"), {"u": user_id}).scalar() is None:
            raise NotFoundError("user", user_id)
        rate = conn.execute(
            text("SELECT hourly_rate FROM experts WHERE id = :e"), {"e": expert_id}
        ).scalar()
        if rate is None:
            raise NotFoundError("expert", expert_id)
        appointment_id = conn.execute(
            text(
                """
                INSERT INTO appointments (user_id, expert_id, scheduled_at, duration_minutes,
                                          status, created_at, updated_at, version)
                VALUES (:u, :e, :at, :d, 'scheduled', :now, :now, 1) RETURNING id
                """
            ),
            {"u": user_id, "e": expert_id, "at": scheduled_at, "d": duration_minutes, "now": now},
        ).scalar_one()
        payment_id = conn.execute(
            text(
                """
                INSERT INTO payments (appointment_id, user_id, expert_id, amount, currency,
                                      status, paid_at, created_at, updated_at, version)
                VALUES (:a, :u, :e, round(CAST(:rate AS numeric) * :d / 60, 2), 'USD',
                        'pending', NULL, :now, :now, 1)
                RETURNING id
                """
            ),
            {
                "a": appointment_id,
                "u": user_id,
                "e": expert_id,
                "rate": rate,
                "d": duration_minutes,
                "now": now,
            },
        ).scalar_one()
        booked = conn.execute(
            text(
                "UPDATE availability_slots SET is_booked = true, version = version + 1, "
                "updated_at = :now WHERE expert_id = :e AND starts_at = :at AND NOT is_booked"
            ),
            {"e": expert_id, "at": scheduled_at, "now": now},
        )
        if booked.rowcount:
            tables.append("availability_slots")
    return WriteEvent(
        kind="appointment_created",
        user_id=user_id,
        expert_id=expert_id,
        appointment_id=int(appointment_id),
        payment_id=int(payment_id),
        tables=tuple(tables),
        committed_at=now.timestamp(),
    )


_SYNC_SLOT_SQL = text(
    """
    UPDATE availability_slots s SET is_booked = b.booked, version = s.version + 1,
        updated_at = :now
    FROM (SELECT EXISTS (SELECT 1 FROM appointments a WHERE a.expert_id = :e
                         AND a.scheduled_at = :at AND a.status <> 'cancelled') AS booked) b
    WHERE s.expert_id = :e AND s.starts_at = :at AND s.is_booked <> b.booked
    """
)


def _sync_slot(conn: Connection, expert_id: int, at: datetime, now: datetime) -> bool:
    """Make the expert's slot starting at ``at`` (if any) booked exactly when an appointment
    that is not cancelled starts then; True if it changed (freed or booked)."""
    done = conn.execute(_SYNC_SLOT_SQL, {"e": expert_id, "at": at, "now": now})
    return bool(done.rowcount)


def _lock_appointment(conn: Connection, appointment_id: int) -> Any:
    row = conn.execute(
        text(
            "SELECT user_id, expert_id, scheduled_at, status FROM appointments "
            "WHERE id = :a FOR UPDATE"
        ),
        {"a": appointment_id},
    ).first()
    if row is None:
        raise NotFoundError("appointment", appointment_id)
    return row


def change_appointment_status(
    engine: Engine, appointment_id: int, status: str, now: datetime
) -> WriteEvent:
    """Set an appointment's status (one of ``APPOINTMENT_STATUSES``); detail is the new status.

    A cancellation frees the expert's slot at the appointment's time (unless another
    appointment that is not cancelled holds it), and leaving ``cancelled`` books it again:
    ``availability_slots`` is then among the event's tables. Payments are left as they are.
    Allowed transitions are the caller's business (the repository checks them)."""
    _check_id("appointment_id", appointment_id)
    if status not in APPOINTMENT_STATUSES:
        raise ConfigError(
            "status",
            f"unknown appointment status {status!r}; known: {', '.join(APPOINTMENT_STATUSES)}",
        )
    now = require_aware("now", now)
    tables = ["appointments"]
    with engine.begin() as conn:
        row = _lock_appointment(conn, appointment_id)
        conn.execute(
            text(
                "UPDATE appointments SET status = :s, version = version + 1, updated_at = :now "
                "WHERE id = :a"
            ),
            {"s": status, "now": now, "a": appointment_id},
        )
        if "cancelled" in (row.status, status) and _sync_slot(
            conn, row.expert_id, row.scheduled_at, now
        ):
            tables.append("availability_slots")
    return WriteEvent(
        kind="appointment_status_changed",
        user_id=int(row.user_id),
        expert_id=int(row.expert_id),
        appointment_id=appointment_id,
        detail=status,
        tables=tuple(tables),
        committed_at=now.timestamp(),
    )


OPEN_STATUSES: tuple[str, ...] = ("scheduled", "confirmed")


def reschedule_appointment(
    engine: Engine, appointment_id: int, scheduled_at: datetime, now: datetime
) -> WriteEvent:
    """Move a scheduled or confirmed appointment to ``scheduled_at``, the start of a free slot
    of the same expert: that slot becomes booked and the old time's slot is freed (unless
    another appointment that is not cancelled holds it). Status, duration and payment stay.

    Raises :class:`InvalidStateError` when the appointment is not open, already at that time,
    or the expert has no free slot starting then.
    """
    _check_id("appointment_id", appointment_id)
    scheduled_at = require_aware("scheduled_at", scheduled_at)
    now = require_aware("now", now)
    if scheduled_at < now:
        raise ConfigError(
            "scheduled_at", f"must not be before now ({iso(now)}), got {iso(scheduled_at)}"
        )
    with engine.begin() as conn:
        row = _lock_appointment(conn, appointment_id)
        if row.status not in OPEN_STATUSES:
            raise InvalidStateError(
                f"appointment {appointment_id} is {row.status!r}; only "
                f"{' or '.join(OPEN_STATUSES)} appointments can be rescheduled"
            )
        if row.scheduled_at == scheduled_at:
            raise InvalidStateError(
                f"appointment {appointment_id} is already at {iso(scheduled_at)}"
            )
        slot = conn.execute(
            text(
                "SELECT id FROM availability_slots WHERE expert_id = :e AND starts_at = :at "
                "AND NOT is_booked ORDER BY id LIMIT 1 FOR UPDATE"
            ),
            {"e": row.expert_id, "at": scheduled_at},
        ).scalar()
        if slot is None:
            raise InvalidStateError(
                f"expert {row.expert_id} has no free slot starting at {iso(scheduled_at)}"
            )
        conn.execute(
            text(
                "UPDATE appointments SET scheduled_at = :at, version = version + 1, "
                "updated_at = :now WHERE id = :a"
            ),
            {"at": scheduled_at, "now": now, "a": appointment_id},
        )
        conn.execute(
            text(
                "UPDATE availability_slots SET is_booked = true, version = version + 1, "
                "updated_at = :now WHERE id = :s"
            ),
            {"now": now, "s": slot},
        )
        _sync_slot(conn, row.expert_id, row.scheduled_at, now)
    return WriteEvent(
        kind="appointment_rescheduled",
        user_id=int(row.user_id),
        expert_id=int(row.expert_id),
        appointment_id=appointment_id,
        tables=("appointments", "availability_slots"),
        committed_at=now.timestamp(),
    )


def _payment_transition(
    engine: Engine,
    payment_id: int,
    now: datetime,
    *,
    status: str,
    becomes: str,
    kind: EventKind,
    sets: str = "",
) -> WriteEvent:
    """Move a payment from ``status`` to ``becomes`` (plus ``sets``, SQL assignments using
    ``:now``) in one transaction; InvalidStateError, nothing written, from any other status."""
    _check_id("payment_id", payment_id)
    now = require_aware("now", now)
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT status, appointment_id, user_id, expert_id FROM payments "
                "WHERE id = :p FOR UPDATE"
            ),
            {"p": payment_id},
        ).first()
        if row is None:
            raise NotFoundError("payment", payment_id)
        if row.status != status:
            raise InvalidStateError(
                f"payment {payment_id} is {row.status!r}; only {status!r} payments can become "
                f"{becomes!r}"
            )
        conn.execute(
            text(
                f"UPDATE payments SET status = :to, {sets}version = version + 1, "
                "updated_at = :now WHERE id = :p"
            ),
            {"to": becomes, "now": now, "p": payment_id},
        )
    return WriteEvent(
        kind=kind,
        user_id=int(row.user_id),
        expert_id=int(row.expert_id),
        appointment_id=int(row.appointment_id),
        payment_id=payment_id,
        tables=("payments",),
        committed_at=now.timestamp(),
    )


def complete_payment(engine: Engine, payment_id: int, now: datetime) -> WriteEvent:
    """Mark a ``pending`` payment ``succeeded`` with ``paid_at = now``.

    Raises :class:`InvalidStateError` if the payment is not pending (completing twice is a
    workload bug worth seeing)."""
    return _payment_transition(
        engine, payment_id, now, status="pending", becomes="succeeded",
        kind="payment_completed", sets="paid_at = :now, ",
    )  # fmt: skip


def refund_payment(engine: Engine, payment_id: int, now: datetime) -> WriteEvent:
    """Refund a ``succeeded`` payment: it becomes ``refunded`` (``paid_at`` stays, as on the
    seeded refunds), so it leaves the revenue and earnings sums.

    Raises :class:`InvalidStateError` if the payment is not succeeded (refunding twice is a
    workload bug worth seeing)."""
    return _payment_transition(
        engine, payment_id, now, status="succeeded", becomes="refunded", kind="payment_refunded"
    )


def add_review(
    engine: Engine, expert_id: int, user_id: int, rating: int, comment: str | None, now: datetime
) -> WriteEvent:
    """Add a review (rating 1..5) and recompute the expert's ``rating`` (mean, 2 decimals) and
    ``total_reviews`` from all its reviews."""
    _check_id("expert_id", expert_id)
    _check_id("user_id", user_id)
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ConfigError("rating", f"must be an int in 1..5, got {rating!r}")
    if comment is not None and not isinstance(comment, str):
        raise ConfigError("comment", f"must be a str or None, got {comment!r}")
    now = require_aware("now", now)
    with engine.begin() as conn:
        _expert_user(conn, expert_id)  # locks the experts row: rating updates serialise
        if conn.execute(text("SELECT 1 FROM users WHERE id = :u"), {"u": user_id}).scalar() is None:
            raise NotFoundError("user", user_id)
        review_id = conn.execute(
            text(
                """
                INSERT INTO reviews (expert_id, user_id, rating, comment, created_at, updated_at,
                                     version)
                VALUES (:e, :u, :r, :c, :now, :now, 1) RETURNING id
                """
            ),
            {"e": expert_id, "u": user_id, "r": rating, "c": comment, "now": now},
        ).scalar_one()
        conn.execute(
            text(
                """
                UPDATE experts SET (rating, total_reviews) = (
                    SELECT round(avg(rating), 2), count(*) FROM reviews WHERE expert_id = :e),
                    version = version + 1, updated_at = :now
                WHERE id = :e
                """
            ),
            {"e": expert_id, "now": now},
        )
    return WriteEvent(
        kind="review_added",
        user_id=user_id,
        expert_id=expert_id,
        review_id=int(review_id),
        tables=("reviews", "experts"),
        committed_at=now.timestamp(),
    )


#: The rows a new user gets (so every user-profile read finds them): a patient, unverified.
_INSERT_USER_SQL = text(
    """
    WITH u AS (
        INSERT INTO users (id, email, role, created_at, updated_at, version)
        VALUES (:u, :email, 'user', :now, :now, 1)
        ON CONFLICT (id) DO NOTHING RETURNING id),
    p AS (
        INSERT INTO profiles (user_id, first_name, last_name, phone, city, bio, updated_at,
                              version)
        SELECT id, 'New', 'User ' || id, NULL, NULL, NULL, :now, 1 FROM u),
    pr AS (
        INSERT INTO preferences (user_id, language, timezone, email_notifications,
                                 sms_notifications, updated_at, version)
        SELECT id, 'en', 'UTC', true, false, :now, 1 FROM u),
    v AS (
        INSERT INTO verifications (user_id, status, submitted_at, verified_at, updated_at,
                                   version)
        SELECT id, 'unverified', NULL, NULL, :now, 1 FROM u)
    SELECT id FROM u
    """
)
# The id sequence never moves back: concurrent inserts take this lock in turn (its key is
# arbitrary, only inserts of users take it).
_USERS_SEQUENCE_SQL = text(
    """
    SELECT setval(x.seq, greatest(:u, coalesce(pg_sequence_last_value(x.seq), 0)))
    FROM (SELECT CAST(pg_get_serial_sequence('users', 'id') AS regclass) AS seq,
                 pg_advisory_xact_lock(7238140) AS locked OFFSET 0) x
    """
)


def insert_user(engine: Engine, user_id: int, now: datetime) -> WriteEvent:
    """Insert user ``user_id`` (a patient) with its profile, preferences and verification
    rows, its id given (the workload assigns new ids in order, so a stream is reproducible);
    the users id sequence is moved past it.

    Raises :class:`InvalidStateError` (nothing written) if the id is taken.
    """
    _check_id("user_id", user_id)
    now = require_aware("now", now)
    email = f"new.user.{user_id}@example.org"
    with engine.begin() as conn:
        created = conn.execute(_INSERT_USER_SQL, {"u": user_id, "email": email, "now": now})
        if created.scalar() is None:
            raise InvalidStateError(f"user {user_id} already exists")
        conn.execute(_USERS_SEQUENCE_SQL, {"u": user_id})
    return WriteEvent(
        kind="user_created",
        user_id=user_id,
        tables=("users", "profiles", "preferences", "verifications"),
        committed_at=now.timestamp(),
    )
