"""Write events: what a committed domain write changed.

Domain writes commit first and then report one of these; invalidation strategies consume them.
Kept outside ``evalcache.domain`` so strategies and the cache-agnostic runner can name the type
without importing the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal[
    "user_updated",  # detail: "profile" | "preferences" | "verification"
    "availability_updated",
    "appointment_created",
    "appointment_status_changed",  # detail: the new status
    "payment_completed",
    "review_added",
]

EVENT_KINDS: tuple[str, ...] = (
    "user_updated",
    "availability_updated",
    "appointment_created",
    "appointment_status_changed",
    "payment_completed",
    "review_added",
)


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """One committed write.

    Attributes
    ----------
    kind:
        What happened (one of ``EVENT_KINDS``).
    user_id, expert_id, appointment_id, payment_id, review_id:
        Ids the write touched (``None`` when not applicable). ``expert_id`` is the id of the
        experts row, ``user_id`` of the users row (a patient, or the expert's own user row for
        an expert profile update).
    detail:
        Sub-kind: the update type of ``user_updated``, the new status of
        ``appointment_status_changed``.
    tables:
        Tables the transaction wrote, for table-version strategies.
    committed_at:
        Clock time (the run's clock) at which the write committed.
    """

    kind: EventKind
    user_id: int | None = None
    expert_id: int | None = None
    appointment_id: int | None = None
    payment_id: int | None = None
    review_id: int | None = None
    detail: str | None = None
    tables: tuple[str, ...] = field(default=())
    committed_at: float = 0.0
