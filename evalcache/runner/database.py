"""The seeded template database and the per-run copies made from it.

Every run writes (bookings, payments...), and its cache-off baseline must replay the same stream
on the same data. So the seeded database is used only as a **template**: each run (and each
baseline) works on its own ``CREATE DATABASE ... TEMPLATE`` copy (a file-level copy, fast, no
reseeding) and drops it afterwards. This also keeps parallel sweep cells independent.

The template is the configured database when it holds data of the requested scale. When it is
empty it is seeded (:data:`SEED`, :data:`AS_OF`); when it holds another scale, a sibling
database ``<name>_s<scale>`` is used (seeded on first use), so sweeps at several scales never
reseed anything. A sibling is seeded with :data:`SEED` and the configured database's own
``as_of`` (:func:`seed_time`), and reseeded when that changes: every template of a sweep then
shares one reference date, whichever date the configured database was seeded with (``make
report`` seeds it with the Makefile's ``AS_OF``, :data:`AS_OF` by default). An advisory lock
serialises seeding across processes.
"""

from __future__ import annotations

import contextlib
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
from psycopg import sql
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from evalcache.domain.generate import Sizes
from evalcache.domain.seeding import seed_database
from evalcache.errors import ServiceError

#: Seed and reference time of databases the runner seeds itself (fixed: reproducible runs);
#: the Makefile's ``SEED`` and ``AS_OF`` defaults are the same (a test keeps them equal).
SEED = 42
AS_OF = "2025-01-06T00:00:00+00:00"
DAY = 86_400
#: How long a copy waits for other sessions to leave the template.
COPY_WAIT_S = 60.0


def _libpq(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def _with_db(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(_libpq(url, "postgres"), autocommit=True)
    except psycopg.OperationalError as exc:
        raise ServiceError("postgresql", f"cannot reach {make_url(url).host}: {exc}") from exc


def users_count(url: str) -> int | None:
    """Rows in ``users`` of the database at ``url``; ``None`` when absent or empty."""
    with psycopg.connect(_libpq(url)) as conn:
        exists = conn.execute("SELECT to_regclass('public.users') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    n = int(row[0]) if row else 0
    return n or None


def prepare_template(url: str, scale: float, *, progress: bool = False) -> str:
    """The URL of a database seeded at ``scale`` to copy runs from (seeding it if needed)."""
    want = Sizes.for_scale(scale).users
    name = str(make_url(url).database)
    with _admin(url) as admin:
        # One seeder at a time per template name, across processes.
        admin.execute("SELECT pg_advisory_lock(%s)", (zlib.crc32(name.encode()),))
        try:
            have = users_count(url)
            if have == want:
                return url
            as_of = AS_OF
            if have is not None:
                as_of = data_as_of(url)  # the configured database's: one date for all scales
                sibling = f"{name}_s{scale:g}".replace(".", "_")[:63]
                url = _with_db(url, sibling)
                exists = admin.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (sibling,)
                ).fetchone()
                if not exists:
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(sibling)))
                have = users_count(url)
                if have == want and data_as_of(url) == as_of:
                    return url
            seed_database(url, scale=scale, seed=SEED, as_of=as_of, reset=True, progress=progress)
            return url
        finally:
            admin.execute("SELECT pg_advisory_unlock(%s)", (zlib.crc32(name.encode()),))


def data_as_of(url: str) -> str:
    """The ``as_of`` the data at ``url`` was seeded with (:func:`seed_time`), ISO-8601 UTC."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            t0 = seed_time(conn)
    finally:
        engine.dispose()
    return datetime.fromtimestamp(t0, UTC).isoformat()


@contextlib.contextmanager
def database_copy(template_url: str, label: str = "run") -> Iterator[str]:
    """A fresh copy of the template for the block; dropped afterwards. Yields its URL.

    PostgreSQL refuses to copy a database other sessions are connected to, so the copy is
    retried for up to :data:`COPY_WAIT_S` (another process may be reading the template).
    """
    template = str(make_url(template_url).database)
    copy = f"{template[:30]}_{label}_{uuid.uuid4().hex[:10]}"
    deadline = time.monotonic() + COPY_WAIT_S
    with _admin(template_url) as admin:
        delay = 0.05
        while True:
            try:
                admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(copy), sql.Identifier(template)
                    )
                )
                break
            except psycopg.errors.ObjectInUse as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(
                        "postgresql",
                        f"cannot copy template database {template!r}: other sessions stay "
                        f"connected to it ({exc}); close them (runs copy it, never use it)",
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield _with_db(template_url, copy)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy))
            )


def seed_time(conn: Connection) -> float:
    """The seed's ``as_of`` as epoch seconds: t0 of the virtual clock.

    The seeder stores no metadata, but every timestamp it writes in the past is before
    ``as_of`` and the latest ones lie within hours of it, while ``as_of`` defaults to a
    midnight. So t0 is the latest past timestamp (``created_at`` of users, appointments,
    payments, reviews) rounded up to the next midnight UTC: exact for the default and for any
    date given as ``--as-of``, and never earlier than existing data.
    """
    latest = conn.execute(
        text(
            """SELECT greatest((SELECT max(created_at) FROM users),
                               (SELECT max(created_at) FROM appointments),
                               (SELECT max(created_at) FROM payments),
                               (SELECT max(created_at) FROM reviews))"""
        )
    ).scalar()
    if latest is None:
        return datetime.fromisoformat(AS_OF).timestamp()
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    ts = int(latest.timestamp())
    return float(ts - ts % DAY + DAY)
