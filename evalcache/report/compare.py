"""Like-for-like comparisons: runs grouped so that they differ only in what a chart compares.

A sweep mixes cells that differ in many parameters (workload, rate, data scale, TTL scale,
service times, stampede protection, ...). A chart that compares strategies must not average a
strategy over whatever cells it happens to appear in: a strategy run on more hard cells would
look worse than one run on easy cells, whatever it does. :func:`comparable_groups` returns
groups of runs that share every configuration parameter except the compared ones; a chart draws
one facet per group, titled with what that group holds fixed. Runs that share every parameter
but the seed are repeats, and only they are averaged (the facet says so).

Example
-------
>>> import pandas as pd
>>> runs = pd.DataFrame({"param_strategy": ["seed", "tags", "tags"],
...                      "param_workload": ["mixed", "mixed", "browse"], "hit_rate": [.5, .6, .7]})
>>> [(g.title, g.variants) for g in comparable_groups(runs, "strategy")]
[('mixed', ['seed', 'tags'])]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from evalcache.report.style import describe_param, is_missing, join_phrases

#: Parameters that say where a run is stored or what else was measured beside it, not what the
#: cached run itself does: runs differing only in these are still like for like.
NOT_CONFIG = frozenset(
    {
        "param_namespace",
        "param_results_dir",
        "param_baseline",
        "param_fresh_baseline",
        "param_window_s",
    }
)
#: Runs that differ in this alone are repeats of one configuration.
REPEAT = "param_seed"
#: What a comparison of ``strategy`` or ``workload`` varies: the name, plus the settings that
#: belong to it (notify's lag, the seed plan's refresh; a workload's write mix and skew), so
#: ``notify`` at 50 ms and at 500 ms are two bars of one facet, not two facets of one bar.
PRESETS: dict[str, tuple[str, ...]] = {
    "strategy": (
        "param_strategy",
        "param_refresh",
        "param_notify_lag",
        "param_invalidation_delay",
    ),
    "workload": ("param_workload", "param_write_ratio", "param_skew"),
}
#: Settings a preset varies only where they tell apart runs of one strategy (or workload):
#: ``notify, lag 50 ms`` but plain ``explicit``.
OWNED = frozenset(c for cols in PRESETS.values() for c in cols[1:])
#: Named in every facet title (when held fixed): the scenario a reader needs first.
ALWAYS_NAMED = ("param_workload", "param_strategy", "param_ttl_scale", "param_rate", "param_scale")
#: Order of parameters in titles.
TITLE_ORDER = (
    "param_workload",
    "param_strategy",
    "param_cache",
    "param_ttl_scale",
    "param_rate",
    "param_scale",
    "param_mode",
    "param_concurrency",
    "param_db_pool",
    "param_db_service_ms",
    "param_redis_service_ms",
    "param_service_model",
    "param_skew",
    "param_write_ratio",
    "param_duration_s",
    "param_warmup_s",
    "param_stampede",
    "param_refresh",
    "param_notify_lag",
    "param_invalidation_delay",
    "param_stale_sample",
)
TITLE_WIDTH = 95  # characters per title line: fits a 9-inch figure at the title's font size


def resolve_vary(vary: str | Sequence[str]) -> tuple[str, ...]:
    """``param_*`` columns for ``vary``: parameter names, a preset name (:data:`PRESETS`)
    standing for its parameters (``("strategy", "ttl_scale")``: the strategy, its settings and
    the TTL scale)."""
    names = [vary] if isinstance(vary, str) else list(vary)
    cols = [c for n in names for c in PRESETS.get(n.removeprefix("param_"), (n,))]
    return tuple(dict.fromkeys(c if c.startswith("param_") else f"param_{c}" for c in cols))


def value_key(value: Any) -> str:
    """A stable text for grouping: dicts are unhashable, NaN never equals itself, 20 == 20.0."""
    if isinstance(value, np.generic):
        value = value.item()
    if is_missing(value):
        return "None"
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True, default=str)
    return repr(value)


def config_columns(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The ``param_*`` columns that define a configuration, minus ``exclude``."""
    drop = {*NOT_CONFIG, REPEAT, *exclude}
    return [c for c in frame.columns if c.startswith("param_") and c not in drop]


