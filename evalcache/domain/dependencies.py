"""What each query family reads, and which write events make its answer stale.

This table is the contract invalidation strategies are derived from (``explicit``, ``tags``,
``generation``...): for each family, the rows it reads and, for each
:class:`~evalcache.events.WriteEvent` kind, which cached arguments of the family the event
makes stale. It states the *exact* dependencies of the queries in
:mod:`evalcache.domain.queries`; the seed plan's hand-written maps are a different (gappy) thing.

Notation in ``stale_on``: ``E``/``U`` are the family's expert/user argument; ``ev.x`` is a field
of the event. "any" means every cached entry of the family. ``specs(E)`` is the specialization
names of expert E (static after seeding; ``load_id_pools(conn)["expert_specializations"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class QueryFamily:
    """One query family of :mod:`evalcache.domain.queries`.

    Attributes
    ----------
    name: family name (also a sensible cache-key prefix).
    function: the query function in ``evalcache.domain.queries``.
    args: the arguments that identify an answer (cache-key parts).
    reads: the rows the answer is built from.
    stale_on: event kind -> which entries of this family the event makes stale.
    time_dependent: the answer changes as ``now`` moves even without writes (a cache must key
        on a rounded ``now`` or accept that drift as staleness).
    """

    name: str
    function: str
    args: tuple[str, ...]
    reads: tuple[str, ...]
    stale_on: dict[str, str] = field(default_factory=dict)
    time_dependent: bool = False


_PROFILE_NAME = "user_updated with detail 'profile' and ev.expert_id == E (expert's name/bio)"

QUERY_FAMILIES: dict[str, QueryFamily] = {
    f.name: f
    for f in (
        QueryFamily(
            "user_profile",
            "get_user_profile / get_user_profiles (one entry per id)",
            ("user_id",),
            ("users[U]", "profiles[U]", "preferences[U]", "verifications[U]"),
            {"user_updated": "U == ev.user_id (any detail)"},
        ),
        QueryFamily(
            "expert_profile_basic",
            "get_expert_profile(include_availability=False)",
            ("expert_id",),
            (
                "experts[E]",
                "profiles[experts[E].user_id]",
                "expert_specializations[E] + specializations",
                "reviews of E (10 latest)",
            ),
            {"review_added": "E == ev.expert_id", "user_updated": _PROFILE_NAME},
        ),
        QueryFamily(
            "expert_profile_full",
            "get_expert_profile(include_availability=True)",
            ("expert_id",),
            (
                "everything expert_profile_basic reads",
                "availability_slots of E with starts_at >= now (incl. is_booked)",
            ),
            {
                "review_added": "E == ev.expert_id",
                "user_updated": _PROFILE_NAME,
                "availability_updated": "E == ev.expert_id",
                "appointment_created": "E == ev.expert_id (the booked slot's is_booked flips)",
            },
            time_dependent=True,
        ),
        QueryFamily(
            "experts_by_specialization",
            "get_experts_by_specialization",
            ("specialization", "limit"),
            (
                "specializations[name]",
                "experts having it (is_active, is_verified, rating, total_reviews)",
                "profiles of their users",
                "reviews of the listed experts (5 latest each)",
            ),
            {
                # A review changes rating and order, so membership of the top `limit` can change.
                "review_added": "specialization in specs(ev.expert_id)",
                "user_updated": "detail 'profile', ev.expert_id set, specialization in "
                "specs(ev.expert_id)",
            },
        ),
        QueryFamily(
            "user_appointments",
            "get_user_appointments",
            ("user_id", "status"),
            (
                "appointments of U",
                "payments of those appointments",
                "experts + profiles of their experts (name, headline)",
            ),
            {
                "appointment_created": "U == ev.user_id (every status)",
                "appointment_status_changed": "U == ev.user_id (every status)",
                "payment_completed": "U == ev.user_id",
                "user_updated": "detail 'profile' of an expert user (ev.expert_id) who has "
                "appointments with U (rare; any U to be exact)",
            },
        ),
        QueryFamily(
            "expert_appointments",
            "get_expert_appointments",
            ("expert_id", "start", "end"),
            (
                "appointments of E with start <= scheduled_at <= end",
                "payments of those appointments",
                "profiles of their patients (name)",
            ),
            {
                "appointment_created": "E == ev.expert_id",
                "appointment_status_changed": "E == ev.expert_id",
                "payment_completed": "E == ev.expert_id",
                "user_updated": "detail 'profile' of a patient of E (any E to be exact)",
            },
        ),
        QueryFamily(
            "admin_dashboard",
            "get_admin_dashboard",
            (),
            (
                "count(users), count(experts)",
                "50 latest appointments (by created_at)",
                "succeeded payments with paid_at in (now-30d, now]",
                "verifications with status 'pending'",
            ),
            {
                "appointment_created": "any",
                "appointment_status_changed": "any (if among the 50 latest)",
                "payment_completed": "any",
                "user_updated": "detail 'verification'",
            },
            time_dependent=True,
        ),
        QueryFamily(
            "expert_dashboard",
            "get_expert_dashboard",
            ("expert_id",),
            (
                "upcoming scheduled/confirmed appointments of E from now (20) + patient names",
                "reviews of E (5 latest)",
                "succeeded payments of E with paid_at in (now-30d, now]",
                "availability_slots of E from now (counts, next open)",
            ),
            {
                "appointment_created": "E == ev.expert_id",
                "appointment_status_changed": "E == ev.expert_id",
                "payment_completed": "E == ev.expert_id",
                "review_added": "E == ev.expert_id",
                "availability_updated": "E == ev.expert_id",
                "user_updated": "detail 'profile' of a patient of E (any E to be exact)",
            },
            time_dependent=True,
        ),
        QueryFamily(
            "user_dashboard",
            "get_user_dashboard",
            ("user_id",),
            (
                "upcoming scheduled/confirmed appointments of U from now (20) + expert names",
                "payments of U (10 latest by created_at)",
            ),
            {
                "appointment_created": "U == ev.user_id",
                "appointment_status_changed": "U == ev.user_id",
                "payment_completed": "U == ev.user_id",
                "user_updated": "detail 'profile' of an expert user (ev.expert_id) with "
                "upcoming appointments of U (any U to be exact)",
            },
            time_dependent=True,
        ),
    )
}
