"""Serve one request against the cached repository and record what happened.

Shared by virtual and live mode. The measured call is only ``repo.read`` / ``repo.write``
(``perf_counter_ns`` around it, or the simulation's clock with overlapping requests); counting,
the oracle and the ideal-lag drain happen outside.
In live mode the latency runs from the request's *intended* start (open loop).

A read-modify-write (``write:rmw_user_profile``, YCSB F) is one request: the read through the
cache, then the update, measured as one latency under the write op, which also takes both
parts' statements. Its read's cache outcome counts in its family's hits and misses (as the
cache counts it), not in the family's reads: ``requests = reads + writes`` stays a count of
requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from evalcache.domain.repositories import RMW_OPS, InvalidTransition
from evalcache.domain.writes import InvalidStateError
from evalcache.metrics import Counters, LatencyRecorder, StatementCounter, TimeSeries
from evalcache.metrics.popularity import KeyReads
from evalcache.runner.accuracy import InvalidationChecker
from evalcache.runner.oracle import StalenessOracle
from evalcache.strategies.api import WriteEvent
from evalcache.workload.spec import OPERATIONS

#: Outcome codes of the hit/miss trace (one byte per read; determinism checks hash it).
TRACE_CODES = {"hit": 1, "miss": 2, "uncached": 3}
TRACE_WRITE, TRACE_ERROR, TRACE_NOOP = 4, 5, 6
#: This many failed requests in a row end the run with the last error (a broken setup).
MAX_CONSECUTIVE_ERRORS = 100


class OutcomeRecorder(Protocol):
    """Takes each request's outcome codes by stream position (:mod:`evalcache.workload.trace`)."""

    def outcome(
        self, index: int, code: int, read_code: int | None, event: WriteEvent | None
    ) -> None: ...


def invalid_transition_types() -> tuple[type[BaseException], ...]:
    """Errors that make a write a counted no-op (the contract's InvalidTransition)."""
    return (InvalidTransition, InvalidStateError)


