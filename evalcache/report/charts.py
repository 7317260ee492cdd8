"""Matplotlib figures for the notebooks: one function per chart, data in, ``Figure`` out.

Inputs are the results contract's tables: a run's ``timeseries`` and ``latency`` frames and its
``summary`` dict, or the sweep tables from :func:`evalcache.sweep.collect` (one row per run) and
``evalcache.results.load_families`` (one row per run and query family). Rates are drawn in
percent. Every figure has a title, labelled axes with units and a legend where it has series.

Charts that compare strategies, TTL scales or workloads draw one facet per group of runs that
differ only in what is compared (:func:`comparable_groups`, titled with what the group holds
fixed): never a mean over unlike cells. A strategy has one colour on every chart
(:func:`strategy_colour`); names sit on horizontal bars' y axes, where they cannot collide.
Those charts return a :class:`ChartFigure`, whose ``data`` is the tidy frame drawn, which the
notebooks save beside the page (:class:`PageData`) and link from the chart's :func:`caption`.
"""

from __future__ import annotations

import base64
import html
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullFormatter

from evalcache.metrics.latency import recorded_values
from evalcache.metrics.timeseries import COUNT_COLUMNS
from evalcache.report.compare import TITLE_WIDTH, name_groups, tidy, value_key
from evalcache.report.compare import comparable_groups as comparable_groups
from evalcache.report.page import PageData as PageData
from evalcache.report.page import caption as caption
from evalcache.report.page import prose as prose
from evalcache.report.page import table as table
from evalcache.report.style import CACHE_OFF_COLOUR, CAUSE_COLOURS, LINESTYLES, MARKERS
from evalcache.report.style import STRATEGY_COLOURS as STRATEGY_COLOURS
from evalcache.report.style import strategy_colour as strategy_colour
from evalcache.results_schema import StaleCauses, keys

WIDTH = 9.0  # inches: readable at report width (~900 px at 100 dpi)
TIME_COLUMN = "window_start_s"  # the time series' window start (metrics.TIMESERIES_COLUMNS)
OUTCOME_ORDER = ("hit", "miss", "uncached")
SEED_FIRST = ("seed",)
TTL = "param_ttl_scale"
TTL_LABEL = "TTL scale (× seed plan TTLs)"
STALE_LABEL = "stale-read rate (% of checked reads)"
BAR_IN = 0.3  # inches per bar (per line of its label) in the horizontal bar charts
LABEL_WRAP = 24  # characters per line of a bar's label
BURST_COLOUR = "#f3e3b3"  # a flash crowd's burst window: no strategy's colour


class ChartFigure(Figure):
    """A figure and the tidy frame it draws (``data``), which a page saves beside it.

    ``missing`` names what each panel found no data for (:func:`_empty`); a figure whose every
    panel is empty is shown by :func:`show` as one line of text, not as blank axes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data = pd.DataFrame()
        self.missing: list[str] = []

    @property
    def drawn(self) -> bool:
        """False when every visible panel only says it has no data."""
        panels = [ax for ax in self.get_axes() if ax.get_visible()]
        return not self.missing or len(self.missing) < len(panels)

    @property
    def heading(self) -> str:
        """The figure's title, else its first panel's."""
        title = self.get_suptitle()
        if not title and self.get_axes():
            title = self.get_axes()[0].get_title()
        return " ".join(title.split())


def _figure(height: float = 4.5, ncols: int = 1) -> tuple[ChartFigure, Any]:
    fig = ChartFigure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes if ncols > 1 else axes[0]


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no data: {what}", ha="center", va="center", transform=ax.transAxes)
    fig = ax.get_figure(root=True)
    if isinstance(fig, ChartFigure):
        fig.missing.append(what)


def time_minutes(ts: pd.DataFrame) -> pd.Series:
    """The time series' window start in simulated minutes."""
    return ts[TIME_COLUMN].astype(float) / 60.0


def order_strategies(names: Sequence[Any]) -> list[Any]:
    """Sorted names with the seed plan's own strategy first, so its gaps are visible."""
    uniq = sorted({str(n) for n in names})
    return [n for n in SEED_FIRST if n in uniq] + [n for n in uniq if n not in SEED_FIRST]


def per_window(ts: pd.DataFrame) -> pd.DataFrame:
    """Sum a per-(window, family) time series to one row per window (counts only)."""
    if "family" not in ts.columns or ts.empty:
        return ts
    counts = [c for c in (*COUNT_COLUMNS, "db_statements_baseline") if c in ts.columns]
    return ts.groupby(TIME_COLUMN, as_index=False)[counts].sum()


def _shade_warmup(ax: Any, warmup_s: float | None) -> None:
    """The warm-up windows are replayed (they fill the cache) but the summary leaves them out."""
    if warmup_s:
        ax.axvspan(0, warmup_s / 60, color="0.88", zorder=0, label="warm-up (not counted)")


