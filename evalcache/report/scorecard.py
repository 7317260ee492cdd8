"""The seed plan's success targets, checked against measured runs, as the plan words them.

The plan's "Success Metrics" (and its "90 % reduction" and "80 % / 95 % faster" claims) become
one :class:`Target` each: a measured figure, a comparison and a threshold, and a ``how`` that
says how the figure was measured. A run without the figure (no dashboard hits, not the plan's
optimizer, nothing checked for staleness, no cache-off baseline) is ``n/a``, not a pass; the
plan's memory line names no number, so the footprint is reported and never judged.

Where the plan says "cached" (query < 50 ms, dashboard < 1 s "for cached data") only cache
hits are timed. Its hit rate is "for frequently accessed data": the most-read keys that take
80 % of the reads (:mod:`evalcache.metrics.popularity`). Request errors and cache errors are
two targets. The correctness target ("> 95 % correct invalidations") judges the share of
writes that left no cached dependent entry stale (the per-write check, ``invalidation_accuracy``
in the summary: most reads hit keys nobody wrote, so a share of correct reads lets a strategy
that invalidates nothing pass) and shows beside it the reads view: the share of correct reads
and how far it can be trusted (its 95 % lower bound, also as :func:`nines`).

:func:`recommend` picks the configuration meeting the most targets among the runs of one
workload under the same conditions; :mod:`evalcache.report.scorecard_chart` draws the grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from evalcache.errors import ConfigError
from evalcache.results_schema import ACCURACY, family_rows, flatten_summary

if TYPE_CHECKING:  # recommend imports this module
    from evalcache.report.recommend import Recommendation

Measure = Callable[[Mapping[str, Any], pd.DataFrame], float | None]
#: The text a target shows for a run's row and the value it judged.
Describe = Callable[[Mapping[str, Any], float | None], str]
#: What a target adds in brackets after the judged value, from the run's row and families.
Detail = Callable[[Mapping[str, Any], pd.DataFrame], str]

#: The seed plan's "< 0.5 % cache errors", applied to request errors and cache errors alike.
ERROR_LIMIT = 0.005
#: ``Target.op`` of a figure the plan names without a number: shown, never judged.
REPORTED = "report"
#: The plan's background refresh is its ``QueryOptimizer``: strategy ``seed`` with
#: ``refresh: threshold`` (refresh at 80 % of the TTL); other runs have no such refresh.
PLAN_OPTIMIZER = {"param_strategy": "seed", "param_refresh": "threshold"}


@dataclass(frozen=True)
class Target:
    """One success target of the seed plan."""

    key: str
    label: str
    measure: Measure
    op: str  # "<", ">=", ">", or REPORTED (shown, never judged)
    threshold: float
    unit: str  # "ms", "%" (measured values for "%" are fractions) or "B" (bytes)
    how: str  # what statistic is measured
    describe: Describe | None = None  # when the judged value alone does not tell it all
    detail: Detail | None = None  # context after a measured value, from the families too

    def check(self, value: float | None) -> bool | None:
        if self.op == REPORTED or value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if self.op == "<":
            return bool(value < self.threshold)
        if self.op == ">":
            return bool(value > self.threshold)
        return bool(value >= self.threshold)

    def show(
        self,
        value: float | None,
        row: Mapping[str, Any] | None = None,
        families: pd.DataFrame | None = None,
    ) -> str:
        if self.describe is not None:
            return self.describe(row or {}, value)
        text = self.brief(value)
        if self.detail is None or text == "n/a":
            return text
        fams = families if families is not None else pd.DataFrame()
        return f"{text} ({self.detail(row or {}, fams)})"

    def brief(self, value: float | None) -> str:
        """The judged value alone, with its unit (what a chart cell has room for)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        if self.unit == "%":
            return f"{100 * value:.1f} %"
        if self.unit == "B":
            return _bytes(value)
        return f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def nines(share: float) -> str:
    """A share of correct answers as its count of nines, rounded down to a tenth.

    ``-log10(1 - share)``: 0.9 is one nine, 0.999 three, 0.9973 2.5 (rounded down, so a
    bound is never overstated).

    Examples
    --------
    >>> nines(0.999), nines(0.9973), nines(0.9)
    ('3 nines', '2.5 nines', '1 nine')
    """
    if not 0.0 <= share <= 1.0:  # also refuses NaN
        raise ConfigError("share", f"{share!r} is not a fraction in [0, 1]")
    if share == 1.0:
        return "∞ nines"
    # The 1e-9 absorbs float error: 1 - 0.999 is 0.0010000000000000009, not 0.001.
    count = math.floor(-10 * math.log10(1.0 - share) + 1e-9) / 10
    return f"{count:g} nine" + ("" if count == 1 else "s")


