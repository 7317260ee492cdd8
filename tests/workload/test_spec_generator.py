from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from evalcache.errors import ConfigError, UnknownNameError
from evalcache.workload import (
    FAMILIES,
    OPERATIONS,
    WorkloadGenerator,
    WorkloadSpec,
    generator,
    get_workload,
    parse_duration,
    workload_names,
)
from evalcache.workload.spec import POOL_STREAMS
from evalcache.workload.spec import POOLS as SPEC_POOLS

POOLS = {
    "users": np.arange(1, 2001),
    "experts": np.arange(5001, 5201),
    "specializations": np.arange(1, 31),
    "open_appointments": np.arange(10_001, 12_001),
    "pending_payments": np.arange(900, 1400),
    "succeeded_payments": np.arange(3000, 1500, -1),
}
SCENARIOS = {
    "browse",
    "booking",
    "profile",
    "payments",
    "dashboard",
    "flash_crowd",
    "cold_start",
    "mixed",
    "synthetic",
    *(f"ycsb_{c}" for c in "abcdef"),
}


def test_every_issue_scenario_is_registered() -> None:
    assert set(workload_names()) >= SCENARIOS
    assert set(FAMILIES) == {
        op.removeprefix("read:") for op in OPERATIONS if op.startswith("read:")
    }


@pytest.mark.parametrize(
    ("name", "ratio"),
    [
        ("browse", 0.03),
        ("booking", 0.10),
        ("profile", 0.05),
        ("payments", 0.30),
        ("dashboard", 0.01),
        ("ycsb_a", 0.5),
        ("ycsb_c", 0.0),
    ],
)
def test_scenario_read_write_split(name: str, ratio: float) -> None:
    spec = get_workload(name, rate=2000, duration=30)
    gen = WorkloadGenerator(spec, POOLS, seed=1)
    ops = [r.op for r in gen]
    writes = sum(op.startswith("write:") for op in ops) / len(ops)
    assert writes == pytest.approx(ratio, abs=0.01)
    assert sum(spec.op_probabilities().values()) == pytest.approx(1.0)


def test_unknown_workload_lists_known_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_workload("nope")
    assert "mixed" in str(info.value) and "ycsb_a" in str(info.value)


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"rate": -1}, "rate"),
        ({"rate": "fast"}, "rate"),
        ({"skew": 20}, "skew"),
        ({"write_ratio": 1.5}, "write_ratio"),
        ({"duration": "ten minutes"}, "duration"),
        ({"duration": 0}, "duration"),
    ],
)
def test_bad_overrides_name_the_parameter(override: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError) as info:
        get_workload("mixed", **override)  # type: ignore[arg-type]
    assert info.value.name == name


def test_write_ratio_needs_write_operations() -> None:
    spec = WorkloadSpec("r", {"read:user_profile": 1})
    with pytest.raises(ConfigError, match="no write operations"):
        spec.with_overrides(write_ratio=0.1)
    with pytest.raises(UnknownNameError, match="read:user_profile"):
        WorkloadSpec("bad", {"read:nothing": 1})


def test_overrides_apply() -> None:
    spec = get_workload("ycsb_d", rate=50, skew=0.5, write_ratio=0.2, duration="1h30m")
    assert (spec.rate, spec.write_ratio, spec.duration_s) == (50.0, 0.2, 5400.0)
    assert spec.popularity_of("users").kind == "latest"
    assert spec.popularity_of("users").theta == 0.5
    assert spec.popularity_of("experts").theta == 0.5


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        (2.5, 2.5),
        ("250ms", 0.25),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_missing_pool_is_named_before_generating() -> None:
    with pytest.raises(ConfigError, match="pending_payments"):
        WorkloadGenerator(
            get_workload("payments"),
            {"users": POOLS["users"], "open_appointments": POOLS["open_appointments"]},
            seed=1,
        )
    with pytest.raises(ConfigError, match="integers"):
        WorkloadGenerator(get_workload("ycsb_c"), {"users": np.array(["a", "b"])}, seed=1)


def _digest(seed: int, name: str = "mixed") -> str:
    gen = WorkloadGenerator(get_workload(name, rate=500), POOLS, seed=seed, duration=60)
    h = hashlib.sha256()
    for r in gen:
        h.update(repr(r).encode())
    return h.hexdigest()


def test_same_seed_same_stream_byte_for_byte() -> None:
    assert _digest(7) == _digest(7)
    assert _digest(7) != _digest(8)
    gen = WorkloadGenerator(get_workload("flash_crowd"), POOLS, seed=3, duration=1200)
    assert (
        gen.digest()
        == WorkloadGenerator(get_workload("flash_crowd"), POOLS, seed=3, duration=1200).digest()
    )


