"""Offered-load curves: runs grouped along one axis (``rate``), with like runs only.

A curve is the runs that share every parameter except the axis: grouping by all ``param_*``
columns but the axis keeps a cached curve from ever being averaged with a cache-off run, a
``db_pool`` 2 run with a ``db_pool`` 4 run, and so on. Runs that agree on every parameter
(repeats) are averaged at their axis value. :func:`load_table` reads each run's read latency
from its saved histograms (reads only: a cached run's hits and misses, a cache-off run's
uncached reads), so a cached run that also measured a baseline does not mix its baseline's
reads in. Latencies of ``concurrency: overlap`` runs are virtual (waiting + service).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalcache.metrics.latency import histogram_stats, merge_encoded

AXIS = "param_rate"
#: A curve's knee: the first axis value whose p99 is this many times the p99 at its lowest one.
KNEE_FACTOR = 5.0
#: Parameters that name a run's storage, not its configuration.
NOT_CONFIG = frozenset({"param_namespace", "param_results_dir"})


@dataclass(frozen=True)
class Curve:
    """Runs sharing every parameter but the axis: one line on a load chart.

    ``label`` names what sets this curve apart from the others drawn with it; ``fixed`` is
    the full parameter set; ``points`` has one row per axis value (means over repeats, with
    ``runs`` and ``cells`` saying what was averaged).
    """

    label: str
    fixed: dict[str, Any]
    points: pd.DataFrame


def _key(value: Any) -> str:
    # dicts (ttl overrides) are unhashable and NaN never equals itself: group on a stable text
    if isinstance(value, float) and math.isnan(value):
        return "None"
    return repr(value)


def config_columns(runs: pd.DataFrame, axis: str = AXIS) -> list[str]:
    """The ``param_*`` columns a curve holds fixed: all of them except ``axis``."""
    return sorted(
        c for c in runs.columns if c.startswith("param_") and c not in {axis, *NOT_CONFIG}
    )


def _label(fixed: dict[str, Any], varying: Sequence[str]) -> str:
    if fixed.get("param_cache") is False or fixed.get("param_cache") == 0:
        # with the cache off, strategy and TTLs change nothing: name it by what it is
        rest = [c for c in varying if c not in {"param_cache", "param_strategy", "param_ttl_scale"}]
        return ", ".join(["cache off", *(f"{c[6:]}={fixed[c]}" for c in rest)])
    # a cached curve is named by its strategy, then whatever else sets it apart
    shown = ["param_strategy", *(c for c in varying if c not in {"param_cache", "param_strategy"})]
    return ", ".join(
        str(fixed[c]) if c == "param_strategy" else f"{c[6:]}={fixed[c]}" for c in shown
    )


def curves(
    table: pd.DataFrame, axis: str = AXIS, *, min_points: int = 2, metrics: Sequence[str] = ()
) -> list[Curve]:
    """Group ``table`` (one row per run, ``param_*`` columns) into :class:`Curve` s.

    Groups with fewer than ``min_points`` axis values are left out (a single point is no
    curve). ``metrics`` are averaged per axis value (default: every numeric column that is not
    a parameter).
    """
    if axis not in table.columns or table.empty:
        return []
    keys = config_columns(table, axis)
    data = table.dropna(subset=[axis])
    if not metrics:
        metrics = [
            c
            for c in data.columns
            if not c.startswith("param_") and pd.api.types.is_numeric_dtype(data[c])
        ]
    tagged = data.assign(_g=data[keys].map(_key).agg("|".join, axis=1) if keys else "")
    groups = []
    for _, grp in tagged.groupby("_g", sort=True):
        if grp[axis].nunique() < min_points:
            continue
        groups.append(grp)
    # what sets curves apart: parameters with two or more values among the curves that have
    # one (a cache-off curve has none for strategy, TTLs, ...)
    varying = [c for c in keys if len({_key(g[c].iloc[0]) for g in groups} - {"None"}) > 1]
    out = []
    for grp in groups:
        fixed = {c: grp[c].iloc[0] for c in keys}
        by = grp.groupby(axis, sort=True)
        points = by[list(metrics)].mean()
        points["runs"] = by.size()
        if "cell" in grp.columns:
            points["cells"] = by["cell"].agg(lambda s: ", ".join(map(str, s)))
        out.append(Curve(_label(fixed, varying), fixed, points.reset_index()))
    return out


def held_fixed(curve_list: Sequence[Curve]) -> dict[str, Any]:
    """Parameters (``param_`` dropped) with one value on every curve that has one."""
    out: dict[str, Any] = {}
    if not curve_list:
        return out
    for c in curve_list[0].fixed:
        values = {_key(cv.fixed.get(c)) for cv in curve_list} - {"None"}
        if len(values) == 1:
            v = next(cv.fixed[c] for cv in curve_list if _key(cv.fixed.get(c)) != "None")
            out[c.removeprefix("param_")] = v.item() if isinstance(v, np.generic) else v
    return out


def knee(x: Sequence[float], y: Sequence[float], factor: float = KNEE_FACTOR) -> float | None:
    """The first ``x`` whose ``y`` exceeds ``factor`` times ``y`` at the lowest ``x``.

    ``None`` when no point does (the knee lies beyond the axis) or there is no finite first
    value. ``x`` need not be sorted.
    """
    pts = sorted((float(a), float(b)) for a, b in zip(x, y, strict=True) if np.isfinite(b))
    if len(pts) < 2 or pts[0][1] <= 0:
        return None
    limit = factor * pts[0][1]
    return next((a for a, b in pts[1:] if b > limit), None)


def read_latency(folder: str | Path, cache_on: bool) -> dict[str, float | None]:
    """p50/p99 (ms) of a saved run's reads: hits and misses, or uncached reads with cache off."""
    lat = pd.read_parquet(Path(folder) / "latency.parquet")
    wanted = ("hit", "miss") if cache_on else ("uncached",)
    rows = lat[lat["outcome"].isin(wanted) & lat["hdr"].notna()]
    if rows.empty:
        return {"read_p50_ms": None, "read_p99_ms": None}
    stats = histogram_stats(merge_encoded(rows["hdr"]))
    return {"read_p50_ms": stats["p50_ms"], "read_p99_ms": stats["p99_ms"]}


