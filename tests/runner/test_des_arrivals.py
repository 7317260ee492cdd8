"""Arrivals of ``Simulation.run``: reused workers, inline starts, and the order they must keep.

A worker whose request ends starts the next arrival itself when nothing else is due first; these
tests pin the order that shortcut must keep (a process due at an arrival's time runs first) and
check that it is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from evalcache.runner.des import Resource, Simulation


def _jobs(seed: int, n: int) -> list[tuple[float, float, float]]:
    """(arrival, service, think) triples: Poisson arrivals, a busy two-unit resource."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(0.5, n))
    return [
        (float(a), float(s), float(t))
        for a, s, t in zip(arrivals, rng.exponential(0.8, n), rng.exponential(0.3, n), strict=True)
    ]


def _play(
    jobs: list[tuple[float, float, float]], *, arrivals: bool
) -> tuple[list[Any], Simulation]:
    sim = Simulation(0.0)
    pool = Resource(sim, 2)
    log: list[Any] = []

    def job(i: int, service: float, think: float) -> None:
        log.append((i, "start", sim.now))
        sim.hold(think)
        with pool.held() as waited:
            sim.hold(service)
        log.append((i, "end", sim.now, waited))

    if arrivals:

        def stream() -> Iterator[tuple[float, Callable[[], None]]]:
            for i, (at, service, think) in enumerate(jobs):
                yield at, lambda i=i, s=service, t=think: job(i, s, t)

        sim.run(arrivals=stream())
    else:
        for i, (at, service, think) in enumerate(jobs):
            sim.spawn(at, job, i, service, think)
        sim.run()
    return log, sim


def test_arrivals_keep_the_order_of_spawned_processes() -> None:
    # continuous times (no ties): an arrival and a process spawned at its time run alike
    jobs = _jobs(seed=4, n=3000)
    spawned, _ = _play(jobs, arrivals=False)
    streamed, sim = _play(jobs, arrivals=True)
    assert streamed == spawned
    # the shortcut was taken, and it did not replace the scheduler where it is needed
    assert sim.inline > 100 and sim.switches > 100


def test_an_arrival_runs_after_a_process_due_at_its_time() -> None:
    sim = Simulation(0.0)
    log: list[tuple[str, float]] = []

    def job(name: str, dt: float) -> None:
        log.append((name, sim.now))
        sim.hold(dt)
        log.append((name + " done", sim.now))

    stream = iter(
        [
            (0.0, lambda: job("a", 1.0)),  # suspends: b arrives before 1.0
            (0.5, lambda: job("b", 0.5)),  # due at 1.0, after a (scheduled earlier)
            (1.0, lambda: job("c", 0.0)),  # arrives at 1.0: after a and b, which are due then
        ]
    )
    sim.run(arrivals=stream)
    assert log == [
        ("a", 0.0),
        ("b", 0.5),
        ("a done", 1.0),
        ("b done", 1.0),
        ("c", 1.0),
        ("c done", 1.0),
    ]


def test_an_error_in_an_arrival_ends_the_run_and_the_next_run_works() -> None:
    sim = Simulation(0.0)
    seen: list[float] = []

    def ok() -> None:
        sim.hold(1.0)
        seen.append(sim.now)

    def boom() -> None:
        sim.hold(0.1)
        raise RuntimeError("request failed")

    with pytest.raises(RuntimeError, match="request failed"):
        sim.run(arrivals=iter([(0.0, ok), (0.5, boom), (5.0, ok)]))
    assert seen == []  # ok was still holding (until 1.0) when boom failed at 0.6
    assert not sim.in_process()
    # what was in flight stays scheduled (ok, on a worker of the failed run), then new arrivals
    sim.run(arrivals=iter([(10.0, ok), (20.0, ok)]))
    assert seen == [1.0, 11.0, 21.0]
