"""Matplotlib figures for the notebooks: one function per chart, data in, ``Figure`` out.

Inputs are the results contract's tables: a run's ``timeseries`` and ``latency`` frames and its
``summary`` dict, or the sweep tables from :func:`evalcache.sweep.collect` (one row per run) and
``evalcache.results.load_families`` (one row per run and query family). Rates are drawn in
percent. Every figure has a title, labelled axes with units and a legend where it has series.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evalcache.metrics.latency import recorded_values
from evalcache.metrics.timeseries import COUNT_COLUMNS
from evalcache.results_schema import StaleCauses, keys

WIDTH = 9.0  # inches: readable at report width (~900 px at 100 dpi)
TIME_COLUMN = "window_start_s"  # the time series' window start (metrics.TIMESERIES_COLUMNS)
OUTCOME_ORDER = ("hit", "miss", "uncached")
SEED_FIRST = ("seed",)


def _figure(height: float = 4.5, ncols: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes if ncols > 1 else axes[0]


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no data: {what}", ha="center", va="center", transform=ax.transAxes)


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


def hit_rate_over_time(ts: pd.DataFrame, warmup_s: float | None = None) -> Figure:
    """Hit rate per time window of one run (families summed), the warm-up shaded."""
    fig, ax = _figure()
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
        ax.plot(time_minutes(ts), 100 * rate.astype(float), label="hit rate", marker=".")
        ax.legend(loc="lower right")
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
    """Database statements per window with the cache, and without it (the baseline run)."""
    fig, ax = _figure()
    _shade_warmup(ax, (summary or {}).get("warmup_s"))
    ts = per_window(ts)
    t = time_minutes(ts)
    if "db_statements" in ts.columns and len(ts):
        ax.plot(t, ts["db_statements"], label="with cache", marker=".")
        if "db_statements_baseline" in ts.columns:
            ax.plot(t, ts["db_statements_baseline"], label="without cache", linestyle="--")
        ax.legend(loc="upper right")
        ax.set_ylim(bottom=0)
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
    by: Sequence[str] = ("param_workload", "param_strategy"),
    model: str | None = None,
    percent: bool = True,
    title: str = "",
) -> Figure:
    """``metric`` against TTL scale, one line per ``by`` group with two or more TTL scales.

    Runs are never averaged across groups (a mean over strategies would draw a curve no
    configuration has); repeated runs of one group and TTL (several seeds) are averaged.
    ``model`` is overlaid dashed in the group's colour.
    """
    fig, ax = _figure()
    k = 100.0 if percent else 1.0
    data = runs.dropna(subset=[metric]) if metric in runs.columns else runs[:0]
    keys = [c for c in by if c in data.columns]
    drawn = False
    if "param_ttl_scale" in data.columns and not data.empty:
        groups = data.groupby(keys) if keys else [((), data)]
        for name, grp in groups:
            g = grp.groupby("param_ttl_scale")
            if g.ngroups < 2:
                continue  # one TTL scale: no curve (the strategies page compares those)
            label = " / ".join(str(n) for n in (name if isinstance(name, tuple) else (name,)))
            mean = g[metric].mean()
            line = ax.plot(mean.index, k * mean, marker="o", label=label)[0]
            drawn = True
            if model and model in grp.columns and grp[model].notna().any():
                pred = g[model].mean()
                ax.plot(
                    pred.index,
                    k * pred,
                    linestyle="--",
                    color=line.get_color(),
                    label=f"{label} (model)",
                )
    if drawn:
        ax.set_xscale("log")
        ax.legend(title=" / ".join(c.removeprefix("param_") for c in keys), fontsize="small")
    else:
        _empty(ax, f"{metric} over two or more TTL scales")
    ax.set(
        title=title or f"{metric} versus TTL scale",
        xlabel="TTL scale (× seed plan TTLs)",
        ylabel=ylabel,
    )
    ax.grid(alpha=0.3, which="both")
    return fig


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats (lower ``x`` and higher ``y``), by ``x``."""
    order = np.lexsort((-y, x))
    best, keep = -np.inf, []
    for i in order:
        if y[i] > best:
            keep.append(i)
            best = y[i]
    return np.asarray(keep, dtype=int)


def tradeoff_frontier(runs: pd.DataFrame) -> Figure:
    """Database load saved versus staleness, per strategy, with the Pareto frontier."""
    fig, ax = _figure()
    need = {"stale_read_rate", "db_reduction"}
    data = runs.dropna(subset=list(need)) if need <= set(runs.columns) else runs[:0]
    if data.empty:
        _empty(ax, "db_reduction and stale_read_rate")
    else:
        by = "param_strategy" if "param_strategy" in data.columns else None
        groups = data.groupby(by) if by else [("runs", data)]
        for name, grp in groups:
            ax.scatter(100 * grp["stale_read_rate"], 100 * grp["db_reduction"], label=str(name))
        x = 100 * data["stale_read_rate"].to_numpy(float)
        y = 100 * data["db_reduction"].to_numpy(float)
        front = pareto_front(x, y)
        ax.plot(x[front], y[front], color="black", linestyle=":", label="frontier")
        ax.legend(fontsize="small")
    ax.set(
        title="Trade-off: database load saved versus staleness",
        xlabel="stale-read rate (% of checked reads)",
        ylabel="fewer DB statements (%)",
    )
    ax.grid(alpha=0.3)
    return fig


