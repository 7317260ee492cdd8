"""The seed plan's targets: pass/fail logic on hand-built numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sweep.fake_runs import fake_summary, write_fake_run

from evalcache.report import scorecard
from evalcache.results import load_families, load_runs
from evalcache.results_schema import unknown_keys


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "run_id": "r1",
        "latency_hit_p99_ms": 12.0,
        "hit_rate": 0.9,
        "db_reduction": 0.7,
        "stale_checked": 1000,
        "stale_read_rate": 0.01,
        "refreshes_tried": 100,
        "refreshes_succeeded": 99,
        "error_rate": 0.001,
        "param_workload": "mixed",
        "param_strategy": "tags",
        "param_ttl_scale": 1.0,
    }
    row.update(over)
    return row


FAMS = pd.DataFrame(
    {
        "run_id": ["r1", "r1", "r1"],
        "family": ["dashboard_admin", "dashboard_user", "user_profile"],
        "reads": [10, 10, 10],
        "p99_ms": [400.0, 900.0, 5000.0],
    }
)


def _passed(row: dict[str, object], fams: pd.DataFrame = FAMS) -> dict[str, object]:
    s = scorecard.score_run(row, fams)
    return dict(zip(s["key"], s["passed"], strict=True))


def test_all_targets_pass_on_good_numbers() -> None:
    assert set(_passed(_row()).values()) == {True}


def test_each_target_fails_just_past_its_threshold() -> None:
    assert _passed(_row(latency_hit_p99_ms=50.0))["cached_query"] is False
    assert _passed(_row(hit_rate=0.85))["hit_rate"] is False
    assert _passed(_row(db_reduction=0.599))["db_reduction"] is False
    assert _passed(_row(db_reduction=0.95))["db_reduction"] is True  # more than 80 % is better
    assert _passed(_row(stale_read_rate=0.05))["invalidations"] is False  # 95 % is not > 95 %
    assert _passed(_row(refreshes_succeeded=98))["refreshes"] is False
    assert _passed(_row(error_rate=0.005))["errors"] is False
    slow = FAMS.assign(p99_ms=[400.0, 1000.0, 1.0])
    assert _passed(_row(), slow)["dashboard"] is False  # the worst dashboard family counts


def test_unmeasured_targets_are_not_applicable() -> None:
    p = _passed(_row(refreshes_tried=0, stale_checked=0, db_reduction=None), FAMS[2:])
    assert p["refreshes"] is None and p["invalidations"] is None
    assert p["db_reduction"] is None and p["dashboard"] is None
    s = scorecard.score_run(_row(refreshes_tried=0))
    assert s.set_index("key").loc["refreshes", "shown"] == "n/a"


def test_measured_values_are_shown_with_units() -> None:
    s = scorecard.score_run(_row(), FAMS).set_index("key")
    assert s.loc["hit_rate", "shown"] == "90.0 %"
    assert s.loc["dashboard", "shown"] == "900.0 ms"
    assert s.loc["invalidations", "measured"] == 0.99


def test_scorecard_table_and_recommendation() -> None:
    runs = pd.DataFrame(
        [
            _row(run_id="r1"),
            _row(run_id="r2", param_strategy="seed", hit_rate=0.95, stale_read_rate=0.2),
            _row(run_id="r3", param_ttl_scale=4.0, hit_rate=0.97),
            _row(run_id="r4", param_workload="booking", hit_rate=0.99),
        ]
    )
    table = scorecard.scorecard(runs, FAMS)
    # No family rows for r2-r4: dashboard n/a; r2 also fails invalidations.
    assert list(table["targets met"]) == [7, 5, 6, 6]
    assert table.loc[1, "> 95 % correct invalidations"] == "✗ 80.0 %"
    assert table.loc[0, "hit rate > 85 %"] == "✓ 90.0 %"
    rec = scorecard.recommend(runs, FAMS, "mixed")
    assert (rec.strategy, rec.ttl_scale, rec.met) == ("tags", 1.0, 7)
    rec2 = scorecard.recommend(runs, None, "mixed")  # tie on 6: the higher hit rate wins
    assert (rec2.strategy, rec2.ttl_scale) == ("tags", 4.0)
    # Equal counts: a correct configuration beats a faster one that serves stale data, and
    # the text names what the winner misses.
    stale_fast = _row(run_id="r5", param_strategy="ttl", hit_rate=0.999, stale_read_rate=0.5)
    correct_slow = _row(run_id="r6", param_strategy="tags", hit_rate=0.80)
    tie = pd.DataFrame([stale_fast, correct_slow])
    assert list(scorecard.scorecard(tie, None)["targets met"]) == [5, 5]
    rec3 = scorecard.recommend(tie, None, "mixed")
    assert (rec3.strategy, rec3.met) == ("tags", 5)
    assert rec3.text.endswith("(hit rate 80.0 %); it misses: hit rate > 85 %.")
    assert scorecard.recommend(runs, None, "nope").strategy is None


def test_run_scorecard_reads_a_summary_dict() -> None:
    s = scorecard.run_scorecard(fake_summary({"seed": 1})).set_index("key")
    assert s.loc["refreshes", "passed"] is True  # 99 / 100
    assert s.loc["dashboard", "measured"] == 2.0 + 30 * 9  # dashboard_user is the slowest


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
