"""Time-varying load: daily cycles and ramps composed with bursts, drawn exactly by thinning.

Counts per window are checked against the intended rate's integral, computed here in closed
form (not by the code under test), with a chi-square statistic whose bounds a wrong shape (a
constant rate at the same mean, a cycle off by a quarter period) misses by far.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from evalcache.errors import ConfigError
from evalcache.workload import (
    Burst,
    WorkloadGenerator,
    WorkloadSpec,
    arrivals,
    get_workload,
)
from evalcache.workload.arrivals import (
    CHUNK_EVENTS,
    Cycle,
    Ramp,
    expected_arrivals,
    iter_arrivals,
    rate_at,
)

from .test_spec_generator import POOLS

#: Stream digests of the built-in workloads (seed 3, 1200 s, the POOLS above) before cycles,
#: ramps and clients existed: a workload without them must keep its stream byte for byte (the
#: YCSB workloads are left out: they were redefined as YCSB defines them; mixed, browse,
#: flash_crowd, booking and payments were pinned again when they took every write of the
#: application, issue 14).
DIGESTS = {
    "mixed": "da38af733d52efe987541b75a414a9e1ca7f3cc94784256c419a35b5197e071e",
    "flash_crowd": "e73158451fa4345168ee0b34691ec1dda6c5a33698bc2500e5d51df113a749f6",
    "payments": "9f536f8cd60340c916644d2585dc0508dfa43d94608e5f349ef4c0d22797f586",
    "booking": "cca29174f48ad9e6f294849b4ecd7b7b4c6d05a33d826290e61255aa66fac535",
    "browse": "c6d47f43c615c5e2ebbc018e3a5c12df9760ea5138e125b6f943a9f806f825fb",
    "synthetic": "833266723797394570fd8863741cebe66b48c36910de82cdcefe1b6e064198e8",
}


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_streams_without_cycles_or_ramps_are_unchanged(name: str) -> None:
    gen = WorkloadGenerator(get_workload(name), POOLS, seed=3, duration=1200)
    assert gen.digest() == DIGESTS[name]


def _cycle_integral(rate: float, c: Cycle, a: float, b: float) -> float:
    w = 2 * math.pi / c.period_s
    return rate * (
        (b - a) + c.amplitude / w * (math.sin(w * (b - c.peak_s)) - math.sin(w * (a - c.peak_s)))
    )


def _chi2(times: np.ndarray, edges: np.ndarray, expected: np.ndarray) -> float:
    counts, _ = np.histogram(times, bins=edges)
    return float((((counts - expected) ** 2) / expected).sum())


def test_cycle_rate_is_recovered_window_by_window() -> None:
    rate, cycle = 200.0, Cycle(0.8, period_s=1000.0, peak_s=250.0)
    t = arrivals(np.random.default_rng(11), rate, 4000.0, cycles=[cycle])
    edges = np.arange(0.0, 4000.0 + 1, 20.0)  # 200 windows of about 4000 arrivals each
    expected = np.array([_cycle_integral(rate, cycle, a, b) for a, b in itertools.pairwise(edges)])
    # chi-square with 200 degrees of freedom: 200 +- 20; a constant rate gives ~ 10^5
    assert 140 < _chi2(t, edges, expected) < 270
    assert abs(t.size - expected.sum()) < 4 * math.sqrt(expected.sum())
    assert (np.diff(t) >= 0).all() and t.min() >= 0 and t.max() < 4000.0
    # the shape itself: peak windows hold ~ (1 + a) / (1 - a) = 9 times the trough's
    peak = np.histogram(t, bins=[240, 260])[0][0]
    trough = np.histogram(t, bins=[740, 760])[0][0]
    assert 7 < peak / trough < 11


def test_ramp_rate_is_recovered_and_holds_its_ends() -> None:
    rate, ramp = 100.0, Ramp(500.0, 1000.0, 0.2, 1.5)
    t = arrivals(np.random.default_rng(12), rate, 2000.0, ramps=[ramp])

    def f(x: float) -> float:  # the ramp's factor, written out
        return 0.2 if x <= 500 else 1.5 if x >= 1500 else 0.2 + 1.3 * (x - 500) / 1000

    edges = np.arange(0.0, 2001.0, 50.0)  # aligned with the ramp's kinks: trapezoids are exact
    expected = np.array([rate * (b - a) * (f(a) + f(b)) / 2 for a, b in itertools.pairwise(edges)])
    assert 15 < _chi2(t, edges, expected) < 75  # 40 windows: 40 +- 9
    assert expected_arrivals(rate, 2000.0, ramps=[ramp]) == pytest.approx(expected.sum())


def test_bursts_and_cycles_multiply() -> None:
    rate, cycle = 100.0, Cycle(0.5, period_s=2000.0, peak_s=0.0)
    burst = Burst(1000.0, 400.0, 3.0)
    assert rate_at([1200.0], rate, [burst], [cycle])[0] == pytest.approx(
        rate * 3.0 * (1 + 0.5 * math.cos(2 * math.pi * 1200 / 2000))
    )
    t = arrivals(np.random.default_rng(13), rate, 4000.0, [burst], cycles=[cycle])
    edges = np.arange(0.0, 4001.0, 100.0)  # burst edges on window edges
    inside = (edges[:-1] >= 1000) & (edges[:-1] < 1400)
    expected = np.array([_cycle_integral(rate, cycle, a, b) for a, b in itertools.pairwise(edges)])
    expected[inside] *= 3.0
    assert 15 < _chi2(t, edges, expected) < 75
    total = _cycle_integral(rate, cycle, 0, 4000) + 2 * _cycle_integral(rate, cycle, 1000, 1400)
    assert expected_arrivals(rate, 4000.0, [burst], [cycle]) == pytest.approx(total, rel=1e-9)


def test_thinning_is_deterministic_and_bounded_in_memory() -> None:
    cycles = [Cycle(0.9, period_s=60.0)]
    a = list(iter_arrivals(np.random.default_rng(5), 500_000.0, 4.0, cycles=cycles))
    b = np.concatenate(list(iter_arrivals(np.random.default_rng(5), 500_000.0, 4.0, cycles=cycles)))
    c = arrivals(np.random.default_rng(6), 500_000.0, 4.0, cycles=cycles)
    whole = np.concatenate(a)
    assert np.array_equal(whole, b) and not np.array_equal(whole[:1000], c[:1000])
    assert (np.diff(whole) >= 0).all()
    # chunks hold at most CHUNK_EVENTS candidates on average: a few sigma above it at most
    assert max(x.size for x in a) < CHUNK_EVENTS + 6 * math.sqrt(CHUNK_EVENTS)


def test_spec_mean_rate_and_expected_requests() -> None:
    base = get_workload("synthetic", rate=100.0, duration=3600)
    daily = WorkloadSpec(
        "daily", base.operations, rate=100.0, duration_s=6 * 3600.0, cycles=(Cycle(0.5),)
    )
    # six hours from the peak: the mean of 1 + 0.5 cos over a quarter period
    want = 100.0 * (1 + 0.5 * (2 / math.pi))
    assert daily.mean_rate() == pytest.approx(want, rel=1e-9)
    assert not daily.stationary and base.stationary
    assert base.mean_rate() == 100.0  # exactly the rate without a shape
    crowd = get_workload("flash_crowd")  # 10x for 300 s of 3600
    assert crowd.expected_requests() == pytest.approx(100.0 * (3300 + 3000))
    # the analytical model's key rates take the time average
    gen = WorkloadGenerator(daily, POOLS, seed=1)
    _, rates = gen.key_rates("read:user_profile")
    assert rates.sum() == pytest.approx(want)
    # and the stream has about that many requests
    n = sum(len(b) for b in WorkloadGenerator(daily, POOLS, seed=1, duration=600).batches())
    expected = daily.expected_requests(600.0)
    assert abs(n - expected) < 4 * math.sqrt(expected)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Cycle(1.5), "cycle.amplitude"),
        (lambda: Cycle(0.5, period_s=0.5), "cycle.period_s"),
        (lambda: Cycle(0.5, peak_s=-1.0), "cycle.peak_s"),
        (lambda: Cycle("big"), "cycle.amplitude"),  # type: ignore[arg-type]
        (lambda: Ramp(0.0, 0.0, 0.5), "ramp.duration_s"),
        (lambda: Ramp(0.0, 10.0, -0.5), "ramp.start_multiplier"),
        (lambda: Ramp(0.0, 10.0, 0.0, 0.0), "ramp.end_multiplier"),
    ],
)
def test_bad_shapes_name_their_field(make: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()  # type: ignore[operator]
    assert info.value.name == field


def test_closed_loop_fields_are_checked_on_the_spec() -> None:
    ops = {"read:user_profile": 1.0}
    with pytest.raises(ConfigError, match="clients") as info:
        WorkloadSpec("x", ops, clients=0)
    assert info.value.name == "clients"
    with pytest.raises(ConfigError) as info:
        WorkloadSpec("x", ops, think_time_s=0.5)  # no clients: an open loop does not think
    assert info.value.name == "think_time_s"
    with pytest.raises(ConfigError) as info:
        WorkloadSpec("x", ops, clients=4, think="gamma")
    assert info.value.name == "think" and "exponential" in str(info.value)
    with pytest.raises(ConfigError, match="cycles") as info:
        WorkloadSpec("x", ops, clients=4, cycles=(Cycle(0.5),))
    assert info.value.name == "clients"
    spec = WorkloadSpec("x", ops, clients=4, think_time_s=0.05, think="fixed")
    params = spec.to_params()
    assert (params["clients"], params["think_time_s"], params["think"]) == (4, 0.05, "fixed")
