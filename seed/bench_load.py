"""Benchmark: COPY load versus SQLAlchemy ORM ``add_all`` of the same generated rows.

    python seed/bench_load.py [--scale 1] [--seed 42] [--orm-fraction 0.1] [--server-url URL]

Creates a scratch database (dropped at the end), then in one run:
1. ``seed_database`` end to end (generate + COPY + sequences + ANALYZE), the figure the
   15-second goal is about;
2. COPY of every generated row into a fresh schema (rows/s);
3. ORM ``Session.add_all`` + commit of the first ``--orm-fraction`` of every table into a fresh
   schema (rows/s; FK triggers are disabled for that subset, which only favours the ORM path),
   extrapolated to all rows.
Prints rows/s for both and their ratio.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from evalcache.domain.generate import generate
from evalcache.domain.models import TABLE_ORDER, Base
from evalcache.domain.seeding import (
    copy_frames,
    create_schema,
    drop_schema,
    load_deferred,
    seed_database,
    validate_seed_args,
)

MODELS = {m.class_.__tablename__: m.class_ for m in Base.registry.mappers}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as plain Python values the ORM accepts (NaT/NaN -> None, money -> Decimal)."""
    out = []
    money = [c for c in ("amount", "hourly_rate", "rating") if c in df.columns]
    for rec in df.astype(object).where(df.notna(), None).to_dict("records"):
        for c in money:
            rec[c] = Decimal(rec[c])
        out.append({str(k): v for k, v in rec.items()})
    return out


def bench_copy(engine: Engine, frames: dict[str, pd.DataFrame], *, deferred: bool) -> float:
    """COPY every row; ``deferred``: the seeder's path (indexes and FKs rebuilt after)."""
    drop_schema(engine)
    create_schema(engine)
    start = time.perf_counter()
    with engine.begin() as conn:
        if deferred:
            load_deferred(conn, frames, progress=False)
        else:
            raw = conn.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            copy_frames(raw, frames, progress=False)
    return time.perf_counter() - start


def bench_orm(
    engine: Engine, frames: dict[str, pd.DataFrame], fraction: float
) -> tuple[int, float]:
    drop_schema(engine)
    create_schema(engine)
    subset = {
        t: _records(frames[t].iloc[: max(1, int(len(frames[t]) * fraction))]) for t in TABLE_ORDER
    }
    rows = sum(len(v) for v in subset.values())
    start = time.perf_counter()
    with Session(engine) as session:
        session.execute(text("SET session_replication_role = replica"))  # subset breaks FKs
        for table in TABLE_ORDER:
            session.add_all([MODELS[table](**rec) for rec in subset[table]])
            session.flush()
        session.commit()
    return rows, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--orm-fraction", type=float, default=0.1)
    p.add_argument(
        "--server-url",
        default=os.environ.get("EVALCACHE_DATABASE_URL")
        or f"postgresql+psycopg://{getpass.getuser()}@127.0.0.1:5432/postgres",
    )
    args = p.parse_args(argv)
    scale, seed, as_of = validate_seed_args(args.scale, args.seed, "2025-01-01")
    if not 0 < args.orm_fraction <= 1:
        p.error("--orm-fraction must be in (0, 1]")
    name = f"evalcache_bench_{os.getpid()}"
    server = make_url(args.server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = create_engine(server.set(database=name))
    try:
        report = seed_database(engine, scale=scale, seed=seed, as_of=as_of, progress=False)
        t0 = time.perf_counter()
        frames = generate(scale, seed, as_of)
        gen = time.perf_counter() - t0
        total = sum(len(f) for f in frames.values())
        plain_s = bench_copy(engine, frames, deferred=False)
        copy_s = bench_copy(engine, frames, deferred=True)
        orm_rows, orm_s = bench_orm(engine, frames, args.orm_fraction)
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    copy_rate, plain_rate, orm_rate = total / copy_s, total / plain_s, orm_rows / orm_s
    lines = [
        f"evalcache seed benchmark: scale {scale:g}, seed {seed}, {os.cpu_count()} CPUs, "
        f"PostgreSQL at {server.host}:{server.port}",
        f"seed_database end to end   : {report.total_rows:>9,} rows in {report.seconds:6.2f} s "
        f"(generate {report.generate_seconds:.2f} s, load+sequences+ANALYZE "
        f"{report.load_seconds:.2f} s)   goal <= 15 s",
        f"generate only              : {total:>9,} rows in {gen:6.2f} s",
        f"COPY, indexes+FKs deferred : {total:>9,} rows in {copy_s:6.2f} s = "
        f"{copy_rate:>8,.0f} rows/s   (the seeder's path)",
        f"COPY, indexes+FKs live     : {total:>9,} rows in {plain_s:6.2f} s = "
        f"{plain_rate:>8,.0f} rows/s",
        f"ORM add_all, indexes live  : {orm_rows:>9,} rows in {orm_s:6.2f} s = "
        f"{orm_rate:>8,.0f} rows/s   ({args.orm_fraction:.0%} of each table, FK triggers off, "
        f"extrapolated to all rows: {total / orm_rate:.1f} s)",
        f"ratio seeder COPY / ORM    : {copy_rate / orm_rate:.1f}x   goal >= 5x",
        f"ratio live COPY / ORM      : {plain_rate / orm_rate:.1f}x   (same index upkeep; "
        "ORM spared FK checks)",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
