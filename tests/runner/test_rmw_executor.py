"""A read-modify-write through the executor: one request with one latency, whose read the cache
serves and counts exactly as the executor does."""

from __future__ import annotations

import uuid

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.domain.repositories import CachedRepository
from evalcache.metrics import StatementCounter
from evalcache.runner.database import database_copy
from evalcache.runner.serve import TRACE_CODES, TRACE_WRITE, Executor
from evalcache.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_rmw_is_one_request_whose_read_counts_as_the_cache_counts(
    runner_settings: Settings,
) -> None:
    assert runner_settings.database_url and runner_settings.redis_url
    client = redis.Redis.from_url(runner_settings.redis_url)
    ns = f"rmw{uuid.uuid4().hex[:8]}"
    with database_copy(runner_settings.database_url, "rmw") as url:
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            u = int(
                conn.execute(text("SELECT min(id) FROM users WHERE role = 'user'")).scalar_one()
            )
        clock = VirtualClock(1.7e9)
        cache = DatabaseCache(client, namespace=ns, clock=clock)
        repo = CachedRepository(engine, cache, "explicit", clock=clock)
        try:
            with StatementCounter(engine) as counter:
                ex = Executor(repo, counter, None, [], window_s=60.0, drain=False)
                now = clock.now()
                ex.execute(1.0, "write:rmw_user_profile", (u, "profile"), now, 0)  # miss, write
                ex.execute(2.0, "read:user_profile", (u,), now, 0)  # miss: the write invalidated
                ex.execute(3.0, "read:user_profile", (u,), now, 0)  # hit
                ex.execute(4.0, "write:rmw_user_profile", (u, "preferences"), now, 0)  # hit, write
        finally:
            repo.close()
            cache.close()
            for k in client.scan_iter(match=f"{ns}*"):
                client.unlink(k)
            client.close()
            engine.dispose()
    reads, rmw = ex.counters.family("user_profile"), ex.counters.family("write:rmw_user_profile")
    from_cache = cache.family_stats()["user_profile"]
    assert (reads.hits, reads.misses) == (from_cache["hits"], from_cache["misses"]) == (2, 2)
    assert reads.reads == 2 and rmw.writes == 2 and rmw.errors == 0
    # one latency per request: two reads, two read-modify-writes (none for their reads alone)
    assert ex.latency.keys() == [
        ("user_profile", "hit"), ("user_profile", "miss"), ("write:rmw_user_profile", "write")
    ]  # fmt: skip
    assert ex.latency.histogram(family="write:rmw_user_profile").get_total_count() == 2
    # the first one's statements: its read's load and its update, all on the write op
    assert rmw.db_statements > reads.db_statements == 1
    frame = ex.timeseries.to_frame().set_index("family")
    assert frame.loc["user_profile", ["reads", "hits", "misses"]].tolist() == [2, 2, 2]
    assert frame.loc["write:rmw_user_profile", ["requests", "writes"]].tolist() == [2, 2]
    hit, miss = TRACE_CODES["hit"], TRACE_CODES["miss"]
    assert bytes(ex.trace) == bytes([miss, TRACE_WRITE, miss, hit, hit, TRACE_WRITE])