def compare_bars(
    runs: pd.DataFrame,
    by: str,
    metrics: Mapping[str, str],
    *,
    title: str,
    percent: Sequence[str] = (),
) -> Figure:
    """One panel per metric (column -> axis label), a bar per ``by`` value (mean over runs)."""
    fig, axes = _figure(height=4.0, ncols=max(2, len(metrics)))
    axes = list(axes)
    names = (
        (
            order_strategies(runs[by].dropna())
            if by == "param_strategy"
            else sorted(runs[by].dropna().astype(str).unique())
        )
        if by in runs
        else []
    )
    for ax, (metric, label) in zip(axes, metrics.items(), strict=False):
        if not names or metric not in runs.columns:
            _empty(ax, metric)
        else:
            mean = runs.assign(_k=runs[by].astype(str)).groupby("_k")[metric].mean()
            vals = [float(mean.get(n, np.nan)) * (100 if metric in percent else 1) for n in names]
            ax.bar(names, vals, label=metric, color=[f"C{i}" for i in range(len(names))])
            ax.tick_params(axis="x", rotation=45)
        ax.set(title=label, xlabel=by.removeprefix("param_"), ylabel=label)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def variant_labels(runs: pd.DataFrame, base: str = "param_strategy") -> pd.Series:
    """A label per run: ``base``'s value plus every other parameter that varies in ``runs``.

    Grouping by it never pools runs that differ in a parameter: ``seed refresh=threshold``
    and ``seed`` stay two bars.
    """
    if runs.empty or base not in runs:
        return pd.Series([], dtype=str)
    params = [c for c in runs.columns if c.startswith("param_") and c != base]
    varying = [c for c in params if runs[c].astype(str).nunique(dropna=False) > 1]
    label = runs[base].astype(str)
    for c in varying:
        label = label + f" {c.removeprefix('param_')}=" + runs[c].astype(str)
    return label


#: Stale-read causes in stacking order (the order the oracle decides them).
CAUSES: tuple[str, ...] = keys(StaleCauses)


def stale_causes_bars(runs: pd.DataFrame, by: str = "param_strategy", *, title: str) -> Figure:
    """Stale reads per 10,000 checked hits, stacked by cause, a bar per ``by`` value.

    Counts are summed over the runs of a bar before dividing (a pooled rate): pass runs that
    differ only in ``by`` (or say on the page which ones are pooled).
    """
    fig, ax = _figure(height=4.5)
    cols = [f"stale_cause_{c}" for c in CAUSES]
    if runs.empty or by not in runs or "stale_checked" not in runs or not set(cols) & set(runs):
        _empty(ax, "stale causes")
        ax.set(title=title)
        return fig
    frame = runs.assign(_k=runs[by].astype(str))
    for c in cols:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").fillna(0) if c in frame else 0.0
    pooled = frame.groupby("_k")[[*cols, "stale_checked"]].sum()
    names = order_strategies(pooled.index) if by == "param_strategy" else sorted(pooled.index)
    pooled = pooled.reindex(names)
    checked = pooled["stale_checked"].replace(0, np.nan)
    bottom = np.zeros(len(names))
    for i, (cause, col) in enumerate(zip(CAUSES, cols, strict=True)):
        vals = (pooled[col] / checked * 1e4).fillna(0).to_numpy(float)
        ax.bar(names, vals, bottom=bottom, label=cause.replace("_", " "), color=f"C{i}")
        bottom += vals
    ax.tick_params(axis="x", rotation=45)
    ax.set(title=title, xlabel=by.removeprefix("param_"), ylabel="stale reads per 10,000 checked")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


def family_heatmap(
    families: pd.DataFrame, by: str, value: str, *, title: str, label: str, percent: bool = True
) -> Figure:
    """A ``by`` x query family grid of ``value`` (mean over runs), annotated."""
    fig, ax = _figure(height=4.5)
    if families.empty or value not in families or by not in families:
        _empty(ax, value)
        ax.set(title=title, xlabel="query family", ylabel=by.removeprefix("param_"))
        return fig
    grid = families.assign(_k=families[by].astype(str)).pivot_table(
        index="_k", columns="family", values=value, aggfunc="mean"
    )
    if by == "param_strategy":
        grid = grid.reindex(order_strategies(grid.index))
    data = grid.to_numpy(float) * (100 if percent else 1)
    im = ax.imshow(data, aspect="auto", cmap="viridis")
    ax.set_xticks(range(grid.shape[1]), list(grid.columns), rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), list(grid.index))
    for (i, j), v in np.ndenumerate(data):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="white", fontsize=7)
    fig.colorbar(im, ax=ax, label=label)
    ax.set(title=title, xlabel="query family", ylabel=by.removeprefix("param_"))
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
    """Display a figure in a notebook as an embedded PNG (no pyplot state involved)."""
    from IPython.display import Image, display

    display(Image(data=figure_png(fig), format="png"))  # type: ignore[no-untyped-call]