def _windows(
    ts: pd.DataFrame, summary: Mapping[str, Any] | None
) -> tuple[np.ndarray, float | None]:
    """Window starts (minutes) and where the last window ends: the run's end, or one window
    width past its start (``params.window_s``, else the spacing of the starts)."""
    x = time_minutes(ts).to_numpy(float) if len(ts) else np.array([])
    summary = summary or {}
    width = (summary.get("params") or {}).get("window_s")
    starts = np.unique(x)
    if not width and len(starts) > 1:
        width = 60.0 * float(np.diff(starts).min())
    if not len(x) or not width:
        return x, None
    end = float(x.max()) + float(width) / 60
    if summary.get("simulated_s"):
        end = min(end, float(summary["simulated_s"]) / 60)
    return x, end


def _steps(ax: Any, x: np.ndarray, end: float | None, y: Any, **style: Any) -> None:
    """``y`` per window held across its window (a window's figure is not a point in time)."""
    y = np.asarray(y, dtype=float)
    if end is not None and len(x):
        x, y = np.append(x, end), np.append(y, y[-1])
    ax.plot(x, y, drawstyle="steps-post", **style)


def hit_rate_over_time(
    ts: pd.DataFrame, warmup_s: float | None = None, *, summary: Mapping[str, Any] | None = None
) -> Figure:
    """Hit rate per time window of one run (families summed), the warm-up shaded.

    With the run's ``summary``, each window's rate spans its window up to the run's end (its
    ``warmup_s`` is shaded unless ``warmup_s`` is given).
    """
    fig, ax = _figure()
    if warmup_s is None and summary:
        warmup_s = summary.get("warmup_s")
    _shade_warmup(ax, warmup_s)
    ts = per_window(ts)
    if len(ts) and {"hits", "misses"} <= set(ts.columns):
        total = (ts["hits"] + ts["misses"]).replace(0, np.nan)
        rate = ts["hits"] / total
    elif "hit_rate" in ts.columns:
        rate = ts["hit_rate"]
    else:
        rate = pd.Series(dtype=float)
    if len(rate):
        x, end = _windows(ts, summary)
        _steps(ax, x, end, 100 * rate.astype(float), label="hit rate")
        ax.legend(loc="lower right")
        ax.set_xlim(0, end if end is not None else None)
    else:
        _empty(ax, "hits/misses per window")
    ax.set(
        title="Cache hit rate over time",
        xlabel="simulated time (min)",
        ylabel="hit rate (%)",
        ylim=(0, 100),
    )
    ax.grid(alpha=0.3)
    return fig