def _keys(frame: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    if not cols or frame.empty:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[list(cols)].map(value_key).agg("|".join, axis=1)


def _sort_key(value: Any) -> tuple[int, float, str]:
    # seed (the plan as written) first, numbers by value, then text
    if value == "seed":
        return (0, 0.0, "")
    try:
        return (1, float(value), "")
    except (TypeError, ValueError):
        return (2, 0.0, str(value))


def variant_labels(runs: pd.DataFrame, vary: Sequence[str]) -> pd.Series:
    """A short label per run: its first ``vary`` value, then every other ``vary`` parameter
    that varies in ``runs``; a preset's own settings (:data:`OWNED`) only where they tell
    apart runs sharing the first value (``seed, refresh threshold`` but plain ``explicit``).
    """
    if runs.empty:
        return pd.Series([], dtype=object)
    first, rest = vary[0], [c for c in vary[1:] if c in runs]
    varying = {c for c in rest if c not in OWNED and runs[c].map(value_key).nunique() > 1}
    out = pd.Series("", index=runs.index, dtype=object)
    for _, same in runs.groupby(runs[first].map(value_key), sort=False):
        shown = [c for c in rest if c in varying or same[c].map(value_key).nunique() > 1]
        head = describe_param(first, same[first].iloc[0])
        for i, row in same.iterrows():
            out[i] = ", ".join([head, *(describe_param(c, row[c]) for c in shown)])
    return out


@dataclass(frozen=True)
class Group:
    """Runs that share every configuration parameter but the compared ones (and the seed).

    ``runs`` carries a ``variant`` column (its label); ``variants`` lists the labels in drawing
    order (the seed plan's ``seed`` first); ``fixed`` maps every ``param_*`` column the group
    holds fixed to its value; ``phrases`` name the scenario (workload, strategy, TTL scale,
    rate, data scale) and what sets the group apart from the others; ``repeats`` is the most
    runs averaged
    into one point (1: nothing averaged).
    """

    phrases: tuple[str, ...]
    fixed: dict[str, Any]
    runs: pd.DataFrame
    variants: list[str]
    repeats: int
    vary: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """What the group holds fixed, on one line (``mixed · 20 req/s · data ×0.1``)."""
        return join_phrases(self.phrases) or "all runs"

    def heading(self, width: int = TITLE_WIDTH, how: str = "mean") -> str:
        """The title wrapped at ``width``, plus how many repeats were combined (``how``: mean,
        pooled) when any were."""
        text = join_phrases(self.phrases, width) or "all runs"
        if self.repeats < 2:
            return text
        return f"{text}\n{how} over up to {self.repeats} runs that differ only in seed"

    def run_labels(self) -> pd.Series:
        """Per run: the title and every compared setting it has (its own settings only when
        set), for listing runs of several groups in one table (``mixed · ... · tags · TTL ×1``).
        """
        unset = {"None", value_key(0), repr("none")}

        def label(row: pd.Series) -> str:
            shown = [
                describe_param(c, row[c])
                for c in self.vary
                if c in row and (c not in OWNED or value_key(row[c]) not in unset)
            ]
            return join_phrases([self.title, *shown])

        return self.runs.apply(label, axis=1)

    def row_labels(self) -> list[str]:
        """One label per run for a table row: its variant, the seed added where repeats
        share one, and a number where even that does not tell runs apart (a row per run,
        never two runs in one row)."""
        return unique_labels(list(self.runs["variant"]), self.runs)

    def table(self, metrics: Sequence[str], axis: str | None = None) -> pd.DataFrame:
        """Per variant (and ``axis`` value): mean ``metrics`` over repeats, in drawing order.

        Columns: ``group``, ``variant``, [``axis``], ``strategy``, ``cache``, ``runs``,
        ``cells``, the metrics (as stored: rates are fractions), then the fixed parameters.
        """
        data = self.runs.copy()
        for m in metrics:
            data[m] = pd.to_numeric(data[m], errors="coerce") if m in data else np.nan
        by = ["variant", axis] if axis else ["variant"]
        g = data.groupby(by, sort=False)
        out = g[list(metrics)].mean()
        out["runs"] = g.size()
        for col, name in (("param_strategy", "strategy"), ("param_cache", "cache")):
            out[name] = g[col].first() if col in data else (True if name == "cache" else None)
        out["cells"] = g["cell"].agg(lambda s: ", ".join(map(str, s))) if "cell" in data else ""
        out = out.reset_index()
        order = {v: i for i, v in enumerate(self.variants)}
        out["_order"] = out["variant"].map(order)
        out = out.sort_values(["_order", *([axis] if axis else [])], kind="stable")
        out.insert(0, "group", self.title)
        lead = ["group", "variant", *([axis] if axis else []), "strategy", "cache", "runs", "cells"]
        out = out[[*lead, *metrics]].reset_index(drop=True)
        for k, v in self.fixed.items():
            out[k] = json.dumps(v, default=str) if isinstance(v, Mapping | list) else v
        return out


def unique_labels(labels: Sequence[str], runs: pd.DataFrame) -> list[str]:
    """``labels`` (one per row of ``runs``), the seed added where two share one, then a
    number where even that does not tell them apart."""
    out = [str(v) for v in labels]
    dup = pd.Series(out).duplicated(keep=False).to_numpy()
    if dup.any() and REPEAT in runs:
        seeds = [describe_param(REPEAT, s) for s in runs[REPEAT]]
        out = [f"{lbl}, {s}" if d else lbl for lbl, s, d in zip(out, seeds, dup, strict=True)]
    seen: dict[str, int] = {}
    for i, lbl in enumerate(out):
        seen[lbl] = seen.get(lbl, 0) + 1
        if seen[lbl] > 1:
            out[i] = f"{lbl} ({seen[lbl]})"
    return out


def comparable_groups(
    frame: pd.DataFrame,
    vary: str | Sequence[str] = "strategy",
    *,
    axis: str | None = None,
    min_variants: int = 2,
) -> list[Group]:
    """Groups of runs in ``frame`` that differ only in ``vary`` (and ``axis``, and the seed).

    Parameters
    ----------
    frame:
        One row per run with ``param_*`` columns (:func:`evalcache.sweep.collect`'s table, or a
        per-family table with the run's parameters attached).
    vary:
        What the chart compares: ``"strategy"`` or ``"workload"`` (with their own settings, see
        :data:`PRESETS`), or parameter names such as ``("strategy", "ttl_scale")``.
    axis:
        A parameter drawn along an axis inside each facet (``ttl_scale`` for curves): it may
        vary within a group too.
    min_variants:
        Groups with fewer distinct ``vary`` values are left out (one bar compares nothing).

    Groups keep the order of ``frame`` (a sweep's cell order).
    """
    cols = tuple(c for c in resolve_vary(vary) if c in frame.columns)
    if frame.empty or not cols:
        return []
    keys = config_columns(frame, [*cols, *([axis] if axis else [])])
    data = frame.assign(_group=_keys(frame, keys), _variant=_keys(frame, cols))
    found = [
        grp
        for _, grp in data.groupby("_group", sort=False)
        if grp["_variant"].nunique() >= min_variants
    ]
    out = []
    for grp in found:
        first = grp.iloc[0]
        fixed = {c: _plain(first[c]) for c in keys}
        runs = grp.assign(variant=variant_labels(grp, cols))
        pairs = zip(runs[cols[0]], runs["variant"], strict=True)
        order = sorted({(_sort_key(v), lbl) for v, lbl in pairs})
        per_point = ["_variant", axis] if axis else ["_variant"]
        repeats = int(runs.groupby(per_point, sort=False).size().max())
        out.append(
            Group(
                (),
                fixed,
                runs.drop(columns=["_group", "_variant"]),
                list(dict.fromkeys(lbl for _, lbl in order)),
                repeats,
                cols,
            )
        )
    return name_groups(out)


def name_groups(groups: Sequence[Group]) -> list[Group]:
    """``groups`` with titles naming the scenario (:data:`ALWAYS_NAMED`) and every fixed
    parameter that differs between them. Call it again on a subset a chart draws, so its
    titles name only what tells apart the facets shown.
    """
    fixed = [g.fixed for g in groups]
    keys = list(dict.fromkeys(k for f in fixed for k in f))
    differ = {k for k in keys if len({value_key(f.get(k)) for f in fixed}) > 1}
    named = [c for c in TITLE_ORDER if c in keys and (c in differ or c in ALWAYS_NAMED)]
    named += sorted(c for c in differ if c not in named)
    return [
        replace(g, phrases=tuple(describe_param(c, g.fixed.get(c)) for c in named)) for g in groups
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return None if is_missing(value) else value


def tidy(groups: Sequence[Group], metrics: Sequence[str], axis: str | None = None) -> pd.DataFrame:
    """Every group's :meth:`Group.table`, one below the other (what a faceted chart draws)."""
    parts = [g.table(metrics, axis) for g in groups]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
