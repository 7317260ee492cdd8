"""Closed-loop clients: each issues its next request when its previous one completed plus a
think time (YCSB's threads), instead of requests arriving at the stream's times.

The N clients share the generated stream: whichever client issues next takes the next
(op, args) in stream order, and the request's arrival time is when that client issues it; the
stream's own times are not used. Every client starts at time 0; a client stops when the run's
``duration_s`` has passed or the stream is used up (``stream_exhausted``: the clients could go
faster than the stream's rate supplies requests).

- Overlapping requests (:func:`replay_closed_overlap`): each client is one
  :class:`~evalcache.runner.des.Simulation` process that serves a request (its operations hold
  for their modelled service times, so it waits in the database pool's queue like any other),
  then holds for its think time.
- Live (:func:`replay_closed_live`): one thread per client, issuing back to back on the wall
  clock and sleeping its think time; latency runs from the actual issue (a closed loop has no
  intended start to fall behind).
- Serial virtual (:func:`replay_closed_virtual`): a request takes no virtual time, so a
  client's requests are its think times apart (the run parameters require a think time).

Think times: ``fixed`` (always ``think_time_s``) or ``exponential`` with that mean, drawn from
a generator per client seeded by the run seed, so a client's think times do not depend on how
requests interleave.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from evalcache.clock import VirtualClock
from evalcache.runner.des import Simulation
from evalcache.runner.overlap import SimHooks
from evalcache.runner.serve import Executor
from evalcache.workload import Request, RequestBatch, WorkloadSpec

#: Seed stream of the think times (apart from the workload's and the service times').
THINK_STREAM = 0x7417
#: Think times drawn per numpy call.
_BLOCK = 1024


@dataclass(frozen=True)
class ClosedLoop:
    """A run's closed loop: ``clients`` clients thinking ``think_time_s`` (``think``: how it
    is drawn) between requests, until ``duration_s``."""

    clients: int
    think_time_s: float
    think: str
    duration_s: float
    seed: int

    @classmethod
    def of(cls, spec: WorkloadSpec, seed: int) -> ClosedLoop | None:
        """The closed loop of ``spec`` (``None``: an open loop)."""
        if spec.clients is None:
            return None
        return cls(spec.clients, spec.think_time_s, spec.think, spec.duration_s, int(seed))

    def think_sampler(self, client: int) -> Callable[[], float]:
        """Client ``client``'s think times, one per call (seconds)."""
        mean = self.think_time_s
        if mean == 0 or self.think == "fixed":
            return lambda: mean
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, THINK_STREAM, client]))
        block: list[float] = []

        def draw() -> float:
            if not block:
                block.extend(rng.exponential(mean, _BLOCK)[::-1].tolist())
            return block.pop()

        return draw

    def describe(self) -> str:
        """The closed loop, for a run's ``time_model``."""
        think = (
            "no think time"
            if self.think_time_s == 0
            else f"{self.think} think time, mean {self.think_time_s:g} s"
        )
        return (
            f"closed loop: {self.clients} clients, each issuing its next request when the "
            f"previous completed ({think}), requests in stream order until "
            f"{self.duration_s:g} s or the stream's end"
        )


@dataclass
class ClosedOutcome:
    """What a closed-loop replay did: requests served, whether the stream ran out first, when
    the last request completed (seconds from the start), and each served request's issue time
    in stream order (the ideal cache replays the stream at those times)."""

    served: int = 0
    exhausted: bool = False
    end_s: float = 0.0
    issued: array[float] = field(default_factory=lambda: array("d"))

    def requests(self, stream: Iterable[Request]) -> Iterator[Request]:
        """The served requests of ``stream`` (the same stream again) at their issue times."""
        for t, req in zip(self.issued, stream, strict=False):
            yield Request(t, req.op, req.args)


def _stream(batches: Iterable[RequestBatch]) -> Iterator[Request]:
    return itertools.chain.from_iterable(b.requests() for b in batches)


