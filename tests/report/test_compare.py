"""Aggregate charts compare like with like, in one colour per strategy, with readable labels.

The frames are built by hand as :func:`evalcache.sweep.collect` returns them (one row per run,
``param_*`` columns): no servers, no run folders. What a chart draws is read back from its
matplotlib Axes.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from evalcache.domain.families import FAMILIES
from evalcache.report import charts, compare
from evalcache.report.page import PageData, caption_markdown
from evalcache.results_schema import flatten_summary
from evalcache.runner.params import validate_params
from evalcache.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = {"hit_rate": "hit rate (%)", "db_reduction": "fewer DB statements (%)"}


def _run(strategy: str, workload: str, hit: float, **params: Any) -> dict[str, Any]:
    row = {"param_strategy": strategy, "param_workload": workload, "param_ttl_scale": 1.0}
    row |= {"param_rate": 20.0, "param_scale": 0.1, "param_seed": 1}
    row |= {f"param_{k}": v for k, v in params.items()}
    return row | {"hit_rate": hit, "db_reduction": hit - 0.1, "cell": f"{workload}-{strategy}"}


def _facets(fig: Figure) -> dict[str, dict[str, float]]:
    """Per facet (sub-figure title): bar label -> value, from the first panel's Axes."""
    out = {}
    for sub in fig.subfigs:
        ax = sub.axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        out[sub.get_suptitle()] = dict(
            zip(labels, (p.get_width() for p in ax.patches), strict=True)
        )
    return out


def flip_frame() -> pd.DataFrame:
    """A beats B on every workload, but A also ran on the hard workload's long-TTL cells, so a
    mean over the cells each strategy appears in ranks B first."""
    rows = [
        _run("A", "easy", 0.90),
        _run("B", "easy", 0.85),
        _run("A", "hard", 0.30),
        _run("B", "hard", 0.25),
        _run("A", "hard", 0.20, ttl_scale=4.0),
        _run("A", "hard", 0.10, ttl_scale=0.25),
    ]
    return pd.DataFrame(rows)


def test_compare_bars_never_average_a_strategy_over_unlike_cells() -> None:
    runs = flip_frame()
    naive = runs.groupby("param_strategy")["hit_rate"].mean()
    assert naive["A"] < naive["B"]  # what the old page drew: B ranked first
    fig = charts.compare_bars(runs, "strategy", OUTCOMES, title="t", percent=tuple(OUTCOMES))
    facets = _facets(fig)
    # one facet per workload that both ran with everything else equal; A's lone cells: none
    assert facets == {
        "easy · TTL ×1 · 20 req/s · data ×0.1": {"A": pytest.approx(90), "B": pytest.approx(85)},
        "hard · TTL ×1 · 20 req/s · data ×0.1": {"A": pytest.approx(30), "B": pytest.approx(25)},
    }
    assert all(bars["A"] > bars["B"] for bars in facets.values())
    # the frame the chart plots, saved beside the page, holds the same values
    data = fig.data.set_index(["group", "variant"])["hit_rate"]
    assert data.to_dict() == {
        ("easy · TTL ×1 · 20 req/s · data ×0.1", "A"): 0.90,
        ("easy · TTL ×1 · 20 req/s · data ×0.1", "B"): 0.85,
        ("hard · TTL ×1 · 20 req/s · data ×0.1", "A"): 0.30,
        ("hard · TTL ×1 · 20 req/s · data ×0.1", "B"): 0.25,
    }
    assert set(fig.data["runs"]) == {1}


def test_groups_split_on_every_other_parameter_and_name_it() -> None:
    runs = pd.DataFrame(
        [
            _run("A", "mixed", 0.5),
            _run("B", "mixed", 0.6),
            _run("A", "mixed", 0.7, scale=0.02, db_service_ms=100.0),
            _run("B", "mixed", 0.8, scale=0.02, db_service_ms=100.0),
            _run("A", "mixed", 0.1, scale=0.02),  # no B with this service time: no facet
        ]
    )
    runs["param_db_service_ms"] = runs["param_db_service_ms"].fillna(0.5)
    groups = compare.comparable_groups(runs, "strategy")
    assert [g.title for g in groups] == [
        "mixed · TTL ×1 · 20 req/s · data ×0.1 · DB 0.5 ms/statement",
        "mixed · TTL ×1 · 20 req/s · data ×0.02 · DB 100 ms/statement",
    ]
    assert [list(g.runs["hit_rate"]) for g in groups] == [[0.5, 0.6], [0.7, 0.8]]


