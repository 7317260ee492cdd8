"""Seed PostgreSQL with deterministic marketplace data through COPY; the ``evalcache seed``
command.

Examples
--------
>>> from evalcache.domain.seeding import seed_database
>>> report = seed_database("postgresql+psycopg://root@127.0.0.1:5432/evalcache",
...                        scale=0.1, seed=42, reset=True)          # doctest: +SKIP
>>> report.rows["appointments"]                                     # doctest: +SKIP
10000

Re-running: without ``reset`` a database whose tables already hold rows is refused
(:class:`SeedError`, nothing written); with ``reset`` the schema is dropped and recreated.
Loading happens in one transaction, so a failed load leaves no partial data behind.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from tqdm import tqdm

from evalcache.domain.generate import generate
from evalcache.domain.models import TABLE_ORDER, Base
from evalcache.domain.pools import load_expert_specializations, load_id_pools
from evalcache.errors import ConfigError, EvalCacheError
from evalcache.settings import Settings, validate_database_url

__all__ = [
    "SeedError",
    "SeedReport",
    "add_cli",
    "create_schema",
    "default_database_url",
    "drop_schema",
    "load_expert_specializations",
    "load_id_pools",
    "seed_database",
    "table_checksums",
    "today_utc",
    "validate_seed_args",
]

MAX_SCALE = 100.0
COPY_CHUNK_ROWS = 20_000


class SeedError(EvalCacheError):
    """The database is not in a state the seeder accepts (e.g. already seeded, no --reset)."""


@dataclass(frozen=True)
class SeedReport:
    """What a load did. ``rows``: rows per table in load order; seconds split by phase."""

    scale: float
    seed: int
    as_of: str
    rows: dict[str, int]
    generate_seconds: float
    load_seconds: float
    seconds: float
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def today_utc() -> datetime:
    """Today 00:00 UTC: the default ``as_of``, and the seeder's only wall-clock read."""
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def validate_seed_args(scale: Any, seed: Any, as_of: Any) -> tuple[float, int, datetime]:
    """Check seed arguments before anything touches the database.

    ``scale``: number in (0, 100]; ``seed``: int >= 0; ``as_of``: ``None`` (today 00:00 UTC),
    an ISO date/datetime string, a ``date`` or a ``datetime`` (naive means UTC).
    """
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not np.isfinite(scale):
        raise ConfigError("scale", f"must be a number in (0, {MAX_SCALE:g}], got {scale!r}")
    if not 0 < scale <= MAX_SCALE:
        raise ConfigError("scale", f"must be in (0, {MAX_SCALE:g}] (1 = 10k users), got {scale}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError("seed", f"must be an int >= 0, got {seed!r}")
    if as_of is None:
        ref = today_utc()
    elif isinstance(as_of, datetime):
        ref = as_of
    elif isinstance(as_of, date):
        ref = datetime(as_of.year, as_of.month, as_of.day)
    elif isinstance(as_of, str):
        try:
            ref = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise ConfigError(
                "as_of", f"must be an ISO date or datetime (e.g. 2025-01-31), got {as_of!r}"
            ) from exc
    else:
        raise ConfigError("as_of", f"must be an ISO date string, date or datetime, got {as_of!r}")
    ref = ref.replace(tzinfo=UTC) if ref.tzinfo is None else ref.astimezone(UTC)
    return float(scale), int(seed), ref.replace(microsecond=0)


def create_schema(engine: Engine | Connection) -> None:
    """Create every table and index that does not exist yet (in the current search_path)."""
    if isinstance(engine, Engine):
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
    else:
        Base.metadata.create_all(engine)


def drop_schema(engine: Engine | Connection) -> None:
    """Drop every table of the domain schema (children first)."""
    if isinstance(engine, Engine):
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
    else:
        Base.metadata.drop_all(engine)


def _seeded_tables(conn: Connection) -> list[str]:
    present = [t for t in TABLE_ORDER if conn.dialect.has_table(conn, t)]
    return [t for t in present if conn.execute(text(f"SELECT EXISTS (SELECT FROM {t})")).scalar()]


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps pre-formatted with numpy (pandas' own datetime formatting dominates to_csv)."""
    out = df.copy(deep=False)
    for col in df.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            values = df[col].to_numpy(dtype="datetime64[s]")
            text_ = np.char.add(np.datetime_as_string(values, unit="s"), "Z")
            out[col] = pd.Series(text_, index=df.index).where(~np.isnat(values), None)
    return out


def copy_frames(
    raw: psycopg.Connection[Any], frames: dict[str, pd.DataFrame], *, progress: bool
) -> None:
    """COPY each frame (CSV, in chunks) into its table, parents first, on a psycopg connection."""
    show = progress and sys.stderr.isatty()
    with raw.cursor() as cur:
        for table in TABLE_ORDER:
            df = _csv_ready(frames[table])
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in df.columns)
            stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.Identifier(table), cols
            )
            with (
                tqdm(total=len(df), desc=f"{table:<22}", unit="rows", disable=not show) as bar,
                cur.copy(stmt) as cp,
            ):
                for start in range(0, len(df), COPY_CHUNK_ROWS):
                    chunk = df.iloc[start : start + COPY_CHUNK_ROWS]
                    cp.write(chunk.to_csv(header=False, index=False, lineterminator="\n"))
                    bar.update(len(chunk))


