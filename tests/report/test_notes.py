"""The experiment page's notes: the server's statement count and the oracle's ground truth."""

from __future__ import annotations

from evalcache.report.notes import run_notes
from evalcache.results_schema import empty_summary


def _summary(**kw: object) -> dict[str, object]:
    return {**empty_summary({"workload": "mixed"}), **kw}


def test_server_count_present_or_missing_is_said_in_words() -> None:
    both = run_notes(_summary(db_statements=120, db_statements_server=120))[0]
    assert "120 counted by the runner, 120 by the server" in both and "they agree" in both
    off = run_notes(_summary(db_statements=120, db_statements_server=118))[0]
    assert "they differ by -2" in off
    why = "the PostgreSQL server does not load pg_stat_statements (...)"
    missing = run_notes(_summary(db_statements=120, db_statements_server_note=why))[0]
    assert "counted by the runner only" in missing and why in missing
    assert "not recorded" in run_notes(_summary(db_statements=5))[0]  # an older summary


def test_oracle_errors_are_stated_never_hidden() -> None:
    assert "no load was compared" in run_notes(_summary())[1]
    fine = run_notes(_summary(oracle_loads_checked=300, oracle_errors=0))[1]
    assert "300 loads" in fine and "every one agreed" in fine
    bad = run_notes(
        _summary(
            oracle_loads_checked=300,
            oracle_errors=7,
            oracle_error_example="expert_full(3,): loader and truth differ at answer",
        )
    )[1]
    assert bad.startswith("ORACLE ERRORS: 7 of 300 loads") and "expert_full(3,)" in bad
    assert "cannot be trusted" in bad
