"""Shared fixtures: real PostgreSQL and Redis, each test isolated.

URLs come from EVALCACHE_DATABASE_URL / EVALCACHE_REDIS_URL, else the local servers this
machine kind runs (127.0.0.1:5432, 127.0.0.1:6379). A test that needs a service it cannot
reach fails; set EVALCACHE_SKIP_SERVICES=1 to skip those tests instead.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url


def _server_url() -> str:
    url = os.environ.get("EVALCACHE_DATABASE_URL")
    if url:
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"postgresql+psycopg://{getpass.getuser()}@127.0.0.1:5432/postgres"


def _redis_url() -> str:
    return os.environ.get("EVALCACHE_REDIS_URL") or "redis://127.0.0.1:6379/0"


def _unavailable(what: str, exc: Exception) -> None:
    msg = f"{what} not reachable: {exc}"
    if os.environ.get("EVALCACHE_SKIP_SERVICES"):
        pytest.skip(msg)
    pytest.fail(msg)


def _admin_dsn(url: str) -> str:
    u = make_url(url).set(drivername="postgresql", database="postgres")
    return u.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the PostgreSQL server under test (its maintenance database)."""
    url = _server_url()
    try:
        with psycopg.connect(_admin_dsn(url), connect_timeout=3):
            pass
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    return url


@pytest.fixture(scope="session")
def pg_database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    name = f"evalcache_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _admin_dsn(pg_server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_database_url, pool_pre_ping=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = _redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    return url


@pytest.fixture
def namespace() -> str:
    """A key namespace of this test's own."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_client(redis_url: str, namespace: str) -> Iterator[redis.Redis]:
    """A real Redis client; every key under this test's namespace is removed afterwards."""
    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(match=f"*{namespace}*", count=1000):
        client.unlink(key)
    client.close()
