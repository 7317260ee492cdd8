"""Ceiling tables and the achieved-vs-ideal chart on hand-made summaries and run tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalcache.report import charts


def _family(reads: int, hit_rate: float, ideal: float, **more: float | None) -> dict:
    return {
        "reads": reads,
        "hit_rate": hit_rate,
        "ideal_hit_rate": ideal,
        "hit_efficiency": hit_rate / ideal,
        **more,
    }


SUMMARY = {
    "reads": 300,
    "hit_rate": 0.6,
    "ideal_hit_rate": 0.8,
    "hit_efficiency": 0.75,
    "db_reduction": 0.5,
    "ideal_db_reduction": 0.7,
    "db_efficiency": 0.5 / 0.7,
    "families": {
        "user_profile": _family(
            200,
            0.7,
            0.875,
            hit_p50_ms=0.05,
            uncached_p50_ms=1.0,
            speedup_p50=20.0,
            entries=40,
            bytes_per_entry=600.0,
            footprint_bytes=30_000,
        ),
        "expert_basic": _family(100, 0.4, 0.8, entries=10, footprint_bytes=12_000),
        "user_profiles_batch": _family(5, 0.2, 0.4, entries=None, footprint_bytes=None),
    },
}


def test_family_ceilings_lists_each_family_then_the_run() -> None:
    table = charts.family_ceilings(SUMMARY)
    assert list(table.index) == ["expert_basic", "user_profile", "user_profiles_batch", "all"]
    assert list(table.columns) == list(charts.FAMILY_CEILING_COLUMNS)
    profile = table.loc["user_profile"]
    assert (profile["hit_rate"], profile["ideal_hit_rate"]) == (0.7, 0.875)
    assert profile["hit_efficiency"] == pytest.approx(0.8)
    assert profile["speedup_p50"] == 20.0 and profile["bytes_per_entry"] == 600.0
    assert np.isnan(table.loc["expert_basic", "speedup_p99"])  # not in this summary: empty
    run = table.loc["all"]
    assert (run["reads"], run["hit_rate"], run["ideal_db_reduction"]) == (300, 0.6, 0.7)
    # the run's entries and bytes are its families' (the batch family owns none)
    assert (run["entries"], run["footprint_bytes"]) == (50, 42_000)
    assert np.isnan(run["speedup_p50"])


def _runs() -> pd.DataFrame:
    rows = []
    for strategy, hit, db in (("tags", 0.6, 0.5), ("seed", 0.7, 0.4), ("ttl", 0.8, 0.6)):
        for ttl_scale in (1.0, 4.0):
            rows.append(
                {
                    "param_strategy": strategy,
                    "param_ttl_scale": ttl_scale,
                    "param_workload": "mixed",
                    "param_skew": None,  # the workload's own: missing in every run
                    "hit_rate": hit * ttl_scale,
                    "ideal_hit_rate": 0.9,
                    "hit_efficiency": hit * ttl_scale / 0.9,
                    "db_reduction": db,
                    "ideal_db_reduction": 0.8,
                    "db_efficiency": db / 0.8,
                }
            )
    # another workload's stream, one strategy only: never compared with the others
    rows.append({**rows[0], "param_workload": "browse", "ideal_hit_rate": 0.5})
    return pd.DataFrame(rows)


def test_ceilings_compare_runs_of_one_stream_only() -> None:
    # one group per TTL scale; the browse run (another stream, one strategy) in none
    groups = charts.comparable_groups(_runs(), "strategy")
    assert [g.title for g in groups] == ["mixed · TTL ×1", "mixed · TTL ×4"]
    assert [sorted(g.runs["param_strategy"]) for g in groups] == [["seed", "tags", "ttl"]] * 2


def _group() -> pd.DataFrame:
    return charts.comparable_groups(_runs(), "strategy")[0].runs


def test_ceilings_by_strategy_puts_the_seed_plan_first() -> None:
    group = _group()
    table = charts.ceilings_by(group)
    assert list(table.index) == ["seed", "tags", "ttl"]
    assert table.loc["tags", "hit_rate"] == 0.6 and table.loc["tags", "ideal_hit_rate"] == 0.9
    assert table.loc["ttl", "db_efficiency"] == pytest.approx(0.75)
    assert list(table.columns) == [
        "hit_rate",
        "ideal_hit_rate",
        "hit_efficiency",
        "db_reduction",
        "ideal_db_reduction",
        "db_efficiency",
    ]


def test_achieved_vs_ideal_draws_bars_ideal_ticks_and_efficiencies() -> None:
    group = _group()
    fig = charts.achieved_vs_ideal(charts.ceilings_by(group), title="per strategy")
    hit_ax, db_ax = fig.axes[:2]
    assert fig.get_suptitle() == "per strategy"
    assert hit_ax.get_title() == "hit rate: achieved vs ideal"
    assert db_ax.get_ylabel() == "db reduction (%)"
    heights = [p.get_height() for p in hit_ax.patches]
    assert heights == pytest.approx([70.0, 60.0, 80.0])  # seed, tags, ttl
    ticks = hit_ax.collections[0].get_offsets()
    assert list(np.asarray(ticks)[:, 1]) == pytest.approx([90.0, 90.0, 90.0])
    assert [t.get_text() for t in hit_ax.texts] == ["0.78", "0.67", "0.89"]
    assert [t.get_text() for t in hit_ax.get_xticklabels()] == ["seed", "tags", "ttl"]


def test_achieved_vs_ideal_without_ceilings_says_so() -> None:
    fig = charts.achieved_vs_ideal(pd.DataFrame({"hit_rate": [np.nan]}), title="none")
    assert "no data" in fig.axes[0].texts[0].get_text()
    assert "no data" in fig.axes[1].texts[0].get_text()


def test_achieved_vs_ideal_bars_take_their_strategy_colour() -> None:
    from matplotlib.colors import to_rgba

    group = charts.comparable_groups(_runs(), "strategy")[0].runs
    table = charts.ceilings_by(group, "variant")  # labelled by variant, as the page does
    assert list(table["strategy"]) == ["seed", "tags", "ttl"]
    hit_ax = charts.achieved_vs_ideal(table, title="t").axes[0]
    colours = [p.get_facecolor() for p in hit_ax.patches]
    assert colours == [to_rgba(charts.strategy_colour(s)) for s in ("seed", "tags", "ttl")]
    # query families are no strategies: one colour
    families = table.drop(columns="strategy").rename_axis("family")
    fam_ax = charts.achieved_vs_ideal(families, title="t").axes[0]
    assert len({p.get_facecolor() for p in fam_ax.patches}) == 1