def test_only_repeats_are_averaged_and_the_facet_says_so() -> None:
    runs = pd.DataFrame(
        [
            _run("A", "mixed", 0.5),
            _run("A", "mixed", 0.7, seed=2),
            _run("B", "mixed", 0.4),
            _run("B", "mixed", 0.9, stale_sample=0.5),  # not a repeat: another setting
        ]
    )
    runs["param_stale_sample"] = runs["param_stale_sample"].fillna(1.0)
    fig = charts.compare_bars(runs, "strategy", {"hit_rate": "%"}, title="t", percent=["hit_rate"])
    (title, bars), *_ = _facets(fig).items()
    assert bars == {"A": pytest.approx(60.0), "B": pytest.approx(40.0)}
    assert "mean over up to 2 runs that differ only in seed" in title
    assert fig.data.loc[fig.data["variant"] == "A", "runs"].item() == 2


def test_strategy_settings_are_bars_of_one_facet_labelled_where_they_matter() -> None:
    hot = {"workload": "profile", "rate": 50.0}
    runs = pd.DataFrame(
        [
            _run("explicit", "profile", 0.5, refresh="none", notify_lag=0.0) | hot,
            _run("seed", "profile", 0.5, refresh="none", notify_lag=0.0),
            _run("seed", "profile", 0.6, refresh="threshold", notify_lag=0.0),
            _run("notify", "profile", 0.7, refresh="none", notify_lag=50.0),
            _run("notify", "profile", 0.8, refresh="none", notify_lag=500.0),
        ]
    )
    (group,) = compare.comparable_groups(runs, "strategy")
    assert group.variants == [
        "seed, refresh none",
        "seed, refresh threshold",
        "explicit",
        "notify, lag 50 ms",
        "notify, lag 500 ms",
    ]


def test_runs_without_a_counterpart_are_labelled_by_every_setting() -> None:
    runs = pd.DataFrame(
        [
            _run("tags", "browse", 0.5, refresh="none", notify_lag=0.0),
            _run("seed", "hot", 0.5, refresh="threshold", notify_lag=0.0),
        ]
    )
    groups = compare.comparable_groups(runs, ("strategy", "ttl_scale"), min_variants=1)
    assert [list(g.run_labels()) for g in groups] == [
        ["browse · 20 req/s · data ×0.1 · tags · TTL ×1"],
        ["hot · 20 req/s · data ×0.1 · seed · refresh threshold · TTL ×1"],
    ]


def test_metric_vs_ttl_draws_one_panel_per_like_group() -> None:
    rows = [
        _run(s, "mixed", h * t / 4, ttl_scale=t)
        for s, h in (("seed", 0.8), ("tags", 0.9))
        for t in (1.0, 4.0)
    ]
    # tags at another rate and data scale (the load cells): its own panel, never averaged in
    rows += [_run("tags", "mixed", 0.1, ttl_scale=t, rate=4.0, scale=0.02) for t in (1.0, 4.0)]
    fig = charts.metric_vs_ttl(pd.DataFrame(rows), "hit_rate", "hit rate (%)")
    panels = {
        ax.get_title(): {ln.get_label(): list(ln.get_ydata()) for ln in ax.lines} for ax in fig.axes
    }
    assert panels == {
        "mixed · 20 req/s · data ×0.1": {
            "seed": pytest.approx([20, 80]),
            "tags": pytest.approx([22.5, 90]),
        },
        "mixed · 4 req/s · data ×0.02": {"tags": pytest.approx([10, 10])},
    }


def test_tradeoff_frontier_is_drawn_per_group() -> None:
    rows = [
        _run("seed", "mixed", 0.5) | {"stale_read_rate": 0.01},
        _run("tags", "mixed", 0.6) | {"stale_read_rate": 0.02},
        _run("seed", "browse", 0.9) | {"stale_read_rate": 0.0},
        _run("tags", "browse", 0.2) | {"stale_read_rate": 0.05},
    ]
    fig = charts.tradeoff_frontier(pd.DataFrame(rows))
    fronts = {
        ax.get_title().split(" · ")[0]: len(
            next(ln for ln in ax.lines if ln.get_label() == "frontier").get_xdata()
        )
        for ax in fig.axes
        if ax.lines
    }
    # one panel per workload: browse's seed beats its tags outright; on mixed neither does
    assert fronts == {"mixed": 2, "browse": 1}


# --- colours --------------------------------------------------------------------------------


