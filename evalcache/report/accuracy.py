"""Invalidation accuracy per write type, as a table for the strategies page.

Input: the sweep's run table (:func:`evalcache.sweep.collect` or
:func:`evalcache.results.load_runs`), whose ``invalidation_accuracy_by_write`` column holds
each run's per-write-op figures and ``invalidation_accuracy_<figure>`` its overall ones
(``docs/results-schema.md``). One row per compared value (a strategy, or a variant label) and
write op, so a strategy's gaps are named by the write that leaves entries stale.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from evalcache.report.charts import SEED_FIRST
from evalcache.results_schema import ACCURACY, WriteAccuracy, keys, write_accuracy_rows

#: The row of a strategy's writes together.
ALL_WRITES = "all writes"
#: Output column -> (figure, how runs pooled in one row combine).
COLUMNS: dict[str, tuple[str, str]] = {
    "writes": ("writes", "sum"),
    "with cached dependents": ("writes_with_dependents", "sum"),
    "fully invalidated": ("writes_fully_invalidated", "sum"),
    "dependents checked": ("entries_checked", "sum"),
    "left stale": ("entries_stale", "sum"),
    "never consistent": ("entries_never_consistent", "sum"),
    "consistent p99 (s)": ("consistent_p99_s", "max"),
}


#: The columns shown, in order.
SHOWN: tuple[str, ...] = (
    "writes",
    "with cached dependents",
    "fully invalidated (%)",
    "dependents checked",
    "left stale",
    "never consistent",
    "consistent p99 (s)",
)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    f = float(value)
    return None if math.isnan(f) else f


def invalidation_table(runs: pd.DataFrame, by: str = "param_strategy") -> pd.DataFrame:
    """Writes, share fully invalidated, entries left stale and time to consistent p99, per
    ``by`` value and write op (``write:<name>``, then :data:`ALL_WRITES`).

    ``fully invalidated (%)`` is writes that left no dependent entry stale among the writes
    with a dependent entry cached. Runs sharing a ``by`` value are pooled (counts summed, the
    worst run's p99): pass runs that differ only in ``by`` (a group of
    :func:`evalcache.report.compare.comparable_groups`, ``by="variant"``). Runs without the
    check add no row.
    """
    figures = keys(WriteAccuracy)
    rows: list[dict[str, Any]] = []
    for _, run in runs.iterrows() if by in runs else ():
        row = run.to_dict()
        for op in write_accuracy_rows(row):
            rows.append({"by": str(row[by]), **op})
        if _number(row.get(f"{ACCURACY}writes")) is not None:
            overall = {k: row.get(f"{ACCURACY}{k}") for k in figures}
            rows.append({"by": str(row[by]), "write": ALL_WRITES, **overall})
    name = by.removeprefix("param_")
    out_cols = [name, "write", *SHOWN]
    if not rows:
        return pd.DataFrame(columns=out_cols)
    frame = pd.DataFrame(rows)
    for figure, _ in COLUMNS.values():
        frame[figure] = pd.to_numeric(frame[figure], errors="coerce")
    pooled = frame.groupby(["by", "write"], sort=False).agg(
        **{col: (figure, how) for col, (figure, how) in COLUMNS.items()}
    )
    with_deps = pooled["with cached dependents"].where(pooled["with cached dependents"] > 0)
    pooled["fully invalidated (%)"] = (100 * pooled["fully invalidated"] / with_deps).round(1)
    pooled = pooled.reset_index()
    # the seed plan's own strategy first, and its variants ("seed refresh=threshold") with it
    names = sorted(set(pooled["by"]), key=lambda n: (n.split(" ")[0] not in SEED_FIRST, n))
    rank = {n: i for i, n in enumerate(names)}
    pooled["_r"] = pooled["by"].map(rank)
    pooled["_w"] = pooled["write"].eq(ALL_WRITES)
    pooled = pooled.sort_values(["_r", "_w", "write"]).drop(columns=["_r", "_w"])
    return pooled.rename(columns={"by": name})[out_cols].reset_index(drop=True)
