"""The ideal cache on hand-built streams: every outcome counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evalcache.domain.readspecs import entry_family
from evalcache.runner.ideal import IdealCounts, efficiency, ideal_cache, ideal_db_reduction
from evalcache.workload import Request

SPECS = ["cardiology", "dermatology"]
#: 2024-03-01 23:00 UTC: an hour before the expert-appointments window moves to the next day
ORIGIN = datetime(2024, 3, 1, 23, 0, tzinfo=UTC).timestamp()


def r(t: float, op: str, *args: object) -> Request:
    return Request(t, op, args)


STREAM = [
    r(1, "read:user_profile", 5),  # warm-up: fills user 5, not counted
    r(2, "read:expert_basic", 3),  # warm-up
    r(11, "read:user_profile", 5),  # hit (filled in the warm-up)
    r(12, "read:user_profile", 6),  # miss
    r(13, "write:user_profile", 6, "profile"),  # the ideal cache stays fresh: no miss after
    r(14, "read:user_profile", 6),  # hit
    r(15, "read:user_profiles_batch", 5, 6),  # hit: both user_profile entries are cached
    r(16, "read:user_profiles_batch", 6, 7),  # miss: 7 is new (one read, as the run counts)
    r(17, "read:user_profiles_batch", 7, 7),  # hit
    r(18, "read:user_profile", 7),  # hit: the batch filled it
    r(19, "read:experts_by_spec", 0),  # miss (cardiology)
    r(20, "read:experts_by_spec", 1),  # miss (dermatology)
    r(21, "read:experts_by_spec", 0),  # hit
    r(22, "read:expert_basic", 3),  # hit (warm-up)
    r(23, "read:expert_full", 3),  # miss: another entry of the same expert
    r(24, "read:expert_full", 3),  # hit
    r(25, "read:expert_appointments", 3),  # miss: today's window
    r(26, "read:expert_appointments", 3),  # hit
    r(3700, "read:expert_appointments", 3),  # miss: past midnight, tomorrow's window
    r(3701, "read:dashboard_admin"),  # miss
    r(3702, "read:dashboard_admin"),  # hit
    r(3703, "read:dashboard_user", 5),  # miss: not the user's profile entry
    r(3704, "write:add_review", 5, 3),
]


def test_hand_counted_stream() -> None:
    ideal = ideal_cache(STREAM, warmup_s=10, origin=ORIGIN, specializations=SPECS, admin_id=1)
    got = {f: (c.reads, c.hits) for f, c in ideal.families.items()}
    assert got == {
        "user_profile": (4, 3),
        "user_profiles_batch": (3, 2),
        "experts_by_spec": (3, 1),
        "expert_basic": (1, 1),
        "expert_full": (2, 1),
        "expert_appointments": (3, 1),
        "dashboard_admin": (2, 1),
        "dashboard_user": (1, 0),
    }
    assert (ideal.reads, ideal.hits) == (19, 10)
    assert ideal.hit_rate == 10 / 19
    # without a warm-up the first reads of user 5 and expert 3 miss as well
    cold = ideal_cache(STREAM, warmup_s=0, origin=ORIGIN, specializations=SPECS, admin_id=1)
    assert (cold.reads, cold.hits) == (21, 10)


def test_read_modify_write_reads_the_profile_first() -> None:
    kw = {"warmup_s": 0.0, "origin": ORIGIN, "specializations": SPECS}
    writes = [r(1, "write:user_profile", 8, "profile"), r(2, "write:user_profile", 8, "profile")]
    assert ideal_cache(writes, **kw).families == {}  # type: ignore[arg-type]
    rmw = [
        r(1, "write:rmw_user_profile", 8, "profile"),  # miss: its read is the first
        r(2, "write:rmw_user_profile", 8, "preferences"),  # hit
        r(3, "read:user_profile", 8),  # hit
    ]
    got = ideal_cache(rmw, **kw).families  # type: ignore[arg-type]
    assert got == {"user_profile": IdealCounts(reads=3, hits=2)}


def test_a_scan_reads_one_profile_entry_per_id_of_its_range() -> None:
    kw = {"warmup_s": 0.0, "origin": ORIGIN, "specializations": SPECS}
    stream = [
        r(1, "read:user_profiles_scan", 10, 3),  # miss: 10, 11, 12 are new
        r(2, "read:user_profile", 12),  # hit: the scan filled it
        r(3, "read:user_profiles_scan", 11, 2),  # hit: 11, 12
        r(4, "read:user_profiles_scan", 12, 2),  # miss: 13 is new
        r(5, "read:user_profiles_batch", 10, 13),  # hit
    ]
    got = ideal_cache(stream, **kw).families  # type: ignore[arg-type]
    assert got == {
        "user_profiles_scan": IdealCounts(reads=3, hits=1),
        "user_profile": IdealCounts(reads=1, hits=1),
        "user_profiles_batch": IdealCounts(reads=1, hits=1),
    }


def test_db_ceiling_uses_the_baselines_statements_per_read() -> None:
    ideal = ideal_cache(STREAM, warmup_s=10, origin=ORIGIN, specializations=SPECS, admin_id=1)
    # the cache-off run's (reads, statements) per family, and 7 statements of writes
    baseline = {"user_profile": (4, 4), "experts_by_spec": (3, 9), "dashboard_admin": (2, 8)}
    total = 4 + 9 + 8 + 7
    saved = 3 * 1 + 1 * 3 + 1 * 4  # ideal hits x statements per read; others unknown: none
    assert ideal_db_reduction(ideal, baseline, total) == pytest.approx(saved / total)
    assert ideal_db_reduction(ideal, baseline, 0) is None


def test_efficiency_is_achieved_over_ideal() -> None:
    assert efficiency(0.45, 0.9) == 0.5
    assert efficiency(None, 0.9) is None and efficiency(0.4, 0.0) is None


@pytest.mark.parametrize(
    ("key", "family"),
    [
        ("ns:user_profile:5", "user_profile"),
        ("ns:user_profile:5:3", "user_profile"),  # a counter-keyed strategy's key
        ("ns:expert_profile:3:basic", "expert_basic"),
        ("ns:expert_profile:3:full:2.7", "expert_full"),
        ("ns:dashboard:admin:1", "dashboard_admin"),
        ("ns:dashboard:user:5:0", "dashboard_user"),
        ("ns:user_appointments:5:all", "user_appointments"),
        ("ns:nothing:5", None),
        ("other:user_profile:5", None),
    ],
)
def test_entry_family_of_a_key(key: str, family: str | None) -> None:
    assert entry_family(key, "ns:") == family