class Executor:
    """Dispatches requests to the repository and records counters, latency and staleness.

    Parameters
    ----------
    repo:
        The cached repository (or the cache-off one for a baseline).
    counter:
        Statement counter on the application engine.
    oracle:
        Staleness oracle, or ``None`` (no checks: baseline, or ``stale_sample`` 0).
    specializations:
        Pool index -> specialization name (the generator draws integer positions).
    drain:
        Call ``repo.drain()`` after each write (serial virtual mode's ideal notify lag).
    locked:
        Serialise recording (live mode: several worker threads share the recorders).
    checker:
        The per-write invalidation check (with an oracle), or ``None``.
    check_at_commit:
        Check a write at its commit's instant, inside ``atomic`` (overlapping requests: no
        time passes there), instead of after the write and its drain (serial and live: outside
        the measured latency).
    """

    def __init__(
        self,
        repo: Any,
        counter: StatementCounter,
        oracle: StalenessOracle | None,
        specializations: Sequence[str],
        *,
        window_s: float,
        drain: bool,
        locked: bool = False,
        now_ns: Callable[[], int] = time.perf_counter_ns,
        statements: Callable[[], int] | None = None,
        atomic: Callable[[], AbstractContextManager[Any]] = nullcontext,
        label: Callable[[str], None] | None = None,
        checker: InvalidationChecker | None = None,
        check_at_commit: bool = False,
    ) -> None:
        self.repo = repo
        self.checker = checker
        self._check_at_commit = check_at_commit
        self.counter = counter
        self.oracle = oracle
        self.specs = list(specializations)
        self.drain = drain
        self.counters = Counters()
        self.latency = LatencyRecorder()
        self.timeseries = TimeSeries(window_s)
        self.trace = bytearray()
        self.key_reads = KeyReads()  # per-key hits and misses: the frequently accessed keys
        self.stale_ages: list[float] = []
        self.stale_causes: dict[str, dict[str, int]] = {}  # family -> cause -> stale reads
        self.noop_writes = 0
        self.stale_unjudged = 0  # sampled hits a write overlapped (see StalenessOracle.judgeable)
        self.measuring = True
        self.consecutive_errors = 0
        self.recorder: OutcomeRecorder | None = None  # per-request outcomes (record_trace)
        self._lock: AbstractContextManager[Any] = threading.Lock() if locked else nullcontext()
        # Overlap (virtual time) measures latency on the simulation's clock, counts statements
        # per request process and runs writes atomically; the defaults are the real clock and
        # the counter's per-thread tally.
        self._now_ns = now_ns
        self._statements = statements or counter.thread_statements
        self._atomic = atomic
        self._label = label  # overlap: tells the service-time model what a request serves
        self._noop = invalid_transition_types()
        # op name -> (is_read, family or write op)
        self._ops: Mapping[str, tuple[bool, str]] = {
            name: (op.kind == "read", op.family if op.family is not None else name[6:])
            for name, op in OPERATIONS.items()
        }

    def execute(
        self,
        t: float,
        op: str,
        args: tuple[Any, ...],
        now: float,
        t0_ns: int,
        counted: bool | None = None,
        index: int = -1,
    ) -> None:
        """Serve one request arriving at simulated ``t`` (clock ``now``).

        ``t0_ns`` is the latency origin: 0 means "when the call starts" (virtual mode), else
        the intended start in ``perf_counter_ns`` time (live mode). ``counted`` says whether
        this request is measured (overlapping requests end out of order); default
        :attr:`measuring` when it ends. ``index``: the request's position in the stream, by
        which :attr:`recorder` files its outcome (requests may end out of order).
        """
        is_read, name = self._ops[op]
        read_code: int | None = None
        event: WriteEvent | None = None
        if is_read:
            if name == "experts_by_spec":
                args = (self.specs[args[0]],)
            code = self._read(t, name, args, now, t0_ns, counted)
        elif name in RMW_OPS:
            code, read_code, event = self._rmw(t, name, args, now, t0_ns, counted)
        else:
            code, event = self._write(t, name, args, now, t0_ns, counted)
        if self.recorder is not None and index >= 0:
            self.recorder.outcome(index, code, read_code, event)
        if self.checker is not None:
            self.checker.settle()

    def _measured(self, counted: bool | None) -> bool:
        """Whether a request that ends now is counted (its own flag, else the run's phase)."""
        return self.measuring if counted is None else counted

    def _failed(self) -> None:
        """Count a failure; re-raise when the run is clearly broken, not merely erring."""
        self.consecutive_errors += 1
        if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
            raise

    def _rmw(
        self,
        t: float,
        name: str,
        args: tuple[Any, ...],
        now: float,
        t0_ns: int,
        counted: bool | None,
    ) -> tuple[int, int, WriteEvent | None]:
        """One read-modify-write: the read, then the write, one request (module docstring).
        Returns the request's trace code, its read's, and the write's event."""
        family, write_op = RMW_OPS[name]
        op = f"write:{name}"
        if self._label is not None:
            self._label(op)
        s0 = self._statements()
        origin = t0_ns or max(self._now_ns(), 1)  # 0 would mean "when each part starts"
        read_code = self._read(t, family, args[:1], now, origin, counted, within=True)
        if read_code != TRACE_ERROR:
            code, event = self._write(t, write_op, args, now, origin, counted, label=op, s0=s0)
            return code, read_code, event
        ns = self._now_ns() - origin  # the read failed: the request failed, nothing written
        dst = self._statements() - s0
        return self._record_write(t, op, ns, dst, counted, error=True, noop=False), read_code, None

    def _read(
        self,
        t: float,
        family: str,
        args: tuple[Any, ...],
        now: float,
        t0_ns: int,
        counted: bool | None,
        *,
        within: bool = False,
    ) -> int:
        """Serve one read; ``within``: the read of a read-modify-write, whose request records
        its latency and statements (only the cache outcome is counted here). Returns its
        trace code (``TRACE_ERROR`` if it raised)."""
        tally, clock_ns = self._statements, self._now_ns
        if self._label is not None and not within:
            self._label(family)
        s0 = tally()
        start = clock_ns()
        oracle = self.oracle
        try:
            out = self.repo.read(family, *args)
        except Exception:  # any failure is a counted error, the run goes on
            if oracle is not None:
                oracle.request_done()
            self._failed()
            if within:
                return TRACE_ERROR
            ns = clock_ns() - (t0_ns or start)
            with self._lock:
                self.trace.append(TRACE_ERROR)
                if self._measured(counted):
                    fc = self.counters.family(family)
                    fc.reads += 1
                    fc.errors += 1
                    fc.db_statements += tally() - s0
                self.timeseries.read(t, family, "uncached", ns, error=True)
            return TRACE_ERROR
        ns = clock_ns() - (t0_ns or start)
        self.consecutive_errors = 0
        dst = tally() - s0
        outcome = out.outcome
        stale_age: float | None = None
        cause = ""
        checked = unjudged = False
        if oracle is not None:
            oracle.request_done()
            if outcome == "hit":
                if oracle.sample():
                    checked = oracle.judgeable(now)
                    unjudged = not checked
                if checked:
                    stale_age = oracle.check(family, args, out.value, now)
                    if stale_age is not None:
                        cause = oracle.cause(family, args, out.value, now)
            elif outcome == "miss":
                oracle.filled((family, *args), now)
        with self._lock:
            self.trace.append(TRACE_CODES[outcome])
            if self._measured(counted):
                fc = self.counters.family(family)
                fc.reads += not within
                if outcome == "hit":
                    fc.hits += 1
                    if out.negative:
                        fc.negative_hits += 1
                elif outcome == "miss":
                    fc.misses += 1
                else:
                    fc.uncached += 1
                if outcome != "uncached":
                    self.key_reads.record((family, *args), outcome == "hit")
                if not within:
                    fc.db_statements += dst
                    self.latency.record(family, outcome, ns)
                self.stale_unjudged += unjudged
                if checked:
                    fc.stale_checked += 1
                    if stale_age is not None:
                        fc.stale_reads += 1
                        self.stale_ages.append(stale_age)
                        causes = self.stale_causes.setdefault(family, {})
                        causes[cause] = causes.get(cause, 0) + 1
            if within:
                self.timeseries.lookup(t, family, outcome, negative=out.negative)
            else:
                self.timeseries.read(
                    t, family, outcome, ns, db_statements=dst, negative=out.negative
                )
            if checked:
                self.timeseries.stale_check(t, family, stale_age is not None)
        return TRACE_CODES[outcome]

    def _write(
        self,
        t: float,
        name: str,
        args: tuple[Any, ...],
        now: float,
        t0_ns: int,
        counted: bool | None,
        *,
        label: str | None = None,
        s0: int | None = None,
    ) -> tuple[int, WriteEvent | None]:
        """Serve one write; ``label`` and ``s0``: the read-modify-write it ends (its op, and
        the statement tally when its read began). Returns its trace code and event."""
        tally, clock_ns = self._statements, self._now_ns
        op = label or f"write:{name}"
        if self._label is not None and label is None:
            self._label(op)
        s0 = tally() if s0 is None else s0
        start = clock_ns()
        error = noop = False
        event: WriteEvent | None = None
        checker = self.checker
        if self.oracle is not None:
            self.oracle.writing(now)
        with self._atomic():
            try:
                event = self.repo.write(name, *args)
            except self._noop:
                noop = True
            except Exception:  # any failure is a counted error, the run goes on
                error = True
                self._failed()
            finally:
                if self.oracle is not None:
                    self.oracle.write_ended()
            if checker is not None and event is not None and self._check_at_commit:
                checker.wrote(op, event, self._measured(counted))
        ns = clock_ns() - (t0_ns or start)
        if not error:
            self.consecutive_errors = 0
        if self.drain and not error:
            self.repo.drain()  # ideal lag: async invalidation completes before the next request
        if checker is not None and event is not None and not self._check_at_commit:
            checker.wrote(op, event, self._measured(counted))
        if self.oracle is not None and not (error or noop):
            self.oracle.wrote(now)
        return self._record_write(t, op, ns, tally() - s0, counted, error=error, noop=noop), event

    def _record_write(
        self,
        t: float,
        op: str,
        ns: int,
        dst: int,
        counted: bool | None,
        *,
        error: bool,
        noop: bool,
    ) -> int:
        code = TRACE_ERROR if error else TRACE_NOOP if noop else TRACE_WRITE
        with self._lock:
            self.trace.append(code)
            if self._measured(counted):
                fc = self.counters.family(op)
                fc.writes += 1
                fc.errors += error
                fc.db_statements += dst
                self.noop_writes += noop
                self.latency.record(op, "write", ns)
            self.timeseries.write(t, op, ns, db_statements=dst, error=error)
        return code
