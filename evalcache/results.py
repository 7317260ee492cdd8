"""Run results on disk: a versioned summary plus tidy tables, reloadable without rerunning.

A run folder holds ``summary.json`` (UTF-8 JSON, schema below), ``timeseries.parquet`` and
``latency.parquet``. ``summary.json`` is written last and atomically, so a folder with a summary
is a complete run. :func:`load_runs` and :func:`load_families` flatten every run under a root
into one tidy frame for notebooks and reports.

Summary schema (``schema_version`` 1): :mod:`evalcache.results_schema`, documented in
``docs/results-schema.md``.
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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evalcache.errors import ConfigError, EvalCacheError
from evalcache.results_schema import (
    SCHEMA_VERSION,
    Summary,
    family_columns,
    family_rows,
    flatten_summary,
    mapping_keys,
    required_keys,
    run_columns,
)

if TYPE_CHECKING:
    from evalcache.workload.trace import Trace

SUMMARY_FILE = "summary.json"
TIMESERIES_FILE = "timeseries.parquet"
LATENCY_FILE = "latency.parquet"


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
    missing = [k for k in required_keys(Summary) if k not in summary]
    if missing:
        raise ConfigError("summary", f"missing keys {missing}; build it from empty_summary()")
    if summary["schema_version"] != SCHEMA_VERSION:
        raise ConfigError(
            "summary.schema_version", f"must be {SCHEMA_VERSION}, got {summary['schema_version']!r}"
        )
    for key in mapping_keys():
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
    trace:
        The recorded request stream (``record_trace``), saved as ``trace.parquet``; not
        loaded back (read it with ``evalcache.workload.trace.read_trace``).
    """

    summary: dict[str, Any]
    timeseries: pd.DataFrame
    latency: pd.DataFrame
    folder: Path | None = None
    trace: Trace | None = None

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
        if self.trace is not None:
            from evalcache.workload.trace import TRACE_FILE, write_trace

            write_trace(self.trace, path / TRACE_FILE)
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


def _summaries(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(f.parent, _read_summary(f)) for f in sorted(Path(root).rglob(SUMMARY_FILE))]


def _frame(rows: list[dict[str, Any]], base: list[str]) -> pd.DataFrame:
    # The schema's columns, then keys it does not know (a newer writer's), then the folder.
    extra = sorted({k for r in rows for k in r} - set(base) - {"folder"})
    return pd.DataFrame(rows, columns=[*base, *extra, "folder"])


def load_runs(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Every run under ``root`` (recursively), one row each, sorted by folder.

    Rows are :func:`~evalcache.results_schema.flatten_summary`'s: nested ``params`` become
    ``param_<name>``, ``latency`` becomes ``latency_<outcome>_<stat>``, ``redis`` becomes
    ``redis_<name>``; ``families`` is left to :func:`load_families`. Columns follow the schema
    (:func:`~evalcache.results_schema.run_columns`), then ``folder``. An empty or missing root
    gives an empty frame with the columns.
    """
    rows = [{**flatten_summary(s), "folder": str(folder)} for folder, s in _summaries(Path(root))]
    return _frame(rows, run_columns())


def load_families(root: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per (run, family) from every summary's ``families``, with the run's params."""
    rows = [
        {**row, "folder": str(folder)}
        for folder, s in _summaries(Path(root))
        for row in family_rows(s)
    ]
    return _frame(rows, family_columns())
