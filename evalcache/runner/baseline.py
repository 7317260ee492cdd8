"""The cache-off baseline, measured once per request stream and reused.

With the cache off, strategy, TTLs, refresh and stampede options change nothing: the database
sees exactly the statements of the request stream, which depends only on the workload's
parameters, the seed and the data. A sweep of strategies x TTL scales over one workload
therefore needs one baseline, not one per cell. It is memoised in Redis (outside every run's
namespace) under a key made of those inputs and a fingerprint of the template's data; a lock
makes concurrent sweep cells wait for the one that measures it instead of measuring it twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import redis
from redis.exceptions import LockError, LockNotOwnedError
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from evalcache.metrics import LatencyRecorder
from evalcache.runner.params import RunParams
from evalcache.runner.summary import Measured

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
        "cache",
        "notify_lag",
        "invalidation_delay",
    }
)
MEMO_PREFIX = "evalcache-baseline:"
MEMO_TTL_S = 7 * 24 * 3600
MEMO_VERSION = 3


@dataclass(frozen=True)
class Baseline:
    """What a run needs of its cache-off twin: total and per-window statements."""

    statements: int
    windows: pd.DataFrame  # window_start_s, family, db_statements
    latency: pd.DataFrame  # rows of latency.parquet for outcome "uncached" (reads, cache off)
    reused: bool = False

    @classmethod
    def from_measured(cls, m: Measured) -> Baseline:
        ts = m.executor.timeseries.to_frame()
        lat = m.executor.latency.to_frame()
        return cls(
            int(m.db.statements),
            ts[["window_start_s", "family", "db_statements"]],
            lat[lat["outcome"] == "uncached"].reset_index(drop=True),
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
            )
        except (ValueError, KeyError, TypeError):
            return None


def template_fingerprint(template_url: str) -> str:
    """A cheap digest of the template's data: reseeding with another seed changes it."""
    engine = create_engine(template_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM appointments),"
                    " (SELECT md5(string_agg(e::text, ',' ORDER BY e.id)) FROM experts e)"
                )
            ).one()
    finally:
        engine.dispose()
    return hashlib.sha256(repr(tuple(row)).encode()).hexdigest()[:16]


def memo_key(rp: RunParams, warmup_s: float, template_url: str) -> str:
    stream = {k: v for k, v in rp.as_dict().items() if k not in CACHE_ONLY_PARAMS}
    # The measured window: a default warm-up can depend on cache-only parameters (TTLs).
    stream["warmup_s"] = warmup_s
    stream["template"] = template_url.rsplit("/", 1)[-1]
    stream["data"] = template_fingerprint(template_url)
    digest = hashlib.sha256(json.dumps(stream, sort_keys=True, default=str).encode())
    return MEMO_PREFIX + digest.hexdigest()[:24]


def measured_baseline(
    rp: RunParams,
    warmup_s: float,
    template_url: str,
    redis_url: str,
    measure: Callable[[], Measured],
    *,
    lock_timeout_s: float = 1800.0,
) -> Baseline:
    """The baseline of ``rp``'s stream: from the memo, or ``measure()`` and remember it."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5.0)
    key = memo_key(rp, warmup_s, template_url)
    try:
        raw = client.get(key)
        cached = Baseline.from_json(raw) if raw is not None else None
        if cached is not None:
            return cached
        # One measurer per stream; others wait for its result (the lock expires if it dies).
        lock = client.lock(key + ":lock", timeout=lock_timeout_s, blocking_timeout=lock_timeout_s)
        if not lock.acquire():
            raise LockError(f"no baseline for {key} within {lock_timeout_s:g} s: its lock is held")
        try:
            raw = client.get(key)
            cached = Baseline.from_json(raw) if raw is not None else None
            if cached is not None:
                return cached
            fresh = Baseline.from_measured(measure())
            client.set(key, fresh.to_json(), ex=MEMO_TTL_S)
            return fresh
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