def _hdr_values(encoded: str, p50_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Values (ms) and counts from an encoded HdrHistogram, unit-matched to the stored p50."""
    from hdrh.histogram import HdrHistogram

    hist = HdrHistogram.decode(encoded.encode() if isinstance(encoded, str) else encoded)
    vals, counts = recorded_values(hist)
    raw_p50 = float(hist.get_value_at_percentile(50.0)) or 1.0
    # The histogram's unit (ns, µs) is the runner's business; the stored p50 is in ms.
    scale = p50_ms / raw_p50 if p50_ms and p50_ms > 0 else 1e-3
    return vals * scale, counts


def latency_cdf(latency: pd.DataFrame) -> Figure:
    """Latency CDF per outcome (hit, miss, uncached), all query families merged."""
    fig, ax = _figure()
    drawn = 0
    for outcome in OUTCOME_ORDER:
        rows = latency[latency["outcome"] == outcome] if "outcome" in latency else latency[:0]
        if rows.empty:
            continue
        if "hdr" in rows.columns and rows["hdr"].notna().all():
            parts = [
                _hdr_values(h, float(p)) for h, p in zip(rows["hdr"], rows["p50_ms"], strict=True)
            ]
            vals = np.concatenate([v for v, _ in parts])
            counts = np.concatenate([c for _, c in parts])
            order = np.argsort(vals)
            x, y = vals[order], np.cumsum(counts[order]) / counts.sum()
        else:  # no histogram: the stored percentiles, weighted by count
            qs = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99, "p999_ms": 0.999, "max_ms": 1.0}
            w = rows["count"] / rows["count"].sum()
            x = np.array([float((rows[c] * w).sum()) for c in qs if c in rows])
            y = np.array([q for c, q in qs.items() if c in rows])
        ax.step(x, 100 * y, where="post", label=f"{outcome} (n={int(rows['count'].sum())})")
        drawn += 1
    if drawn:
        ax.set_xscale("log")
        ax.legend(loc="lower right")
    else:
        _empty(ax, "latency histograms")
    ax.set(
        title="Latency distribution by outcome",
        xlabel="latency (ms, log scale)",
        ylabel="requests at or below (%)",
        ylim=(0, 100),
    )
    ax.grid(alpha=0.3, which="both")
    return fig


def db_load_over_time(ts: pd.DataFrame, summary: Mapping[str, Any] | None = None) -> Figure:
    """Database statements per window with the cache, and without it (the baseline run),
    each window's count held across its window (see :func:`hit_rate_over_time`)."""
    fig, ax = _figure()
    _shade_warmup(ax, (summary or {}).get("warmup_s"))
    ts = per_window(ts)
    if "db_statements" in ts.columns and len(ts):
        x, end = _windows(ts, summary)
        _steps(ax, x, end, ts["db_statements"], label="with cache")
        if "db_statements_baseline" in ts.columns:
            _steps(ax, x, end, ts["db_statements_baseline"], label="without cache", ls="--")
        ax.legend(loc="upper right")
        # room above the highest line for the legend, which would otherwise hide it
        top = np.nanmax(ts[[c for c in ("db_statements", "db_statements_baseline") if c in ts]])
        ax.set_ylim(0, 1.35 * float(top) if top > 0 else None)
        ax.set_xlim(0, end if end is not None else None)
    else:
        _empty(ax, "database statements per window")
    ax.set(
        title="Database load over time",
        xlabel="simulated time (min)",
        ylabel="SQL statements per window",
    )
    ax.grid(alpha=0.3)
    return fig


def families_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """A summary's ``families`` dict as a frame indexed by family."""
    return pd.DataFrame.from_dict(dict(summary.get("families") or {}), orient="index")


def service_times_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """An overlap run's service times: the model's mean beside the real ones, per label
    (family, ``write:<op>``, ``other``, ``all``) and kind (``db`` statement, ``redis`` call).

    Empty for runs without a service model (serial or live runs).
    """
    cols = ["label", "kind", "model_mean_ms", "count", "mean_ms", "p50_ms", "p99_ms"]
    times = summary.get("service_times") or {}
    model = times.get("model") or {}
    fams = model.get("families") or {}
    rows = []
    for label, kinds in (times.get("real") or {}).items():
        for kind, st in kinds.items():
            mean = model.get("redis_ms") if kind == "redis" else fams.get(label, model.get("db_ms"))
            rows.append([label, kind, mean, st["count"], st["mean_ms"], st["p50_ms"], st["p99_ms"]])
    return pd.DataFrame(rows, columns=cols).set_index(["label", "kind"]).sort_index()


def staleness_by_family(families: pd.DataFrame) -> Figure:
    """Stale-read rate among checked cached reads, per query family (index = family)."""
    fig, ax = _figure()
    if len(families) and "stale_read_rate" in families.columns:
        data = 100 * families["stale_read_rate"].astype(float).fillna(0).sort_index()
        ax.barh(data.index.astype(str), data.to_numpy(), label="stale reads")
        ax.legend(loc="lower right")
    else:
        _empty(ax, "staleness per family")
    ax.set(
        title="Stale reads per query family",
        xlabel="stale-read rate (% of checked reads)",
        ylabel="query family",
    )
    ax.grid(alpha=0.3, axis="x")
    return fig


def metric_vs_ttl(
    runs: pd.DataFrame,
    metric: str,
    ylabel: str,
    *,
    vary: str | Sequence[str] = "strategy",
    model: str | None = None,
    percent: bool = True,
    title: str = "",
) -> ChartFigure:
    """``metric`` against TTL scale: one panel per group of runs that differ only in ``vary``
    and TTL scale (:func:`comparable_groups`), one line per ``vary`` value with two or more
    TTL scales.

    Runs are never averaged across lines or panels (a mean over strategies, or over workloads,
    rates or data scales, would draw a curve no configuration has); repeats (runs that differ
    only in seed) are averaged and the panel says so. ``model`` is overlaid dotted in the
    line's colour. ``data``: the drawn points (:func:`evalcache.report.compare.tidy`).
    """
    k = 100.0 if percent else 1.0
    data = runs.dropna(subset=[metric]) if metric in runs.columns else runs[:0]
    wanted = [metric, *([model] if model and model in data.columns else [])]
    panels = []
    for g in comparable_groups(data, vary, axis=TTL, min_variants=1):
        tab = g.table(wanted, TTL)
        lines = [v for v, pts in tab.groupby("variant", sort=False) if pts[TTL].nunique() >= 2]
        if lines:  # one TTL scale is no curve (the strategies page compares those)
            panels.append((g, tab[tab["variant"].isin(lines)]))
    panels = list(zip(name_groups([g for g, _ in panels]), [t for _, t in panels], strict=True))
    if not panels:
        fig, ax = _figure()
        _empty(ax, f"{ylabel.split(' (')[0]} at two or more TTL scales of one configuration")
        ax.set(title=title or f"{metric} versus TTL scale", xlabel=TTL_LABEL, ylabel=ylabel)
        return fig
    ncols = 1 if len(panels) == 1 else 2
    nrows = -(-len(panels) // ncols)
    fig = ChartFigure(figsize=(WIDTH, 4.2 * nrows + 0.4), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    for ax, (g, tab) in zip(axes, panels, strict=False):
        used: dict[str, int] = {}
        for variant, pts in tab.groupby("variant", sort=False):
            colour = strategy_colour(pts["strategy"].iloc[0], pts["cache"].iloc[0])
            n = used[colour] = used.get(colour, -1) + 1
            x = pts[TTL].astype(float)
            ax.plot(
                x,
                k * pts[metric],
                marker=MARKERS[n % len(MARKERS)],
                color=colour,
                linestyle=LINESTYLES[n % len(LINESTYLES)],
                label=str(variant),
            )
            if len(wanted) > 1 and pts[wanted[1]].notna().any():
                ax.plot(
                    x, k * pts[wanted[1]], linestyle=":", color=colour, label=f"{variant} (model)"
                )
        _log_ticks(ax, tab[TTL].astype(float))
        ax.legend(fontsize="small")
        ax.set(xlabel=TTL_LABEL, ylabel=ylabel)
        ax.set_title(g.heading(TITLE_WIDTH // ncols), fontsize="small")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title or f"{metric} versus TTL scale", fontweight="bold")
    fig.data = pd.concat([tab for _, tab in panels], ignore_index=True)
    return fig


def _log_ticks(ax: Any, values: pd.Series) -> None:
    """A log axis ticked at the values drawn: matplotlib's minor labels overlap on an axis
    spanning less than a decade (``3×10⁻¹ 4×10⁻¹ ...``)."""
    ax.set_xscale("log")
    ticks = sorted(set(values.dropna()))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats (lower ``x`` and higher ``y``), by ``x``."""
    order = np.lexsort((-y, x))
    best, keep = -np.inf, []
    for i in order:
        if y[i] > best:
            keep.append(i)
            best = y[i]
    return np.asarray(keep, dtype=int)


def tradeoff_frontier(
    runs: pd.DataFrame, vary: Sequence[str] = ("strategy", "ttl_scale")
) -> ChartFigure:
    """Database load saved versus staleness, a point per configuration (strategy and TTL
    scale), with the Pareto frontier: one panel per group of runs that differ only in ``vary``.

    A frontier across unlike runs (another workload, rate or data scale) would promise what no
    configuration delivers, so each panel's frontier is drawn over its own points only.
    """
    need = ["stale_read_rate", "db_reduction"]
    data = runs.dropna(subset=need) if set(need) <= set(runs.columns) else runs[:0]
    groups = comparable_groups(data, vary)
    title = "Trade-off: database load saved versus staleness"
    if not groups:
        fig, ax = _figure()
        _empty(ax, "db_reduction and stale_read_rate of two or more configurations")
        ax.set(title=title, xlabel=STALE_LABEL, ylabel="fewer DB statements (%)")
        return fig
    fig = ChartFigure(figsize=(WIDTH, 4.8 * len(groups) + 0.4), layout="constrained")
    axes = list(fig.subplots(len(groups), 1, squeeze=False).flat)
    tables = []
    for ax, g in zip(axes, groups, strict=True):
        tab = g.table(need)
        tables.append(tab)
        # colour: the strategy; marker: the TTL scale (the same marker means the same TTL)
        ttl = g.runs.groupby("variant")[TTL].first() if TTL in g.runs else pd.Series()
        rank = {value_key(v): i for i, v in enumerate(sorted(set(ttl.dropna())))}
        for _, row in tab.iterrows():
            colour = strategy_colour(row["strategy"], row["cache"])
            n = rank.get(value_key(ttl.get(row["variant"])), 0)
            ax.scatter(
                100 * row["stale_read_rate"],
                100 * row["db_reduction"],
                color=colour,
                marker=MARKERS[n % len(MARKERS)],
                label=str(row["variant"]),
                zorder=3,
            )
        x = 100 * tab["stale_read_rate"].to_numpy(float)
        y = 100 * tab["db_reduction"].to_numpy(float)
        front = pareto_front(x, y)
        ax.plot(x[front], y[front], color="black", linestyle=":", label="frontier")
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.set(xlabel=STALE_LABEL, ylabel="fewer DB statements (%)")
        ax.set_title(g.heading(TITLE_WIDTH - 20), fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontweight="bold")
    fig.data = pd.concat(tables, ignore_index=True)
    return fig


def _wrap(label: str, width: int = LABEL_WRAP) -> str:
    return textwrap.fill(str(label), width, break_on_hyphens=False) or str(label)


def _lines(labels: Sequence[str]) -> int:
    return sum(lbl.count("\n") + 1 for lbl in labels)


def _facet_figure(heights: Sequence[float], title: str) -> tuple[ChartFigure, list[Any]]:
    """A figure of stacked sub-figures (one per like-for-like group), ``heights`` in inches."""
    fig = ChartFigure(figsize=(WIDTH, sum(heights) + 0.5), layout="constrained")
    subs = fig.subfigures(len(heights), 1, height_ratios=list(heights), squeeze=False)[:, 0]
    fig.suptitle(title, fontweight="bold")
    return fig, list(subs)


def _no_groups(what: str, title: str) -> ChartFigure:
    fig, ax = _figure(height=2.5)
    _empty(ax, what)
    ax.set_title(title)
    return fig


def _vary_text(vary: str | Sequence[str]) -> str:
    # as the caller names it ("strategy", its own settings included), not as param_* columns
    names = [vary] if isinstance(vary, str) else list(vary)
    return " and ".join(n.removeprefix("param_").replace("_", " ") for n in names)


def _colour_ticks(ax: Any, tab: pd.DataFrame) -> None:
    """Tick labels in their strategy's colour (the bars may be coloured by something else)."""
    for tick, (_, row) in zip(ax.get_yticklabels(), tab.iterrows(), strict=False):
        tick.set_color(strategy_colour(row["strategy"], row["cache"]))


def _value_text(v: float, percent: bool) -> str:
    if np.isnan(v):
        return "n/a"
    if percent:
        return f"{v:.1f}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"  # 2,000 rather than 2e+03


def _set_xlim(ax: Any, vals: np.ndarray) -> None:
    # room on the right for the value labels; 0 on the left unless a value is negative
    finite = vals[np.isfinite(vals)]
    lo = min(0.0, float(finite.min())) if finite.size else 0.0
    hi = max(0.0, float(finite.max())) if finite.size else 1.0
    span = (hi - lo) or 1.0
    ax.set_xlim(lo - (0.15 * span if lo < 0 else 0.0), hi + 0.22 * span)


def compare_bars(
    runs: pd.DataFrame,
    vary: str | Sequence[str],
    metrics: Mapping[str, str],
    *,
    title: str,
    percent: Sequence[str] = (),
) -> ChartFigure:
    """Horizontal bars, one row of panels per group of runs that differ only in ``vary``.

    ``vary`` is ``"strategy"``, ``"workload"`` (with their own settings) or parameter names
    (:func:`evalcache.report.compare.comparable_groups`). Each row is titled with what its
    group holds fixed; a panel per metric (column -> axis label), a bar per ``vary`` value in
    its strategy's colour. Only repeats (runs differing only in seed) are averaged, and the
    row says so. ``data``: the drawn values (rates as fractions), one row per bar.
    """
    groups = comparable_groups(runs, vary)
    if not groups:
        return _no_groups(f"two or more runs that differ only in {_vary_text(vary)}", title)
    labels = [[_wrap(v) for v in g.variants] for g in groups]
    heights = [
        BAR_IN * _lines(lbl) + 1.2 + 0.18 * g.heading().count("\n")
        for g, lbl in zip(groups, labels, strict=True)
    ]
    fig, subs = _facet_figure(heights, title)
    for sub, g, lbl in zip(subs, groups, labels, strict=True):
        tab = g.table(list(metrics))
        axes = sub.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
        y = np.arange(len(tab))
        colours = [
            strategy_colour(s, c) for s, c in zip(tab["strategy"], tab["cache"], strict=True)
        ]
        for ax, (metric, label) in zip(axes, metrics.items(), strict=True):
            vals = tab[metric].to_numpy(float) * (100 if metric in percent else 1)
            bars = ax.barh(y, np.nan_to_num(vals), color=colours, height=0.7)
            texts = [_value_text(v, metric in percent) for v in vals]
            ax.bar_label(bars, labels=texts, fontsize=7, padding=2)
            _set_xlim(ax, vals)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            if np.isnan(vals).all():  # not measured in this group: no scale to read
                ax.set_xticks([])
            ax.set_xlabel(label)
            ax.grid(alpha=0.3, axis="x")
        axes[0].set_yticks(y, lbl)
        axes[0].invert_yaxis()
        sub.suptitle(g.heading(), fontsize="medium")
    fig.data = tidy(groups, list(metrics))
    return fig


#: Stale-read causes in stacking order (the order the oracle decides them).
CAUSES: tuple[str, ...] = keys(StaleCauses)


def stale_causes_bars(
    runs: pd.DataFrame, vary: str | Sequence[str] = "strategy", *, title: str
) -> ChartFigure:
    """Stale reads per 10,000 checked hits, stacked by cause: a horizontal bar per ``vary``
    value, one panel per group of runs that differ only in ``vary``.

    Counts of repeats (runs that differ only in seed) are summed before dividing (a pooled
    rate), and the panel says so; nothing else is pooled.
    """
    cols = [f"stale_cause_{c}" for c in CAUSES]
    usable = "stale_checked" in runs and bool(set(cols) & set(runs))
    groups = comparable_groups(runs, vary) if usable else []
    if not groups:
        return _no_groups("stale causes of two or more comparable runs", title)
    labels = [[_wrap(v) for v in g.variants] for g in groups]
    heights = [BAR_IN * _lines(lbl) + 1.4 for lbl in labels]
    fig, subs = _facet_figure(heights, title)
    tables = []
    for sub, g, lbl in zip(subs, groups, labels, strict=True):
        frame = g.runs.copy()
        for c in [*cols, "stale_checked"]:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").fillna(0) if c in frame else 0.0
        pooled = frame.groupby("variant")[[*cols, "stale_checked"]].sum().reindex(g.variants)
        checked = pooled["stale_checked"].replace(0, np.nan)
        ax = sub.subplots()
        y = np.arange(len(pooled))
        left = np.zeros(len(pooled))
        tab = g.table(["stale_checked"])
        for cause, col, colour in zip(CAUSES, cols, CAUSE_COLOURS, strict=False):
            vals = (pooled[col] / checked * 1e4).fillna(0).to_numpy(float)
            ax.barh(y, vals, left=left, label=cause.replace("_", " "), color=colour, height=0.7)
            tab[f"per_10k_{cause}"] = vals
            left += vals
        ax.set_yticks(y, lbl)
        _colour_ticks(ax, tab)
        ax.invert_yaxis()
        ax.set_xlabel("stale reads per 10,000 checked")
        ax.set_xlim(0, (left.max() or 1.0) * 1.05)
        ax.grid(alpha=0.3, axis="x")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        sub.suptitle(g.heading(how="pooled"), fontsize="medium")
        tables.append(tab)
    fig.data = pd.concat(tables, ignore_index=True)
    return fig


def _run_ids(frame: pd.DataFrame) -> pd.Series:
    # a per-family table: one run is its folder (or, without one, its parameters)
    if "folder" in frame:
        return frame["folder"].astype(str)
    return frame[[c for c in frame if c.startswith("param_")]].map(value_key).agg("|".join, axis=1)


def family_heatmap(
    families: pd.DataFrame,
    vary: str | Sequence[str],
    value: str,
    *,
    title: str,
    label: str,
    percent: bool = True,
) -> ChartFigure:
    """A ``vary`` x query family grid of ``value``, one grid per group of runs that differ only
    in ``vary`` (repeats averaged, and said so), on one colour scale, annotated.

    ``families``: one row per run and family with the run's ``param_*`` columns
    (:func:`attach_params`).
    """
    ok = not families.empty and value in families and "family" in families
    fams = families.assign(_run=_run_ids(families)) if ok else families
    runs = fams.drop_duplicates("_run") if ok else fams[:0]
    groups = comparable_groups(runs, vary)
    if not groups:
        return _no_groups(
            f"{value} of two or more runs that differ only in {_vary_text(vary)}", title
        )
    grids = []
    for g in groups:
        mine = fams[fams["_run"].isin(g.runs["_run"])].merge(g.runs[["_run", "variant"]], on="_run")
        grid = mine.pivot_table(index="variant", columns="family", values=value, aggfunc="mean")
        grids.append(grid.reindex(g.variants))
    k = 100.0 if percent else 1.0
    finite = k * np.concatenate([gr.to_numpy(float).ravel() for gr in grids])
    finite = finite[np.isfinite(finite)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    heights = [BAR_IN * len(gr) + 2.2 for gr in grids]
    fig, subs = _facet_figure(heights, title)
    tables = []
    for sub, g, grid in zip(subs, groups, grids, strict=True):
        ax = sub.subplots()
        data = k * grid.to_numpy(float)
        im = ax.imshow(data, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_xticks(range(grid.shape[1]), list(grid.columns), rotation=90)
        tab = g.table([])
        ax.set_yticks(range(grid.shape[0]), [_wrap(v) for v in grid.index])
        _colour_ticks(ax, tab)
        for (i, j), v in np.ndenumerate(data):
            if not np.isnan(v):  # dark text on viridis' bright end
                bright = (v - vmin) / ((vmax - vmin) or 1.0) > 0.6
                colour = "black" if bright else "white"
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", color=colour, fontsize=7)
        sub.colorbar(im, ax=ax, label=label)
        ax.set_xlabel("query family")
        sub.suptitle(g.heading(), fontsize="medium")
        long = grid.reset_index().melt(id_vars="variant", var_name="family", value_name=value)
        tables.append(tab.drop(columns=["group"]).merge(long, on="variant").assign(group=g.title))
    fig.data = pd.concat(tables, ignore_index=True)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (for tests and for embedding)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def figure_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(figure_png(fig)).decode()


def attach_params(families: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add the runs' ``param_*`` (and ``cell``) columns to a per-family table, by ``folder``.

    Only families of ``runs`` are kept (a sweep's collect leaves out runs of stale cells).
    """
    if families.empty or "folder" not in families or "folder" not in runs:
        return families
    extra = [
        c
        for c in runs.columns
        if (c.startswith("param_") or c == "cell") and c not in families.columns
    ]
    return families.merge(runs[["folder", *extra]], on="folder", how="inner")


def show(fig: Figure) -> None:
    """Display a figure in a notebook as an embedded PNG (no pyplot state involved).

    A chart with nothing to draw (every panel empty) is one line saying so, not blank axes
    whose 0-1 scales a reader could take for measurements.
    """
    from IPython.display import HTML, Image, display

    if isinstance(fig, ChartFigure) and not fig.drawn:
        what = html.escape("; ".join(dict.fromkeys(fig.missing)))
        text = f"<em>Not drawn: {html.escape(fig.heading)}.</em> No data: {what}."
        display(HTML(f"<p class='not-drawn'>{text}</p>"))  # type: ignore[no-untyped-call]
        return
    display(Image(data=figure_png(fig), format="png"))  # type: ignore[no-untyped-call]


def load_curves(table: pd.DataFrame, *, title: str = "") -> ChartFigure:
    """Read latency and database load against offered rate, one colour per like-run curve.

    ``table`` is :func:`evalcache.report.load.load_table`'s (one row per run). Curves come from
    :func:`evalcache.report.load.curves`: runs are grouped by every parameter except ``rate``
    and never averaged across groups. Left: p99 (solid) and p50 (dashed) read latency, log
    scale, each curve's p99 knee marked; right: database statements per second with the
    modelled database's capacity (``db_pool`` / ``db_service_ms``) where the curves share one.
    """
    from evalcache.report.load import AXIS, curves, db_capacity, knee

    fig, (lat_ax, db_ax) = _figure(height=4.5, ncols=2)
    found = curves(table, metrics=("read_p50_ms", "read_p99_ms", "db_statements_per_s"))
    used: dict[str, int] = {}
    for c in found:
        pts = c.points
        color = strategy_colour(c.fixed.get("param_strategy"), c.fixed.get("param_cache", True))
        n = used[color] = used.get(color, -1) + 1  # curves of one strategy: one marker each
        mark = MARKERS[n % len(MARKERS)]
        x = pts[AXIS].astype(float)
        lat_ax.plot(x, pts["read_p99_ms"], marker=mark, color=color, label=f"{c.label} p99")
        lat_ax.plot(
            x, pts["read_p50_ms"], marker=".", linestyle="--", color=color, label=f"{c.label} p50"
        )
        k = knee(x, pts["read_p99_ms"])
        if k is not None:
            lat_ax.axvline(k, color=color, linestyle=":", label=f"{c.label} knee ({k:g}/s)")
        db_ax.plot(x, pts["db_statements_per_s"], marker=mark, color=color, label=c.label)
    fig.data = (
        pd.concat([c.points.assign(curve=c.label) for c in found], ignore_index=True)
        if found
        else pd.DataFrame()
    )
    caps = {db_capacity(c.fixed) for c in found}
    if len(caps) == 1 and (cap := caps.pop()) is not None:
        db_ax.axhline(cap, color="black", linestyle=":", label=f"database capacity ({cap:g}/s)")
    if found:
        lat_ax.set_yscale("log")
        lat_ax.legend(fontsize="x-small")
        db_ax.legend(fontsize="x-small")
        db_ax.set_ylim(bottom=0)
    else:
        _empty(lat_ax, "two or more rates of one configuration")
        _empty(db_ax, "two or more rates of one configuration")
    lat_ax.set(
        title="Read latency", xlabel="offered rate (requests/s)", ylabel="latency (ms, log scale)"
    )
    db_ax.set(
        title="Database load",
        xlabel="offered rate (requests/s)",
        ylabel="SQL statements per second",
    )
    for ax in (lat_ax, db_ax):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(title or "Offered load: latency and database load, with and without the cache")
    return fig


def burst_db_load(
    series: Mapping[str, pd.DataFrame],
    burst: tuple[float, float] | None,
    *,
    warmup_s: float | None = None,
    capacity: float | None = None,
    title: str = "",
    strategy: str | None = None,
) -> ChartFigure:
    """Database statements per second over time, one line per run (label -> time series).

    Meant for runs that differ in one setting only (``stampede``: none, lease), so the lines
    show what that setting does to the database during the burst (shaded, up to the runs'
    end). ``capacity``: the modelled database's statements per second, drawn dotted. The lines
    share ``strategy``'s colour (black without one) and differ in line style and marker.
    """
    fig, ax = _figure()
    _shade_warmup(ax, warmup_s)
    ends = [float(ts[TIME_COLUMN].max()) for ts in series.values() if len(ts) and TIME_COLUMN in ts]
    width = 60.0
    drawn = 0
    colour = strategy_colour(strategy) if strategy else CACHE_OFF_COLOUR
    rows: list[pd.DataFrame] = []
    for label, ts in series.items():
        ts = per_window(ts)
        if "db_statements" not in ts or len(ts) < 1:
            continue
        starts = ts[TIME_COLUMN].astype(float).to_numpy()
        width = float(np.diff(starts).min()) if len(starts) > 1 else 60.0
        per_s = ts["db_statements"] / width
        ax.plot(
            time_minutes(ts),
            per_s,
            color=colour,
            linestyle=LINESTYLES[drawn % len(LINESTYLES)],
            marker=MARKERS[drawn % len(MARKERS)],
            label=label,
        )
        rows.append(
            pd.DataFrame({"run": label, TIME_COLUMN: ts[TIME_COLUMN], "db_statements_per_s": per_s})
        )
        drawn += 1
    if burst is not None:
        end = min(burst[1], max(ends) + width) if ends else burst[1]
        ax.axvspan(burst[0] / 60, end / 60, color=BURST_COLOUR, alpha=0.5, label="burst")
    if capacity is not None:
        ax.axhline(
            capacity, color="black", linestyle=":", label=f"database capacity ({capacity:g}/s)"
        )
    if drawn:
        ax.legend(loc="upper left")
        ax.set_ylim(bottom=0)
    else:
        _empty(ax, "database statements per window")
    ax.set(
        title=title or "Database load during the flash crowd",
        xlabel="simulated time (min)",
        ylabel="SQL statements per second",
    )
    ax.grid(alpha=0.3)
    fig.data = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return fig


# -- ceilings: the ideal cache of a run's stream, speedups and bytes per family ----------------

#: Achieved figure -> its ideal-cache ceiling and the efficiency (achieved / ideal).
CEILINGS: dict[str, tuple[str, str]] = {
    "hit_rate": ("ideal_hit_rate", "hit_efficiency"),
    "db_reduction": ("ideal_db_reduction", "db_efficiency"),
}
#: The per-family ceiling table's columns (summary keys of ``families.<family>``).
FAMILY_CEILING_COLUMNS: tuple[str, ...] = (
    "reads",
    "hit_rate",
    "ideal_hit_rate",
    "hit_efficiency",
    "db_reduction",
    "ideal_db_reduction",
    "db_efficiency",
    "hit_p50_ms",
    "uncached_p50_ms",
    "speedup_p50",
    "hit_p99_ms",
    "uncached_p99_ms",
    "speedup_p99",
    "entries",
    "bytes_per_entry",
    "footprint_bytes",
)


def family_ceilings(summary: Mapping[str, Any]) -> pd.DataFrame:
    """One run's families against the ideal cache: hit rate and database reduction, achieved,
    ideal and efficiency; hit against uncached latency (p50, p99) and the speedup; bytes per
    entry and footprint. Index: family, then ``all`` (the run's figures; its latency cells are
    empty, since a mix of families' hits against a mix of uncached reads compares unlike).
    Columns missing from an older summary are empty.
    """
    fams = families_frame(summary).reindex(columns=list(FAMILY_CEILING_COLUMNS)).sort_index()
    total: dict[str, Any] = {k: summary.get(k) for k in ("reads", *CEILINGS)}
    for ideal, eff in CEILINGS.values():
        total[ideal], total[eff] = summary.get(ideal), summary.get(eff)
    entries = pd.to_numeric(fams["entries"], errors="coerce")
    if entries.notna().any():
        total["entries"] = entries.sum()
        total["footprint_bytes"] = pd.to_numeric(fams["footprint_bytes"], errors="coerce").sum()
    rows = pd.concat([fams, pd.DataFrame([total], index=["all"])])
    return rows.reindex(columns=list(FAMILY_CEILING_COLUMNS)).astype(float)


def ceilings_by(runs: pd.DataFrame, by: str = "param_strategy") -> pd.DataFrame:
    """Achieved, ideal and efficiency of hit rate and database reduction, one row per ``by``
    value (mean over its runs), in :func:`order_strategies` order for strategies.

    Pass runs that differ only in ``by`` (a group of :func:`comparable_groups`): the ideal
    cache depends on the request stream, so only runs of one stream share a ceiling.
    """
    cols = [c for pair in CEILINGS.items() for c in (pair[0], *pair[1])]
    if runs.empty or by not in runs:
        return pd.DataFrame(columns=cols, dtype=float)
    frame = runs.reindex(columns=[by, *cols]).assign(_k=runs[by].astype(str))
    for c in cols:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    table = frame.groupby("_k")[cols].mean()
    if by != "param_strategy" and "param_strategy" in runs:
        # each bar in its strategy's colour (achieved_vs_ideal), whatever labels it
        table["strategy"] = runs.assign(_k=frame["_k"]).groupby("_k")["param_strategy"].first()
    names = order_strategies(table.index) if by == "param_strategy" else sorted(table.index)
    table = table.reindex(names)
    table.index.name = by.removeprefix("param_")
    return table


def _numbers(table: pd.DataFrame, column: str) -> np.ndarray:
    """A column as floats (NaN where missing or not a number)."""
    if column not in table:
        return np.full(len(table), np.nan)
    return np.asarray(pd.to_numeric(table[column], errors="coerce"), dtype=np.float64)


def achieved_vs_ideal(table: pd.DataFrame, *, title: str) -> Figure:
    """Hit rate and database reduction: a bar per row of ``table`` (achieved), a black tick at
    the ideal cache's figure, the efficiency written above the bar.

    ``table`` has the columns of :data:`CEILINGS` (from :func:`family_ceilings` or
    :func:`ceilings_by`); its index labels the bars.
    """
    fig, axes = _figure(height=4.5, ncols=2)
    labels = [str(i) for i in table.index]
    # strategies in their colour on every page; other bars (query families) in one colour
    strategies = (
        list(table["strategy"])
        if "strategy" in table
        else labels
        if table.index.name == "strategy"
        else None
    )
    colours = [strategy_colour(n) for n in strategies] if strategies else "C0"
    for ax, (metric, (ideal, eff)) in zip(axes, CEILINGS.items(), strict=True):
        name = metric.replace("_", " ")
        if table.empty or metric not in table or table[metric].isna().all():
            _empty(ax, metric)
        else:
            x = np.arange(len(labels))
            achieved = 100 * _numbers(table, metric)
            ceiling, ratio = 100 * _numbers(table, ideal), _numbers(table, eff)
            ax.bar(x, np.nan_to_num(achieved), color=colours, label="achieved")
            ax.scatter(x, ceiling, marker="_", s=400, color="black", zorder=3, label="ideal")
            # the efficiency above the bar and its ideal tick, whichever is higher
            tops = np.fmax(np.nan_to_num(achieved), ceiling)
            for xi, top, r in zip(x, tops, ratio, strict=True):
                if not np.isnan(r):
                    ax.annotate(
                        f"{r:.2f}",
                        (xi, max(top, 0.0)),
                        xytext=(0, 2),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
            ax.set_xticks(x, labels, rotation=45, ha="right")
            ax.set_yticks(np.arange(0, 101, 20))
            handles, names = ax.get_legend_handles_labels()
            if strategies:  # bars of several colours: a neutral swatch, not the first one's
                handles = [
                    Patch(facecolor="0.6") if n == "achieved" else h
                    for h, n in zip(handles, names, strict=True)
                ]
            # above 100 %: no bar there
            ax.legend(handles, names, loc="upper right", ncols=2, fontsize="small")
            # a cache can add statements (write-through): a negative reduction stays visible
            low = float(np.nanmin(achieved, initial=0.0))
            ax.set_ylim(low - 5 if low < 0 else 0.0, 118)
        ax.set(title=f"{name}: achieved vs ideal", ylabel=f"{name} (%)")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    return fig
