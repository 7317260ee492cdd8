"""The seed plan's success targets, checked against measured runs.

Each target is a measured figure, a comparison and a threshold; a run without the figure (no
dashboard reads, no refreshes tried, nothing checked for staleness) is ``n/a``, not a pass.
Two targets show more than the figure they judge: the error target judges request errors and
cache errors together (the worse of the two) and shows both; the correctness target ("> 95 %
correct invalidations") judges the share of writes that left no cached dependent entry stale
(the per-write check, ``invalidation_accuracy`` in the summary: most reads hit keys nobody
wrote, so a share of correct reads lets a strategy that invalidates nothing pass) and shows
beside it the reads view: the measured share of correct reads and how far it can be trusted
(its 95 % lower bound, also as :func:`nines`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evalcache.errors import ConfigError
from evalcache.results_schema import ACCURACY, family_rows, flatten_summary

Measure = Callable[[Mapping[str, Any], pd.DataFrame], float | None]
#: The text a target shows for a run's row and the value it judged.
Describe = Callable[[Mapping[str, Any], float | None], str]

#: The seed plan's "< 0.5 % cache errors", applied to request errors and cache errors alike.
ERROR_LIMIT = 0.005


@dataclass(frozen=True)
class Target:
    """One success target of the seed plan."""

    key: str
    label: str
    measure: Measure
    op: str  # "<" or ">="/">"
    threshold: float
    unit: str  # "ms" or "%" (measured values for "%" are fractions)
    how: str  # what statistic is measured
    describe: Describe | None = None  # when the judged value alone does not tell it all

    def check(self, value: float | None) -> bool | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if self.op == "<":
            return bool(value < self.threshold)
        if self.op == ">":
            return bool(value > self.threshold)
        return bool(value >= self.threshold)

    def show(self, value: float | None, row: Mapping[str, Any] | None = None) -> str:
        if self.describe is not None:
            return self.describe(row or {}, value)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        return f"{100 * value:.1f} %" if self.unit == "%" else f"{value:.1f} ms"


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


def _num(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _ratio(row: Mapping[str, Any], num: str, den: str) -> float | None:
    n, d = _num(row, num), _num(row, den)
    return None if n is None or not d else n / d


def _dashboard_p99(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    if fams.empty or "family" not in fams:
        return None
    dash = fams[fams["family"].astype(str).str.startswith("dashboard")]
    dash = dash[dash.get("reads", pd.Series(1, index=dash.index)).fillna(0) > 0]
    vals = dash["p99_ms"].dropna() if "p99_ms" in dash else pd.Series(dtype=float)
    return float(vals.max()) if len(vals) else None


def _correct(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    checked = _num(row, "stale_checked")
    rate = _num(row, "stale_read_rate")
    return None if not checked or rate is None else 1.0 - rate


#: The flat-row column of the share of writes fully invalidated (``results_schema``).
FULLY_INVALIDATED = f"{ACCURACY}fully_invalidated_share"


def _invalidated(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    return _num(row, FULLY_INVALIDATED)


def _invalidated_shown(row: Mapping[str, Any], value: float | None) -> str:
    """The share of writes fully invalidated (of how many), then the reads view."""
    reads = _correct_shown(row, _correct(row, pd.DataFrame()))
    if value is None:
        return f"n/a; reads: {reads}"
    n = int(_num(row, f"{ACCURACY}writes_with_dependents") or 0)
    return f"{100 * value:.1f} % of {n} writes fully invalidated; reads: {reads}"


def _correct_shown(row: Mapping[str, Any], value: float | None) -> str:
    """The measured share of correct reads, then its one-sided 95 % lower bound as nines."""
    if value is None:
        return "n/a"
    upper = _num(row, "stale_read_rate_upper95")
    if upper is None:  # a summary written before the bound existed
        return f"{100 * value:.1f} %"
    low = 1.0 - upper
    # Enough decimals to show the first digit that is not a 9 of the bound.
    digits = max(1, math.ceil(-math.log10(upper)) - 1) if upper > 0 else 1
    bound = f"≥ {_floor_percent(low, digits)} at 95 % confidence: {nines(low)}"
    return f"{100 * value:.1f} % ({bound})"


def _error_rates(row: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(request errors, cache errors) per request."""
    return _num(row, "error_rate"), _ratio(row, "cache_errors", "requests")


def _errors(row: Mapping[str, Any], fams: pd.DataFrame) -> float | None:
    """The worse of the two error rates: the target holds only when both are under it.

    With one rate unknown (an older summary has no ``cache_errors``) the run can only fail: a
    known rate over the limit fails it, otherwise it is ``n/a``.
    """
    known = [r for r in _error_rates(row) if r is not None]
    if not known:
        return None
    worst = max(known)
    return worst if len(known) == 2 or worst >= ERROR_LIMIT else None


def _errors_shown(row: Mapping[str, Any], value: float | None) -> str:
    def pct(rate: float | None) -> str:
        return "n/a" if rate is None else f"{100 * rate:.2f} %"

    request, cache = _error_rates(row)
    return f"request errors {pct(request)}, cache errors {pct(cache)}"


