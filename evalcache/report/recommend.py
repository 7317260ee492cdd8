"""Which configuration to recommend for a workload, and why, with the numbers.

Among the runs of one workload measured under the same conditions (:func:`comparable`), the
configuration meeting the most of the seed plan's targets (:mod:`evalcache.report.scorecard`)
of those that serve correct answers (> 95 % correct invalidations), see :func:`recommend`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evalcache.report.scorecard import config_labels, figure, score_run

#: The knobs a recommendation chooses between; every other parameter is a condition of the
#: measurement (rate, data scale, duration, service model...) that compared runs must share.
CONFIG_PARAMS = frozenset(
    {"param_strategy", "param_ttl_scale", "param_ttl", "param_refresh", "param_stampede"}
)
_NOT_CONDITIONS = CONFIG_PARAMS | {"param_namespace", "param_fresh_baseline"}


def _pct(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{100 * v:.{digits}f} %"


@dataclass(frozen=True)
class Recommendation:
    """The configuration meeting the most targets on a workload, and why.

    ``lines`` are (heading, sentence) pairs with the numbers, in reading order; ``text`` is
    them as lines of text. The figures are the recommended run's, unrounded.
    """

    workload: str
    strategy: str | None
    ttl_scale: float | None
    met: int
    measured: int
    text: str
    configuration: str = ""
    cell: str | None = None
    met_targets: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    hit_rate: float | None = None
    frequent_hit_rate: float | None = None
    stale_read_rate: float | None = None
    stale_read_rate_upper95: float | None = None
    stale_checked: int | None = None
    db_reduction: float | None = None
    candidates: int = 0
    lines: tuple[tuple[str, str], ...] = ()


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    """The largest group of ``runs`` measured under the same conditions: equal in every
    parameter but the configuration knobs (:data:`CONFIG_PARAMS`); ties go to the group of
    the first run."""
    if runs.empty:
        return runs
    cond = [c for c in runs.columns if c.startswith("param_") and c not in _NOT_CONDITIONS]
    key = runs[cond].map(str).agg("|".join, axis=1) if cond else pd.Series("", runs.index)
    counts = key.value_counts(sort=False)
    best = max(counts.index, key=lambda k: (counts[k], -list(key).index(k)))
    return runs[key == best]


def _rank(run: pd.Series, s: pd.DataFrame) -> tuple[bool, int, float, float]:
    """(passes correctness, targets met, hit rate, -stale-read rate): higher ranks first."""
    met = int((s["passed"] == True).sum())  # noqa: E712
    correct = bool((s.loc[s["key"] == "invalidations", "passed"] == True).any())  # noqa: E712
    return (correct, met, figure(run, "hit_rate") or 0.0, -(figure(run, "stale_read_rate") or 0.0))


def _why(
    workload: str, n: int, others: int, best: tuple[Any, ...], second: tuple[Any, ...] | None
) -> str:
    key, _, label, _ = best
    correct, met = key[0], key[1]
    why = f"Of the {n} configurations run on {workload} under the same conditions"
    if others:
        why += (
            f" ({others} other run{'s' if others > 1 else ''} on {workload}, under other "
            "conditions such as request rate, data scale or service model, not compared)"
        )
    why += (
        f", {label} meets the most targets ({met}) of those with > 95 % correct invalidations"
        if correct
        else f", none has > 95 % correct invalidations; {label} meets the most targets ({met})"
    )
    if second is None:
        return why + "."
    k2, run2, label2, _ = second
    stale2 = _pct(figure(run2, "stale_read_rate"), 2)
    if k2[0] != correct:  # the best is correct, the next is not
        return why + (
            f"; the next, {label2}, meets {k2[1]} but serves {stale2} stale reads: "
            "correct answers come before targets met."
        )
    if k2[1] < met:
        return why + f"; the next best, {label2}, meets {k2[1]} (stale reads {stale2})."
    if k2 == key:
        return why + (
            f"; {label2} ties with it on every criterion (correctness, targets met, hit rate, "
            "stale reads), and the sweep's first is shown."
        )
    reason = (
        f"its hit rate is higher ({_pct(key[2])} against {_pct(k2[2])})"
        if key[2] != k2[2]
        else f"it serves fewer stale reads ({_pct(-key[3], 3)} against {_pct(-k2[3], 3)})"
    )
    return why + f"; {label2} meets as many, and {label} is chosen because {reason}."


def recommend(
    runs: pd.DataFrame, families: pd.DataFrame | None = None, workload: str = "mixed"
) -> Recommendation:
    """The configuration (strategy, TTL scale...) meeting the most targets on ``workload``
    among those that pass the correctness target.

    Only runs measured under the same conditions compete (:func:`comparable`): a run at
    another request rate or data scale answers another question. A configuration with > 95 %
    correct invalidations comes before any without, whatever they meet besides (serving
    stale data is not bought back by speed); then the most targets met, the higher hit rate,
    the lower stale-read rate.
    """
    on = runs[runs["param_workload"] == workload] if "param_workload" in runs else runs[:0]
    if on.empty:
        return Recommendation(
            workload, None, None, 0, 0, f"No runs on the {workload!r} workload: no recommendation."
        )
    group = comparable(on)
    labels = dict(zip(on.index, config_labels(on), strict=True))
    ranked = []
    for idx, run in group.iterrows():
        s = score_run(run.to_dict(), families)
        ranked.append((_rank(run, s), run, labels[idx], s))
    # stable: among equal keys the first run stays first
    ranked.sort(key=lambda r: r[0], reverse=True)
    best = ranked[0]
    _, run, label, s = best
    passed, failed = s["passed"] == True, s["passed"] == False  # noqa: E712
    met_targets, missed = tuple(map(str, s.loc[passed, "target"])), tuple(s.loc[failed, "target"])
    met, measured = len(met_targets), int(s["passed"].notna().sum())
    strategy, ttl = str(run.get("param_strategy")), float(run.get("param_ttl_scale", math.nan))
    stale, upper = figure(run, "stale_read_rate"), figure(run, "stale_read_rate_upper95")
    checked, reduction = figure(run, "stale_checked"), figure(run, "db_reduction")
    lines = [
        (
            "Recommended",
            f"for the {workload} workload: strategy {strategy!r} with TTL scale {ttl:g} ({label}).",
        ),
        (
            "Targets",
            f"it meets {met} of {measured} measured targets"
            + (f": {', '.join(met_targets)}" if met_targets else "")
            + (f"; it misses: {', '.join(map(str, missed))}." if missed else "."),
        ),
        (
            "Staleness",
            "not measured (no cached read was checked)."
            if stale is None
            else f"{_pct(stale, 2)} of {checked or 0:.0f} checked cached reads were stale "
            f"(95 % upper bound {_pct(upper, 2)}).",
        ),
        (
            "Database load",
            "not measured (no cache-off baseline)."
            if reduction is None
            else f"{_pct(reduction)} fewer SQL statements than the same requests with the "
            "cache off.",
        ),
        (
            "Why",
            _why(
                workload,
                len(group),
                len(on) - len(group),
                best,
                ranked[1] if len(ranked) > 1 else None,
            ),
        ),
    ]
    return Recommendation(
        workload,
        strategy,
        ttl,
        met,
        measured,
        "\n".join(f"{h}: {t}" if i else f"{h} {t}" for i, (h, t) in enumerate(lines)),
        configuration=label,
        cell=None if pd.isna(run.get("cell")) else str(run.get("cell")),
        met_targets=met_targets,
        missed=tuple(map(str, missed)),
        hit_rate=figure(run, "hit_rate"),
        frequent_hit_rate=figure(run, "frequent_hit_rate"),
        stale_read_rate=stale,
        stale_read_rate_upper95=upper,
        stale_checked=None if checked is None else int(checked),
        db_reduction=reduction,
        candidates=len(group),
        lines=tuple(lines),
    )
