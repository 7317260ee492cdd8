"""Run results on disk: a versioned summary plus tidy tables, reloadable without rerunning.

A run folder holds ``summary.json`` (UTF-8 JSON, schema below), ``timeseries.parquet`` and
``latency.parquet``. ``summary.json`` is written last and atomically, so a folder with a summary
is a complete run. :func:`load_runs` and :func:`load_families` flatten every run under a root
into one tidy frame for notebooks and reports.

Summary schema (``schema_version`` 1): see :data:`SUMMARY_KEYS`, :data:`FAMILY_KEYS`,
:data:`LATENCY_OUTCOMES` and the project README.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalcache.errors import ConfigError, EvalCacheError

SCHEMA_VERSION = 1

SUMMARY_FILE = "summary.json"
TIMESERIES_FILE = "timeseries.parquet"
LATENCY_FILE = "latency.parquet"

#: Keys every summary.json carries (schema_version 1), in this order.
SUMMARY_KEYS: tuple[str, ...] = (
    "schema_version",
    "run_id",
    "started_at",
    "params",
    "requests",
    "reads",
    "writes",
    "hits",
    "misses",
    "negative_hits",
    "expirations",
    "hit_rate",
    "stale_reads",
    "stale_checked",
    "stale_read_rate",
    "stale_age_p50_s",
    "stale_age_max_s",
    "db_statements",
    "db_statements_server",
    "db_rows",
    "db_time_ms",
    "db_statements_baseline",
    "db_reduction",
    "model_hit_rate",
    "latency",
    "invalidations",
    "keys_removed",
    "invalidation_time_ms",
    "notify_lag_p50_ms",
    "notify_lag_p99_ms",
    "refreshes_tried",
    "refreshes_succeeded",
    "errors",
    "error_rate",
    "redis",
    "saturated",
    "elapsed_s",
    "simulated_s",
    "warmup_s",
    "time_model",
    "families",
)
#: Nested keys flattened specially by :func:`load_runs`.
_NESTED = ("params", "latency", "redis", "families")
#: Parameters every run states (more are allowed).
PARAM_KEYS: tuple[str, ...] = (
    "workload",
    "strategy",
    "ttl_scale",
    "mode",
    "duration_s",
    "seed",
    "scale",
    "stale_sample",
    "rate",
    "refresh",
    "stampede",
    "cache",
)
LATENCY_OUTCOMES: tuple[str, ...] = ("all", "hit", "miss", "uncached", "write")
LATENCY_STATS: tuple[str, ...] = ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "count")
REDIS_KEYS: tuple[str, ...] = ("commands", "used_memory_bytes", "keys")
FAMILY_KEYS: tuple[str, ...] = (
    "reads",
    "hits",
    "misses",
    "negative_hits",
    "hit_rate",
    "stale_reads",
    "stale_checked",
    "stale_read_rate",
    "p50_ms",
    "p99_ms",
    "db_statements",
    "model_hit_rate",
)


def empty_summary(
    params: Mapping[str, Any], run_id: str = "", started_at: str = ""
) -> dict[str, Any]:
    """A summary with every schema key: counts 0, rates and optional figures ``None``.

    The runner fills it in; tests and tools get a valid skeleton.
    """
    out: dict[str, Any] = {k: None for k in SUMMARY_KEYS}
    zero = [
        "requests",
        "reads",
        "writes",
        "hits",
        "misses",
        "negative_hits",
        "expirations",
        "stale_reads",
        "stale_checked",
        "db_statements",
        "db_rows",
        "invalidations",
        "keys_removed",
        "refreshes_tried",
        "refreshes_succeeded",
        "errors",
    ]
    out.update({k: 0 for k in zero})
    out.update(
        schema_version=SCHEMA_VERSION,
        run_id=run_id,
        started_at=started_at,
        params=dict(params),
        db_time_ms=0.0,
        invalidation_time_ms=0.0,
        latency={
            o: {s: 0 if s == "count" else None for s in LATENCY_STATS} for o in LATENCY_OUTCOMES
        },
        redis={k: 0 for k in REDIS_KEYS},
        saturated=False,
        time_model="",
        families={},
    )
    return out


def _jsonable(value: Any) -> Any:
    """JSON literals only: NaN/inf become null, numpy scalars Python numbers, tuples lists."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Path):
        return str(value)
    raise ConfigError(
        "summary", f"value {value!r} of type {type(value).__name__} is not a JSON literal"
    )


