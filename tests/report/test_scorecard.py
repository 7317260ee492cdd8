"""The seed plan's targets: pass/fail logic on hand-built numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sweep.fake_runs import fake_summary, write_fake_run

from evalcache.errors import ConfigError
from evalcache.metrics import wilson_upper
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
        "stale_reads": 10,
        "stale_read_rate": 0.01,
        "stale_read_rate_upper95": wilson_upper(10, 1000),
        "refreshes_tried": 100,
        "refreshes_succeeded": 99,
        "requests": 10_000,
        "error_rate": 0.001,
        "cache_errors": 20,
        "invalidation_accuracy_writes_with_dependents": 500,
        "invalidation_accuracy_fully_invalidated_share": 0.99,
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
    share = "invalidation_accuracy_fully_invalidated_share"
    assert _passed(_row(**{share: 0.95}))["invalidations"] is False  # 95 % is not > 95 %
    assert _passed(_row(**{share: 0.951}))["invalidations"] is True
    assert _passed(_row(refreshes_succeeded=98))["refreshes"] is False
    assert _passed(_row(error_rate=0.005))["errors"] is False
    assert _passed(_row(cache_errors=50))["errors"] is False  # 50 / 10,000 requests = 0.5 %
    slow = FAMS.assign(p99_ms=[400.0, 1000.0, 1.0])
    assert _passed(_row(), slow)["dashboard"] is False  # the worst dashboard family counts


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
    s = scorecard.score_run(_row(refreshes_tried=0))
    assert s.set_index("key").loc["refreshes", "shown"] == "n/a"


def test_errors_target_judges_request_and_cache_errors_apart() -> None:
    def error_row(**over: object) -> pd.Series:
        return scorecard.score_run(_row(**over)).set_index("key").loc["errors"]

    ok = error_row(error_rate=0.0049, cache_errors=49)
    assert ok["passed"] is True
    assert ok["shown"] == "request errors 0.49 %, cache errors 0.49 %"
    # Either rate alone over the limit fails the target; the other is still shown.
    cache_bad = error_row(error_rate=0.0, cache_errors=600)
    assert cache_bad["passed"] is False and cache_bad["measured"] == 0.06
    assert cache_bad["shown"] == "request errors 0.00 %, cache errors 6.00 %"
    request_bad = error_row(error_rate=0.02, cache_errors=0)
    assert request_bad["passed"] is False and request_bad["measured"] == 0.02
    # A summary without cache_errors (written before it existed) cannot pass, only fail.
    assert error_row(cache_errors=None)["passed"] is None
    assert error_row(cache_errors=None)["shown"] == "request errors 0.10 %, cache errors n/a"
    assert error_row(cache_errors=None, error_rate=0.01)["passed"] is False
    assert error_row(requests=0, error_rate=None)["passed"] is None


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
    assert s.loc["hit_rate", "shown"] == "90.0 %"
    assert s.loc["dashboard", "shown"] == "900.0 ms"
    assert s.loc["invalidations", "measured"] == 0.99


def test_scorecard_table_and_recommendation() -> None:
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
    table = scorecard.scorecard(runs, FAMS)
    # No family rows for r2-r4: dashboard n/a; r2 also fails invalidations.
    assert list(table["targets met"]) == [7, 5, 6, 6]
    assert table.loc[1, "> 95 % correct invalidations"] == (
        "✗ 30.0 % of 500 writes fully invalidated; reads: 80.0 % (≥ 77.8 % at 95 % "
        "confidence: 0.6 nines)"
    )
    assert table.loc[0, "< 0.5 % request and cache errors"] == (
        "✓ request errors 0.10 %, cache errors 0.20 %"
    )
    assert table.loc[0, "hit rate > 85 %"] == "✓ 90.0 %"
    rec = scorecard.recommend(runs, FAMS, "mixed")
    assert (rec.strategy, rec.ttl_scale, rec.met) == ("tags", 1.0, 7)
    rec2 = scorecard.recommend(runs, None, "mixed")  # tie on 6: the higher hit rate wins
    assert (rec2.strategy, rec2.ttl_scale) == ("tags", 4.0)
    # Equal counts: a correct configuration beats a faster one that serves stale data, and
    # the text names what the winner misses.
    stale_fast = _row(
        run_id="r5",
        param_strategy="ttl",
        hit_rate=0.999,
        stale_read_rate=0.5,
        invalidation_accuracy_fully_invalidated_share=0.0,
    )
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
    assert s.loc["errors", "passed"] is True  # 2 request and 3 cache errors of 21,000
    assert s.loc["errors", "shown"] == "request errors 0.01 %, cache errors 0.01 %"
    assert "at 95 % confidence" in s.loc["invalidations", "shown"]
    assert s.loc["invalidations", "measured"] == 1.0  # the fixture's tags: every write


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
