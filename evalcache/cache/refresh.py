"""Refresh ahead: recompute a hot entry before it expires.

Two triggers, checked on each fresh hit through ``get_or_load``:

- **threshold** (the seed plan's): refresh once the entry's age reaches ``threshold × ttl``
  (0.8 in the seed plan);
- **XFetch** (Vattani et al., "Optimal probabilistic cache stampede prevention", VLDB 2015):
  refresh when ``now − δ·β·ln(u) ≥ expiry`` with ``u`` uniform in (0, 1], δ the entry's
  recompute time and β ≥ 0 (1.0 is the paper's optimum; larger refreshes earlier).

δ is measured in real seconds while ``now`` and ``expiry`` follow the cache's clock; with a
virtual clock this is the faithful model (recomputation costs real time, TTLs are simulated).

Execution: ``background`` runs the refresh on a small thread pool owned by the cache (``close()``
shuts it down); ``inline`` runs it synchronously at the point it is triggered, which is the
"ideal lag" model of serial virtual mode (DESIGN.md, "Time"): deterministic for a given seed;
``spawn`` hands it to a callable the cache is given (overlapping requests: a simulation process
starting at the trigger's virtual instant, so the hit returns at once and the refresh's load and
store take service time of their own). ``get_or_load``'s refreshes run one per key at a time: a
per-process in-flight set here, and a Redis lock in the job itself for other processes.
:meth:`Refresher.start` runs a job the same way without that dedupe (the seed plan's optimizer
refreshes on every due hit).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from evalcache.cache.observe import refreshing
from evalcache.errors import ConfigError

REFRESH_MODES: Final = ("background", "inline", "spawn")

#: Starts a job as a concurrent task of its own (``spawn`` mode): ``spawn(job)``.
Spawn = Callable[[Callable[[], None]], object]


def check_policy(threshold: float | None, xfetch_beta: float | None) -> None:
    """Raise ConfigError unless ``threshold`` is in (0, 1) or None and ``xfetch_beta`` >= 0."""
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise ConfigError("refresh_threshold", f"{threshold!r} is not in (0, 1) or None")
    if xfetch_beta is not None and xfetch_beta < 0:
        raise ConfigError("xfetch_beta", f"{xfetch_beta!r} is not >= 0 or None")


def check_mode(mode: str, workers: int) -> None:
    """Raise ConfigError unless ``mode`` is a refresh mode and ``workers`` >= 1."""
    if mode not in REFRESH_MODES:
        raise ConfigError("refresh_mode", f"{mode!r}; accepted: {', '.join(REFRESH_MODES)}")
    if workers < 1:
        raise ConfigError("refresh_workers", f"{workers!r} is not >= 1")


def check_spawn(mode: str, spawn: Spawn | None) -> None:
    """Raise ConfigError unless a ``spawn`` callable is given exactly in ``spawn`` mode."""
    if mode == "spawn" and spawn is None:
        raise ConfigError("refresh_spawn", "refresh_mode 'spawn' needs a spawn callable")
    if mode != "spawn" and spawn is not None:
        raise ConfigError("refresh_spawn", f"given with refresh_mode {mode!r}; accepted: 'spawn'")


class RefreshPolicy:
    """Decides whether a fresh entry is due for an early refresh."""

    def __init__(
        self,
        threshold: float | None = None,
        xfetch_beta: float | None = None,
        seed: int | None = None,
    ) -> None:
        check_policy(threshold, xfetch_beta)
        self.threshold = threshold
        self.xfetch_beta = xfetch_beta
        self.enabled = threshold is not None or bool(xfetch_beta)
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def due(self, now: float, created_at: float, ttl: float, delta: float) -> bool:
        if self.threshold is not None and now - created_at >= self.threshold * ttl:
            return True
        if self.xfetch_beta:
            with self._rng_lock:
                u = 1.0 - self._rng.random()  # in (0, 1]: log never sees 0
            return now - delta * self.xfetch_beta * math.log(u) >= created_at + ttl
        return False


class Refresher:
    """Runs refresh jobs inline, on a thread pool or through ``spawn`` (see the module docstring).

    Parameters
    ----------
    mode: one of :data:`REFRESH_MODES`.
    workers: threads of the ``background`` pool.
    spawn: starts a job as a concurrent task (``spawn`` mode only, where it is required).
    """

    def __init__(
        self, mode: str = "background", workers: int = 2, spawn: Spawn | None = None
    ) -> None:
        check_mode(mode, workers)
        check_spawn(mode, spawn)
        self.mode = mode
        self._workers = workers
        self._spawn = spawn
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: set[str] = set()
        self._running = 0  # jobs started and not ended, deduped or not
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, key: str, job: Callable[[], None]) -> bool:
        """Run ``job`` for ``key`` unless one is already running; False when skipped."""
        with self._lock:
            if self._closed or key in self._inflight:
                return False
            self._inflight.add(key)
        return self._dispatch(key, job)

    def start(self, job: Callable[[], None]) -> bool:
        """Run ``job`` as refreshes run, with no per-key dedupe; False when closed."""
        with self._lock:
            if self._closed:
                return False
        return self._dispatch(None, job)

    def _dispatch(self, key: str | None, job: Callable[[], None]) -> bool:
        with self._lock:
            self._running += 1
            if self.mode == "background" and self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self._workers, thread_name_prefix="evalcache-refresh"
                )
            pool = self._pool
        if self._spawn is not None:
            try:
                self._spawn(lambda: self._run(key, job))
            except BaseException:
                self._ended(key)
                raise
        elif pool is None:
            self._run(key, job)
        else:
            fut: Future[None] = pool.submit(self._run, key, job)
            del fut
        return True

    def _run(self, key: str | None, job: Callable[[], None]) -> None:
        try:
            with refreshing():
                job()
        finally:
            self._ended(key)

    def _ended(self, key: str | None) -> None:
        with self._lock:
            self._running -= 1
            if key is not None:
                self._inflight.discard(key)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no refresh is running (tests and orderly shutdown)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.002)
        return False

    def close(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)
