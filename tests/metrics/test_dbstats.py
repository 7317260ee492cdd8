from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from scratch_db import ScratchDatabases
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from evalcache.metrics import ServerStatsProbe, StatementCounter


def _exercise(engine: Engine, rounds: int = 200, offset: int = 1000) -> int:
    """Selects, updates, inserts, executemany, rollbacks and one failure; returns inserted rows."""
    inserted = 0
    with engine.connect() as conn:
        for i in range(rounds):
            conn.execute(text("SELECT v FROM t WHERE id = :i"), {"i": i % 50})
            conn.execute(text("UPDATE t SET v = v + 1 WHERE id = :i"), {"i": i % 50})
            if i % 10 == 0:
                conn.execute(
                    text("UPDATE t SET v = :v WHERE id = :i"),
                    [{"v": i, "i": k} for k in range(5)],  # executemany: 5 statements
                )
            if i % 20 == 0:
                conn.execute(text("INSERT INTO t (id, v) VALUES (:i, 0)"), {"i": offset + i})
                inserted += 1
            conn.commit() if i % 7 else conn.rollback()
        with pytest.raises(IntegrityError):
            conn.execute(text("INSERT INTO t (id, v) VALUES (1, 0)"))  # duplicate key
        conn.rollback()
    return inserted


def test_counter_counts_statements_rows_executemany_and_pauses() -> None:
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1, 0), (2, 0), (3, 0)"))
    with StatementCounter(engine) as counter:
        with engine.begin() as conn:
            conn.execute(text("UPDATE t SET v = 1"))  # 3 rows
            conn.execute(
                text("UPDATE t SET v = :v WHERE id = :i"), [{"v": 2, "i": 1}, {"v": 2, "i": 2}]
            )
            with counter.paused():
                conn.execute(text("SELECT * FROM t"))
            with pytest.raises(OperationalError):
                conn.execute(text("SELECT * FROM nope"))
        snap = counter.snapshot()
        assert snap.statements == 3 and snap.errors == 1
        assert snap.rows == 5
        assert snap.time_ns > 0
        assert counter.thread_statements() == 3

        seen: list[int] = []

        def worker() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.execute(text("SELECT 2"))
            seen.append(counter.thread_statements())

        th = threading.Thread(target=worker)
        th.start()
        th.join()
        assert seen == [2]  # per-thread attribution
        assert counter.snapshot().statements == 5
    with engine.connect() as conn:  # detached: no longer counted
        conn.execute(text("SELECT 1"))
    assert counter.snapshot().statements == 5


@pytest.fixture(scope="module")
def private_pg_url(pgss_databases: ScratchDatabases) -> Iterator[str]:
    """A database on a PostgreSQL of our own with pg_stat_statements preloaded (the shared one
    lacks it)."""
    with pgss_databases.create("app") as url:
        yield url


def _make_table(url: str) -> None:
    setup = create_engine(url)
    with setup.begin() as conn:
        conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)"))
        conn.execute(text("INSERT INTO t SELECT g, 0 FROM generate_series(0, 99) g"))
    setup.dispose()


@pytest.mark.postgres
@pytest.mark.embedded
@pytest.mark.slow
def test_runner_count_agrees_with_pg_stat_statements(private_pg_url: str) -> None:
    _make_table(private_pg_url)
    engine = create_engine(private_pg_url)
    with engine.connect() as conn:  # dialect initialisation happens before counting starts
        conn.execute(text("SELECT 1"))
    with StatementCounter(engine) as counter, ServerStatsProbe(private_pg_url) as probe:
        assert probe.has_statements
        before, server_before = counter.snapshot(), probe.snapshot()
        inserted = _exercise(engine)
        threads = [
            threading.Thread(target=_exercise, args=(engine, 50, 10_000 * (k + 1)))
            for k in range(2)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        ours = counter.snapshot() - before
        server = probe.settle(engine) - server_before
    assert server.statements is not None and server.dealloc == 0
    assert ours.statements > 700
    # the issue asks for 0.5 %; the two counts are in fact equal
    assert abs(ours.statements - server.statements) <= 0.005 * server.statements
    assert ours.statements == server.statements
    assert ours.errors == 3  # one duplicate key per _exercise call, not counted by the server
    assert server.n_tup_ins >= inserted  # table stats flushed by settle()
    engine.dispose()


@pytest.mark.postgres
def test_probe_on_a_server_without_pg_stat_statements(pg_database_url: str) -> None:
    _make_table(pg_database_url)
    engine = create_engine(pg_database_url)
    with ServerStatsProbe(pg_database_url) as probe:
        before = probe.snapshot()
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t SELECT g, 1 FROM generate_series(100, 129) g"))
            conn.execute(text("UPDATE t SET v = 2 WHERE id < 10"))
        delta = probe.settle(engine) - before
    if probe.has_statements:  # pragma: no cover - a server that does preload it
        assert delta.statements is not None and delta.statements >= 2
        assert probe.statements_note is None
    else:
        assert delta.statements is None and delta.dealloc is None
        # and it says why, in words
        assert probe.statements_note is not None
        assert "does not load pg_stat_statements" in probe.statements_note
        assert "shared_preload_libraries = " in probe.statements_note
    assert delta.n_tup_ins == 30 and delta.n_tup_upd == 10
    assert delta.xact_commit >= 1
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE t"))
    engine.dispose()
