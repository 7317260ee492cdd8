"""The cache-off baseline, measured once per request stream and reused.

With the cache off, strategy, TTLs, refresh and stampede options change nothing: the database
sees exactly the statements of the request stream, which depends only on the workload's
parameters, the seed and the data. A sweep of strategies x TTL scales over one workload
therefore needs one baseline, not one per cell. It is memoised in Redis (outside every run's
namespace) under a key made of those inputs, a fingerprint of the template's data and one of
the code the stream runs through (:func:`code_fingerprint`), so a memo never outlives the
queries that measured it; a lock makes concurrent sweep cells wait for the one that measures
it instead of measuring it twice. ``fresh_baseline`` measures anew and replaces the memo.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import redis
from redis.exceptions import LockError, LockNotOwnedError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from evalcache.cache.keys import escape_pattern
from evalcache.domain.families import FAMILIES
from evalcache.domain.models import TABLE_ORDER
from evalcache.metrics import LatencyRecorder
from evalcache.runner.params import RunParams
from evalcache.runner.summary import Measured
from evalcache.workload.trace import TRACE_PREFIX, file_digest, is_trace_workload

#: Parameters the cache-off stream does not depend on.
CACHE_ONLY_PARAMS = frozenset(
    {
        "strategy",
        "ttl_scale",
        "ttl",
        "refresh",
        "stampede",
        "stale_sample",
        "namespace",
        "baseline",
        "fresh_baseline",
        "cache",
        "notify_lag",
        "invalidation_delay",
        "record_trace",
    }
)
MEMO_PREFIX = "evalcache-baseline:"
MEMO_TTL_S = 7 * 24 * 3600
MEMO_VERSION = 4


@dataclass(frozen=True)
class Baseline:
    """What a run needs of its cache-off twin: total, per-window and per-family statements."""

    statements: int
    windows: pd.DataFrame  # window_start_s, family, db_statements
    latency: pd.DataFrame  # rows of latency.parquet for outcome "uncached" (reads, cache off)
    reused: bool = False
    #: read family -> (reads, statements) in the measured window (the ideal cache's savings)
    families: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def from_measured(cls, m: Measured) -> Baseline:
        ts = m.executor.timeseries.to_frame()
        lat = m.executor.latency.to_frame()
        counters = m.executor.counters
        return cls(
            int(m.db.statements),
            ts[["window_start_s", "family", "db_statements"]],
            lat[lat["outcome"] == "uncached"].reset_index(drop=True),
            families={
                name: (fc.reads, fc.db_statements)
                for name in counters.names()
                if name in FAMILIES
                for fc in (counters.family(name),)
            },
        )

    def uncached_latency(self) -> dict[str, Any]:
        """The ``latency["uncached"]`` summary entry, from the baseline's histograms."""
        return LatencyRecorder.from_frame(self.latency).summary()["uncached"]

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": MEMO_VERSION,
                "statements": self.statements,
                "windows": self.windows.to_dict(orient="list"),
                "latency": self.latency.to_dict(orient="list"),
                "families": {k: list(v) for k, v in self.families.items()},
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Baseline | None:
        try:
            data = json.loads(raw)
            if data.get("v") != MEMO_VERSION:
                return None
            return cls(
                int(data["statements"]),
                pd.DataFrame(data["windows"]),
                pd.DataFrame(data["latency"]),
                reused=True,
                families={k: (int(r), int(n)) for k, (r, n) in data["families"].items()},
            )
        except (ValueError, KeyError, TypeError):
            return None


_TABLE_DIGEST = "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) FROM {table} t"


