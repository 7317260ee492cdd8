"""Databases of a test fixture's own on a PostgreSQL server: the one "scratch database" helper.

The fixtures in tests/conftest.py hand out instances bound to the session's server
(``scratch_databases``) or to a private one (``pgss_databases``); fixtures of any scope then call
:meth:`ScratchDatabases.create` for a database that lives as long as they do.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from sqlalchemy.engine import make_url

from evalcache.domain.seeding import seed_database


def _libpq(url: str, database: str = "postgres") -> str:
    u = make_url(url).set(drivername="postgresql", database=database)
    return u.render_as_string(hide_password=False)


class ScratchDatabases:
    """Databases of a fixture's own on one PostgreSQL server, seeded or empty.

    Use it in a fixture of the scope the database should live for::

        with scratch_databases.create("strat", scale=0.02, seed=7, as_of=AS_OF) as url:
            yield create_engine(url)

    The database is named ``evalcache_<label>_<pid>_<hex>``; on exit it is dropped together
    with every database whose name starts with that name and ``_`` (the runner's template
    siblings and per-run copies a failed run may leave).
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url

    @contextmanager
    def create(
        self,
        label: str,
        *,
        scale: float | None = None,
        seed: int | None = None,
        as_of: datetime | str | None = None,
    ) -> Iterator[str]:
        """A fresh database (SQLAlchemy URL), seeded by ``seed_database`` when ``scale`` is given.

        A seeded database needs ``seed`` and ``as_of`` too: the data must not depend on today.
        """
        if scale is not None and (seed is None or as_of is None):
            raise ValueError("a seeded scratch database needs scale, seed and as_of")
        if not 0 < len(label) <= 6:
            raise ValueError(f"label {label!r}: 1 to 6 characters")
        # at most 30 characters: the runner's copies (template name cut at 30) keep it as prefix
        name = f"evalcache_{label}_{os.getpid()}_{uuid.uuid4().hex[:5]}"
        url = make_url(self.server_url).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(_libpq(self.server_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            if scale is not None:
                assert seed is not None and as_of is not None
                seed_database(url, scale=scale, seed=seed, as_of=as_of, progress=False)
            yield url
        finally:
            self.drop(name)

    def drop(self, name: str) -> None:
        """Drop database ``name`` and every ``name_*`` database."""
        with psycopg.connect(_libpq(self.server_url), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname = %s OR starts_with(datname, %s)",
                (name, name + "_"),
            ).fetchall()
            for (db,) in rows:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
