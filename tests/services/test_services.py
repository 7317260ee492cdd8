"""Service resolution: configured URLs, local servers, embedded servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from evalcache.embedded import EmbeddedPostgres, EmbeddedValkey, free_port
from evalcache.errors import ConfigError, ServiceError
from evalcache.metrics import ServerStatsProbe
from evalcache.runner.database import database_copy
from evalcache.services import _libpq, resolve, services_session, stop_started
from evalcache.settings import Settings, mask_url


def _procs_under(folder: Path) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(folder) in " ".join(p.info["cmdline"] or [])
    ]


def test_mask_url_hides_password() -> None:
    assert mask_url("postgresql://bob:s3cret@h:5432/db") == "postgresql://bob:***@h:5432/db"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"


@pytest.mark.parametrize(
    ("env", "var"),
    [
        ({"EVALCACHE_DATABASE_URL": "mysql://x@h/db"}, "EVALCACHE_DATABASE_URL"),
        ({"EVALCACHE_DATABASE_URL": "postgresql://x@h:notaport/db"}, "EVALCACHE_DATABASE_URL"),
        ({"EVALCACHE_DATABASE_URL": "postgresql://x@h:5432"}, "EVALCACHE_DATABASE_URL"),
        ({"EVALCACHE_REDIS_URL": "http://h:6379"}, "EVALCACHE_REDIS_URL"),
    ],
)
def test_malformed_urls_name_the_variable(env: dict[str, str], var: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert err.value.name == var
    assert "s3cret" not in str(err.value)


def test_configured_server_that_does_not_answer_is_an_error_not_a_fallback(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = Settings(
        database_url=f"postgresql://u:s3cret@127.0.0.1:{port}/db", data_dir=tmp_path
    )
    with pytest.raises(ServiceError) as err:
        resolve(settings)
    msg = str(err.value)
    assert "EVALCACHE_DATABASE_URL" in msg and str(port) in msg and "s3cret" not in msg
    assert not (tmp_path / "pg").exists(), "must not fall back to an embedded server"
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", data_dir=tmp_path)
    with pytest.raises(ServiceError, match="EVALCACHE_REDIS_URL"):
        resolve(settings)


@pytest.mark.postgres
@pytest.mark.redis
def test_local_servers_are_used_when_no_url_is_set(
    tmp_path: Path, pg_server_url: str, redis_url: str
) -> None:
    # The session's own servers stand in for the standard local ports (they are embedded ones on
    # a machine that runs none).
    pg, rd = make_url(pg_server_url), make_url(redis_url)
    settings = Settings(data_dir=tmp_path, database_name="evalcache_svc_test")
    svc = resolve(
        settings,
        start=True,
        local_pg=(str(pg.host), int(pg.port or 5432)),
        local_redis=(str(rd.host), int(rd.port or 6379)),
    )
    try:
        assert svc.postgres.source == "local" and svc.redis.source == "local"
        assert svc.database_url.endswith("/evalcache_svc_test")
        with psycopg.connect(_libpq(svc.database_url)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("evalcache_svc_test",)
    finally:
        stop_started(svc, settings)  # nothing, unless it wrongly started embedded servers
        with psycopg.connect(_libpq(pg_server_url), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "evalcache_svc_test" WITH (FORCE)')
    assert _procs_under(tmp_path) == []


def test_status_does_not_start_anything(tmp_path: Path) -> None:
    svc = resolve(
        Settings(data_dir=tmp_path),
        start=False,
        local_pg=("127.0.0.1", free_port()),
        local_redis=("127.0.0.1", free_port()),
    )
    assert svc.postgres.source == "none" and svc.redis.source == "none"
    assert "would start an embedded" in svc.postgres.reason
    assert _procs_under(tmp_path) == []


@pytest.mark.embedded
@pytest.mark.slow
def test_embedded_servers_start_serve_and_stop(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    nowhere = {"local_pg": ("127.0.0.1", free_port()), "local_redis": ("127.0.0.1", free_port())}
    with services_session(settings, **nowhere) as svc:
        assert svc.postgres.source == "embedded" and svc.redis.source == "embedded"
        with psycopg.connect(_libpq(svc.database_url)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("evalcache",)
        # embedded PostgreSQL preloads pg_stat_statements and every database has the
        # extension already (server-side statement counts): the probe need not create it,
        # and the database the runner copies for a run has it too
        with ServerStatsProbe(svc.database_url, create_extension=False) as probe:
            assert probe.has_statements and probe.statements_note is None
            assert probe.snapshot().statements is not None
        with database_copy(svc.database_url) as copy, psycopg.connect(_libpq(copy)) as conn:
            calls = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
            assert calls is not None and calls[0] >= 0
        client = redis.Redis.from_url(svc.redis_url)
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
        assert _procs_under(tmp_path)
        # a second resolution while they run reuses them instead of starting more
        again = resolve(settings, **nowhere)
        assert again.database_url == svc.database_url and again.redis_url == svc.redis_url
        assert not again.postgres.started_here
    assert _procs_under(tmp_path) == [], "embedded servers left running"


@pytest.mark.embedded
@pytest.mark.slow
def test_leftover_of_a_killed_run_is_reused_and_then_stopped(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    code = (
        "import os\n"
        "from pathlib import Path\n"
        "from evalcache.embedded import EmbeddedValkey\n"
        f"EmbeddedValkey(Path({str(folder / 'valkey')!r})).start(keep=False)\n"
        "os._exit(0)\n"  # dies without stopping what it started
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    server = EmbeddedValkey(folder / "valkey")
    left = server.running()
    assert left is not None and not left.owner_alive()
    nowhere = {"local_pg": ("127.0.0.1", free_port()), "local_redis": ("127.0.0.1", free_port())}
    settings = Settings(data_dir=folder)
    try:
        with services_session(settings, **nowhere) as svc:
            assert svc.redis.url == server.url(left.port), "a second server was started"
        assert server.running() is None
        assert _procs_under(tmp_path) == []
    finally:
        server.stop()
        EmbeddedPostgres(folder / "pg").stop()


@pytest.mark.embedded
@pytest.mark.slow
def test_a_failed_resolution_leaves_no_server_behind(tmp_path: Path) -> None:
    bad_redis = f"redis://127.0.0.1:{free_port()}/0"  # configured, but nothing answers
    settings = Settings(data_dir=tmp_path / "state", redis_url=bad_redis)
    with pytest.raises(ServiceError, match="EVALCACHE_REDIS_URL"):
        resolve(settings, local_pg=("127.0.0.1", free_port()))
    assert _procs_under(tmp_path) == [], "the embedded PostgreSQL it started was left running"
