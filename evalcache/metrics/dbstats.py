"""Database load: what the runner counts on the application engine, and what the server counts.

Runner side (:class:`StatementCounter`): SQLAlchemy ``before/after_cursor_execute`` listeners on
**one** engine (the application's; the staleness oracle and the stats probe use their own
connections and are never counted). A statement is counted when it completed; an
``executemany`` counts one statement per parameter set (psycopg 3 sends each one, and the
server counts each). Rows are ``cursor.rowcount`` (psycopg 3 reports rows returned for a SELECT
and rows affected for DML); time is the wall time of the execute call (round trip plus server
time; psycopg 3 fetches the result inside execute).

Server side (:class:`ServerStatsProbe`): the only server counter that counts statements
exactly is ``pg_stat_statements`` (``calls``), which needs
``shared_preload_libraries=pg_stat_statements`` at server start. The embedded PostgreSQL that
evalcache starts preloads it; the shared server on this machine does not. So
``db_statements_server`` is the delta of ``sum(calls)`` over top-level statements in the run's
database, excluding transaction control and driver housekeeping (BEGIN, COMMIT, ROLLBACK,
SAVEPOINT, RELEASE, DEALLOCATE ALL, DISCARD: psycopg issues these itself and no cursor event
sees them), and excluding statements that failed (the server counts only completed ones, and so
does the runner; failures are counted apart as ``errors``), with the probe's own session untracked
(``SET pg_stat_statements.track = 'none'``); it is ``None`` when the extension is not loaded.
The probe says why in words when the server cannot count (``statements_note``; the summary's
``db_statements_server_note``).
``pg_stat_database`` (transactions, tuples) and ``pg_stat_user_tables`` (scans, tuple writes)
deltas are reported as well, always: they are load proxies, not statement counts (a join scans
several tables; one transaction holds several statements), and they are only exact after the
application backends flushed their pending statistics (:meth:`ServerStatsProbe.settle`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

# \y is the end of a word in PostgreSQL regular expressions (\b would be a backspace).
_TX_CONTROL = (
    r"^\s*(begin|commit|rollback|end|start\s+transaction|savepoint|release|deallocate|discard)\y"
)

_STATEMENTS_SQL = f"""
SELECT coalesce(sum(s.calls), 0)::bigint
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.toplevel AND s.query !~* '{_TX_CONTROL}'
"""
_DATABASE_SQL = """
SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated,
       tup_deleted, blks_hit, blks_read
FROM pg_stat_database WHERE datname = current_database()
"""
_TABLES_SQL = """
SELECT coalesce(sum(seq_scan), 0)::bigint, coalesce(sum(idx_scan), 0)::bigint,
       coalesce(sum(n_tup_ins), 0)::bigint, coalesce(sum(n_tup_upd), 0)::bigint,
       coalesce(sum(n_tup_del), 0)::bigint
