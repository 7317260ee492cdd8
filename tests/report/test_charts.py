"""Chart functions on fixture frames: titles, labels and the plotted data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sweep.fake_runs import FAMILIES, fake_summary, write_fake_run

from evalcache.report import charts


def _labels(ax) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    return ax.get_title(), ax.get_xlabel(), ax.get_ylabel()


def test_hit_rate_over_time_plots_hits_over_reads_in_percent() -> None:
    ts = pd.DataFrame(
        {"window_start_s": [0.0, 60.0, 120.0], "hits": [0, 50, 90], "misses": [100, 50, 10]}
    )
    ax = charts.hit_rate_over_time(ts).axes[0]
    assert _labels(ax) == ("Cache hit rate over time", "simulated time (min)", "hit rate (%)")
    # each window's rate held across its window: the last one ends a window width later
    x, y = ax.lines[0].get_data()
    assert list(x) == [0.0, 1.0, 2.0, 3.0] and list(y) == [0.0, 50.0, 90.0, 90.0]
    assert ax.lines[0].get_drawstyle() == "steps-post"
    assert ax.get_legend() is not None


def test_time_charts_span_the_whole_run_and_its_one_window() -> None:
    # a 60 s run with 60 s windows and a 15 s warm-up: one window, which spans the warm-up and
    # the measured time alike, drawn across the whole run rather than as a point at 0
    ts = pd.DataFrame({"window_start_s": [0.0], "hits": [70], "misses": [30], "db_statements": [9]})
    summary = {"warmup_s": 15.0, "simulated_s": 60.0, "params": {"window_s": 60.0}}
    for fig in (
        charts.hit_rate_over_time(ts, summary=summary),
        charts.db_load_over_time(ts, summary),
    ):
        ax = fig.axes[0]
        assert list(ax.lines[0].get_xdata()) == [0.0, 1.0]
        assert ax.get_xlim() == (0.0, 1.0)
        assert len(ax.patches) == 1  # the warm-up, from the summary
    # a window cut short by the run's end ends there
    short = {"simulated_s": 90.0, "params": {"window_s": 60.0}}
    two = pd.DataFrame({"window_start_s": [0.0, 60.0], "hits": [1, 2], "misses": [1, 2]})
    assert list(charts.hit_rate_over_time(two, summary=short).axes[0].lines[0].get_xdata()) == [
        0.0,
        1.0,
        1.5,
    ]


def test_latency_cdf_has_one_monotone_curve_per_outcome(tmp_path: Path) -> None:
    folder = write_fake_run(tmp_path, {"seed": 2})
    lat = pd.read_parquet(folder / "latency.parquet")
    ax = charts.latency_cdf(lat).axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert [lbl.split(" ")[0] for lbl in labels] == ["hit", "miss", "uncached"]
    for line in ax.lines:
        y = np.asarray(line.get_ydata())
        assert np.all(np.diff(y) >= 0) and y[-1] == pytest.approx(100.0)
    # Unit-matched to the stored p50: the hit curve crosses 50 % near the hit p50 (ms).
    hit = ax.lines[0]
    x, y = np.asarray(hit.get_xdata()), np.asarray(hit.get_ydata())
    p50 = lat[lat.outcome == "hit"]["p50_ms"].iloc[0]
    assert x[np.searchsorted(y, 50.0)] == pytest.approx(p50, rel=0.1)
    assert ax.get_xlabel() == "latency (ms, log scale)"


def test_latency_cdf_falls_back_to_percentiles_without_histograms() -> None:
    lat = pd.DataFrame(
        {
            "family": ["a"],
            "outcome": ["hit"],
            "count": [10],
            "p50_ms": [1.0],
            "p95_ms": [2.0],
            "p99_ms": [3.0],
            "p999_ms": [4.0],
            "max_ms": [5.0],
        }
    )
    line = charts.latency_cdf(lat).axes[0].lines[0]
    assert list(line.get_xdata()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert list(line.get_ydata()) == pytest.approx([50, 95, 99, 99.9, 100])


def test_db_load_shows_cached_and_measured_baseline_series() -> None:
    ts = pd.DataFrame(
        {
            "window_start_s": [0.0, 60.0],
            "requests": [100, 300],
            "db_statements": [40, 20],
            "db_statements_baseline": [90, 310],
        }
    )
    ax = charts.db_load_over_time(ts, {"db_statements": 60, "db_statements_baseline": 400}).axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["with cache", "without cache"]
    assert list(ax.lines[0].get_ydata()) == [40, 20, 20]
    assert list(ax.lines[1].get_ydata()) == [90, 310, 310]
    assert ax.get_ylabel() == "SQL statements per window"


def test_db_load_draws_no_baseline_it_did_not_measure() -> None:
    ts = pd.DataFrame(
        {"window_start_s": [0.0, 60.0], "requests": [100, 300], "db_statements": [40, 20]}
    )
    ax = charts.db_load_over_time(ts, {"db_statements": 60, "db_statements_baseline": 400}).axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["with cache"]


def test_staleness_by_family_bars_are_percentages() -> None:
    fams = charts.families_frame(fake_summary({"strategy": "ttl", "ttl_scale": 2.0}))
    ax = charts.staleness_by_family(fams).axes[0]
    widths = sorted({round(p.get_width(), 6) for p in ax.patches})
    assert widths == [round(100 * 0.004 * 2 * 2, 6)]
    assert len(ax.patches) == len(FAMILIES)  # one bar per query family
    assert ax.get_title() == "Stale reads per query family"


def _runs() -> pd.DataFrame:
    rows = []
    for strategy, stale in (("tags", 0.01), ("seed", 0.08)):
        for ttl, hit in ((0.5, 0.6), (1.0, 0.7), (4.0, 0.9)):
            rows.append(
                {
                    "param_strategy": strategy,
                    "param_workload": "mixed",
                    "param_ttl_scale": ttl,
                    "hit_rate": hit,
                    "model_hit_rate": hit + 0.01,
                    "db_reduction": hit - 0.1,
                    "stale_read_rate": stale * ttl,
                }
            )
    return pd.DataFrame(rows)


def test_metric_vs_ttl_overlays_the_model() -> None:
    ax = charts.metric_vs_ttl(_runs(), "hit_rate", "hit rate (%)", model="model_hit_rate").axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    # one panel (the runs differ only in strategy and TTL), titled with what it holds fixed
    assert labels == ["seed", "seed (model)", "tags", "tags (model)"]
    assert ax.get_title() == "mixed"
    assert list(ax.lines[0].get_ydata()) == pytest.approx([60, 70, 90])
    assert list(ax.lines[1].get_ydata()) == pytest.approx([61, 71, 91])


def test_metric_vs_ttl_never_averages_across_strategies() -> None:
    runs = _runs()
    runs.loc[runs["param_strategy"] == "tags", "hit_rate"] = 1.0
    ax = charts.metric_vs_ttl(runs, "hit_rate", "hit rate (%)").axes[0]
    ys = {ln.get_label(): list(ln.get_ydata()) for ln in ax.lines}
    assert ys == {"seed": pytest.approx([60, 70, 90]), "tags": [100, 100, 100]}
    single = runs[runs["param_ttl_scale"] == 1.0]
    empty = charts.metric_vs_ttl(single, "hit_rate", "hit rate (%)").axes[0]
    assert not empty.lines and "two or more TTL scales" in empty.texts[0].get_text()
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "TTL scale (× seed plan TTLs)"


def test_pareto_front_and_frontier_chart() -> None:
    x = np.array([1.0, 2.0, 3.0, 0.5])
    y = np.array([50.0, 40.0, 80.0, 10.0])
    assert list(charts.pareto_front(x, y)) == [3, 0, 2]
    ax = charts.tradeoff_frontier(_runs()).axes[0]
    frontier = next(ln for ln in ax.lines if ln.get_label() == "frontier")
    assert np.all(np.diff(frontier.get_xdata()) >= 0)
    assert np.all(np.diff(frontier.get_ydata()) > 0)
    assert ax.get_xlabel() == "stale-read rate (% of checked reads)"


def test_compare_bars_put_the_seed_strategy_first_in_one_row_per_ttl_scale() -> None:
    fig = charts.compare_bars(
        _runs(), "strategy", {"hit_rate": "hit rate (%)"}, title="t", percent=("hit_rate",)
    )
    # the runs differ in TTL scale too: one row of panels per TTL scale, never a mean over them
    assert [sub.get_suptitle() for sub in fig.subfigs] == [
        f"mixed · TTL ×{t}" for t in ("0.5", "1", "4")
    ]
    for sub, hit in zip(fig.subfigs, (60, 70, 90), strict=True):
        ax = sub.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["seed", "tags"]
        assert [p.get_width() for p in ax.patches] == pytest.approx([hit, hit])
        assert ax.get_xlabel() == "hit rate (%)"
    assert fig.get_suptitle() == "t"
    empty = charts.compare_bars(_runs().iloc[:1], "strategy", {"hit_rate": "%"}, title="e")
    assert "differ only in strategy" in empty.axes[0].texts[0].get_text()


def test_family_heatmap_and_empty_data() -> None:
    fams = pd.DataFrame(
        {
            "param_strategy": ["tags", "seed", "tags"],
            "family": ["a", "a", "b"],
            "hit_rate": [0.5, 0.25, 1.0],
        }
    )
    fig = charts.family_heatmap(fams, "param_strategy", "hit_rate", title="h", label="%")
    data = fig.axes[0].images[0].get_array()
    assert data[0, 0] == 25.0 and data[1, 1] == 100.0  # seed row first
    empty = charts.metric_vs_ttl(pd.DataFrame(), "hit_rate", "hit rate (%)").axes[0]
    assert "no data" in empty.texts[0].get_text()
    assert charts.figure_data_uri(fig).startswith("data:image/png;base64,iVBOR")


def test_per_family_time_series_are_summed_per_window() -> None:
    ts = pd.DataFrame(
        {
            "window_start_s": [0.0, 0.0, 60.0, 60.0],
            "family": ["a", "b", "a", "b"],
            "hits": [10, 30, 40, 40],
            "misses": [30, 30, 0, 20],
            "db_statements": [5, 6, 7, 8],
        }
    )
    ax = charts.hit_rate_over_time(ts).axes[0]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([40.0, 80.0, 80.0])
    db = charts.db_load_over_time(ts).axes[0]
    assert list(db.lines[0].get_ydata()) == [11, 15, 15]


def test_time_charts_shade_the_warm_up() -> None:
    ts = pd.DataFrame(
        {"window_start_s": [0.0, 60.0, 120.0], "hits": [10, 50, 90], "misses": [90, 50, 10]}
    )
    ts["db_statements"] = ts["misses"]
    for fig in (
        charts.hit_rate_over_time(ts, warmup_s=90.0),
        charts.db_load_over_time(ts, {"warmup_s": 90.0}),
    ):
        ax = fig.axes[0]
        (span,) = ax.patches
        # Rectangle or Polygon (matplotlib < 3.9): its corners, back in data coordinates
        corners = span.get_transform().transform(span.get_path().vertices)
        xs = ax.transData.inverted().transform(corners)[:, 0]
        assert (xs.min(), xs.max()) == pytest.approx((0.0, 1.5))  # minutes
        assert span.get_label() == "warm-up (not counted)"
    assert not charts.hit_rate_over_time(ts).axes[0].patches


def test_stale_causes_bars_pool_counts_and_stack_by_cause() -> None:
    runs = pd.DataFrame(
        {
            "param_strategy": ["tags", "seed", "seed"],
            "param_seed": [1, 1, 2],  # two seeds of one configuration: pooled
            "stale_checked": [1000, 1000, 3000],
            "stale_cause_fill_race": [0, 2, 6],
            "stale_cause_missed_invalidation": [1, 0, 4],
        }
    )
    fig = charts.stale_causes_bars(runs, title="causes")
    (ax,) = fig.subfigs[0].axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["seed", "tags"]
    assert "pooled over up to 2 runs" in fig.subfigs[0].get_suptitle()
    # 6 causes x 2 bars, in cause order: seed then tags for each cause
    w = [p.get_width() for p in ax.patches]
    x = [p.get_x() for p in ax.patches]
    # pooled: seed 8 fill races in 4000 checked = 20 per 10k, then 4 missed = 10 per 10k on top
    assert w[0:2] == pytest.approx([20.0, 0.0])
    assert w[10:12] == pytest.approx([10.0, 10.0]) and x[10:12] == pytest.approx([20.0, 0.0])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "fill race" and legend[-1] == "missed invalidation"
    assert fig.data.set_index("variant")["per_10k_fill_race"].to_dict() == {
        "seed": pytest.approx(20.0),
        "tags": 0.0,
    }
    empty = charts.stale_causes_bars(pd.DataFrame(), title="e").axes[0]
    assert "no data" in empty.texts[0].get_text()


def test_a_chart_with_nothing_to_draw_is_one_line_of_text_not_blank_axes() -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()  # a display publisher, as in a kernel
    metrics = {"hit_rate": "hit rate (%)"}
    empty = charts.compare_bars(
        pd.DataFrame({"param_strategy": []}), "strategy", metrics, title="T"
    )
    assert not empty.drawn and empty.heading == "T"
    with capture_output() as cap:
        charts.show(empty)
    (out,) = cap.outputs
    assert "image/png" not in out.data
    assert out.data["text/html"] == (
        "<p class='not-drawn'><em>Not drawn: T.</em> "
        "No data: two or more runs that differ only in strategy.</p>"
    )
    runs = pd.DataFrame({"param_strategy": ["seed", "tags"], "hit_rate": [0.5, 0.6]})
    drawn = charts.compare_bars(runs, "strategy", metrics, title="T")
    assert drawn.drawn
    with capture_output() as cap:
        charts.show(drawn)
    assert "image/png" in cap.outputs[0].data