def test_a_strategy_has_one_colour_on_every_chart() -> None:
    rows = [
        _run(s, "mixed", 0.5 + 0.1 * t, ttl_scale=t)
        for s in ("seed", "tags", "ttl")
        for t in (1.0, 2.0)
    ]
    runs = pd.DataFrame(rows)
    runs["stale_read_rate"] = 0.01
    bars = charts.compare_bars(
        runs[runs["param_ttl_scale"] == 1.0], "strategy", OUTCOMES, title="t"
    )
    ax = bars.subfigs[0].axes[0]
    bar_colours = {
        t.get_text(): to_hex(p.get_facecolor())
        for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    lines = charts.metric_vs_ttl(runs, "hit_rate", "hit rate (%)").axes[0]
    line_colours = {ln.get_label(): to_hex(ln.get_color()) for ln in lines.lines}
    front = charts.tradeoff_frontier(runs).axes[0]
    dots = {c.get_label().split(",")[0]: to_hex(c.get_facecolor()[0]) for c in front.collections}
    assert (
        bar_colours
        == line_colours
        == {s: charts.strategy_colour(s) for s in ("seed", "tags", "ttl")}
    )
    assert {s: dots[s] for s in bar_colours} == bar_colours
    assert len(set(bar_colours.values())) == 3
    # a strategy registered later still gets the same colour every time
    assert charts.strategy_colour("newcomer") == charts.strategy_colour("newcomer")
    assert charts.strategy_colour("tags", cache=False) == "#000000"


# --- labels never overlap -------------------------------------------------------------------


def default_sweep_runs() -> pd.DataFrame:
    """``sweeps/default.yaml``'s cells as collect returns them (validated parameters), with
    made-up figures: the real spread of parameters and labels, no servers."""
    spec = load_sweep(ROOT / "sweeps" / "default.yaml", root=ROOT)
    rows = []
    for cell in spec.cells:
        params = validate_params(cell.params)
        rng = np.random.default_rng(zlib.crc32(cell.name.encode()))
        row = flatten_summary({"params": params}) | {"cell": cell.name, "folder": cell.name}
        row |= {m: rng.uniform(0.2, 0.95) for m in ("hit_rate", "db_reduction", "model_hit_rate")}
        row |= {"stale_read_rate": rng.uniform(0, 0.05), "stale_checked": 1000}
        row |= {m: rng.uniform(1, 50) for m in ("latency_all_p99_ms", "latency_miss_p99_ms")}
        row |= {"invalidation_time_ms": rng.uniform(0, 9), "keys_removed": rng.integers(0, 999)}
        row |= {f"stale_cause_{c}": rng.integers(0, 9) for c in charts.CAUSES}
        rows.append(row)
    return pd.DataFrame(rows)


def _families(runs: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {"folder": f, "family": n, "hit_rate": i / 10, "stale_read_rate": i / 100}
        for f in runs["folder"]
        for i, n in enumerate(FAMILIES)
    ]
    return charts.attach_params(pd.DataFrame(rows), runs)


def _drawn_labels(axis: Any) -> list[Any]:
    """An axis's major tick labels inside its view (the locator also places ticks beyond)."""
    lo, hi = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_major_ticks() if t.get_loc() is not None]
    return [
        label
        for t in ticks
        if lo <= t.get_loc() <= hi
        for label in (t.label1, t.label2)
        if label.get_visible()
    ]


def overlapping_labels(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of drawn tick labels whose boxes intersect, anywhere in ``fig``."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [
        (t.get_text(), t.get_window_extent(renderer))
        for ax in fig.axes
        if ax.get_visible()
        for axis in (ax.xaxis, ax.yaxis)
        for t in _drawn_labels(axis)
        if t.get_visible() and t.get_text()
    ]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]


def test_overlap_check_finds_crowded_labels() -> None:
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    names = ["write_through", "generation", "explicit", "pattern", "notify"]
    ax.bar(names, [1, 2, 3, 4, 5])  # the old strategies page: names side by side on x
    assert overlapping_labels(fig)


@pytest.fixture(scope="module")
def sweep_runs() -> pd.DataFrame:
    return default_sweep_runs()


