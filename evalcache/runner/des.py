"""A discrete-event scheduler in virtual time: processes as greenlets, resources as FIFO queues.

This is the core of overlapping requests in virtual time: each request runs as a
:class:`Simulation` process, and every real operation it makes (a Redis command, an SQL
statement) first holds (:meth:`Simulation.hold`) for its modelled service time, so the operations of
all requests run on the real servers one at a time, in virtual-time order. Holding switches to
the scheduler, which resumes the process due earliest (ties in the order they were scheduled),
sets the simulation's clock (:class:`SimClock`, a :class:`~evalcache.clock.VirtualClock`) to
that time and switches into it. Only one process runs at any moment, so an interleaving is a
plain sequence of real operations, and the same inputs give the same sequence. The cache takes
that clock: a reader waiting on another's lease sleeps in virtual time while the holder runs.

Two shortcuts keep that order and skip the scheduler where it would change nothing: a hold with
nothing else due before its end just moves the clock, and the arrivals of :meth:`Simulation.run`
run on a few reused worker greenlets, a worker whose request ends starting the next arrival
itself when that is due first. A request that overlaps no other costs no greenlet and no switch.

A :class:`Resource` (a database pool of ``n`` connections, Redis as one server) makes a process
wait, in virtual time and first come first served, while all of its units are busy; the wait
is what turns offered load into queueing.

Examples
--------
>>> sim = Simulation(start=0.0)
>>> pool = Resource(sim, 1)
>>> done = []
>>> def job(name):
...     with pool.held():
...         sim.hold(1.0)
...     done.append((name, sim.now))
>>> for n in "ab":
...     _ = sim.spawn(0.0, job, n)
>>> sim.run()
>>> done
[('a', 1.0), ('b', 2.0)]
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from greenlet import getcurrent, greenlet

from evalcache.clock import VirtualClock
from evalcache.errors import EvalCacheError


class SimulationError(EvalCacheError):
    """A scheduling call made where it cannot work (outside a process, time going back)."""


class SimClock(VirtualClock):
    """The clock of a :class:`Simulation`: waiting and durations are in virtual time."""

    def __init__(self, start: float, sim: Simulation) -> None:
        super().__init__(start)
        self._sim = sim

    def sleep(self, seconds: float) -> None:
        self._sim.hold(seconds)

    def elapsed(self) -> float:
        return self.now()

    def set(self, t: float) -> None:
        # only the scheduler moves it, always forward, on one thread: no lock needed
        self._now = t


class Simulation:
    """Processes in virtual time, on the clock :attr:`clock` (see the module docstring)."""

    def __init__(self, start: float = 0.0) -> None:
        self.clock = SimClock(start, self)
        self._queue: list[tuple[float, int, greenlet]] = []
        self._seq = itertools.count()
        self._loop: greenlet | None = None
        self._thread = 0
        self._next_arrival = math.inf  # of run()'s arrivals: hold() may skip the loop before it
        self._arrivals: Iterator[tuple[float, Callable[[], Any]]] | None = None
        self._nxt: tuple[float, Callable[[], Any]] | None = None  # the next arrival, pulled
        self._until = math.inf
        self._idle: list[greenlet] = []  # workers between arrivals (see _work)
        self.switches = 0  # from the scheduler into a process
        self.inline = 0  # arrivals a worker took on without a switch

    @property
    def now(self) -> float:
        return self.clock.now()

    def in_process(self) -> bool:
        """True inside a process (where :meth:`hold` and resources may be used); False on the
        scheduler and on other threads (a notify listener, a refresh pool)."""
        return self.current_process() is not None

    def current_process(self) -> greenlet | None:
        """The calling process (for :meth:`hold_process`), or None outside one (see
        :meth:`in_process`)."""
        loop = self._loop
        if loop is None or threading.get_ident() != self._thread:
            return None
        me = getcurrent()
        return me if me is not loop else None

    def spawn(self, at: float, fn: Callable[..., Any], *args: Any) -> greenlet:
        """Start ``fn(*args)`` as a process at virtual time ``at`` (not before now)."""
        if at < self.now:
            raise SimulationError(f"cannot start a process at {at}, before now ({self.now})")
        proc = greenlet(lambda: fn(*args))
        self._schedule(at, proc)
        return proc

    def _schedule(self, at: float, proc: greenlet) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), proc))

    def _current(self, what: str) -> greenlet:
        me = self.current_process()
        if me is None:
            raise SimulationError(f"{what} is only possible inside a simulation process")
        return me

    def hold(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass for the calling process (others run meanwhile)."""
        if seconds < 0:
            raise SimulationError(f"cannot hold for {seconds} s (< 0)")
        self.hold_process(self._current("hold"), seconds)

    def hold_process(self, me: greenlet, seconds: float) -> None:
        """:meth:`hold` for ``me``, the calling process from :meth:`current_process`, with
        ``seconds >= 0`` (the hold points' path: they have checked both already)."""
        t = self.clock._now + seconds
        queue = self._queue
        if t <= self._next_arrival and (not queue or queue[0][0] > t):
            # nothing else is due before t: the same order without a round trip to the loop
            self.clock.set(t)
            return
        self._schedule(t, me)
        self.suspend()

    def suspend(self) -> None:
        """Give control back to the scheduler until something resumes this process."""
        assert self._loop is not None  # set while run() is active
        self._loop.switch()

    def resume(self, proc: greenlet) -> None:
        """Make a suspended process due now (after those already due now)."""
        self._schedule(self.now, proc)

    def run(
        self,
        until: float | None = None,
        arrivals: Iterator[tuple[float, Callable[[], Any]]] | None = None,
    ) -> None:
        """Run processes in virtual-time order until none is due (or the next is after ``until``).

        ``arrivals`` (times in order) start a process each, pulled one at a time, so only the
        processes in flight exist at once; a process due at the same time runs first. An
        exception raised in a process ends the run and propagates here.

        Arrivals run on a few reused worker greenlets (:meth:`_work`), not one new greenlet
        each: a worker whose request ends takes on the next arrival itself when that is what
        is due next, so an arrival that finds nothing else in flight costs no switch at all.
        """
        if self._loop is not None:
            raise SimulationError("the simulation is already running")
        loop = self._loop = getcurrent()
        self._thread = threading.get_ident()
        self._until = until if until is not None else math.inf
        clock, queue, idle = self.clock, self._queue, self._idle
        self._arrivals = arrivals
        self._pull()
        try:
            while True:
                nxt = self._nxt
                if nxt is not None and (not queue or nxt[0] < queue[0][0]):
                    at, fn = nxt
                    self._pull()
                    if at > self._until:
                        self._schedule(at, greenlet(fn))
                        break
                    if at > clock._now:
                        clock.set(at)
                    proc = idle.pop() if idle else greenlet(self._work, loop)
                    self.switches += 1
                    proc.switch(fn)
                elif queue:
                    at, _, proc = queue[0]
                    if at > self._until:
                        break
                    heapq.heappop(queue)
                    if at > clock._now:
                        clock.set(at)
                    proc.parent = loop
                    self.switches += 1
                    proc.switch()
                else:
                    break
        finally:
            self._loop = None
            self._arrivals = self._nxt = None
            self._next_arrival = math.inf
            while idle:  # parked workers end here (GreenletExit), not whenever they are freed
                idle.pop().throw()

    def _pull(self) -> None:
        """Take the next arrival from run()'s stream into ``_nxt`` (None when it is done)."""
        arrivals = self._arrivals
        self._nxt = nxt = next(arrivals, None) if arrivals is not None else None
        self._next_arrival = nxt[0] if nxt is not None else math.inf

    def _work(self, fn: Callable[[], Any]) -> None:
        """A worker process: serve ``fn``, then each arrival due before anything else, inline;
        when something else is due, park in ``_idle`` until the scheduler hands a new one."""
        me, queue, clock = getcurrent(), self._queue, self.clock
        while True:
            fn()
            nxt = self._nxt
            if nxt is not None and (not queue or nxt[0] < queue[0][0]) and nxt[0] <= self._until:
                # what the scheduler would do next: start this arrival (here, on this worker)
                self._pull()
                if nxt[0] > clock._now:
                    clock.set(nxt[0])
                self.inline += 1
                fn = nxt[1]
            else:
                self._idle.append(me)
                assert self._loop is not None
                fn = self._loop.switch()  # the scheduler comes back with an arrival's fn

    @property
    def pending(self) -> int:
        """Processes scheduled and not yet resumed."""
        return len(self._queue)


