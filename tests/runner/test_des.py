"""The virtual-time scheduler: event order, FIFO resources, and queueing theory it must agree with.

The queueing checks are the trust anchor of overlapping requests: with Poisson arrivals and
exponential service, the mean wait in queue must match the M/M/1 and M/M/c (Erlang C) formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalcache.runner.des import Resource, Simulation, SimulationError


def test_processes_interleave_in_virtual_time_order() -> None:
    sim = Simulation(100.0)
    log: list[tuple[str, float]] = []

    def proc(name: str, steps: list[float]) -> None:
        for dt in steps:
            log.append((name, sim.now))
            sim.hold(dt)
        log.append((name, sim.now))

    sim.spawn(100.0, proc, "a", [2.0, 2.0])
    sim.spawn(101.0, proc, "b", [2.0])
    sim.spawn(100.0, proc, "c", [0.0])  # same time as a: runs after a (scheduled later)
    sim.run()
    assert log == [
        ("a", 100.0),
        ("c", 100.0),
        ("c", 100.0),
        ("b", 101.0),
        ("a", 102.0),
        ("b", 103.0),
        ("a", 104.0),
    ]
    assert sim.now == 104.0 and sim.pending == 0


def test_run_until_stops_before_later_events() -> None:
    sim = Simulation(0.0)
    seen: list[float] = []
    for t in (1.0, 2.0, 3.0):
        sim.spawn(t, lambda: seen.append(sim.now))
    sim.run(until=2.0)
    assert seen == [1.0, 2.0] and sim.pending == 1
    sim.run()
    assert seen == [1.0, 2.0, 3.0]


def test_resource_is_first_come_first_served() -> None:
    sim = Simulation(0.0)
    pool = Resource(sim, 2)
    done: dict[str, tuple[float, float]] = {}

    def job(name: str, service: float) -> None:
        with pool.held() as waited:
            sim.hold(service)
        done[name] = (waited, sim.now)

    for name, at in (("a", 0.0), ("b", 0.0), ("c", 0.5), ("d", 0.6)):
        sim.spawn(at, job, name, 1.0)
    sim.run()
    assert done == {"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (0.5, 2.0), "d": (0.4, 2.0)}
    assert pool.in_use == 0
    assert pool.utilisation() == pytest.approx(4.0 / (2 * 2.0))


def test_errors_are_clear() -> None:
    sim = Simulation(5.0)
    with pytest.raises(SimulationError, match="inside a simulation process"):
        sim.hold(1.0)
    with pytest.raises(SimulationError, match="before now"):
        sim.spawn(4.0, lambda: None)
    with pytest.raises(SimulationError, match="capacity >= 1"):
        Resource(sim, 0)

    def boom() -> None:
        sim.hold(1.0)
        raise RuntimeError("request failed")

    sim.spawn(5.0, boom)
    with pytest.raises(RuntimeError, match="request failed"):
        sim.run()


def _queue(lam: float, mu: float, servers: int, n: int, seed: int) -> tuple[float, float]:
    """Mean wait in queue and utilisation of an M/M/``servers`` queue, simulated."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    services = rng.exponential(1 / mu, n)
    sim = Simulation(0.0)
    server = Resource(sim, servers)

    def customer(service: float) -> None:
        with server.held():
            sim.hold(service)

    for at, s in zip(arrivals, services, strict=True):
        sim.spawn(float(at), customer, float(s))
    sim.run()
    skip = n // 10  # the first customers find an empty system: leave them out
    return float(np.mean(server.waits[skip:])), server.utilisation()


def test_mm1_mean_wait_matches_theory() -> None:
    lam, mu = 0.5, 1.0
    wq, util = _queue(lam, mu, 1, 40_000, seed=3)
    rho = lam / mu
    assert wq == pytest.approx(rho / (mu - lam), rel=0.08)  # 1.0 s
    assert util == pytest.approx(rho, rel=0.03)


def test_mmc_mean_wait_matches_erlang_c() -> None:
    lam, mu, c = 1.5, 1.0, 2
    a = lam / mu
    rho = a / c
    tail = a**c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    wq_theory = p_wait / (c * mu - lam)  # Erlang C: 0.643 / 0.5 = 1.29 s
    wq, util = _queue(lam, mu, c, 40_000, seed=5)
    assert wq == pytest.approx(wq_theory, rel=0.1)
    assert util == pytest.approx(rho, rel=0.03)


def test_same_inputs_same_sequence() -> None:
    def trace() -> list[tuple[int, float]]:
        rng = np.random.default_rng(11)
        sim = Simulation(0.0)
        pool = Resource(sim, 3)
        out: list[tuple[int, float]] = []

        def job(i: int, service: float) -> None:
            with pool.held():
                sim.hold(service)
            out.append((i, sim.now))

        for i, at in enumerate(np.cumsum(rng.exponential(0.2, 2000))):
            sim.spawn(float(at), job, i, float(rng.exponential(0.5)))
        sim.run()
        return out

    assert trace() == trace()
