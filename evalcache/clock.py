"""Clocks: the cache judges expiry against one of these, passed in explicitly."""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of the current time in seconds (float, epoch-like), and how to wait on it.

    ``sleep`` and ``elapsed`` are what a caller waiting for another's work uses (a reader
    waiting on a lease): real seconds for the wall clock and for serial virtual runs (where
    nothing else moves while one request waits), virtual seconds inside a simulation
    (:class:`evalcache.runner.des.SimClock`), where other requests run meanwhile.
    """

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def elapsed(self) -> float:
        """A monotonic reading in seconds, for durations and deadlines."""
        ...


class SystemClock:
    """The wall clock (``time.time()``). Redis expires keys itself in this mode."""

    virtual = False

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def elapsed(self) -> float:
        return time.perf_counter()


class VirtualClock:
    """A clock the workload driver moves forward explicitly.

    Examples
    --------
    >>> clock = VirtualClock(start=1000.0)
    >>> clock.advance(60)
    >>> clock.now()
    1060.0
    """

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)  # serial replay: nothing else moves the clock meanwhile

    def elapsed(self) -> float:
        return time.perf_counter()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (must be >= 0)."""
        if seconds < 0:
            raise ValueError(f"VirtualClock.advance: seconds must be >= 0, got {seconds}")
        with self._lock:
            self._now += seconds

    def set(self, t: float) -> None:
        """Jump to absolute time ``t``; time never goes backwards."""
        with self._lock:
            if t < self._now:
                raise ValueError(f"VirtualClock.set: {t} is before now ({self._now})")
            self._now = float(t)