def template_fingerprint(template_url: str) -> str:
    """A digest of every row of the template's tables: any change of the data changes it.

    Per table, the row count and the sum of a 64-bit hash of each row's text: order-free, so
    no sort; about 0.5 s at scale 1, 50 ms at 0.1 (an ordered md5 of the same text,
    :func:`evalcache.domain.seeding.table_checksums`, takes twice as long). Row text is
    rendered in UTC with ISO dates, so the digest does not depend on the session's settings.
    Equal data, e.g. a reseed with the same scale, seed and ``as_of``, gives an equal digest.
    """
    engine = create_engine(template_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
            conn.execute(text("SET LOCAL DateStyle = 'ISO, YMD'"))
            rows: list[tuple[Any, ...]] = []
            for name in TABLE_ORDER:
                if conn.execute(text("SELECT to_regclass(:t)"), {"t": name}).scalar() is None:
                    rows.append((name, "absent"))
                else:
                    rows.append((name, *conn.execute(text(_TABLE_DIGEST.format(table=name))).one()))
    finally:
        engine.dispose()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


#: The code a cache-off stream runs through, relative to the ``evalcache`` package: what
#: requests are drawn (``workload``), which statements a request sends (``domain``: queries,
#: families, read specs, repositories, writes, dashboards, dependency map, schema), how they are
#: served, timed and counted (``runner``: executor, serial/overlap/live replays, the
#: simulation, resources, the database copies; ``metrics``: statement counter, windows,
#: latency histograms) and the virtual clock. Whole packages, not chosen modules: a module
#: added to the serving path later is covered without anyone remembering this list, and an
#: edit that changes nothing (a CLI message) costs one baseline measurement, while a missed
#: one would pass an old baseline off as today's. ``cache`` and ``strategies`` are left out:
#: with the cache off, reads go straight to the database and no strategy is bound.
CODE_PATHS: tuple[str, ...] = ("clock.py", "domain", "metrics", "runner", "workload")
#: The ``evalcache`` package folder, which :data:`CODE_PATHS` are relative to.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def code_files(paths: Iterable[str] = CODE_PATHS, root: Path = PACKAGE_ROOT) -> list[Path]:
    """The source files :func:`code_fingerprint` hashes, in a stable order."""
    files: list[Path] = []
    for rel in paths:
        target = root / rel
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


def source_digest(files: Iterable[Path], root: Path = PACKAGE_ROOT) -> str:
    """SHA-256 (16 hex digits) over the files' paths (relative to ``root``) and bytes."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@functools.cache
def code_fingerprint() -> str:
    """A digest of :data:`CODE_PATHS`' sources, read once per process (about 5 ms)."""
    return source_digest(code_files())


def memo_key(rp: RunParams, warmup_s: float, template_url: str, *, data: str | None = None) -> str:
    """The Redis key of ``rp``'s cache-off baseline: stream parameters, measured window,
    template (name and data) and code. ``data``: the template's fingerprint, when known."""
    stream = {k: v for k, v in rp.as_dict().items() if k not in CACHE_ONLY_PARAMS}
    # The measured window: a default warm-up can depend on cache-only parameters (TTLs).
    stream["warmup_s"] = warmup_s
    stream["data"] = data if data is not None else template_fingerprint(template_url)
    stream["code"] = code_fingerprint()
    if is_trace_workload(rp.workload):  # the file's bytes, not its path, are the stream
        stream["trace"] = file_digest(rp.workload[len(TRACE_PREFIX) :])
    digest = hashlib.sha256(json.dumps(stream, sort_keys=True, default=str).encode())
    return f"{MEMO_PREFIX}{_template_name(template_url)}:{digest.hexdigest()[:24]}"


def memo_pattern(template_url: str) -> str:
    """A SCAN pattern matching every memo (and lock) of the template at ``template_url``."""
    return f"{MEMO_PREFIX}{escape_pattern(_template_name(template_url))}:*"


def _template_name(template_url: str) -> str:
    # readable, and what lets one test session clear its own template's memos only
    return str(make_url(template_url).database)


def forget(redis_url: str, keys: Iterable[str]) -> int:
    """Delete memoised baselines (by :func:`memo_key`); returns how many existed."""
    keys = list(keys)
    if not keys:
        return 0
    client = redis.Redis.from_url(redis_url, socket_timeout=5.0)
    try:
        return int(client.delete(*keys))
    finally:
        client.close()


def measured_baseline(
    rp: RunParams,
    warmup_s: float,
    template_url: str,
    redis_url: str,
    measure: Callable[[], Measured],
    *,
    fresh: bool = False,
    lock_timeout_s: float = 1800.0,
) -> Baseline:
    """The baseline of ``rp``'s stream: from the memo, or ``measure()`` and remember it.

    ``fresh``: measure even when a memo exists, and replace it (``reused`` is then false).
    """
    client = redis.Redis.from_url(redis_url, socket_timeout=5.0)
    key = memo_key(rp, warmup_s, template_url)
    try:
        if not fresh:
            raw = client.get(key)
            cached = Baseline.from_json(raw) if raw is not None else None
            if cached is not None:
                return cached
        # One measurer per stream; others wait for its result (the lock expires if it dies).
        lock = client.lock(key + ":lock", timeout=lock_timeout_s, blocking_timeout=lock_timeout_s)
        if not lock.acquire():
            raise LockError(f"no baseline for {key} within {lock_timeout_s:g} s: its lock is held")
        try:
            raw = None if fresh else client.get(key)
            cached = Baseline.from_json(raw) if raw is not None else None
            if cached is not None:
                return cached
            measured = Baseline.from_measured(measure())
            client.set(key, measured.to_json(), ex=MEMO_TTL_S)
            return measured
        finally:
            with contextlib.suppress(LockNotOwnedError):  # expired or removed: the result stands
                lock.release()
    finally:
        client.close()


def with_baseline_windows(ts: pd.DataFrame, baseline: Baseline) -> pd.DataFrame:
    """The run's time series plus ``db_statements_baseline`` per (window, family), measured."""
    base = baseline.windows.rename(columns={"db_statements": "db_statements_baseline"})
    # Both runs replay the same stream, so they have the same (window, family) rows.
    out = ts.merge(base, on=["window_start_s", "family"], how="left")
    out["db_statements_baseline"] = out["db_statements_baseline"].fillna(0).astype("int64")
    return out.sort_values(["window_start_s", "family"], kind="stable").reset_index(drop=True)
