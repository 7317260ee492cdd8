"""A small seeded template database for the runner tests (created once per session)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from evalcache.domain.seeding import seed_database
from evalcache.runner.baseline import MEMO_PREFIX
from evalcache.runner.database import AS_OF, SEED
from evalcache.settings import Settings

#: Scale of the test template (200 users): enough keys for the model checks, seeds in ~1 s.
SCALE = 0.02


def _admin(url: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def runner_settings(pg_server_url: str, redis_url: str) -> Iterator[Settings]:
    """Settings whose database is a template seeded at :data:`SCALE` (runs copy it)."""
    name = f"evalcache_runner_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(_admin(pg_server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    seed_database(url, scale=SCALE, seed=SEED, as_of=AS_OF, progress=False)
    client = redis.Redis.from_url(redis_url)
    memos_before = set(client.scan_iter(match=MEMO_PREFIX + "*"))
    yield Settings(database_url=url, redis_url=redis_url)
    # baselines memoised for this session's template are useless to anyone else
    for key in set(client.scan_iter(match=MEMO_PREFIX + "*")) - memos_before:
        client.unlink(key)
    client.close()
    with psycopg.connect(_admin(pg_server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
