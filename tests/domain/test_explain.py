"""Hot reads use indexes: EXPLAIN every statement the queries run, at scale 1."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from evalcache.domain import queries as q
from evalcache.domain.seeding import load_id_pools, seed_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

NOW = datetime(2025, 1, 1, 10, tzinfo=UTC)
# Full scans are expected for the admin dashboard's platform-wide counts, and are the planner's
# right choice for small reference tables joined by hash (30 specializations; 1k experts, ~20
# pages, joined to a patient's appointments). Tables that grow with activity must not be scanned.
ALLOWED = re.compile(r"count\(\*\) FROM (users|experts)\)")
SMALL_TABLES = {"specializations", "experts"}


def test_hot_reads_do_not_scan_big_tables(domain_engine: Engine) -> None:
    seed_database(domain_engine, scale=1.0, seed=1, as_of="2025-01-01", reset=True, progress=False)
    with domain_engine.connect() as conn:
        pools = load_id_pools(conn)
        # the busiest expert, and a typical (median) patient
        e = int(pools["experts"][0])
        u = int(pools["patients"][len(pools["patients"]) // 2])
        spec = str(pools["specializations"][0])
        calls: list[Callable[[Connection], Any]] = [
            lambda c: q.get_user_profiles(c, [u, u + 1]),
            lambda c: q.get_expert_profile(c, e, include_availability=True, now=NOW),
            lambda c: q.get_experts_by_specialization(c, spec),
            lambda c: q.get_user_appointments(c, u, "completed"),
            lambda c: q.get_expert_appointments(c, e, NOW - timedelta(days=7), NOW),
            lambda c: q.get_admin_dashboard(c, NOW),
            lambda c: q.get_expert_dashboard(c, e, NOW),
            lambda c: q.get_user_dashboard(c, u, NOW),
        ]
        seen: list[tuple[str, Any]] = []

        def capture(*args: Any) -> None:
            seen.append((args[2], args[3]))

        event.listen(conn, "before_cursor_execute", capture)
        for call in calls:
            call(conn)
        event.remove(conn, "before_cursor_execute", capture)
        assert len(seen) >= 20
        raw = conn.connection.driver_connection
        scans = []
        for stmt, params in seen:
            plan = "\n".join(r[0] for r in raw.execute("EXPLAIN " + stmt, params))  # type: ignore[union-attr]
            for table in re.findall(r"Seq Scan on (\w+)", plan):
                if table not in SMALL_TABLES and not ALLOWED.search(stmt):
                    scans.append((table, " ".join(stmt.split())[:120]))
        assert scans == []
