"""The staleness oracle: compare cached answers with the database at the same moment.

A sampled share of cache hits is re-answered on a separate engine that the runner's statement
counter is never attached to (and whose queries pg_stat_statements does not track when it is
loaded), so checking costs the measured system nothing. The reference answer comes from
:class:`evalcache.domain.truth.Truth`, SQL written apart from the loader's queries, so a bug
in a loader query shows instead of being agreed with.

Oracle errors (the loader against the truth, no cache involved): the same sampled share of
loads (a miss's fill, a refresh) is compared with the truth as the load returns, at the
clock time the load began. A load is judged only when no write can have committed since it
began: none in flight, and every write started and ended before it (ended by the clock's
reading as it returned, which live mode needs: a late write's own ``now`` can be older than a
load it overlaps), both before and after the truth is read. The truth then reads the data
the load read; a disagreement is then the loader's answer differing from the truth on the
same data and the same time: an ``oracle_error``, counted (the whole run, warm-up included)
with the first one described, never folded into the staleness figures.

Staleness age: the runner knows when each cached answer was last known to agree with the
database (the miss that filled it, or an oracle check that found it fresh). When a check finds
it stale, the age is ``now`` minus the first write committed after that moment (or minus that
moment when no write came in between: a time-dependent answer that drifted). With several
writes in between it is an upper bound; with sampling below 1 the bound is looser.

Cause of a stale read (:data:`CAUSES`, decided in this order): the repository reports each
load (:meth:`StalenessOracle.loaded`) and the cache each store of a loaded value
(:meth:`StalenessOracle.stored`, at the instant the store takes effect), which is compared with
the database then. A stale hit whose value was already stale when stored is a **fill race**
(a miss's fill) or a **refresh race** (a refresh's store); one whose answer, recomputed at the
moment it was last known correct over today's data, equals the cached value is **time drift**
(the answer depends on "now"); then **ttl only** when the strategy never invalidates, **late
invalidation** when an invalidation committed before now is still on its way (notification
lag, invalidation delay), else **missed invalidation** (no key of the entry was deleted).

With overlapping requests, a sampled hit of a read during which a write committed (a batch
whose entries are read at different instants, a wait for another reader's lease) is not
judged: a read concurrent with a write may return the value before it, so comparing it with
the database at the read's end would call a correct answer stale. They are counted apart
(``stale_unjudged``); a read served by one round trip takes effect at one instant and is
always judged.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections.abc import Callable
from typing import Any

from greenlet import getcurrent
from sqlalchemy import Connection, Engine, event

from evalcache.domain.families import FAMILIES, entry_args
from evalcache.results_schema import StaleCauses, keys

#: Causes of a stale read, in the order they are decided (module docstring).
CAUSES: tuple[str, ...] = keys(StaleCauses)


class StalenessOracle:
    """Checks cached answers against fresh uncached queries.

    Parameters
    ----------
    truth:
        ``truth(conn, family, *args, at=None)`` -> the database's answer at the clock's time
        (or at clock time ``at``): :class:`evalcache.domain.truth.Truth`.
    engine:
        The oracle's own engine (autocommit; never counted).
    share:
        Share of hits checked, in [0, 1].
    seed:
        Seeds the sampling (deterministic per run).
    untracked:
        Run ``SET pg_stat_statements.track = 'none'`` on each oracle connection (the runner
        instead sets it in the connection's startup options, before any query).
    """

    def __init__(
        self,
        truth: Callable[..., Any],
        engine: Engine,
        share: float,
        seed: int,
        *,
        untracked: bool = False,
    ) -> None:
        self._truth = truth
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.share = share
        self._rng = random.Random(seed)
        self._load_rng = random.Random(f"loads-{seed}")  # hits' sampling left as it was
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._lock = threading.Lock()
        self._known_ok: dict[tuple[Any, ...], float] = {}
        self._writes: list[float] = []
        self.start = 0.0
        # cause attribution: loads awaiting their store, per process (greenlet or thread), and
        # the last store of each key: (value, stale when stored, origin)
        self._pending: dict[Any, list[tuple[tuple[Any, ...], Any, float]]] = {}
        self._last_write = -math.inf  # the latest write started (its commit, in virtual time)
        self._writes_active = 0  # started and not yet ended (live mode: commit still to come)
        self._last_write_end = -math.inf  # the clock's reading as the latest write ended
        # loader against truth (module docstring)
        self.loads_checked = 0
        self.errors = 0
        self.error_example: str | None = None
        self._stores: dict[tuple[Any, ...], tuple[Any, bool, str]] = {}
        self.now: Callable[[], float] | None = None  # the run's clock (stores carry no time)
        self.never_invalidates = False
        self.pending_since: Callable[[], float | None] | None = None
        # overlap: a read spanning several round trips (a batch, a lease wait) that a write
        # committed inside may return the value from before it; such a hit is not judged
        self.judge_in_flight = True
        # told the key of each loaded value the cache stored (the per-write invalidation check
        # indexes cached entries by it)
        self.on_store: Callable[[tuple[Any, ...]], None] | None = None
        if untracked:
            event.listen(engine, "connect", _untrack)

    def sample(self) -> bool:
        """Whether to check this hit (deterministic sequence for a seed)."""
        return self._draw(self._rng)

    def _draw(self, rng: random.Random) -> bool:
        if self.share >= 1.0:
            return True
        if self.share <= 0.0:
            return False
        with self._lock:
            return rng.random() < self.share

    def connection(self) -> Connection:
        """The calling thread's connection on the oracle's engine (uncounted)."""
        return self._conn()

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.engine.connect()
            with self._lock:
                self._conns.append(conn)
        return conn

    def filled(self, key: tuple[Any, ...], now: float) -> None:
        """A miss stored the database's answer for ``key`` at ``now``."""
        rec = self._stores.get(key)
        if rec is None or not rec[1]:  # unless its store was found stale then
            self._known_ok[key] = now

    def wrote(self, now: float) -> None:
        """A write committed at ``now``."""
        with self._lock:
            self._writes.append(now)

    def judgeable(self, started: float) -> bool:
        """Whether a hit of a read that began at ``started`` can be judged: no write committed
        since (with overlapping requests a read spanning a write may return either value)."""
        return self.judge_in_flight or self._last_write <= started

    def check(self, family: str, args: tuple[Any, ...], value: Any, now: float) -> float | None:
        """Compare ``value`` (served from the cache) with the database; stale age or ``None``."""
        fresh = self._truth(self._conn(), family, *args, at=self._at(now))
        key = (family, *args)
        if fresh == value:
            self._known_ok[key] = now
            return None
        ok = self._known_ok.get(key, self.start)
        with self._lock:
            i = bisect.bisect_right(self._writes, ok)
            since = self._writes[i] if i < len(self._writes) else ok
        return max(0.0, now - since)

    def _at(self, now: float) -> float:
        # the clock's time when the run wired it (overlap: a read ends after it arrived)
        return self.now() if self.now is not None else now

    # -- causes ---------------------------------------------------------------------------
    def writing(self, now: float) -> None:
        """A write starts at ``now`` (in virtual time it commits at that instant)."""
        with self._lock:
            self._last_write = max(self._last_write, now)
            self._writes_active += 1

    def write_ended(self) -> None:
        """The write :meth:`writing` announced returned (committed, refused or failed)."""
        with self._lock:
            self._writes_active -= 1
            end = self.now() if self.now is not None else self._last_write
            self._last_write_end = max(self._last_write_end, end)

    def _quiet_since(self, started: float) -> bool:
        # no write in flight, and none started or ended since ``started`` (call under the lock)
        return not self._writes_active and max(self._last_write, self._last_write_end) < started

    def loaded(self, key: tuple[Any, ...], value: Any, started: float) -> None:
        """A fill's or refresh's load of ``key``, begun at ``started``, returned ``value``;
        a sampled share is compared with the truth (module docstring: oracle errors)."""
        self._pending.setdefault(getcurrent(), []).append((key, value, started))
        if self._draw(self._load_rng):
            self._check_load(key, value, started)

    def _check_load(self, key: tuple[Any, ...], value: Any, started: float) -> None:
        with self._lock:
            if not self._quiet_since(started):
                return  # the data may have changed since the load read it: not judged
        truth = self._truth(self._conn(), key[0], *key[1:], at=started)
        with self._lock:
            if not self._quiet_since(started):
                return  # a write (another thread) landed while the truth was read
            self.loads_checked += 1
            if truth != value:
                self.errors += 1
                if self.error_example is None:
                    self.error_example = _describe(key, value, truth)

    def stored(self, value: Any, origin: str, ok: bool) -> None:
        """The calling process stored (``ok``) a value it loaded: check it against the database."""
        me = getcurrent()
        pending = self._pending.get(me)
        if not pending:
            return  # not a loaded value (a write-through SET, a lease holder's re-store)
        i = next((i for i, (_, loaded, _) in enumerate(pending) if loaded is value), None)
        if i is None:
            return
        key, _, started = pending.pop(i)
        if not pending:
            del self._pending[me]
        if ok and self.on_store is not None:
            self.on_store(key)
        if not ok or self.now is None:
            return
        now = self.now()
        # Only a write started since the load began can have made its value stale: the
        # database is asked only then (most stores overlap no write).
        stale = started <= self._last_write and (
            self._truth(self._conn(), key[0], *key[1:], at=now) != value
        )
        self._stores[key] = (value, stale, origin)
        if not stale:
            self._known_ok[key] = now

    def request_done(self) -> None:
        """Forget the calling process's loads that were never stored (a lost lease, an error)."""
        self._pending.pop(getcurrent(), None)

    def cause(self, family: str, args: tuple[Any, ...], value: Any, now: float) -> str:
        """Why the cached ``value`` of a stale hit differs from the database (:data:`CAUSES`)."""
        fam = FAMILIES.get(family)
        if fam is not None and fam.per_id:  # a batch's or a scan's entries are the profiles'
            entries = entry_args(fam, args)
            parts = [((fam.key_family, *a), v) for a, v in zip(entries, value, strict=False)]
        else:
            parts = [((family, *args), value)]
        for key, v in parts:
            rec = self._stores.get(key)
            if rec is not None and rec[1] and rec[0] == v:
                return "fill_race" if rec[2] == "fill" else "refresh_race"
        key = (family, *args)
        then = self._known_ok.get(key, self.start)
        if self._truth(self._conn(), family, *args, at=then) == value:
            return "time_drift"
        if self.never_invalidates:
            return "ttl_only"
        since = self.pending_since() if self.pending_since is not None else None
        if since is not None and since <= now:
            return "late_invalidation"
        return "missed_invalidation"

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


def _describe(key: tuple[Any, ...], loaded: Any, truth: Any) -> str:
    """One line naming a load the truth disagrees with, and where the answers first differ."""
    return f"{key[0]}{tuple(key[1:])!r}: loader and truth differ at {_first_diff(loaded, truth)}"


def _first_diff(a: Any, b: Any, path: str = "answer") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}[{k!r}] (missing on one side)"
            if a[k] != b[k]:
                return _first_diff(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (lengths {len(a)} and {len(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_diff(x, y, f"{path}[{i}]")
    return f"{path} ({_short(a)} vs {_short(b)})"


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _untrack(dbapi_conn: Any, record: Any) -> None:
    # Oracle queries are not application load: keep them out of the server's count too.
    cur = dbapi_conn.cursor()
    cur.execute("SET pg_stat_statements.track = 'none'")
    cur.close()
    dbapi_conn.commit()
