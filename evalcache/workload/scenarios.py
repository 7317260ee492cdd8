"""The named workloads (scenarios) and the registry that finds them by name.

Weights are relative within reads and within writes; ``write_ratio`` splits the two. Rates are
requests per simulated second. Numbers are deliberately round: they stand for the shape of a
production mix, and notebooks sweep the parameters that matter (rate, skew, write ratio).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from evalcache.errors import UnknownNameError
from evalcache.workload.arrivals import Burst
from evalcache.workload.popularity import PopularitySpec
from evalcache.workload.spec import WorkloadSpec, parse_duration
from evalcache.workload.ycsb import from_properties

DEFAULT_WORKLOAD = "mixed"

_MIXED_READS = {
    "read:user_profile": 25,
    "read:user_profiles_batch": 5,
    "read:expert_basic": 15,
    "read:expert_full": 10,
    "read:experts_by_spec": 10,
    "read:user_appointments": 12,
    "read:expert_appointments": 8,
    "read:dashboard_user": 8,
    "read:dashboard_expert": 5,
    "read:dashboard_admin": 2,
}
# Every write of the application (percent of writes): the user edits, bookings and their
# changes, payments and their refunds, reviews.
_MIXED_WRITES = {
    "write:patient_profile": 10,
    "write:expert_profile": 10,
    "write:preferences": 5,
    "write:verification": 5,
    "write:availability": 10,
    "write:create_appointment": 20,
    "write:appointment_status": 8,
    "write:reschedule_appointment": 6,
    "write:cancel_appointment": 6,
    "write:complete_payment": 8,
    "write:refund_payment": 4,
    "write:add_review": 8,
}
_BROWSE_READS = {
    "read:experts_by_spec": 35,
    "read:expert_basic": 35,
    "read:expert_full": 20,
    "read:user_profile": 10,
}
# What changes the directory: reviews, availability, experts' own edits and verifications.
_BROWSE_WRITES = {
    "write:add_review": 35,
    "write:availability": 35,
    "write:expert_profile": 15,
    "write:patient_profile": 10,
    "write:verification": 5,
}
# Consumable rows are used once each, in order, so a payment is not completed or refunded
# twice and an appointment is confirmed, completed, moved or cancelled once per pass.
_SEQUENTIAL = {
    "pending_payments": PopularitySpec("sequential"),
    "succeeded_payments": PopularitySpec("sequential"),
    "open_appointments": PopularitySpec("sequential"),
}


#: YCSB's core workloads (``workloads/workloada``..``f``): proportions and distributions; the
#: record count is the users pool and the duration the default one.
_YCSB: dict[str, tuple[str, dict[str, object]]] = {
    "a": ("update heavy, 50/50 read/update", {"readproportion": 0.5, "updateproportion": 0.5}),
    "b": ("read mostly, 95/5 read/update", {"readproportion": 0.95, "updateproportion": 0.05}),
    "c": ("read only", {"readproportion": 1.0, "updateproportion": 0.0}),
    "d": (
        "read latest, 95/5 read/insert, the newest users hottest",
        {"readproportion": 0.95, "updateproportion": 0.0, "insertproportion": 0.05,
         "requestdistribution": "latest"},
    ),
    "e": (
        "short ranges, 95/5 scan (1..100 users)/insert",
        {"readproportion": 0.0, "updateproportion": 0.0, "scanproportion": 0.95,
         "insertproportion": 0.05, "maxscanlength": 100},
    ),
    "f": (
        "read-modify-write, 50/50 read/RMW (one request each)",
        {"readproportion": 0.5, "updateproportion": 0.0, "readmodifywriteproportion": 0.5},
    ),
}  # fmt: skip


def _ycsb(letter: str) -> WorkloadSpec:
    what, props = _YCSB[letter]
    spec = from_properties({"requestdistribution": "zipfian", **props, "target": 500.0},
                           name=f"ycsb_{letter}")  # fmt: skip
    dist = str(props.get("requestdistribution", "zipfian (scrambled)"))
    return replace(spec, description=f"YCSB {letter.upper()}: {what}, {dist} user keys")


def _builtin() -> dict[str, WorkloadSpec]:
    specs = [
        WorkloadSpec(
            "browse",
            {**_BROWSE_READS, **_BROWSE_WRITES},
            write_ratio=0.03,
            rate=200.0,
            description="directory by specialization and expert profiles, ~97 % reads",
        ),
        WorkloadSpec(
            "booking",
            {
                "read:expert_full": 35,
                "read:user_appointments": 30,
                "read:expert_appointments": 20,
                "read:expert_basic": 15,
                "write:create_appointment": 40,
                "write:availability": 20,
                "write:appointment_status": 15,
                "write:reschedule_appointment": 15,
                "write:cancel_appointment": 10,
            },
            write_ratio=0.10,
            rate=100.0,
            popularity=_SEQUENTIAL,
            description="availability and appointment writes (booking, moving, cancelling), ~90/10",
        ),
        WorkloadSpec(
            "profile",
            {"read:user_profile": 80, "read:user_profiles_batch": 20, "write:user_profile": 1},
            write_ratio=0.05,
            rate=200.0,
            description="user profiles, single and batch, 95/5",
        ),
        WorkloadSpec(
            "payments",
            {
                "read:user_appointments": 60,
                "read:dashboard_user": 40,
                "write:complete_payment": 60,
                "write:refund_payment": 15,
                "write:appointment_status": 25,
            },
            write_ratio=0.30,
            rate=50.0,
            popularity=_SEQUENTIAL,
            description="status polls, payment completions and refunds, ~70/30",
        ),
        WorkloadSpec(
            "dashboard",
            {
                "read:dashboard_expert": 60,
                "read:dashboard_user": 30,
                "read:dashboard_admin": 10,
                "write:create_appointment": 50,
                "write:appointment_status": 30,
                "write:reschedule_appointment": 10,
                "write:cancel_appointment": 10,
            },
            write_ratio=0.01,
            popularity=_SEQUENTIAL,
            rate=20.0,
            description="expert and admin dashboards polled, 99/1, expensive queries",
        ),
        WorkloadSpec(
            "flash_crowd",
            {**_BROWSE_READS, **_BROWSE_WRITES},
            write_ratio=0.03,
            rate=100.0,
            bursts=(Burst(600.0, 300.0, 10.0, focus_pool="experts", focus_keys=5),),
            description="browsing, then 5 min at 10x rate concentrated on 5 experts",
        ),
        WorkloadSpec(
            "cold_start",
            {**_MIXED_READS, **_MIXED_WRITES},
            write_ratio=0.05,
            rate=200.0,
            duration_s=900.0,
            popularity=_SEQUENTIAL,
            cold_start=True,
            description="the mixed workload on an empty cache, no warm-up",
        ),
        WorkloadSpec(
            "mixed",
            {**_MIXED_READS, **_MIXED_WRITES},
            write_ratio=0.05,
            rate=200.0,
            popularity=_SEQUENTIAL,
            description="every family and every write, standing for production, 95/5 (the default)",
        ),
        *(_ycsb(letter) for letter in "abcdef"),
        WorkloadSpec(
            "synthetic",
            {"read:user_profile": 1, "write:user_profile": 1},
            write_ratio=0.0,
            rate=100.0,
            description="independent Poisson reads, Zipf keys, one family; checks the TTL model",
        ),
    ]
    return {s.name: s for s in specs}


#: Named workloads (read-only).
WORKLOADS: Mapping[str, WorkloadSpec] = MappingProxyType(_builtin())


def workload_names() -> list[str]:
    """Names of the built-in workloads, sorted."""
    return sorted(WORKLOADS)


def get_workload(
    name: str,
    *,
    rate: float | None = None,
    skew: float | None = None,
    write_ratio: float | None = None,
    duration: float | str | None = None,
) -> WorkloadSpec:
    """The named workload with optional overrides, validated before anything runs.

    Raises
    ------
    UnknownNameError
        ``name`` is not a known workload (the message lists them).
    ConfigError
        An override is out of range (the message names it and what is accepted).

    Examples
    --------
    >>> get_workload("ycsb_b", rate=50).rate
    50.0
    """
    try:
        spec = WORKLOADS[name]
    except KeyError:
        raise UnknownNameError("workload", name, WORKLOADS) from None
    if duration is not None:
        duration = parse_duration(duration)
    return spec.with_overrides(rate=rate, skew=skew, write_ratio=write_ratio, duration=duration)