def test_requests_use_real_ids_and_argument_shapes() -> None:
    spec = get_workload("mixed", rate=3000, duration=20)
    reqs = list(WorkloadGenerator(spec, POOLS, seed=2))
    assert all(a.t <= b.t for a, b in itertools.pairwise(reqs))
    seen = {r.op for r in reqs}
    assert seen == set(spec.operations)
    users, experts = set(POOLS["users"].tolist()), set(POOLS["experts"].tolist())
    for r in reqs:
        if r.op == "read:user_profiles_batch":
            assert len(r.args) == spec.batch_size and set(r.args) <= users
        elif r.op == "write:create_appointment":
            assert r.args[0] in users and r.args[1] in experts
        elif r.op == "write:patient_profile":
            assert r.args[0] in users and r.args[1] in ("name", "bio")
        elif r.op == "write:expert_profile":
            assert r.args[0] in experts and r.args[1] in ("name", "fee", "bio")
        elif r.op in ("write:preferences", "write:verification"):
            assert r.args[0] in (users if r.op == "write:preferences" else experts)
            assert len(r.args) == 1
        elif r.op == "write:appointment_status":
            assert 10_001 <= r.args[0] <= 12_000
            assert r.args[1] in ("confirmed", "completed", "no_show")
        elif r.op in ("write:reschedule_appointment", "write:cancel_appointment"):
            assert 10_001 <= r.args[0] <= 12_000 and len(r.args) == 1
        elif r.op == "read:dashboard_admin":
            assert r.args == ()
        elif r.op == "write:complete_payment":
            assert 900 <= r.args[0] < 1400
        elif r.op == "write:refund_payment":
            assert 1500 < r.args[0] <= 3000
    profile = get_workload("profile", rate=3000, duration=5)
    details = {r.args[1] for r in WorkloadGenerator(profile, POOLS, seed=2)
               if r.op == "write:user_profile"}  # fmt: skip
    assert details == {"profile", "preferences", "verification"}  # kept for the profile mixes


def test_key_popularity_follows_the_spec() -> None:
    gen = WorkloadGenerator(get_workload("synthetic", rate=4000), POOLS, seed=4, duration=100)
    ids, rates = gen.key_rates("read:user_profile")
    counts = np.zeros(ids.size)
    pos = {int(i): k for k, i in enumerate(ids.tolist())}
    for b in gen.batches():
        for i in b.args[:, 0].tolist():
            counts[pos[i]] += 1
    # the hottest key gets its expected count within a few standard deviations
    expected = rates * 100
    assert counts[0] == pytest.approx(expected[0], rel=0.03)
    assert counts[:100].sum() == pytest.approx(expected[:100].sum(), rel=0.02)


def test_flash_crowd_focuses_on_few_experts_during_burst() -> None:
    gen = WorkloadGenerator(get_workload("flash_crowd"), POOLS, seed=5, duration=1200)
    hot, before = [], []
    for r in gen:
        if r.op in ("read:expert_basic", "read:expert_full"):
            (hot if 600 <= r.t < 900 else before).append(r.args[0])
    top5 = set(POOLS["experts"][:5].tolist())
    share_in = np.mean([e in top5 for e in hot])
    share_out = np.mean([e in top5 for e in before])
    assert share_in > 0.9 > 0.5 > share_out
    assert len(hot) / 300 > 5 * len(before) / 900  # the rate is multiplied inside the burst


def test_sequential_pool_is_consumed_in_order() -> None:
    gen = WorkloadGenerator(get_workload("payments", rate=100), POOLS, seed=6, duration=10)
    paid = [r.args[0] for r in gen if r.op == "write:complete_payment"]
    assert paid == list(range(900, 900 + len(paid)))
    reqs = list(WorkloadGenerator(get_workload("mixed", rate=400), POOLS, seed=6, duration=60))
    refunded = [r.args[0] for r in reqs if r.op == "write:refund_payment"]
    assert refunded == list(range(3000, 3000 - len(refunded), -1))  # most recently paid first
    # the appointment writes share one pass over the open appointments: none is drawn twice
    moved = [r.args[0] for r in reqs if r.op.endswith(("_status", "schedule_appointment",
                                                          "cancel_appointment"))]  # fmt: skip
    assert len(moved) > 30 and sorted(moved) == list(range(10_001, 10_001 + len(moved)))


def test_every_pool_has_a_stream_and_new_pools_reshuffle_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(SPEC_POOLS) <= set(POOL_STREAMS)
    before = _digest(7, "ycsb_a"), _digest(7, "browse")
    # a pool added later gets the next stream: existing pools keep theirs
    monkeypatch.setattr(generator, "POOL_STREAMS", (*POOL_STREAMS, "a_new_pool"))
    assert (_digest(7, "ycsb_a"), _digest(7, "browse")) == before