class Resource:
    """``capacity`` identical units (connections, a server) taken first come, first served.

    Attributes
    ----------
    waits: how long each acquisition waited, in virtual seconds.
    busy_s: unit-seconds in use so far (utilisation = busy_s / (capacity × elapsed)).
    """

    def __init__(self, sim: Simulation, capacity: int) -> None:
        if capacity < 1:
            raise SimulationError(f"a resource needs capacity >= 1, got {capacity}")
        self.sim = sim
        self.capacity = capacity
        self.in_use = 0
        self._waiting: deque[greenlet] = deque()
        self.waits: list[float] = []
        self.busy_s = 0.0
        self._created = self._since = sim.now

    def _account(self) -> None:
        now = self.sim.now
        self.busy_s += self.in_use * (now - self._since)
        self._since = now

    def acquire(self) -> float:
        """Take one unit, waiting while none is free; return the virtual seconds waited."""
        me = self.sim._current("acquire")
        start = self.sim.now
        if self.in_use < self.capacity and not self._waiting:
            self._account()
            self.in_use += 1
        else:
            self._waiting.append(me)
            self.sim.suspend()  # release() hands its unit over and resumes us
        waited = self.sim.now - start
        self.waits.append(waited)
        return waited

    def release(self) -> None:
        """Give a unit back: to the longest waiter if any (resumed now), else to the pool."""
        if self.in_use <= 0:
            raise SimulationError("release() without a unit in use")
        if self._waiting:
            self.sim.resume(self._waiting.popleft())  # the unit passes on; in_use unchanged
        else:
            self._account()
            self.in_use -= 1

    @contextmanager
    def held(self) -> Iterator[float]:
        """``with resource.held() as waited:`` acquire, and always release."""
        waited = self.acquire()
        try:
            yield waited
        finally:
            self.release()

    def utilisation(self) -> float:
        """Share of unit-time in use since the resource was made."""
        self._account()
        total = self.capacity * (self.sim.now - self._created)
        return self.busy_s / total if total > 0 else 0.0
