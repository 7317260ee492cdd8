"""Shared fixtures: real PostgreSQL and Redis, each test isolated.

The servers are resolved as every evalcache command resolves them (``evalcache.services``):
``EVALCACHE_DATABASE_URL`` / ``EVALCACHE_REDIS_URL`` when set, else the local servers on
127.0.0.1:5432 / 127.0.0.1:6379, else embedded PostgreSQL and Valkey under the data folder
(``EVALCACHE_DATA_DIR``, default ``.evalcache/`` in the project), started once for the session and
stopped at its end. A test that needs a service that cannot be resolved fails; with
``EVALCACHE_SKIP_SERVICES=1`` no embedded server is started and such tests are skipped instead.

Databases: :class:`ScratchDatabases` (fixture ``scratch_databases``) creates a database of a
fixture's own, seeded or empty, dropped afterwards. Redis: ``own_redis`` is a private server a
test may stop, restart or freeze.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import redis
from scratch_db import ScratchDatabases

from evalcache.embedded import EmbeddedPostgres, ScratchRedis
from evalcache.errors import EvalCacheError
from evalcache.services import Services, resolve, stop_started
from evalcache.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SKIP_VAR = "EVALCACHE_SKIP_SERVICES"


def _unavailable(what: str, why: str) -> NoReturn:
    msg = f"{what} not available: {why}"
    if os.environ.get(SKIP_VAR):
        pytest.skip(msg)
    pytest.fail(msg)


_RESOLVED = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the servers the session used and why (embedded ones are easy to miss)."""
    for line in terminalreporter.config.stash.get(_RESOLVED, []):
        terminalreporter.write_line(f"services: {line}")


@pytest.fixture(scope="session")
def services(pytestconfig: pytest.Config) -> Iterator[Services]:
    """The session's PostgreSQL and Redis, resolved like ``evalcache services run``.

    The PostgreSQL URL names the server's maintenance database (``postgres``): tests create
    databases of their own on it. Embedded servers this session started (or adopted from a
    killed session) are stopped at its end; ones left by ``evalcache services up`` are reused.
    """
    settings = Settings.from_env(database_name="postgres")
    if not settings.data_dir.is_absolute():  # the project's folder, whatever the cwd
        settings = settings.with_(data_dir=ROOT / settings.data_dir)
    skip = bool(os.environ.get(SKIP_VAR))  # then use what answers; start nothing, stop nothing
    try:
        svc = resolve(settings, start=not skip)
    except EvalCacheError as exc:
        _unavailable("PostgreSQL/Redis", str(exc))
    pytestconfig.stash[_RESOLVED] = [svc.postgres.describe(), svc.redis.describe()]
    try:
        yield svc
    finally:
        if not skip:
            stop_started(svc, settings)


@pytest.fixture(scope="session")
def pg_server_url(services: Services) -> str:
    """URL of the PostgreSQL server under test (its maintenance database)."""
    if services.postgres.url is None:
        _unavailable("PostgreSQL", services.postgres.reason)
    return services.database_url


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    """URL of the Redis server under test (tests keep to namespaces of their own)."""
    if services.redis.url is None:
        _unavailable("Redis", services.redis.reason)
    return services.redis_url


@pytest.fixture(scope="session")
def scratch_databases(pg_server_url: str) -> ScratchDatabases:
    """Creates databases of a fixture's own on the session's PostgreSQL server."""
    return ScratchDatabases(pg_server_url)


@pytest.fixture(scope="session")
def pg_database_url(scratch_databases: ScratchDatabases) -> Iterator[str]:
    """An empty database for this test session, dropped at the end."""
    with scratch_databases.create("test") as url:
        yield url


@pytest.fixture(scope="module")
def pgss_databases() -> Iterator[ScratchDatabases]:
    """A private PostgreSQL of this module's own that preloads pg_stat_statements (server-wide
    statement counts must see no other client), stopped and removed afterwards."""
    # Not under pytest's basetemp (0700, reset by other pytest processes): when running as root
    # the server user must traverse the folder.
    folder = Path(tempfile.mkdtemp(prefix="evalcache-pgss-", dir="/tmp"))
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder)
    try:
        try:
            state, _ = server.start(keep=False)
        except (EvalCacheError, ImportError) as exc:  # pragma: no cover - no wheel/binaries
            pytest.skip(f"cannot start a private PostgreSQL: {exc}")
        yield ScratchDatabases(server.url(state.port))
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def own_redis() -> Iterator[ScratchRedis]:
    """A Redis of this test's own (``.url``, ``.port``): ``stop()``, ``start()`` (same port),
    ``freeze()`` (SIGSTOP), ``thaw()``. Stopped and removed after the test."""
    with ScratchRedis() as server:
        yield server


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
