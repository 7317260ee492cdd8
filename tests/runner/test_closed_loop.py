"""Closed-loop clients: each issues its next request when its previous one completed plus a
think time, so throughput is N / (service time + think time) instead of the stream's rate.

First the replays on a fake executor (pure scheduling, the service time given), then whole
runs on the real servers: overlapping requests with a fixed service model, and live threads.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from evalcache.clock import VirtualClock
from evalcache.errors import ConfigError
from evalcache.runner.closed import ClosedLoop, replay_closed_overlap, replay_closed_virtual
from evalcache.runner.core import run
from evalcache.runner.des import Resource, Simulation
from evalcache.runner.params import validate_params
from evalcache.settings import Settings
from evalcache.workload import WorkloadGenerator, get_workload

USERS = {"users": np.arange(1, 101)}


def _stream(rate: float, duration: float) -> WorkloadGenerator:
    return WorkloadGenerator(get_workload("ycsb_c", rate=rate), USERS, seed=1, duration=duration)


class FakeExecutor:
    """Records what it serves; in a simulation, serving takes ``service_s`` on ``resource``."""

    def __init__(
        self, sim: Simulation | None = None, service_s: float = 0.0, capacity: int = 1000
    ) -> None:
        self.sim, self.service_s = sim, service_s
        self.resource = Resource(sim, capacity) if sim is not None else None
        self.measuring = True
        self.served: list[tuple[float, tuple[Any, ...]]] = []
        self.latency: list[float] = []

    def execute(
        self, t: float, op: str, args: tuple[Any, ...], now: float, *rest: Any, **kw: Any
    ) -> None:
        self.served.append((t, args))
        if self.sim is not None and self.resource is not None:
            start = self.sim.now
            with self.resource.held():
                self.sim.hold(self.service_s)
            self.latency.append(self.sim.now - start)


class FakeHooks:
    def forget(self) -> None:
        pass


def _loop(clients: int, think: float, kind: str = "fixed", duration: float = 10.0) -> ClosedLoop:
    return ClosedLoop(clients, think, kind, duration, seed=1)


def _overlap(loop: ClosedLoop, service_s: float, capacity: int, rate: float) -> FakeExecutor:
    sim = Simulation(start=1000.0)
    ex = FakeExecutor(sim, service_s, capacity)
    gen = _stream(rate, loop.duration_s)
    out = replay_closed_overlap(
        gen.batches(),
        ex,  # type: ignore[arg-type]
        sim,
        FakeHooks(),  # type: ignore[arg-type]
        1000.0,
        loop,
        tick=lambda: None,
        warmup_s=0.0,
        on_measure=lambda: None,
    )
    assert out.served == len(ex.served) and not out.exhausted
    # in stream order, whichever client took each request
    stream = [r.args for r in gen][: out.served]
    assert [a for _, a in ex.served] == stream
    assert list(out.issued) == [t for t, _ in ex.served]
    return ex


def test_overlap_throughput_is_clients_over_service_plus_think() -> None:
    # 4 clients, 2 ms service, 8 ms think: 400/s whatever the stream's 3000/s
    ex = _overlap(_loop(4, 0.008), service_s=0.002, capacity=8, rate=3000.0)
    assert len(ex.served) / 10.0 == pytest.approx(4 / 0.010, rel=0.005)
    assert max(ex.latency) == pytest.approx(0.002)  # nobody queues: 8 connections for 4


def test_overlap_closed_loop_saturates_at_the_bottleneck() -> None:
    # 8 clients, no think time, 2 connections of 5 ms: 400/s, and each waits its turn
    ex = _overlap(_loop(8, 0.0), service_s=0.005, capacity=2, rate=3000.0)
    throughput = len(ex.served) / 10.0
    assert throughput == pytest.approx(2 / 0.005, rel=0.005)
    # Little's law: N = X * R, the response time R being 8 / 400 s = 20 ms
    assert float(np.mean(ex.latency)) == pytest.approx(8 / throughput, rel=0.01)


def test_serial_closed_loop_issues_think_times_apart() -> None:
    clock = VirtualClock(0.0)
    ex = FakeExecutor()
    loop = _loop(4, 0.02, "exponential", duration=50.0)
    gen = _stream(1000.0, 50.0)
    out = replay_closed_virtual(
        gen.batches(),
        ex,  # type: ignore[arg-type]
        clock,
        0.0,
        loop,
        tick=lambda: None,
        warmup_s=0.0,
        on_measure=lambda: None,
    )
    # four renewal processes with exponential gaps of 20 ms: Poisson at 200/s, plus each t=0
    want = 4 * 50.0 / 0.02 + 4
    assert abs(out.served - want) < 4 * math.sqrt(want)
    times = [t for t, _ in ex.served]
    assert times == sorted(times) and times[-1] < 50.0 and not out.exhausted
    again = FakeExecutor()
    replay_closed_virtual(
        _stream(1000.0, 50.0).batches(),
        again,  # type: ignore[arg-type]
        VirtualClock(0.0),
        0.0,
        loop,
        tick=lambda: None,
        warmup_s=0.0,
        on_measure=lambda: None,
    )
    assert again.served == ex.served  # seeded think times: the same run twice


def test_clients_that_outrun_the_stream_use_it_up() -> None:
    gen = _stream(50.0, 10.0)  # about 500 requests for clients that could take 5000
    ex = FakeExecutor()
    out = replay_closed_virtual(
        gen.batches(),
        ex,  # type: ignore[arg-type]
        VirtualClock(0.0),
        0.0,
        _loop(5, 0.01),
        tick=lambda: None,
        warmup_s=0.0,
        on_measure=lambda: None,
    )
    assert out.exhausted and out.served == sum(len(b) for b in gen.batches())


def test_closed_loop_parameters_are_checked() -> None:
    with pytest.raises(ConfigError) as info:  # serial: no time passes without think time
        validate_params({"workload": "ycsb_c", "clients": 4})
    assert info.value.name == "think_time_s"
    with pytest.raises(ConfigError) as info:
        validate_params({"workload": "ycsb_c", "clients": 65, "mode": "live"})
    assert info.value.name == "clients" and "64" in str(info.value)
    with pytest.raises(ConfigError) as info:
        validate_params({"workload": "flash_crowd", "clients": 4, "concurrency": "overlap"})
    assert info.value.name == "clients" and "bursts" in str(info.value)
    with pytest.raises(ConfigError) as info:
        validate_params({"workload": "ycsb_c", "think_time_s": 0.1})
    assert info.value.name == "think_time_s"
    p = validate_params({"workload": "ycsb_c", "clients": 4, "think_time_s": 0.5})
    assert (p["clients"], p["think_time_s"], p["think"]) == (4, 0.5, "exponential")


@pytest.mark.postgres
@pytest.mark.redis
def test_overlap_run_of_closed_loop_clients(runner_settings: Settings) -> None:
    """A cache-off run whose every request is one statement of 2 ms (no jitter) on a pool
    the 4 clients never wait for: X = N / (S + Z), S from the service model."""
    db_ms, think_s, clients = 2.0, 0.008, 4
    params = {
        "workload": "ycsb_c",
        "cache": False,
        "duration_s": 2,
        "rate": 1000,  # an open loop would serve ~1000/s
        "concurrency": "overlap",
        "db_pool": 8,
        "service_model": {"db_ms": db_ms, "redis_ms": 0.1, "sigma": 0.0},
        "clients": clients,
        "think_time_s": think_s,
        "think": "fixed",
        "warmup_s": 0,
    }
    s = run(params, settings=runner_settings, progress=False).summary
    service_s = s["db_statements"] / s["requests"] * db_ms / 1000  # statements per request
    assert s["achieved_rate"] == pytest.approx(clients / (service_s + think_s), rel=0.01)
    assert s["latency"]["uncached"]["p50_ms"] == pytest.approx(service_s * 1000, rel=0.01)
    assert s["offered_rate"] == 1000.0 and s["stream_exhausted"] is False
    assert s["params"]["clients"] == clients and "closed loop: 4 clients" in s["time_model"]


@pytest.mark.postgres
@pytest.mark.redis
def test_live_run_of_closed_loop_clients(runner_settings: Settings) -> None:
    clients, think_s, duration = 2, 0.02, 2.0
    params = {
        "workload": "ycsb_b",
        "mode": "live",
        "duration_s": duration,
        "rate": 1000,  # an open loop would serve ~2000 requests
        "clients": clients,
        "think_time_s": think_s,
        "think": "fixed",
        "stale_sample": 0.0,
        "baseline": False,
        "warmup_s": 0,
    }
    s = run(params, settings=runner_settings, progress=False).summary
    # each client thinks 20 ms after each request: at most 100 requests/s per client
    assert s["requests"] <= clients * (duration / think_s + 1)
    p99_s = s["latency"]["all"]["p99_ms"] / 1000
    # and no slower than thinking, serving at the 99th percentile and waking up late
    assert s["achieved_rate"] >= 0.5 * clients / (think_s + p99_s)
    assert s["stream_exhausted"] is False and s["saturated"] is False
    assert "open loop" not in s["time_model"] and "2 clients" in s["time_model"]