def replay_closed_virtual(
    batches: Iterable[RequestBatch],
    executor: Executor,
    clock: VirtualClock,
    t0: float,
    loop: ClosedLoop,
    *,
    tick: Callable[[], None],
    warmup_s: float,
    on_measure: Callable[[], None],
    total: int | None = None,
    progress: bool = False,
) -> ClosedOutcome:
    """Serial virtual replay of a closed loop: requests take no virtual time, so each client
    issues at its previous issue + a think time; the earliest issue goes first (ties: the
    lower client)."""
    out = ClosedOutcome()
    stream = _stream(batches)
    draws = [loop.think_sampler(k) for k in range(loop.clients)]
    due = [(0.0, k) for k in range(loop.clients)]  # a heap of (next issue, client)
    executor.measuring = warmup_s <= 0
    if executor.measuring:
        on_measure()
    with tqdm(total=total, unit="req", disable=not progress, smoothing=0.05) as bar:
        while True:
            t, k = due[0]
            if t >= loop.duration_s:
                break
            req = next(stream, None)
            if req is None:
                out.exhausted = True
                break
            out.issued.append(t)
            heapq.heapreplace(due, (t + draws[k](), k))
            if not executor.measuring and t >= warmup_s:
                on_measure()
                executor.measuring = True
            clock.set(t0 + t)
            tick()
            executor.execute(t, req.op, req.args, t0 + t, 0, index=len(out.issued) - 1)
            out.served += 1
            out.end_s = t
            bar.update(1)
    return out


def replay_closed_overlap(
    batches: Iterable[RequestBatch],
    executor: Executor,
    sim: Simulation,
    hooks: SimHooks,
    t0: float,
    loop: ClosedLoop,
    *,
    tick: Callable[[], None],
    warmup_s: float,
    on_measure: Callable[[], None],
    total: int | None = None,
    progress: bool = False,
) -> ClosedOutcome:
    """A closed loop of simulation processes (the module docstring); requests issued at or
    after ``warmup_s`` are counted, as in the open loop."""
    out = ClosedOutcome()
    stream = _stream(batches)
    executor.measuring = warmup_s <= 0
    if executor.measuring:
        on_measure()
    bar = tqdm(total=total, unit="req", disable=not progress, smoothing=0.05)

    def client(k: int) -> None:
        draw = loop.think_sampler(k)
        while True:
            t = sim.now - t0
            if t >= loop.duration_s:
                return
            req = next(stream, None)
            if req is None:
                out.exhausted = True
                return
            out.issued.append(t)
            index = len(out.issued) - 1
            counted = t >= warmup_s
            if counted and not executor.measuring:  # the first measured request starts
                on_measure()
                executor.measuring = True
            tick()
            executor.execute(t, req.op, req.args, sim.now, 0, counted, index)
            hooks.forget()
            out.served += 1
            out.end_s = max(out.end_s, sim.now - t0)
            bar.update(1)
            think = draw()
            if think > 0:
                sim.hold(think)

    for k in range(loop.clients):
        sim.spawn(t0, client, k)
    try:
        sim.run()
    finally:
        bar.close()
    return out


def replay_closed_live(
    batches: Iterable[RequestBatch],
    executor: Executor,
    loop: ClosedLoop,
    *,
    tick: Callable[[], None],
    warmup_s: float,
    on_measure: Callable[[], None],
    total: int | None = None,
    progress: bool = False,
) -> ClosedOutcome:
    """A closed loop of ``loop.clients`` threads on the wall clock (the module docstring)."""
    out = ClosedOutcome()
    stream = _stream(batches)
    lock = threading.Lock()
    failures: list[BaseException] = []
    last_tick = [0.0]
    executor.measuring = warmup_s <= 0
    if executor.measuring:
        on_measure()
    bar = tqdm(total=total, unit="req", disable=not progress)
    start_ns = time.perf_counter_ns() + 50_000_000  # every client starts at once
    wall0 = time.time() + 0.05

    def client(k: int) -> None:
        draw = loop.think_sampler(k)
        try:
            time.sleep(max(0.0, (start_ns - time.perf_counter_ns()) / 1e9))
            while not failures:  # a client that failed ends the run for all
                issued = time.perf_counter_ns()
                t = (issued - start_ns) / 1e9
                if t >= loop.duration_s:
                    return
                counted = t >= warmup_s
                with lock:
                    req = next(stream, None)
                    if req is None:
                        out.exhausted = True
                        return
                    out.issued.append(t)
                    index = len(out.issued) - 1
                    if counted and not executor.measuring:
                        on_measure()
                        executor.measuring = True
                    now_wall = time.time()
                    if now_wall - last_tick[0] >= 1.0:
                        last_tick[0] = now_wall
                        tick()
                executor.execute(t, req.op, req.args, wall0 + t, issued, counted, index)
                with lock:
                    out.served += 1
                    out.end_s = max(out.end_s, (time.perf_counter_ns() - start_ns) / 1e9)
                    bar.update(1)
                think = draw()
                if think > 0:
                    time.sleep(think)
        except BaseException as exc:  # re-raised in the caller's thread
            failures.append(exc)

    threads = [
        threading.Thread(target=client, args=(k,), name=f"client-{k}") for k in range(loop.clients)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    bar.close()
    if failures:
        raise failures[0]
    return out
