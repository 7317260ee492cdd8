"""The staleness oracle: compare cached answers with the database at the same moment.

A sampled share of cache hits is re-answered by ``repo.fresh`` on a separate engine that the
runner's statement counter is never attached to (and whose queries pg_stat_statements does not
track when it is loaded), so checking costs the measured system nothing.

Staleness age: the runner knows when each cached answer was last known to agree with the
database (the miss that filled it, or an oracle check that found it fresh). When a check finds
it stale, the age is ``now`` minus the first write committed after that moment (or minus that
moment when no write came in between: a time-dependent answer that drifted). With several
writes in between it is an upper bound; with sampling below 1 the bound is looser.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event


class StalenessOracle:
    """Checks cached answers against fresh uncached queries.

    Parameters
    ----------
    fresh:
        ``repo.fresh``: ``fresh(conn, family, *args)`` -> the uncached answer now.
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
        fresh: Callable[..., Any],
        engine: Engine,
        share: float,
        seed: int,
        *,
        untracked: bool = False,
    ) -> None:
        self._fresh = fresh
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.share = share
        self._rng = random.Random(seed)
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._lock = threading.Lock()
        self._known_ok: dict[tuple[Any, ...], float] = {}
        self._writes: list[float] = []
        self.start = 0.0
        if untracked:
            event.listen(engine, "connect", _untrack)

    def sample(self) -> bool:
        """Whether to check this hit (deterministic sequence for a seed)."""
        if self.share >= 1.0:
            return True
        if self.share <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < self.share

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.engine.connect()
            with self._lock:
                self._conns.append(conn)
        return conn

    def filled(self, key: tuple[Any, ...], now: float) -> None:
        """A miss stored the database's answer for ``key`` at ``now``."""
        self._known_ok[key] = now

    def wrote(self, now: float) -> None:
        """A write committed at ``now``."""
        with self._lock:
            self._writes.append(now)

    def check(self, family: str, args: tuple[Any, ...], value: Any, now: float) -> float | None:
        """Compare ``value`` (served from the cache) with the database; stale age or ``None``."""
        fresh = self._fresh(self._conn(), family, *args)
        key = (family, *args)
        if fresh == value:
            self._known_ok[key] = now
            return None
        ok = self._known_ok.get(key, self.start)
        with self._lock:
            i = bisect.bisect_right(self._writes, ok)
            since = self._writes[i] if i < len(self._writes) else ok
        return max(0.0, now - since)

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


def _untrack(dbapi_conn: Any, record: Any) -> None:
    # Oracle queries are not application load: keep them out of the server's count too.
    cur = dbapi_conn.cursor()
    cur.execute("SET pg_stat_statements.track = 'none'")
    cur.close()
    dbapi_conn.commit()