CHARTS: dict[str, Any] = {
    "outcomes": lambda r: charts.compare_bars(
        r, "strategy", OUTCOMES, title="t", percent=["hit_rate"]
    ),
    "workloads": lambda r: charts.compare_bars(r, "workload", OUTCOMES, title="t"),
    "causes": lambda r: charts.stale_causes_bars(r[r["param_workload"].eq("profile")], title="t"),
    "heatmap": lambda r: charts.family_heatmap(
        _families(r), "strategy", "hit_rate", title="t", label="%"
    ),
    "ttl": lambda r: charts.metric_vs_ttl(r, "hit_rate", "%", model="model_hit_rate"),
    "tradeoff": charts.tradeoff_frontier,
}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_no_tick_labels_overlap_on_the_aggregate_charts(
    name: str, sweep_runs: pd.DataFrame
) -> None:
    fig = CHARTS[name](sweep_runs)
    assert fig.data.shape[0] > 0
    assert overlapping_labels(fig) == []


def test_titles_name_a_service_model_not_its_numbers(sweep_runs: pd.DataFrame) -> None:
    titles = [g.title for g in compare.comparable_groups(sweep_runs, "strategy")]
    assert any("per-family service times" in t for t in titles)  # the calibrated cells
    assert any("one service time for all families" in t for t in titles)  # the hot writes
    assert not any("{" in t or "user_profile" in t for t in titles)  # no mapping dumped


# --- captions and data files ----------------------------------------------------------------


def test_page_data_writes_csv_and_parquet_and_the_caption_links_them(tmp_path: Path) -> None:
    fig = charts.compare_bars(flip_frame(), "strategy", OUTCOMES, title="t")
    files = PageData(tmp_path, "strategies").save("outcomes", fig.data)
    assert [f.href for f in files] == [
        "data/strategies/outcomes.csv",
        "data/strategies/outcomes.parquet",
    ]
    saved = tmp_path / "_reports"
    assert pd.read_csv(saved / files[0].href)["hit_rate"].tolist() == [0.9, 0.85, 0.3, 0.25]
    assert pd.read_parquet(saved / files[1].href).shape == fig.data.shape
    text = caption_markdown("Hit rate per strategy.", files)
    assert text == (
        "Hit rate per strategy. Data: [CSV](data/strategies/outcomes.csv), "
        "[Parquet](data/strategies/outcomes.parquet)."
    )
    assert PageData(tmp_path, "p").save("nothing", pd.DataFrame()) == []
    assert not (tmp_path / "_reports" / "data" / "p").exists()
    with pytest.raises(ValueError, match="letters, digits"):
        PageData(tmp_path, "p").save("../escape", fig.data)


def test_page_tables_read_as_a_reader_needs() -> None:
    from evalcache.report.page import MISSING, table

    frame = pd.DataFrame(
        {
            "query_family": ["user_profile", "all"],
            "hit_rate": [0.57142, np.nan],
            "reads": [14.0, 820.0],
            "note": ["a < b", None],
        }
    )
    out = table(frame).to_html()
    body = out[out.index("<tbody>") :]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", body)
    # no row index; whole numbers without decimals; missing as a dash; text escaped
    assert "row_heading" not in body
    assert cells == ["user_profile", "0.571", "14", "a &lt; b", "all", MISSING, "820", MISSING]
    # headers wrap between words; text columns are left-aligned, numbers are not
    heads = re.findall(r'<th[^>]*class="col_heading[^"]*"[^>]*>([^<]*)</th>', out)
    assert heads == ["query family", "hit rate", "reads", "note"]
    rule = re.search(r"(#T_\w+_row[^{]*)\{\s*text-align: left", out)
    assert rule is not None and set(re.findall(r"_row\d+_(col\d+)", rule[1])) == {"col0", "col3"}
    # formats per column win; an index that names the rows is kept on request
    shown = table(frame.set_index("query_family"), index=True, formats={"hit_rate": "{:.0%}"})
    html = shown.to_html()
    assert "57%" in html and "row_heading" in html
    assert ">14<" in html and ">820<" in html  # the other columns keep the page's format


def test_row_labels_give_each_run_its_own_row() -> None:
    runs = pd.DataFrame(
        {
            "param_strategy": ["seed", "tags", "tags"],
            "param_seed": [1, 1, 2],
            "param_workload": ["mixed"] * 3,
        }
    )
    (group,) = compare.comparable_groups(runs, "strategy")
    assert list(group.runs["variant"]) == ["seed", "tags", "tags"]  # repeats share a variant
    assert group.row_labels() == ["seed", "tags, seed 1", "tags, seed 2"]
    assert compare.unique_labels(["a", "a"], runs.iloc[:2].assign(param_seed=1)) == [
        "a, seed 1",
        "a, seed 1 (2)",
    ]