FROM pg_stat_user_tables
"""


@dataclass(frozen=True)
class DbCounts:
    """Runner-side counts (cumulative since the counter was attached, or a delta)."""

    statements: int = 0
    rows: int = 0
    time_ns: int = 0
    errors: int = 0

    def __sub__(self, other: DbCounts) -> DbCounts:
        return DbCounts(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    @property
    def time_ms(self) -> float:
        return self.time_ns / 1e6


class _Tally:
    __slots__ = ("errors", "paused", "rows", "statements", "t0", "time_ns")

    def __init__(self) -> None:
        self.statements = self.rows = self.time_ns = self.errors = 0
        self.t0: int | None = None
        self.paused = False


class StatementCounter:
    """Count statements, rows and time on one engine (per thread, summed on demand).

    Each thread keeps its own tally, so worker threads never contend and a worker can
    attribute statements to the request it is serving (:meth:`thread_statements`).

    Examples
    --------
    >>> from sqlalchemy import create_engine, text
    >>> engine = create_engine("sqlite://")
    >>> with StatementCounter(engine) as counter, engine.connect() as conn:
    ...     _ = conn.execute(text("select 1"))
    ...     counter.snapshot().statements
    1
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._tallies: list[_Tally] = []
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)
        self._attached = True

    def _tally(self) -> _Tally:
        tally: _Tally | None = getattr(self._local, "tally", None)
        if tally is None:
            tally = self._local.tally = _Tally()
            with self._lock:
                self._tallies.append(tally)
        return tally

    def _before(
        self, conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool
    ) -> None:
        tally = self._tally()
        if not tally.paused:
            tally.t0 = time.perf_counter_ns()

    def _after(
        self, conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool
    ) -> None:
        tally = self._tally()
        if tally.t0 is None:
            return
        tally.time_ns += time.perf_counter_ns() - tally.t0
        tally.t0 = None
        tally.statements += len(params) if many and params is not None else 1
        rc = getattr(cursor, "rowcount", -1)
        if isinstance(rc, int) and rc > 0:
            tally.rows += rc

    def _error(self, ctx: Any) -> None:
        tally = self._tally()
        if tally.t0 is not None:
            tally.errors += 1
            tally.t0 = None

    def snapshot(self) -> DbCounts:
        """Totals over every thread so far."""
        with self._lock:
            tallies = list(self._tallies)
        return DbCounts(
            sum(t.statements for t in tallies),
            sum(t.rows for t in tallies),
            sum(t.time_ns for t in tallies),
            sum(t.errors for t in tallies),
        )

    def thread_statements(self) -> int:
        """Statements counted so far in the calling thread (diff around a request)."""
        return self._tally().statements

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Do not count what the calling thread executes inside the block."""
        tally = self._tally()
        tally.paused = True
        try:
            yield
        finally:
            tally.paused = False

    def close(self) -> None:
        """Detach the listeners (counts stay readable)."""
        if self._attached:
            event.remove(self.engine, "before_cursor_execute", self._before)
            event.remove(self.engine, "after_cursor_execute", self._after)
            event.remove(self.engine, "handle_error", self._error)
            self._attached = False

    def __enter__(self) -> StatementCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class ServerCounts:
    """The server's cumulative counters for one database (or a delta of two snapshots).

    ``statements`` is ``None`` when pg_stat_statements is not loaded; ``dealloc`` (entries
    pg_stat_statements evicted) must not change during a run for ``statements`` to be exact.
    """

    statements: int | None
    dealloc: int | None
    xact_commit: int = 0
    xact_rollback: int = 0
    tup_returned: int = 0
    tup_fetched: int = 0
    tup_inserted: int = 0
    tup_updated: int = 0
    tup_deleted: int = 0
    blks_hit: int = 0
    blks_read: int = 0
    seq_scan: int = 0
    idx_scan: int = 0
    n_tup_ins: int = 0
    n_tup_upd: int = 0
    n_tup_del: int = 0

    def __sub__(self, other: ServerCounts) -> ServerCounts:
        vals: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            vals[f.name] = None if a is None or b is None else a - b
        return ServerCounts(**vals)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ServerStatsProbe:
    """Reads the server's own statistics for the database of ``url`` on its own connection.

    Parameters
    ----------
    url:
        SQLAlchemy or libpq URL of the *application's* database.
    create_extension:
        Run ``CREATE EXTENSION IF NOT EXISTS pg_stat_statements`` when the library is
        preloaded but the extension is missing in this database.
    """

    def __init__(self, url: str, *, create_extension: bool = True) -> None:
        self._conn = psycopg.connect(_libpq_url(url), autocommit=True)
        #: Why the server cannot count statements, in words (``None`` when it can).
        self.statements_note: str | None = None
        preload = self._scalar("SELECT current_setting('shared_preload_libraries')")
        self.has_statements = "pg_stat_statements" in str(preload)
        database = self._scalar("SELECT current_database()")
        if not self.has_statements:
            self.statements_note = (
                "the PostgreSQL server does not load pg_stat_statements "
                f"(shared_preload_libraries = {str(preload)!r}), so it cannot count statements"
            )
        else:
            problem = ""
            if create_extension:
                try:
                    self._conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                except psycopg.Error as exc:  # e.g. not allowed to create extensions
                    problem = f": {str(exc).strip()}"
            installed = self._scalar(
                "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
            )
            self.has_statements = bool(installed)
            if not installed:
                self.statements_note = (
                    "the PostgreSQL server loads pg_stat_statements but the extension is not "
                    f"installed in database {database!r}{problem}"
                )
        if self.has_statements:
            # This session's own queries must not count as application load.
            self._conn.execute("SET pg_stat_statements.track = 'none'")

    def _scalar(self, sql: str) -> Any:
        row = self._conn.execute(sql).fetchone()
        return None if row is None else row[0]

    def snapshot(self) -> ServerCounts:
        """Current cumulative counters (a fresh statistics snapshot each call)."""
        self._conn.execute("SELECT pg_stat_clear_snapshot()")
        statements = dealloc = None
        if self.has_statements:
            statements = int(self._scalar(_STATEMENTS_SQL))
            dealloc = int(self._scalar("SELECT dealloc FROM pg_stat_statements_info"))
        db = self._conn.execute(_DATABASE_SQL).fetchone() or (0,) * 9
        tables = self._conn.execute(_TABLES_SQL).fetchone() or (0,) * 5
        return ServerCounts(statements, dealloc, *(int(v or 0) for v in (*db, *tables)))

    def settle(self, app_engine: Engine | None = None, max_wait_s: float = 5.0) -> ServerCounts:
        """Make the cumulative statistics complete, then snapshot.

        Backends report table and database statistics at most once a second while busy and
        otherwise after ~10 s idle; a backend that exits reports at once. So the application
        engine's pool is disposed (its idle connections close), and the counters are polled
        until two reads 200 ms apart agree.
        """
        if app_engine is not None:
            app_engine.dispose()
        last = self.snapshot()
        deadline = time.monotonic() + max_wait_s
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.snapshot()
            if now == last:
                return now
            last = now
        return last

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ServerStatsProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