def validate_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Check a summary against schema 1 and return it as JSON literals; raise naming the gap."""
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise ConfigError("summary", f"missing keys {missing}; build it from empty_summary()")
    if summary["schema_version"] != SCHEMA_VERSION:
        raise ConfigError(
            "summary.schema_version", f"must be {SCHEMA_VERSION}, got {summary['schema_version']!r}"
        )
    for key in ("params", "latency", "redis", "families"):
        if not isinstance(summary[key], Mapping):
            raise ConfigError(
                f"summary.{key}", f"must be a mapping, got {type(summary[key]).__name__}"
            )
    return dict(_jsonable(summary))


@dataclass
class RunResult:
    """One run's results.

    Attributes
    ----------
    summary:
        The summary.json content (schema :data:`SCHEMA_VERSION`).
    timeseries:
        Tidy windowed counters (``evalcache.metrics.timeseries.TIMESERIES_COLUMNS``).
    latency:
        One row per (family, outcome): count, p50_ms, p95_ms, p99_ms, p999_ms, max_ms, mean_ms
        and ``hdr`` (base64 HdrHistogram, mergeable).
    folder:
        Where it was saved or loaded from, else ``None``.
    """

    summary: dict[str, Any]
    timeseries: pd.DataFrame
    latency: pd.DataFrame
    folder: Path | None = None

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the run folder (created if needed); return its path.

        The summary is validated first, so nothing is written for a malformed one.
        """
        summary = validate_summary(self.summary)
        text = json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False)
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.timeseries.to_parquet(path / TIMESERIES_FILE, index=False)
        self.latency.to_parquet(path / LATENCY_FILE, index=False)
        tmp = path / (SUMMARY_FILE + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path / SUMMARY_FILE)  # atomic: a folder with a summary is complete
        self.folder = path
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> RunResult:
        """Read a run folder written by :meth:`save`."""
        path = Path(folder)
        summary = _read_summary(path / SUMMARY_FILE)
        frames = []
        for name in (TIMESERIES_FILE, LATENCY_FILE):
            if not (path / name).is_file():
                raise EvalCacheError(f"run folder {path} has no {name}; it is incomplete")
            frames.append(pd.read_parquet(path / name))
        return cls(summary, frames[0], frames[1], path)


def _read_summary(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise EvalCacheError(f"{file} not found: not a run folder")
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalCacheError(f"{file} is not valid UTF-8 JSON: {exc}") from exc
    version = summary.get("schema_version") if isinstance(summary, dict) else None
    if version != SCHEMA_VERSION:
        raise EvalCacheError(
            f"{file} has schema_version {version!r}; this evalcache reads {SCHEMA_VERSION}"
        )
    return dict(summary)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_folder_name(params: Mapping[str, Any]) -> str:
    """A stable, filesystem-safe folder name from run parameters.

    The readable part names workload, strategy, TTL scale, mode and seed; a short hash of all
    parameters keeps runs that differ elsewhere apart.

    Examples
    --------
    >>> run_folder_name({"workload": "mixed", "strategy": "tags", "ttl_scale": 1.0,
    ...                  "mode": "virtual", "seed": 1})[:29]
    'mixed-tags-ttl1.0-virtual-s1-'
    """
    p = dict(params)
    digest = hashlib.sha256(
        json.dumps(_jsonable(p), sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:8]
    strategy = p.get("strategy", "x") if p.get("cache", True) is not False else "nocache"
    parts = [
        str(p.get("workload", "x")),
        str(strategy),
        f"ttl{p.get('ttl_scale', 'x')}",
        str(p.get("mode", "x")),
        f"s{p.get('seed', 'x')}",
        digest,
    ]
    return "-".join(_UNSAFE.sub("_", part).strip("._") or "x" for part in parts)


def _cell(value: Any) -> Any:
    # Lists and mappings become JSON text so every column holds scalars.
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def _flatten(summary: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    row: dict[str, Any] = {k: _cell(v) for k, v in summary.items() if k not in _NESTED}
    for k, v in (summary.get("params") or {}).items():
        row[f"param_{k}"] = _cell(v)
    for outcome, stats in (summary.get("latency") or {}).items():
        for stat, v in (stats or {}).items():
            row[f"latency_{outcome}_{stat}"] = v
    for k, v in (summary.get("redis") or {}).items():
        row[f"redis_{k}"] = _cell(v)
    row["folder"] = str(folder)
    return row


def _summaries(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(f.parent, _read_summary(f)) for f in sorted(Path(root).rglob(SUMMARY_FILE))]


def _run_columns() -> list[str]:
    cols = [k for k in SUMMARY_KEYS if k not in _NESTED]
    cols += [f"param_{k}" for k in PARAM_KEYS]
    cols += [f"latency_{o}_{s}" for o in LATENCY_OUTCOMES for s in LATENCY_STATS]
    cols += [f"redis_{k}" for k in REDIS_KEYS]
    return [*cols, "folder"]


def load_runs(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Every run under ``root`` (recursively), one row each, sorted by folder.

    Nested ``params`` become ``param_<name>``, ``latency`` becomes
    ``latency_<outcome>_<stat>``, ``redis`` becomes ``redis_<name>``; ``families`` is left to
    :func:`load_families`. An empty or missing root gives an empty frame with the columns.
    """
    rows = [_flatten(s, folder) for folder, s in _summaries(Path(root))]
    base = _run_columns()
    extra = sorted({k for r in rows for k in r} - set(base))
    return pd.DataFrame(rows, columns=base[:-1] + extra + ["folder"])


def load_families(root: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per (run, family) from every summary's ``families``, with the run's params."""
    rows = []
    for folder, s in _summaries(Path(root)):
        params = {f"param_{k}": _cell(v) for k, v in (s.get("params") or {}).items()}
        for family, figures in sorted((s.get("families") or {}).items()):
            rows.append(
                {
                    "run_id": s.get("run_id"),
                    "family": family,
                    **dict(figures or {}),
                    **params,
                    "folder": str(folder),
                }
            )
    base = ["run_id", "family", *FAMILY_KEYS, *(f"param_{k}" for k in PARAM_KEYS)]
    extra = sorted({k for r in rows for k in r} - set(base) - {"folder"})
    return pd.DataFrame(rows, columns=[*base, *extra, "folder"])