def _cache_off(row: dict[str, Any]) -> dict[str, Any]:
    """A cache-off row's parameters with those the cache-off stream ignores set to ``None``."""
    from evalcache.runner.baseline import CACHE_ONLY_PARAMS

    blank = {f"param_{k}" for k in CACHE_ONLY_PARAMS - {"cache"}}
    return {k: (None if k in blank else v) for k, v in row.items()} | {"param_cache": False}


def load_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its parameters, read p50/p99 (ms), DB statements/s, hit rate.

    A cached run that measured its cache-off baseline adds a second row, the baseline's
    (``cell`` suffixed ``(baseline)``): the same stream with the cache off. Cache-off rows have
    the parameters the cache-off stream does not depend on (strategy, TTLs, stampede, ...)
    blanked, so a cache-off run and the baselines of any strategy's runs of one stream are
    one configuration; a baseline measured once and reused by several cells counts once.
    Statements per second are over the counted window (``simulated_s - warmup_s``), in
    simulated time. ``runs`` is :func:`evalcache.sweep.collect`'s table.
    """
    rows = []
    for _, r in runs.iterrows():
        cache_on = bool(r.get("param_cache", True))
        counted = float(r["simulated_s"]) - float(r.get("warmup_s") or 0.0)
        params = {c: r[c] for c in runs.columns if c.startswith("param_") or c == "cell"}
        row = dict(params) if cache_on else _cache_off(params)
        row.update(read_latency(r["folder"], cache_on))
        row["db_statements_per_s"] = float(r["db_statements"]) / counted if counted > 0 else None
        row["hit_rate"] = r.get("hit_rate") if cache_on else None
        rows.append(row)
        base = r.get("db_statements_baseline")
        if cache_on and base is not None and not pd.isna(base):
            row = _cache_off(params) | read_latency(r["folder"], cache_on=False)
            row["cell"] = f"{r.get('cell')} (baseline)"
            row["db_statements_per_s"] = float(base) / counted if counted > 0 else None
            row["hit_rate"] = None
            row["_baseline"] = True
            rows.append(row)
    table = pd.DataFrame(rows)
    for c in ("read_p50_ms", "read_p99_ms", "db_statements_per_s", "hit_rate"):
        if c in table:
            table[c] = pd.to_numeric(table[c], errors="coerce")
    if "_baseline" in table:  # one measured baseline, reused by several cells: keep one
        keys = [*config_columns(table), AXIS] if AXIS in table else config_columns(table)
        dup = table["_baseline"].eq(True) & table[keys].map(_key).duplicated()
        table = table[~dup].drop(columns="_baseline").reset_index(drop=True)
    return table


def db_capacity(fixed: dict[str, Any]) -> float | None:
    """Statements per second the modelled database serves at most (``db_pool`` / service)."""
    if fixed.get("param_concurrency") != "overlap":
        return None
    pool, ms = fixed.get("param_db_pool"), fixed.get("param_db_service_ms")
    if pool is None or ms is None or not float(ms) > 0:
        return None
    return float(pool) * 1000.0 / float(ms)


def describe(curve_list: Sequence[Curve], axis: str = AXIS) -> pd.DataFrame:
    """What each curve averages: its label, axis values, runs per value, cells, the knee."""
    rows = []
    for c in curve_list:
        pts = c.points
        k = knee(pts[axis], pts["read_p99_ms"]) if "read_p99_ms" in pts else None
        rows.append(
            {
                "curve": c.label,
                axis.removeprefix("param_"): ", ".join(f"{v:g}" for v in pts[axis]),
                "runs per point": ", ".join(str(int(n)) for n in pts["runs"]),
                "p99 knee": "beyond the axis" if k is None else f"{k:g}",
                "cells": "; ".join(pts["cells"]) if "cells" in pts else "",
            }
        )
    return pd.DataFrame(rows)


def burst_window(workload: str, definition: Any = None) -> tuple[float, float] | None:
    """The first burst of ``workload`` (start, end) in simulated seconds, if it has one.

    ``definition``: a run's ``workload_def`` (a workload file's mapping, or its JSON text in
    a results table), for a workload that is not a built-in.
    """
    from evalcache.workload import WORKLOADS
    from evalcache.workload.files import workload_from_mapping

    if isinstance(definition, str):
        definition = json.loads(definition)
    if isinstance(definition, Mapping):
        spec = workload_from_mapping(definition)
    elif workload in WORKLOADS:
        spec = WORKLOADS[workload]
    else:  # a workload file's run without its definition: nothing to go by
        return None
    bursts = spec.bursts
    return (bursts[0].start_s, bursts[0].end_s) if bursts else None


def burst_load(
    ts: pd.DataFrame, window: tuple[float, float], duration_s: float, families: Any = None
) -> tuple[int, float]:
    """Statements in the time series' windows that lie inside the burst, and their seconds.

    Only whole windows inside ``window`` (and the run) count, so the rate is not diluted by
    calm seconds around it. ``families`` limits the count to those families (default all).
    """
    start, end = window[0], min(window[1], duration_s)
    if "window_start_s" not in ts or ts.empty:
        return 0, 0.0
    starts = np.sort(ts["window_start_s"].unique())
    width = float(np.diff(starts).min()) if len(starts) > 1 else end - start
    inside = [s for s in starts if s >= start and s + width <= end + 1e-9]
    rows = ts[ts["window_start_s"].isin(inside)]
    if families is not None:
        rows = rows[rows["family"].isin(list(families))]
    return int(rows["db_statements"].sum()), width * len(inside)


def stampede_loads(
    runs: pd.DataFrame, families: pd.DataFrame | None = None, axis: str = "param_stampede"
) -> pd.DataFrame:
    """Burst-window database load per run of a workload with a burst, by stampede setting.

    One row per run: its like-run group (every parameter except ``stampede``), the burst's
    statements per second (time series, whole windows inside the burst), and, from
    ``families`` (``load_families``), the cache's ``loads`` and ``coalesced`` summed over
    families over the counted window. ``ratio_to_lease`` is statements/s over the group's
    ``lease`` run's.
    """
    rows = []
    keys = config_columns(runs, axis)
    for _, r in runs.iterrows():
        definition = r.get("param_workload_def")
        window = burst_window(
            str(r.get("param_workload")),
            definition if isinstance(definition, str | Mapping) else None,
        )
        if window is None or axis not in runs or pd.isna(r.get(axis)):
            continue
        ts = read_timeseries(r["folder"])
        statements, seconds = burst_load(ts, window, float(r["simulated_s"]))
        row: dict[str, Any] = {
            "group": "|".join(_key(r[c]) for c in keys),
            "stampede": r[axis],
            "burst_s": f"{window[0]:g}-{window[1]:g}",
            "burst_seconds_counted": seconds,
            "burst_db_statements": statements,
            "burst_db_statements_per_s": statements / seconds if seconds else math.nan,
        }
        if families is not None and "folder" in families:
            mine = families[families["folder"] == r["folder"]]
            for c in ("loads", "coalesced"):
                row[c] = int(mine[c].fillna(0).sum()) if c in mine else None
        row["cell"] = r.get("cell")
        row["folder"] = r["folder"]
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    lease = out[out["stampede"] == "lease"].groupby("group")["burst_db_statements_per_s"].mean()
    out["ratio_to_lease"] = out["burst_db_statements_per_s"] / out["group"].map(lease)
    return out


def read_timeseries(folder: str | Path) -> pd.DataFrame:
    """A saved run's ``timeseries.parquet``."""
    return pd.read_parquet(Path(folder) / "timeseries.parquet")