def _floor_percent(share: float, digits: int) -> str:
    # A lower bound is shown rounded down, never up.
    scale = 10**digits
    return f"{math.floor(100 * share * scale + 1e-9) / scale:.{digits}f} %"


def figure(row: Mapping[str, Any], key: str) -> float | None:
    """``row[key]`` as a float; ``None`` when missing, NaN or not a number."""
    v = row.get(key)
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _ratio(row: Mapping[str, Any], num: str, den: str) -> float | None:
    n, d = figure(row, num), figure(row, den)
    return None if n is None or not d else n / d


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _column(fams: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(fams[name], errors="coerce") if name in fams else pd.Series(dtype=float)


def _dashboard_p99(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    """The worst p99 of cache *hits* over the dashboard families ("< 1 s for cached data")."""
    if fams.empty or "family" not in fams:
        return None
    dash = fams[fams["family"].astype(str).str.startswith("dashboard")]
    vals = _column(dash, "hit_p99_ms").dropna()
    return float(vals.max()) if len(vals) else None


def read_speedups(families: pd.DataFrame) -> pd.DataFrame:
    """Per family: p50 of cache hits, p50 of the cache-off baseline's reads, and
    ``faster`` = 1 - hit / cache-off (the plan's "80 % faster"); families lacking either
    latency are left out."""
    cols = ["family", "hit_p50_ms", "uncached_p50_ms", "faster"]
    if families.empty or not {"family", "hit_p50_ms", "uncached_p50_ms"} <= set(families):
        return pd.DataFrame(columns=cols)
    out = families.assign(
        hit_p50_ms=_column(families, "hit_p50_ms"),
        uncached_p50_ms=_column(families, "uncached_p50_ms"),
    ).dropna(subset=["hit_p50_ms", "uncached_p50_ms"])
    out = out[out["uncached_p50_ms"] > 0]
    out = out.assign(faster=1.0 - out["hit_p50_ms"] / out["uncached_p50_ms"])
    return out[cols].reset_index(drop=True)


def _faster(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    hit, base = figure(row, "latency_hit_p50_ms"), figure(row, "latency_uncached_p50_ms")
    return None if hit is None or not base else 1.0 - hit / base


def _faster_detail(row: Mapping[str, Any], fams: pd.DataFrame) -> str:
    hit = figure(row, "latency_hit_p50_ms") or 0.0
    base = figure(row, "latency_uncached_p50_ms") or 0.0
    text = f"hit p50 {hit:.3g} ms vs cache-off {base:.3g} ms"
    per = read_speedups(fams)["faster"]
    if len(per):
        text += f"; families {100 * per.min():.0f} to {100 * per.max():.0f} %"
    return text


def _frequent_shown(row: Mapping[str, Any], value: float | None) -> str:
    overall = figure(row, "hit_rate")
    every = "n/a" if overall is None else f"{100 * overall:.1f} %"
    if value is None:
        return f"n/a (all reads {every})"
    keys, read = figure(row, "frequent_keys"), figure(row, "keys_read")
    where = f"{keys:.0f} of {read:.0f} keys" if keys is not None and read else "hottest keys"
    return f"{100 * value:.1f} % ({where}; all reads {every})"


def _memory(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    return figure(row, "redis_used_memory_bytes")


def _memory_shown(row: Mapping[str, Any], value: float | None) -> str:
    if value is None:
        return "n/a"
    keys = figure(row, "redis_keys")
    return _bytes(value) + ("" if keys is None else f" in {keys:.0f} keys") + " (not judged)"


def _plan_refresh(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    if any(str(row.get(k)) != v for k, v in PLAN_OPTIMIZER.items()):
        return None
    return _ratio(row, "refreshes_succeeded", "refreshes_tried")


def _plan_refresh_shown(row: Mapping[str, Any], value: float | None) -> str:
    if value is not None:
        return f"{100 * value:.1f} % of {figure(row, 'refreshes_tried') or 0:.0f}"
    if any(str(row.get(k)) != v for k, v in PLAN_OPTIMIZER.items()):
        return "n/a (not the plan's optimizer)"
    return "n/a"


def _correct(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    checked = figure(row, "stale_checked")
    rate = figure(row, "stale_read_rate")
    return None if not checked or rate is None else 1.0 - rate


#: The flat-row column of the share of writes fully invalidated (``results_schema``).
FULLY_INVALIDATED = f"{ACCURACY}fully_invalidated_share"


def _invalidated(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    return figure(row, FULLY_INVALIDATED)


def _invalidated_shown(row: Mapping[str, Any], value: float | None) -> str:
    """The share of writes fully invalidated (of how many), then the reads view."""
    reads = _correct_shown(row, _correct(row, pd.DataFrame()))
    if value is None:
        return f"n/a; reads: {reads}"
    n = int(figure(row, f"{ACCURACY}writes_with_dependents") or 0)
    return f"{100 * value:.1f} % of {n} writes fully invalidated; reads: {reads}"


def _correct_shown(row: Mapping[str, Any], value: float | None) -> str:
    """The measured share of correct reads, then its one-sided 95 % lower bound as nines."""
    if value is None:
        return "n/a"
    upper = figure(row, "stale_read_rate_upper95")
    if upper is None:  # a summary written before the bound existed
        return f"{100 * value:.1f} %"
    low = 1.0 - upper
    # Enough decimals to show the first digit that is not a 9 of the bound.
    digits = max(1, math.ceil(-math.log10(upper)) - 1) if upper > 0 else 1
    bound = f"≥ {_floor_percent(low, digits)} at 95 % confidence: {nines(low)}"
    return f"{100 * value:.1f} % ({bound})"


def _cache_errors(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    """Cache errors (Redis calls failed open, failed plan refreshes) per request."""
    return _ratio(row, "cache_errors", "requests")


TARGETS: tuple[Target, ...] = (
    Target(
        "cached_query",
        "cached query < 50 ms",
        lambda r, f: figure(r, "latency_hit_p99_ms"),
        "<",
        50.0,
        "ms",
        "p99 latency of cache hits over every family (misses are not cached queries)",
    ),
    Target(
        "hit_rate",
        "hit rate > 85 % (frequently accessed)",
        lambda r, f: figure(r, "frequent_hit_rate"),
        ">",
        0.85,
        "%",
        "hits / reads on the frequently accessed keys: the most-read keys (a key is a query "
        "family and its arguments) that together take 80 % of the run's counted cacheable "
        "reads; beside it the hit rate of all reads",
        _frequent_shown,
    ),
    Target(
        "db_reduction",
        "60-80 % fewer DB queries",
        lambda r, f: figure(r, "db_reduction"),
        ">=",
        0.60,
        "%",
        "1 - statements / cache-off baseline statements on the same request stream (≥ 60 % passes)",
    ),
    Target(
        "db_reduction_90",
        "90 % fewer DB queries (phase 1)",
        lambda r, f: figure(r, "db_reduction"),
        ">=",
        0.90,
        "%",
        "the plan's phase-1 claim, '90 % reduction in database query volume': the same "
        "figure as the 60-80 % target",
    ),
    Target(
        "dashboard",
        "dashboard < 1 s cached",
        _dashboard_p99,
        "<",
        1000.0,
        "ms",
        "worst p99 of cache hits over the dashboard families (misses are not cached data)",
    ),
    Target(
        "faster_reads",
        "80-95 % faster reads",
        _faster,
        ">=",
        0.80,
        "%",
        "1 - p50 of cache hits / p50 of the same stream's reads with the cache off (its "
        "baseline), all families; beside it the range over families (per family: "
        "read_speedups). ≥ 80 % passes: the plan promises 80 % faster profile loads and 95 % "
        "for complex dashboard queries",
        detail=_faster_detail,
    ),
    Target(
        "memory",
        "memory: optimal TTL management",
        _memory,
        REPORTED,
        math.nan,
        "B",
        "bytes and keys of the run's Redis namespace at the end (live entries); the plan "
        "names no number, so the footprint is reported, not judged",
        _memory_shown,
    ),
    Target(
        "invalidations",
        "> 95 % correct invalidations",
        _invalidated,
        ">",
        0.95,
        "%",
        "writes that left no cached dependent entry stale / writes with a dependent entry "
        "cached (each checked against the database after its invalidation, as Polaris "
        "checks); beside it the reads view: 1 - stale-read rate among checked cached reads, "
        "with its one-sided 95 % lower bound (1 - Wilson upper bound), also as nines",
        _invalidated_shown,
    ),
    Target(
        "refreshes",
        "> 98 % successful background refreshes",
        _plan_refresh,
        ">",
        0.98,
        "%",
        "refreshes succeeded / tried, on the plan's optimizer only (strategy seed with refresh "
        "threshold: refresh at 80 % of the TTL); n/a on other runs",
        _plan_refresh_shown,
    ),
    Target(
        "request_errors",
        "< 0.5 % request errors",
        lambda r, f: figure(r, "error_rate"),
        "<",
        ERROR_LIMIT,
        "%",
        "requests that raised / requests",
    ),
    Target(
        "cache_errors",
        "< 0.5 % cache errors",
        _cache_errors,
        "<",
        ERROR_LIMIT,
        "%",
        "cache errors that did not fail a request (Redis calls failed open, the plan's failed "
        "background refreshes) / requests",
    ),
)


def _families_of(families: pd.DataFrame, row: Mapping[str, Any]) -> pd.DataFrame:
    if families.empty:
        return families
    for key in ("folder", "run_id"):
        if key in families.columns and row.get(key) is not None:
            return families[families[key] == row[key]]
    return families[:0]


def score_run(row: Mapping[str, Any], families: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per target: ``key``, ``target``, ``measured``, ``shown``, ``brief`` (the value
    alone, for a chart cell), ``passed`` (True/False/None) and ``how``."""
    fams = _families_of(families if families is not None else pd.DataFrame(), row)
    out = []
    for t in TARGETS:
        value = t.measure(row, fams)
        out.append(
            {
                "key": t.key,
                "target": t.label,
                "measured": value,
                "shown": t.show(value, row, fams),
                "brief": t.brief(value),
                "passed": t.check(value),
                "how": t.how,
            }
        )
    frame = pd.DataFrame(out)
    # Python True/False/None (not numpy bools or NaN) so callers can test ``is True``.
    frame["passed"] = pd.Series([r["passed"] for r in out], dtype=object)
    return frame


def _tri(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value)


def config_label(row: Mapping[str, Any]) -> str:
    """``workload / strategy / ttl×scale`` for a run row."""
    return (
        f"{row.get('param_workload', '?')} / {row.get('param_strategy', '?')} / "
        f"ttl×{row.get('param_ttl_scale', '?')}"
    )


#: Parameters a configuration is named by (:func:`config_label`) or that never tell runs
#: apart in a label.
_LABELLED = frozenset(
    {"param_workload", "param_strategy", "param_ttl_scale", "param_namespace", "param_results_dir"}
)


def config_labels(runs: pd.DataFrame) -> list[str]:
    """:func:`config_label` of each run plus each parameter where it differs from most runs
    (``mixed / tags / ttl×1.0 rate=8 db_pool=2``), so two rows never share a label by
    hiding a difference."""
    params = [c for c in runs.columns if c.startswith("param_") and c not in _LABELLED]
    text = runs[params].map(str)  # every value as text, a missing one too ("None", "nan")
    # the most common value (the first seen of equally common ones)
    usual = {c: text[c].value_counts(sort=True).index[0] for c in params if len(text)}
    labels = []
    for i, (_, run) in enumerate(runs.iterrows()):
        odd = [
            f"{c.removeprefix('param_')}={text.iloc[i][c]}"
            for c in params
            if text.iloc[i][c] != usual[c]
        ]
        labels.append(" ".join([config_label(run.to_dict()), *odd]))
    return labels


def score_table(
    runs: pd.DataFrame,
    families: pd.DataFrame | None = None,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long table, one row per (run, target): ``configuration`` (``labels``, one per run, by
    default :func:`config_labels`) and :func:`score_run`'s columns; what :func:`scorecard`
    and the grid chart are drawn from."""
    cols = ["configuration", "key", "target", "measured", "shown", "brief", "passed", "how"]
    names = config_labels(runs) if labels is None else [str(v) for v in labels]
    parts = []
    for label, (_, run) in zip(names, runs.iterrows(), strict=True):
        parts.append(score_run(run.to_dict(), families).assign(configuration=label)[cols])
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    out["passed"] = pd.Series([_tri(v) for v in out["passed"]], dtype=object)
    return out


def scorecard(
    runs: pd.DataFrame,
    families: pd.DataFrame | None = None,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Wide table: one row per run, one ``✓ value`` / ``✗ value`` / ``n/a`` column per target;
    ``labels`` name the runs (:func:`score_table`)."""
    long = score_table(runs, families, labels)
    rows = []
    for label, s in long.groupby("configuration", sort=False):
        row: dict[str, Any] = {"configuration": label}
        for target, shown, passed in zip(s["target"], s["shown"], s["passed"], strict=True):
            row[target] = {True: "✓ ", False: "✗ ", None: ""}[_tri(passed)] + shown
        row["targets met"] = int((s["passed"] == True).sum())  # noqa: E712 - None is not met
        row["targets measured"] = int(s["passed"].notna().sum())
        rows.append(row)
    cols = ["configuration", *[t.label for t in TARGETS], "targets met", "targets measured"]
    return pd.DataFrame(rows, columns=cols)


def recommend(
    runs: pd.DataFrame, families: pd.DataFrame | None = None, workload: str = "mixed"
) -> Recommendation:
    """:func:`evalcache.report.recommend.recommend` (kept here, where the notebooks call it)."""
    from evalcache.report.recommend import recommend as choose

    return choose(runs, families, workload)


def run_scorecard(summary: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`score_run` for one run's summary dict (families taken from the summary)."""
    return score_run(flatten_summary(summary), pd.DataFrame(family_rows(summary)))