def load_curves(table: pd.DataFrame, *, title: str = "") -> Figure:
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
    for i, c in enumerate(found):
        pts, color = c.points, f"C{i}"
        x = pts[AXIS].astype(float)
        lat_ax.plot(x, pts["read_p99_ms"], marker="o", color=color, label=f"{c.label} p99")
        lat_ax.plot(
            x, pts["read_p50_ms"], marker=".", linestyle="--", color=color, label=f"{c.label} p50"
        )
        k = knee(x, pts["read_p99_ms"])
        if k is not None:
            lat_ax.axvline(k, color=color, linestyle=":", label=f"{c.label} knee ({k:g}/s)")
        db_ax.plot(x, pts["db_statements_per_s"], marker="o", color=color, label=c.label)
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
) -> Figure:
    """Database statements per second over time, one line per run (label -> time series).

    Meant for runs that differ in one setting only (``stampede``: none, lease), so the lines
    show what that setting does to the database during the burst (shaded, up to the runs'
    end). ``capacity``: the modelled database's statements per second, drawn dotted.
    """
    fig, ax = _figure()
    _shade_warmup(ax, warmup_s)
    ends = [float(ts[TIME_COLUMN].max()) for ts in series.values() if len(ts) and TIME_COLUMN in ts]
    width = 60.0
    drawn = 0
    for label, ts in series.items():
        ts = per_window(ts)
        if "db_statements" not in ts or len(ts) < 1:
            continue
        starts = ts[TIME_COLUMN].astype(float).to_numpy()
        width = float(np.diff(starts).min()) if len(starts) > 1 else 60.0
        ax.plot(time_minutes(ts), ts["db_statements"] / width, marker="o", label=label)
        drawn += 1
    if burst is not None:
        end = min(burst[1], max(ends) + width) if ends else burst[1]
        ax.axvspan(burst[0] / 60, end / 60, color="C3", alpha=0.12, label="burst")
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

    Pass runs that differ only in ``by`` (:func:`like_for_like`): the ideal cache depends on
    the request stream, so only runs of one stream share a ceiling.
    """
    cols = [c for pair in CEILINGS.items() for c in (pair[0], *pair[1])]
    if runs.empty or by not in runs:
        return pd.DataFrame(columns=cols, dtype=float)
    frame = runs.reindex(columns=[by, *cols]).assign(_k=runs[by].astype(str))
    for c in cols:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    table = frame.groupby("_k")[cols].mean()
    names = order_strategies(table.index) if by == "param_strategy" else sorted(table.index)
    table = table.reindex(names)
    table.index.name = by.removeprefix("param_")
    return table


def like_for_like(runs: pd.DataFrame, vary: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The largest set of runs that agree on every parameter but ``vary``, and the parameters
    that vary among ``runs`` but are fixed in that set (what a caption must state).

    Largest: the most distinct ``vary`` values, then the most runs; ties go to the first
    configuration in sorted order, so the choice is stable.
    """
    if runs.empty or vary not in runs:
        return runs.iloc[0:0], {}
    params = sorted(c for c in runs.columns if c.startswith("param_") and c != vary)
    text = runs[params].map(str)  # astype(str) keeps missing values missing
    keys = text.agg("\x1f".join, axis=1) if params else pd.Series("", index=runs.index)
    sizes = runs.groupby(keys)[vary].agg(lambda v: (v.astype(str).nunique(), len(v)))
    best = max(sorted(sizes.index), key=lambda k: sizes[k])
    group = runs[keys == best]
    varying = [c for c in params if text[c].nunique(dropna=False) > 1]
    return group, {c.removeprefix("param_"): group[c].iloc[0] for c in varying}


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
    for ax, (metric, (ideal, eff)) in zip(axes, CEILINGS.items(), strict=True):
        name = metric.replace("_", " ")
        if table.empty or metric not in table or table[metric].isna().all():
            _empty(ax, metric)
        else:
            x = np.arange(len(labels))
            achieved = 100 * _numbers(table, metric)
            ceiling, ratio = 100 * _numbers(table, ideal), _numbers(table, eff)
            ax.bar(x, np.nan_to_num(achieved), color="C0", label="achieved")
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
            ax.legend(loc="upper right", ncols=2, fontsize="small")  # above 100 %: no bar there
            # a cache can add statements (write-through): a negative reduction stays visible
            low = float(np.nanmin(achieved, initial=0.0))
            ax.set_ylim(low - 5 if low < 0 else 0.0, 118)
        ax.set(title=f"{name}: achieved vs ideal", ylabel=f"{name} (%)")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    return fig