TARGETS: tuple[Target, ...] = (
    Target(
        "cached_query",
        "cached query < 50 ms",
        lambda r, f: _num(r, "latency_hit_p99_ms"),
        "<",
        50.0,
        "ms",
        "p99 latency of cache hits",
    ),
    Target(
        "hit_rate",
        "hit rate > 85 %",
        lambda r, f: _num(r, "hit_rate"),
        ">",
        0.85,
        "%",
        "hits / cacheable reads",
    ),
    Target(
        "db_reduction",
        "60-80 % fewer DB queries",
        lambda r, f: _num(r, "db_reduction"),
        ">=",
        0.60,
        "%",
        "1 - statements / cache-off baseline statements (≥ 60 % passes)",
    ),
    Target(
        "dashboard",
        "dashboard < 1 s cached",
        _dashboard_p99,
        "<",
        1000.0,
        "ms",
        "worst p99 over dashboard families, cache on",
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
        lambda r, f: _ratio(r, "refreshes_succeeded", "refreshes_tried"),
        ">",
        0.98,
        "%",
        "refreshes succeeded / tried",
    ),
    Target(
        "errors",
        "< 0.5 % request and cache errors",
        _errors,
        "<",
        ERROR_LIMIT,
        "%",
        "request errors / requests and cache errors (Redis calls failed open, failed "
        "background refreshes) / requests; passes only when both are under",
        _errors_shown,
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
    """One row per target: ``target``, ``measured``, ``shown``, ``passed`` (True/False/None)."""
    fams = _families_of(families if families is not None else pd.DataFrame(), row)
    out = []
    for t in TARGETS:
        value = t.measure(row, fams)
        out.append(
            {
                "key": t.key,
                "target": t.label,
                "measured": value,
                "shown": t.show(value, row),
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
    """``workload / strategy / ttl×scale (mode)`` for a run row."""
    return (
        f"{row.get('param_workload', '?')} / {row.get('param_strategy', '?')} / "
        f"ttl×{row.get('param_ttl_scale', '?')}"
    )


def scorecard(runs: pd.DataFrame, families: pd.DataFrame | None = None) -> pd.DataFrame:
    """Wide table: one row per run, one ``✓ value`` / ``✗ value`` / ``n/a`` column per target."""
    rows = []
    for _, run in runs.iterrows():
        s = score_run(run.to_dict(), families)
        row: dict[str, Any] = {"configuration": config_label(run.to_dict())}
        for target, shown, passed in zip(s["target"], s["shown"], s["passed"], strict=True):
            row[target] = {True: "✓ ", False: "✗ ", None: ""}[_tri(passed)] + shown
        row["targets met"] = int((s["passed"] == True).sum())  # noqa: E712 - None is not met
        row["targets measured"] = int(s["passed"].notna().sum())
        rows.append(row)
    cols = ["configuration", *[t.label for t in TARGETS], "targets met", "targets measured"]
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True)
class Recommendation:
    """The configuration meeting the most targets on a workload."""

    workload: str
    strategy: str | None
    ttl_scale: float | None
    met: int
    measured: int
    text: str


def recommend(
    runs: pd.DataFrame, families: pd.DataFrame | None = None, workload: str = "mixed"
) -> Recommendation:
    """Strategy and TTL scale meeting the most targets on ``workload``.

    Ties go first to a configuration that passes the correctness target (> 95 % correct
    invalidations: serving stale data is not bought back by speed), then to the higher hit
    rate, then to the lower stale-read rate.
    """
    on = runs[runs["param_workload"] == workload] if "param_workload" in runs else runs[:0]
    if on.empty:
        return Recommendation(
            workload, None, None, 0, 0, f"No runs on the {workload!r} workload: no recommendation."
        )
    best: tuple[Any, ...] | None = None
    for _, run in on.iterrows():
        s = score_run(run.to_dict(), families)
        met = int((s["passed"] == True).sum())  # noqa: E712
        correct = bool((s.loc[s["key"] == "invalidations", "passed"] == True).any())  # noqa: E712
        hit, stale = _num(run, "hit_rate") or 0.0, _num(run, "stale_read_rate") or 0.0
        key = (met, correct, hit, -stale)
        if best is None or key > best[0]:
            failed = [str(t) for t in s.loc[s["passed"] == False, "target"]]  # noqa: E712
            best = (key, run, met, int(s["passed"].notna().sum()), failed)
    assert best is not None
    _, run, met, measured, failed = best
    strategy, ttl = str(run.get("param_strategy")), float(run.get("param_ttl_scale", math.nan))
    hit = 100 * (_num(run, "hit_rate") or 0.0)
    text = (
        f"On the {workload} workload, strategy {strategy!r} with TTL scale {ttl:g} meets "
        f"{met} of {measured} measured targets (hit rate {hit:.1f} %)"
        + (f"; it misses: {', '.join(failed)}." if failed else ".")
    )
    return Recommendation(workload, strategy, ttl, met, measured, text)


def run_scorecard(summary: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`score_run` for one run's summary dict (families taken from the summary)."""
    return score_run(flatten_summary(summary), pd.DataFrame(family_rows(summary)))