def load_deferred(conn: Connection, frames: dict[str, pd.DataFrame], *, progress: bool) -> None:
    """COPY ``frames`` with secondary indexes and foreign keys dropped, then rebuild them.

    Building an index once after the load (a sort) and checking a foreign key once (a join)
    is several times cheaper than maintaining them row by row; primary keys and unique
    constraints stay in place. All in the caller's transaction: a failed check rolls back.
    """
    # Read the definitions back from the catalog (not from SQLAlchemy DDL constructs, which
    # mark the shared MetaData's constraints as "added separately" once used).
    scope = {"tables": list(TABLE_ORDER)}
    fks = conn.execute(
        text(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
               FROM pg_constraint
               WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
               AND conrelid::regclass::text = ANY(:tables) ORDER BY 1, 2"""
        ),
        scope,
    ).all()
    indexes = conn.execute(
        text(
            """SELECT c.relname, pg_get_indexdef(i.indexrelid)
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE NOT i.indisprimary AND NOT i.indisunique
               AND c.relnamespace = current_schema()::regnamespace
               AND i.indrelid::regclass::text = ANY(:tables) ORDER BY 1"""
        ),
        scope,
    ).all()
    for table, name, _ in fks:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    copy_frames(driver, frames, progress=progress)
    for _, definition in indexes:
        conn.execute(text(definition))
    for table, name, definition in fks:
        conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def _reset_sequences(conn: Connection) -> None:
    for table in Base.metadata.sorted_tables:
        if "id" in table.c and table.c.id.identity is not None:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                )
            )


def seed_database(
    url_or_engine: str | Engine,
    *,
    scale: float = 1.0,
    seed: int = 42,
    as_of: datetime | date | str | None = None,
    reset: bool = False,
    progress: bool = True,
) -> SeedReport:
    """Generate and COPY a deterministic data set; ANALYZE; move id sequences past the data.

    Parameters
    ----------
    url_or_engine: a PostgreSQL URL or an Engine (its search_path decides the schema).
    scale: 1 = 10k users, 1k experts, ~50k reviews, ~100k slots, 100k appointments.
    seed: seeds Faker and numpy; same (scale, seed, as_of) -> same rows.
    as_of: reference time of every generated timestamp (default: today 00:00 UTC).
    reset: drop and recreate the schema first; without it an already seeded database is
        refused with :class:`SeedError`.
    progress: a tqdm bar per table (only when stderr is a terminal).
    """
    scale, seed, ref = validate_seed_args(scale, seed, as_of)
    if isinstance(url_or_engine, str):
        engine = create_engine(validate_database_url(url_or_engine, "database_url"))
        owned = True
    else:
        engine, owned = url_or_engine, False
    try:
        started = time.perf_counter()
        with engine.connect() as conn:
            seeded = _seeded_tables(conn)
        if seeded and not reset:
            raise SeedError(
                f"database already holds data in {', '.join(seeded)}; "
                "pass reset=True (--reset) to drop and reload it"
            )
        frames = generate(scale, seed, ref)
        generated = time.perf_counter()
        with engine.begin() as conn:
            if reset:
                drop_schema(conn)
            create_schema(conn)
            load_deferred(conn, frames, progress=progress)
            _reset_sequences(conn)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE " + ", ".join(TABLE_ORDER)))
            conn.commit()
        done = time.perf_counter()
    finally:
        if owned:
            engine.dispose()
    return SeedReport(
        scale=scale,
        seed=seed,
        as_of=ref.isoformat(),
        rows={t: len(frames[t]) for t in TABLE_ORDER},
        generate_seconds=generated - started,
        load_seconds=done - generated,
        seconds=done - started,
    )


def table_checksums(engine: Engine | Connection) -> dict[str, str]:
    """md5 of every table's rows (text form, UTC, ordered by primary key); missing table ->
    ``"absent"``. Equal checksums mean byte-identical data."""
    if isinstance(engine, Engine):
        with engine.begin() as conn:
            return table_checksums(conn)
    conn = engine
    conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
    out: dict[str, str] = {}
    for name in TABLE_ORDER:
        if not conn.dialect.has_table(conn, name):
            out[name] = "absent"
            continue
        pk = ", ".join(c.name for c in Base.metadata.tables[name].primary_key.columns)
        out[name] = conn.execute(
            text(
                f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {pk}), '')) FROM {name} t"
            )
        ).scalar_one()
    return out


def default_database_url(settings: Settings) -> str:
    """The database ``evalcache seed`` uses when none is given: ``settings.database_url``, else
    the local server's ``settings.database_name`` database (created if missing).

    Kept small on purpose: ``evalcache.services.resolve_database_url`` replaces it.
    """
    if settings.database_url is not None:
        return settings.database_url
    url = f"postgresql+psycopg://{getpass.getuser()}@127.0.0.1:5432/{settings.database_name}"
    ensure_database(url)
    return url


def ensure_database(url: str) -> None:
    """Create the database named by ``url`` if the server does not have it yet."""
    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,))
            if exists.fetchone() is None:
                c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(u.database))))
    except psycopg.OperationalError as exc:
        from evalcache.errors import ServiceError

        raise ServiceError("postgresql", f"cannot reach {u.host}:{u.port}: {exc}") from exc


def add_cli(subparsers: Any) -> None:
    """Register ``evalcache seed``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "seed",
        help="load deterministic marketplace data into PostgreSQL (COPY)",
        description="Generate deterministic marketplace data and COPY it into PostgreSQL.",
    )
    p.add_argument("--scale", type=float, default=1.0, help="1 = 10k users (0 < scale <= 100)")
    p.add_argument("--seed", type=int, default=42, help="random seed (int >= 0)")
    p.add_argument("--as-of", default=None, help="reference date, ISO (default: today, UTC)")
    p.add_argument("--reset", action="store_true", help="drop and recreate the schema first")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (default: settings)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    """``evalcache seed``: validate everything, then resolve the database, then load."""
    validate_seed_args(args.scale, args.seed, args.as_of)
    settings = Settings.from_env(database_url=args.database_url)
    url = default_database_url(settings)
    report = seed_database(
        url,
        scale=args.scale,
        seed=args.seed,
        as_of=args.as_of,
        reset=args.reset,
        progress=not args.no_progress,
    )
    for table, n in report.rows.items():
        print(f"{table:<24}{n:>10,}")
    print(
        f"{'total':<24}{report.total_rows:>10,} rows in {report.seconds:.2f} s "
        f"(generate {report.generate_seconds:.2f} s, load+analyze {report.load_seconds:.2f} s); "
        f"scale={report.scale:g} seed={report.seed} as_of={report.as_of}"
    )
    return 0
