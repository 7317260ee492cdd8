"""Overlapping requests over the real servers: the hold points of a :class:`Simulation`.

:class:`SimHooks` makes every Redis round trip and every SQL statement of the application take
modelled service time in virtual time: the operation runs on the real server when its process
issues it (a query sees exactly the writes committed before), then the process holds for the
operation's service time while other requests run. A load therefore fills the cache at its
start + its duration, and a write that commits meanwhile can race it, as in production.

- Redis: ``execute_command`` and pipelines' ``execute`` hold *before* the command is sent: a
  round trip takes effect at its end, so a GET and the oracle's check of what it returned
  happen at the same virtual instant, and a fill's SET lands at load start + load + round
  trip. Processes sharing one connection never interleave inside a command.
- PostgreSQL: ``after_cursor_execute`` holds after each statement; the application's pool is a
  :class:`SimQueuePool` whose ``db_pool`` connections are a :class:`Resource` (a process waits
  in virtual time for a free one). Threads outside the simulation (the notify listener) take
  overflow connections and never wait.
- SCAN-family calls take no time: their number depends on the server's hash table, not on the run.
- Writes run atomically (:meth:`SimHooks.atomic`): their holds are added up and taken after
  the write returns, because a process suspended inside a transaction could hold a row lock
  that another process's statement would then wait on forever (one thread runs them all).
  Waiting for a connection or for another reader's lease still suspends.
- Refresh ahead runs as processes of their own (the cache's ``refresh_mode="spawn"``, see
  ``resources.refresh_process``): a hit that triggers one returns after its own round trip,
  and the refresh's load and store race the writes that land meanwhile.

Service times come from :class:`ServiceModel`: fixed means with seeded log-normal jitter, drawn
in event order, so the same inputs give the same interleaving.

Invalidation lag (:class:`DeferredInvalidation`, run parameters ``notify_lag`` and
``invalidation_delay``, distributions in :mod:`evalcache.runner.delays`): a committed write's
invalidation runs in a process of its own at commit + a seeded draw instead of at the commit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

import numpy as np
import redis
from greenlet import getcurrent
from sqlalchemy import Engine, event
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from tqdm import tqdm

from evalcache.domain.repositories import CachedRepository
from evalcache.errors import ConfigError
from evalcache.metrics import LatencyRecorder
from evalcache.metrics.latency import histogram_stats
from evalcache.metrics.redisstats import command_name, is_scan
from evalcache.runner.delays import Delay
from evalcache.runner.des import Resource, Simulation
from evalcache.runner.serve import Executor
from evalcache.strategies.api import WriteEvent
from evalcache.strategies.notify import NotifyStrategy
from evalcache.workload import RequestBatch


@dataclass(frozen=True)
class ServiceModel:
    """Service times in seconds: means per operation kind, log-normal jitter (``sigma``).

    ``families``: the mean of one SQL statement of a read family or a write op (``write:<op>``
    as in the summary), in seconds, instead of ``db_s``: a calibrated model (``evalcache
    calibrate``) takes them from the real statement times a run measured per family.
    ``redis_ops``: the mean of one Redis round trip per command (``GET``, ``SET``, ``DEL``,
    ``EVALSHA``..., or ``PIPELINE`` for a pipeline's one round trip), instead of ``redis_s``:
    a lookup, a fill and an invalidation step then cost what each costs.
    """

    redis_s: float = 100e-6  # one round trip (the loopback GET measured here: 40-110 us)
    db_s: float = 500e-6  # one SQL statement
    sigma: float = 0.25
    seed: int = 0
    families: Mapping[str, float] = field(default_factory=dict)
    redis_ops: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("redis_s", "db_s", "sigma"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ConfigError(f"service_model.{name}", f"{v!r} is not a number >= 0")
        for part in ("families", "redis_ops"):
            for name, v in getattr(self, part).items():
                if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                    raise ConfigError(f"service_model.{part}.{name}", f"{v!r} is not a number >= 0")

    def db_mean(self, label: str | None) -> float:
        """Mean service time of one statement of ``label`` (a family or ``write:<op>``)."""
        if label is None:
            return self.db_s
        return self.families.get(label, self.db_s)

    def redis_mean(self, command: str) -> float:
        """Mean service time of one round trip of ``command`` (upper case, or ``PIPELINE``)."""
        return self.redis_ops.get(command, self.redis_s)

    def sampler(self) -> Callable[[float], float]:
        """A draw function ``mean -> service time`` (mean-preserving log-normal)."""
        rng = np.random.default_rng(self.seed)
        sigma = float(self.sigma)
        block: list[float] = []

        def draw(mean: float) -> float:
            if sigma == 0 or mean == 0:
                return mean
            if not block:  # factors drawn in blocks: one numpy call per 4096 operations
                factors = np.exp(-sigma * sigma / 2 + sigma * rng.standard_normal(4096))
                block.extend(factors[::-1].tolist())
            return mean * block.pop()

        return draw


class SimQueuePool(QueuePool):
    """A QueuePool whose connections are a :class:`Resource` while a simulation process runs.

    Build the engine with ``pool_size=n, max_overflow=-1`` and call :meth:`gate`: a process
    then waits in virtual time for one of the ``n`` connections, and the underlying pool never
    blocks the thread (threads outside the simulation get overflow connections).
    """

    resource: Resource | None = None

    def gate(self, resource: Resource) -> None:
        self.resource = resource

    def _do_get(self) -> ConnectionPoolEntry:
        res = self.resource
        if res is not None and res.sim.in_process():
            res.acquire()
        return super()._do_get()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        super()._do_return_conn(record)
        res = self.resource
        if res is not None and res.sim.in_process() and res.in_use > 0:
            res.release()


class SimHooks:
    """Hold points on a Redis client and an engine (see the module docstring)."""

    def __init__(self, sim: Simulation, model: ServiceModel | None = None) -> None:
        self.sim = sim
        self.model = model or ServiceModel()
        self._draw = self.model.sampler()
        self._deferred: dict[Any, float] = {}  # process -> service time owed (atomic)
        self._statements: dict[Any, int] = {}
        self._labels: dict[Any, str] = {}  # process -> what it serves (family or write:<op>)
        self.db: Resource | None = None
        # Real service times of the operations the model times, per label and kind ("db",
        # "redis"), beside the virtual latencies: what the model stands for on this machine.
        self.real = LatencyRecorder()
        self.real_ops = LatencyRecorder()  # the same Redis round trips per command

    def _hold(self, mean: float) -> None:
        sim = self.sim
        me = sim.current_process()
        if me is None:
            return
        dt = self._draw(mean)
        deferred = self._deferred
        if deferred and me in deferred:
            deferred[me] += dt
        else:
            sim.hold_process(me, dt)

    # -- attach ----------------------------------------------------------------------------
    def attach_redis(self, client: redis.Redis) -> None:
        """Hold before each command and each pipeline of ``client`` (one round trip each)."""
        execute_command: Callable[..., Any] = client.execute_command
        make_pipeline: Callable[..., Any] = client.pipeline
        model = self.model
        commands: dict[Any, tuple[float, str]] = {}  # name as sent -> (its mean, upper case)

        # How many SCAN calls a sweep takes depends on the server's hash table (its size and
        # incremental rehashing), not on the run: timing them would make runs differ.
        timed: dict[Any, bool] = {}  # command name -> holds (not a SCAN); asked once per name

        labels = self._labels

        def command(*args: Any, **options: Any) -> Any:
            name = args[0]
            hold = timed.get(name)
            if hold is None:
                hold = timed[name] = not is_scan(name)
            if not hold:
                return execute_command(*args, **options)
            known = commands.get(name)
            if known is None:
                upper = command_name(name)
                known = commands[name] = (model.redis_mean(upper), upper)
            self._hold(known[0])
            start = perf_counter_ns()
            try:
                return execute_command(*args, **options)
            finally:
                dt = perf_counter_ns() - start
                self.real.record(labels.get(getcurrent(), OTHER), "redis", dt)
                self.real_ops.record(known[1], "redis", dt)

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = make_pipeline(*args, **kwargs)
            execute = pipe.execute

            def run(*a: Any, **kw: Any) -> Any:
                self._hold(model.redis_mean(PIPELINE))
                start = perf_counter_ns()
                try:
                    return execute(*a, **kw)
                finally:
                    dt = perf_counter_ns() - start
                    self.real.record(labels.get(getcurrent(), OTHER), "redis", dt)
                    self.real_ops.record(PIPELINE, "redis", dt)

            pipe.execute = run  # type: ignore[method-assign]
            return pipe

        client.execute_command = command  # type: ignore[method-assign]
        client.pipeline = pipeline  # type: ignore[method-assign]

    def attach_engine(self, engine: Engine, db_pool: int) -> None:
        """Hold after each statement; gate the engine's :class:`SimQueuePool` to ``db_pool``."""
        pool = engine.pool
        if not isinstance(pool, SimQueuePool) or pool.size() != db_pool:
            raise ConfigError(
                "engine", f"needs poolclass=SimQueuePool, pool_size={db_pool}, max_overflow=-1"
            )
        self.db = Resource(self.sim, db_pool)
        pool.gate(self.db)
        model, labels = self.model, self._labels
        started: dict[int, int] = {}  # id(execution context) -> perf_counter_ns at the start

        def before(conn: Any, cursor: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
            started[id(ctx)] = perf_counter_ns()

        def after(conn: Any, cursor: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
            end = perf_counter_ns()
            me = getcurrent()
            label = labels.get(me)
            t0 = started.pop(id(ctx), None)
            if t0 is not None:
                self.real.record(label or OTHER, "db", end - t0)
            if self.sim.in_process():
                self._statements[me] = self._statements.get(me, 0) + 1
            self._hold(model.db_mean(label))

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

    # -- per process -----------------------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run a block without holding; its service time is taken when it ends."""
        me = getcurrent()
        self._deferred[me] = 0.0
        try:
            yield
        finally:
            owed = self._deferred.pop(me)
            if self.sim.in_process():
                self.sim.hold(owed)

    def statements(self) -> int:
        """SQL statements the calling process has run so far."""
        return self._statements.get(getcurrent(), 0)

    def label(self, name: str) -> None:
        """Say what the calling process serves (a family or ``write:<op>``): its statements
        take that label's modelled mean and their real times are recorded under it."""
        self._labels[getcurrent()] = name

    def forget(self) -> None:
        """Drop the calling process's statement count and label (call when a request ends)."""
        me = getcurrent()
        self._statements.pop(me, None)
        self._labels.pop(me, None)

    def reset_real(self) -> None:
        """Start the real service times afresh (when the measured window starts)."""
        self.real = LatencyRecorder()
        self.real_ops = LatencyRecorder()

    def service_times(self) -> dict[str, Any]:
        """The model's means beside the real service times (``summary["service_times"]``)."""
        m = self.model
        real: dict[str, Any] = {}
        for label, kind in self.real.keys():  # noqa: SIM118 (a recorder, not a dict)
            stats = histogram_stats(self.real.histogram(label, kind))
            real.setdefault(label, {})[kind] = _service_stats(stats)
        for kind in ("db", "redis"):
            stats = histogram_stats(self.real.histogram(outcome=kind))
            real.setdefault("all", {})[kind] = _service_stats(stats)
        ops = {
            name: _service_stats(histogram_stats(self.real_ops.histogram(name, kind)))
            for name, kind in sorted(self.real_ops.keys())
        }
        return {
            "model": {
                "redis_ms": m.redis_s * 1e3,
                "db_ms": m.db_s * 1e3,
                "sigma": m.sigma,
                "families": {k: v * 1e3 for k, v in sorted(m.families.items())},
                "redis_ops": {k: v * 1e3 for k, v in sorted(m.redis_ops.items())},
            },
            "real": real,
            "redis_ops": ops,
        }


#: The ``redis_ops`` name of a pipeline (one round trip whatever it holds).
PIPELINE = "PIPELINE"


#: The label of operations outside a request (refreshes, deferred invalidations, listeners).
OTHER = "other"


def _service_stats(stats: Mapping[str, Any]) -> dict[str, Any]:
    n = int(stats["count"])
    return {
        "count": n,
        **{k: (float(stats[k]) if n else None) for k in ("mean_ms", "p50_ms", "p99_ms")},
    }


#: Seed streams of the draws (apart from each other and from the service times').
NOTIFY_STREAM, WRITE_PATH_STREAM = 101, 102


class DeferredInvalidation:
    """Runs each committed write's invalidation ``delay`` after its commit, in virtual time.

    Takes over the repository's ``on_commit`` (called right after a write commits, inside the
    writer's process, at the commit's virtual instant):

    - ``notify``: the strategy buffers what the change feed delivers
      (:meth:`NotifyStrategy.buffer`); at the commit the writer collects the notifications of
      everything committed so far (:meth:`NotifyStrategy.collect`, a real sync with the
      feed), and a process applies them at commit + a draw of ``notify_lag``
      (:meth:`NotifyStrategy.deliver`, which records the virtual lag). With a lag of 0 the
      writer applies them itself, at the commit, as the write-path strategies invalidate.
    - other strategies (only with a non-zero ``invalidation_delay``): ``strategy.on_write``
      runs in a process at commit + a draw instead of inside the write.

    ``applied_ms``: each delay applied (commit to the process's start), in milliseconds.
    """

    def __init__(
        self, repo: CachedRepository, sim: Simulation, hooks: SimHooks, delay: Delay, seed: int
    ) -> None:
        self.sim = sim
        self.hooks = hooks
        self.delay = delay
        self.applied_ms: list[float] = []
        #: Called when each deferred invalidation has run (the per-write check re-checks the
        #: entries it found stale then).
        self.after: Callable[[], None] | None = None
        self._outstanding: dict[float, int] = {}  # commit time -> invalidations not yet run
        strategy = repo.strategy
        if isinstance(strategy, NotifyStrategy):
            self._draw = delay.sampler((seed, NOTIFY_STREAM))
            self._notify: NotifyStrategy | None = strategy
            how = (
                "the writer applies its commit's notifications at the commit"
                if delay.zero
                else "a process applies a commit's notifications at commit + a seeded draw"
            )
            strategy.buffer(
                f"virtual: notify_lag {delay.describe()}; {how}; lag_ms: commit to "
                "invalidation done, in virtual time"
            )
        else:
            self._draw = delay.sampler((seed, WRITE_PATH_STREAM))
            self._notify = None
            self._react: Callable[[WriteEvent], None] = strategy.on_write
        repo.on_commit = self.committed

    def committed(self, event: WriteEvent) -> None:
        """A write committed now, in the writer's process: invalidate now or schedule it."""
        at = self.sim.now
        lag = self._draw()
        notify = self._notify
        if notify is None:
            self._spawn(at, lag, self._on_write, event)
            return
        changes = notify.collect()  # may wait for a connection: the commit was `at`
        if not changes:
            return
        if self.delay.zero:
            self.applied_ms.append(0.0)
            notify.deliver(changes, at)
        else:
            self._spawn(at, lag, self._deliver, changes, at)

    def _spawn(self, at: float, lag: float, fn: Callable[..., None], *args: Any) -> None:
        # a collect that waited for a connection may already be past commit + lag
        start = max(at + lag, self.sim.now)
        self.applied_ms.append((start - at) * 1000)
        self._outstanding[at] = self._outstanding.get(at, 0) + 1
        self.sim.spawn(start, self._run, at, fn, *args)

    def _run(self, at: float, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        finally:
            self.hooks.forget()
            n = self._outstanding.pop(at) - 1
            if n:
                self._outstanding[at] = n
        if self.after is not None:
            self.after()

    def pending_since(self) -> float | None:
        """The earliest commit whose invalidation has not run yet (``None``: all have)."""
        return min(self._outstanding) if self._outstanding else None

    def _deliver(self, changes: list[WriteEvent], committed_at: float) -> None:
        assert self._notify is not None
        self._notify.deliver(changes, committed_at)

    def _on_write(self, event: WriteEvent) -> None:
        self._react(event)


TIME_MODEL = (
    "virtual clock; overlapping requests (discrete events over the real servers: db_pool "
    "{db_pool}, SQL statement {db_ms:g} ms{families}, Redis round trip {redis_ms:g} ms{redis_ops}, "
    "log-normal jitter sigma {sigma:g}); refresh ahead as processes of their own; {lag}"
)
NO_LAG = "invalidation at the commit (notify: the writer applies its commit's notifications)"


def families_model(families: Mapping[str, float], what: str = "statement") -> str:
    """The per-family statement (or per-command round-trip) means of a service model, for
    ``time_model``."""
    if not families:
        return ""
    return f" (per {what} of " + ", ".join(f"{k} {v:.3g} ms" for k, v in families.items()) + ")"


def lag_model(notify_lag: Delay, invalidation_delay: Delay) -> str:
    """The ``{lag}`` part of :data:`TIME_MODEL`: how late invalidations run."""
    if not invalidation_delay.zero:
        return (
            f"invalidation delay {invalidation_delay.describe()} (the strategy's reaction to a "
            "write runs in a process at commit + a seeded draw)"
        )
    if not notify_lag.zero:
        return (
            f"notify lag {notify_lag.describe()} (a process applies the feed's notifications "
            "of a commit at commit + a seeded draw)"
        )
    return NO_LAG


def replay_overlap(
    batches: Iterable[RequestBatch],
    executor: Executor,
    sim: Simulation,
    hooks: SimHooks,
    t0: float,
    *,
    tick: Callable[[], None],
    warmup_s: float,
    on_measure: Callable[[], None],
    total: int | None = None,
    progress: bool = False,
) -> int:
    """Serve every request as a process starting at its arrival; return how many were served.

    The scheduler pulls arrivals from the stream as virtual time reaches them, so only the
    requests in flight exist at once. Requests arriving at or after ``warmup_s`` are counted,
    as in a serial run; the run's start figures (database, Redis, strategy counters) are taken
    when the first of them starts, so warm-up requests still in flight then add their
    statements to the run's totals (a handful at the boundary).
    """
    executor.measuring = warmup_s <= 0
    if executor.measuring:
        on_measure()
    served = 0

    def request(t: float, op: str, args: tuple[Any, ...], now: float, index: int) -> None:
        counted = t >= warmup_s
        if counted and not executor.measuring:  # the first measured request starts
            on_measure()
            executor.measuring = True
        tick()
        executor.execute(t, op, args, now, 0, counted, index)
        hooks.forget()

    def arrivals() -> Iterator[tuple[float, Callable[[], None]]]:
        nonlocal served
        with tqdm(total=total, unit="req", disable=not progress, smoothing=0.05) as bar:
            for batch in batches:
                for i, (t, op, args) in enumerate(batch.requests(), served):
                    at = t0 + t
                    yield at, functools.partial(request, t, op, args, at, i)
                served += len(batch)
                bar.update(len(batch))

    sim.run(arrivals=arrivals())
    return served
