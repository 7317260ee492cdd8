"""The seed plan's targets: pass/fail logic on hand-built numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sweep.fake_runs import FAMILIES, fake_summary, write_fake_run

from evalcache.errors import ConfigError
from evalcache.metrics import wilson_upper
from evalcache.report import charts, scorecard
from evalcache.results import load_families, load_runs
from evalcache.results_schema import unknown_keys


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "run_id": "r1",
        "latency_hit_p99_ms": 12.0,
        "latency_hit_p50_ms": 0.1,
        "latency_uncached_p50_ms": 1.0,
        "hit_rate": 0.8,
        "frequent_hit_rate": 0.9,
        "frequent_keys": 50,
        "keys_read": 400,
        "db_reduction": 0.92,
        "stale_checked": 1000,
        "stale_reads": 10,
        "stale_read_rate": 0.01,
        "stale_read_rate_upper95": wilson_upper(10, 1000),
        "refreshes_tried": 100,
        "refreshes_succeeded": 99,
        "requests": 10_000,
        "error_rate": 0.001,
        "cache_errors": 20,
        "redis_used_memory_bytes": 1_500_000,
        "redis_keys": 900,
        "invalidation_accuracy_writes_with_dependents": 500,
        "invalidation_accuracy_fully_invalidated_share": 0.99,
        "param_workload": "mixed",
        "param_strategy": "tags",
        "param_ttl_scale": 1.0,
        "param_refresh": "none",
    }
    row.update(over)
    return row


#: The plan's optimizer: the only runs the refresh target applies to.
OPTIMIZER = {"param_strategy": "seed", "param_refresh": "threshold"}

FAMS = pd.DataFrame(
    {
        "run_id": ["r1", "r1", "r1"],
        "family": ["dashboard_admin", "dashboard_user", "user_profile"],
        "reads": [10, 10, 10],
        "p99_ms": [400.0, 900.0, 5000.0],
        "hit_p99_ms": [300.0, 800.0, 2.0],
        "hit_p50_ms": [0.2, 0.1, 0.05],
        "uncached_p50_ms": [4.0, 0.5, 0.5],
    }
)


def _passed(row: dict[str, object], fams: pd.DataFrame = FAMS) -> dict[str, object]:
    s = scorecard.score_run(row, fams)
    return dict(zip(s["key"], s["passed"], strict=True))


def _shown(row: dict[str, object], key: str, fams: pd.DataFrame = FAMS) -> str:
    return str(scorecard.score_run(row, fams).set_index("key").loc[key, "shown"])


def test_the_targets_are_the_plans_in_its_order() -> None:
    assert [t.key for t in scorecard.TARGETS] == [
        "cached_query",
        "hit_rate",
        "db_reduction",
        "db_reduction_90",
        "dashboard",
        "faster_reads",
        "memory",
        "invalidations",
        "refreshes",
        "request_errors",
        "cache_errors",
    ]


def test_all_judged_targets_pass_on_good_numbers() -> None:
    p = _passed(_row(**OPTIMIZER))
    assert p.pop("memory") is None  # the plan names no number: reported, never judged
    assert set(p.values()) == {True}


def test_each_target_fails_just_past_its_threshold() -> None:
    assert _passed(_row(latency_hit_p99_ms=50.0))["cached_query"] is False
    assert _passed(_row(frequent_hit_rate=0.85))["hit_rate"] is False
    assert _passed(_row(db_reduction=0.599))["db_reduction"] is False
    assert _passed(_row(db_reduction=0.95))["db_reduction"] is True  # more than 80 % is better
    p = _passed(_row(db_reduction=0.899))
    assert p["db_reduction_90"] is False and p["db_reduction"] is True
    share = "invalidation_accuracy_fully_invalidated_share"
    assert _passed(_row(**{share: 0.95}))["invalidations"] is False  # 95 % is not > 95 %
    assert _passed(_row(**{share: 0.951}))["invalidations"] is True
    assert _passed(_row(**OPTIMIZER, refreshes_succeeded=98))["refreshes"] is False
    assert _passed(_row(error_rate=0.005))["request_errors"] is False
    assert _passed(_row(cache_errors=50))["cache_errors"] is False  # 50 / 10,000 = 0.5 %
    assert _passed(_row(latency_hit_p50_ms=0.21))["faster_reads"] is False  # 79 % faster
    assert _passed(_row(latency_hit_p50_ms=0.2))["faster_reads"] is True  # 80 % faster
    slow = FAMS.assign(hit_p99_ms=[400.0, 1000.0, 1.0])
    assert _passed(_row(), slow)["dashboard"] is False  # the worst dashboard family counts


def test_dashboard_and_cached_query_time_cache_hits_only() -> None:
    # Misses included, the dashboards' p99 is 1.5 s and would fail "< 1 s cached"; their hits'
    # p99 is 35 ms: the plan's "for cached data" passes.
    fams = pd.DataFrame(
        {
            "run_id": ["r1", "r1"],
            "family": ["dashboard_admin", "dashboard_expert"],
            "reads": [100, 100],
            "p99_ms": [1500.0, 700.0],
            "hit_p99_ms": [35.0, 20.0],
        }
    )
    s = scorecard.score_run(_row(latency_all_p99_ms=1500.0), fams).set_index("key")
    assert s.loc["dashboard", "measured"] == 35.0 and s.loc["dashboard", "passed"] is True
    assert s.loc["cached_query", "measured"] == 12.0  # latency_hit_p99_ms, not latency_all
    # Without hit latencies (a summary from before they existed) nothing is judged.
    assert _passed(_row(), fams.drop(columns="hit_p99_ms"))["dashboard"] is None


def test_hit_rate_target_is_the_frequently_accessed_keys_hit_rate() -> None:
    # All reads hit 80 %: the overall rate would fail; the frequently accessed keys hit 90 %.
    p = _passed(_row(hit_rate=0.8, frequent_hit_rate=0.9))
    assert p["hit_rate"] is True
    assert _shown(_row(), "hit_rate") == "90.0 % (50 of 400 keys; all reads 80.0 %)"
    assert _passed(_row(hit_rate=0.99, frequent_hit_rate=0.8))["hit_rate"] is False
    assert _passed(_row(frequent_hit_rate=None))["hit_rate"] is None  # an older summary
    assert _shown(_row(frequent_hit_rate=None), "hit_rate") == "n/a (all reads 80.0 %)"
    how = scorecard.score_run(_row()).set_index("key").loc["hit_rate", "how"]
    assert "80 %" in how and "most-read keys" in how  # the definition is stated


def test_faster_reads_compares_hits_with_the_cache_off_baseline() -> None:
    s = scorecard.score_run(_row(), FAMS).set_index("key")
    assert s.loc["faster_reads", "measured"] == pytest.approx(0.9)  # 1 - 0.1 / 1.0
    # per family: admin 1 - 0.2/4 = 95 %, user 80 %, profile 90 %
    assert s.loc["faster_reads", "shown"] == (
        "90.0 % (hit p50 0.1 ms vs cache-off 1 ms; families 80 to 95 %)"
    )
    per = scorecard.read_speedups(FAMS).set_index("family")["faster"]
    assert per.to_dict() == pytest.approx(
        {"dashboard_admin": 0.95, "dashboard_user": 0.8, "user_profile": 0.9}
    )
    assert _passed(_row(latency_uncached_p50_ms=None))["faster_reads"] is None  # no baseline


def test_refresh_target_applies_to_the_plans_optimizer_only() -> None:
    assert _passed(_row(**OPTIMIZER))["refreshes"] is True
    # the cache's own refresh-ahead on another strategy is not the plan's optimizer
    assert _passed(_row(param_refresh="threshold"))["refreshes"] is None
    assert _passed(_row(param_strategy="seed"))["refreshes"] is None  # refresh off
    assert _shown(_row(), "refreshes") == "n/a (not the plan's optimizer)"
    assert _shown(_row(**OPTIMIZER), "refreshes") == "99.0 % of 100"


def test_memory_is_reported_not_judged() -> None:
    s = scorecard.score_run(_row()).set_index("key").loc["memory"]
    assert s["passed"] is None and s["measured"] == 1_500_000
    assert s["shown"] == "1.5 MB in 900 keys (not judged)"


def test_invalidations_are_judged_per_write_not_per_read() -> None:
    # Reads all correct (most hit keys nobody wrote) do not pass a strategy whose writes leave
    # stale entries behind; and the reads view is still shown.
    share = "invalidation_accuracy_fully_invalidated_share"
    lazy = scorecard.score_run(_row(stale_read_rate=0.0, **{share: 0.4})).set_index("key")
    assert lazy.loc["invalidations", "passed"] is False
    assert lazy.loc["invalidations", "measured"] == 0.4
    shown = lazy.loc["invalidations", "shown"]
    assert shown.startswith("40.0 % of 500 writes fully invalidated; reads: 100.0 % (")
    # Without the per-write check (an older summary, stale_sample 0) the target is n/a.
    old = scorecard.score_run(_row(**{share: None})).set_index("key").loc["invalidations"]
    assert old["passed"] is None
    assert old["shown"] == "n/a; reads: 99.0 % (≥ 98.3 % at 95 % confidence: 1.7 nines)"


def test_unmeasured_targets_are_not_applicable() -> None:
    p = _passed(
        _row(
            refreshes_tried=0,
            stale_checked=0,
            db_reduction=None,
            invalidation_accuracy_fully_invalidated_share=None,
        ),
        FAMS[2:],
    )
    assert p["refreshes"] is None and p["invalidations"] is None
    assert p["db_reduction"] is None and p["dashboard"] is None
    assert p["db_reduction_90"] is None
    s = scorecard.score_run(_row(**OPTIMIZER, refreshes_tried=0))
    assert s.set_index("key").loc["refreshes", "shown"] == "n/a"


def test_request_and_cache_errors_are_judged_apart() -> None:
    ok = _passed(_row(error_rate=0.0049, cache_errors=49))
    assert ok["request_errors"] is True and ok["cache_errors"] is True
    assert _shown(_row(error_rate=0.0049, cache_errors=49), "cache_errors") == "0.5 %"
    cache_bad = _passed(_row(error_rate=0.0, cache_errors=600))
    assert cache_bad["cache_errors"] is False and cache_bad["request_errors"] is True
    request_bad = _passed(_row(error_rate=0.02, cache_errors=0))
    assert request_bad["request_errors"] is False and request_bad["cache_errors"] is True
    # A summary without cache_errors (written before it existed): that target is n/a only.
    older = _passed(_row(cache_errors=None))
    assert older["cache_errors"] is None and older["request_errors"] is True
    assert _passed(_row(requests=0, error_rate=None))["request_errors"] is None


def test_correctness_states_its_lower_bound_in_nines() -> None:
    def shown(**over: object) -> str:
        text = scorecard.score_run(_row(**over)).set_index("key").loc["invalidations", "shown"]
        writes, reads = str(text).split("; reads: ")
        assert writes == "99.0 % of 500 writes fully invalidated"
        return reads

    # 0 stale of 1000 checked: the point estimate says 100 %, the data only ≥ 99.73 %.
    none_stale = {"stale_reads": 0, "stale_read_rate": 0.0}
    bound = wilson_upper(0, 1000)
    assert shown(**none_stale, stale_read_rate_upper95=bound) == (
        "100.0 % (≥ 99.73 % at 95 % confidence: 2.5 nines)"
    )
    assert shown() == "99.0 % (≥ 98.3 % at 95 % confidence: 1.7 nines)"  # 10 of 1000
    million = wilson_upper(0, 1_000_000)
    assert shown(**none_stale, stale_read_rate_upper95=million) == (
        "100.0 % (≥ 99.99972 % at 95 % confidence: 5.5 nines)"
    )
    assert shown(stale_read_rate_upper95=None) == "99.0 %"  # an older summary: no bound
    assert shown(stale_checked=0) == "n/a"


def test_nines() -> None:
    assert scorecard.nines(0.999) == "3 nines"
    assert scorecard.nines(0.99) == "2 nines"
    assert scorecard.nines(0.9) == "1 nine"
    assert scorecard.nines(0.9973) == "2.5 nines"  # 2.57: rounded down
    assert scorecard.nines(0.0) == "0 nines"
    assert scorecard.nines(1.0) == "∞ nines"
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="share"):
            scorecard.nines(bad)


def test_measured_values_are_shown_with_units() -> None:
    s = scorecard.score_run(_row(), FAMS).set_index("key")
    assert s.loc["dashboard", "shown"] == "800.0 ms"
    assert s.loc["cached_query", "brief"] == "12.0 ms"
    assert s.loc["hit_rate", "brief"] == "90.0 %"
    assert s.loc["memory", "brief"] == "1.5 MB"
    assert s.loc["invalidations", "measured"] == 0.99


def test_scorecard_table() -> None:
    runs = pd.DataFrame(
        [
            _row(run_id="r1"),
            _row(
                run_id="r2",
                param_strategy="seed",
                frequent_hit_rate=0.95,
                stale_reads=200,
                stale_read_rate=0.2,
                stale_read_rate_upper95=wilson_upper(200, 1000),
                invalidation_accuracy_fully_invalidated_share=0.3,
            ),
            _row(run_id="r3", param_ttl_scale=4.0, param_rate=8.0),
        ]
    )
    runs["param_rate"] = runs["param_rate"].fillna(20.0)
    table = scorecard.scorecard(runs, FAMS)
    # a parameter where a run differs from most runs is named in its label
    assert list(table["configuration"]) == [
        "mixed / tags / ttl×1.0",
        "mixed / seed / ttl×1.0",
        "mixed / tags / ttl×4.0 rate=8.0",
    ]
    # No family rows for r2, r3: dashboard n/a; r2 also fails invalidations; refresh n/a.
    assert list(table["targets met"]) == [9, 7, 8]
    assert list(table["targets measured"]) == [9, 8, 8]
    assert table.loc[1, "> 95 % correct invalidations"] == (
        "✗ 30.0 % of 500 writes fully invalidated; reads: 80.0 % (≥ 77.8 % at 95 % "
        "confidence: 0.6 nines)"
    )
    assert table.loc[0, "< 0.5 % cache errors"] == "✓ 0.2 %"
    assert table.loc[0, "hit rate > 85 % (frequently accessed)"].startswith("✓ 90.0 %")
    assert table.loc[0, "memory: optimal TTL management"] == "1.5 MB in 900 keys (not judged)"
    assert "index" not in table.columns and list(table.index) == [0, 1, 2]


def test_scorecard_grid_cells_read_back() -> None:
    from matplotlib.colors import to_hex

    from evalcache.report.scorecard_chart import COLOURS, scorecard_grid

    slow = _row(run_id="r2", param_strategy="seed", latency_hit_p99_ms=80.0)
    runs = pd.DataFrame([_row(run_id="r1"), slow])
    table = scorecard.score_table(runs, FAMS)
    fig = scorecard_grid(table)
    ax = fig.axes[0]
    cells = {p.get_gid(): to_hex(p.get_facecolor()) for p in ax.patches if p.get_gid()}
    texts = [t.get_text() for t in ax.texts]
    n = len(scorecard.TARGETS)
    assert len(cells) == 2 * n and len(texts) == 2 * n
    assert cells["0|cached_query"] == COLOURS[True] and texts[0] == "✓ 12.0 ms"
    assert cells["1|cached_query"] == COLOURS[False] and texts[n] == "✗ 80.0 ms"
    assert cells["0|memory"] == COLOURS[None] and texts[6] == "1.5 MB"
    assert cells["1|dashboard"] == COLOURS[None] and texts[n + 4] == "n/a"  # no families
    assert cells["0|refreshes"] == COLOURS[None] and texts[8] == "n/a"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table["configuration"].unique())
    png = charts.figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_recommendation() -> None:
    runs = pd.DataFrame(
        [
            _row(run_id="r1"),
            _row(
                run_id="r2",
                param_strategy="seed",
                hit_rate=0.95,
                stale_reads=200,
                stale_read_rate=0.2,
                stale_read_rate_upper95=wilson_upper(200, 1000),
                invalidation_accuracy_fully_invalidated_share=0.3,
            ),
            _row(run_id="r3", param_ttl_scale=4.0, hit_rate=0.97),
            _row(run_id="r4", param_workload="booking", hit_rate=0.99),
        ]
    )
    rec = scorecard.recommend(runs, FAMS, "mixed")
    assert (rec.strategy, rec.ttl_scale, rec.met, rec.measured) == ("tags", 1.0, 9, 9)
    assert rec.candidates == 3 and rec.missed == ()
    assert rec.stale_read_rate == 0.01 and rec.db_reduction == 0.92
    assert dict(rec.lines)["Staleness"] == (
        f"1.00 % of 1000 checked cached reads were stale (95 % upper bound "
        f"{100 * wilson_upper(10, 1000):.2f} %)."
    )
    assert dict(rec.lines)["Database load"].startswith("92.0 % fewer SQL statements")
    assert "ttl×1.0 meets the most targets (9)" in dict(rec.lines)["Why"]
    rec2 = scorecard.recommend(runs, None, "mixed")  # tie on 8: the higher hit rate wins
    assert (rec2.strategy, rec2.ttl_scale) == ("tags", 4.0)
    assert "its hit rate is higher (97.0 % against 80.0 %)" in rec2.text
    # Equal counts: a correct configuration beats a faster one that serves stale data, and
    # the text names what the winner misses.
    stale_fast = _row(
        run_id="r5",
        param_strategy="ttl",
        hit_rate=0.999,
        stale_read_rate=0.5,
        invalidation_accuracy_fully_invalidated_share=0.0,
    )
    correct_slow = _row(run_id="r6", param_strategy="tags", frequent_hit_rate=0.80)
    tie = pd.DataFrame([stale_fast, correct_slow])
    assert list(scorecard.scorecard(tie, None)["targets met"]) == [7, 7]
    rec3 = scorecard.recommend(tie, None, "mixed")
    assert (rec3.strategy, rec3.met) == ("tags", 7)
    assert rec3.missed == ("hit rate > 85 % (frequently accessed)",)
    assert "the next, mixed / ttl / ttl×1.0, meets 7 but serves 50.00 % stale reads" in rec3.text
    # Correctness first: serving stale data is not bought back by meeting more targets.
    more_but_stale = _row(
        run_id="r7",
        param_strategy="seed",
        stale_read_rate=0.15,
        frequent_hit_rate=0.9,
        invalidation_accuracy_fully_invalidated_share=0.5,
    )
    fewer_but_correct = _row(
        run_id="r8", param_strategy="tags", frequent_hit_rate=0.8, db_reduction=0.7
    )
    gate = pd.DataFrame([more_but_stale, fewer_but_correct])
    assert list(scorecard.scorecard(gate, None)["targets met"]) == [7, 6]
    rec5 = scorecard.recommend(gate, None, "mixed")
    assert (rec5.strategy, rec5.met) == ("tags", 6)
    assert "meets the most targets (6) of those with > 95 % correct invalidations" in rec5.text
    # none correct: the most targets met, and the text says none is correct
    rec6 = scorecard.recommend(gate.iloc[:1], None, "mixed")
    assert rec6.strategy == "seed" and "none has > 95 % correct invalidations" in rec6.text
    assert scorecard.recommend(runs, None, "nope").strategy is None
    twins = pd.DataFrame(
        [_row(run_id="a", param_strategy="x"), _row(run_id="b", param_strategy="y")]
    )
    rec4 = scorecard.recommend(twins, None, "mixed")
    assert rec4.strategy == "x" and "ties with it on every criterion" in rec4.text
    assert rec4.text.startswith("Recommended for the mixed workload: strategy 'x'")


def test_recommendation_compares_runs_under_the_same_conditions_only() -> None:
    # A run at another request rate would win on hit rate but answers another question.
    same = [_row(run_id=f"r{i}", param_rate=20.0, param_strategy=s) for i, s in enumerate("ab")]
    other = _row(run_id="r9", param_rate=4.0, param_strategy="c", hit_rate=0.99)
    runs = pd.DataFrame([*same, other])
    rec = scorecard.recommend(runs, None, "mixed")
    assert rec.strategy in {"a", "b"} and rec.candidates == 2
    assert (
        "(1 other run on mixed, under other conditions such as request rate, data scale or "
        "service model, not compared)"
    ) in rec.text


def test_run_scorecard_reads_a_summary_dict() -> None:
    summary = fake_summary({"seed": 1, "strategy": "seed", "refresh": "threshold"})
    s = scorecard.run_scorecard(summary).set_index("key")
    assert s.loc["refreshes", "passed"] is True  # 99 / 100
    # dashboard_user (the last dashboard family) has the slowest hits
    j = list(FAMILIES).index("dashboard_user")
    assert s.loc["dashboard", "measured"] == 0.5 + j
    assert s.loc["request_errors", "passed"] is True  # 2 of 21,000
    assert s.loc["cache_errors", "shown"] == "0.0 %"  # 3 of 21,000
    assert s.loc["hit_rate", "measured"] == summary["frequent_hit_rate"]
    assert "at 95 % confidence" in s.loc["invalidations", "shown"]
    # the fixture's seed leaves some writes' dependents stale: judged per write
    overall = summary["invalidation_accuracy"]["overall"]
    assert s.loc["invalidations", "measured"] == overall["fully_invalidated_share"] < 1.0


def test_a_summary_and_its_loaded_row_score_the_same(tmp_path: Path) -> None:
    # One flattener: scoring a summary dict and scoring the row load_runs makes of the saved
    # run give the same figures.
    params = {"seed": 2, "ttl_scale": 0.5}
    summary = fake_summary(params)
    assert unknown_keys(summary) == []  # the fixture stays schema-shaped
    write_fake_run(tmp_path, params)
    runs, families = load_runs(tmp_path), load_families(tmp_path)
    from_row = scorecard.score_run(runs.iloc[0].to_dict(), families)
    pd.testing.assert_frame_equal(scorecard.run_scorecard(summary), from_row)
