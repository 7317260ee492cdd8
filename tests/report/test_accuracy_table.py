"""The strategies page's per-write-type invalidation table, on synthetic run folders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sweep.fake_runs import WRITE_OPS, write_fake_run

from evalcache.report.accuracy import ALL_WRITES, SHOWN, invalidation_table
from evalcache.results import load_runs
from evalcache.results_schema import write_accuracy_rows


def _runs(tmp_path: Path, *strategies: str) -> pd.DataFrame:
    for i, strategy in enumerate(strategies):
        write_fake_run(tmp_path, {"strategy": strategy, "seed": i + 1})
    return load_runs(tmp_path)


def test_one_row_per_strategy_and_write_type_seed_first(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "tags", "ttl", "seed")
    table = invalidation_table(runs)
    assert list(table.columns) == ["strategy", "write", *SHOWN]
    assert list(table["strategy"].drop_duplicates()) == ["seed", "tags", "ttl"]
    assert list(table["write"][:4]) == [*WRITE_OPS, ALL_WRITES]
    cell = table.set_index(["strategy", "write"])
    # the seed plan's gap is named by its write type; tags leaves nothing stale; ttl everything
    assert cell.loc[("seed", "write:add_review"), "fully invalidated (%)"] == 0.0
    assert cell.loc[("seed", "write:add_review"), "left stale"] == 2 * 95
    assert 0 < cell.loc[("seed", "write:user_profile"), "fully invalidated (%)"] < 100
    assert (cell.loc["tags", "fully invalidated (%)"] == 100.0).all()
    assert (cell.loc["tags", "left stale"] == 0).all()
    assert cell.loc["tags", "consistent p99 (s)"].isna().all()  # nothing to become consistent
    assert (cell.loc["ttl", "fully invalidated (%)"] == 0.0).all()
    # the all-writes row is the run's overall figures
    assert cell.loc[("ttl", ALL_WRITES), "writes"] == 100 + 110 + 120
    assert cell.loc[("ttl", ALL_WRITES), "with cached dependents"] == 95 + 105 + 115


def test_runs_sharing_a_value_are_pooled(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "seed", "seed")
    table = invalidation_table(runs).set_index(["strategy", "write"])
    row = table.loc[("seed", "write:user_profile")]
    one = write_accuracy_rows(runs.iloc[0].to_dict())[-1]
    assert one["write"] == "write:user_profile"
    assert row["writes"] == 2 * one["writes"]
    assert row["left stale"] == 2 * one["entries_stale"]
    fully = 2 * one["writes_fully_invalidated"] / (2 * one["writes_with_dependents"])
    assert row["fully invalidated (%)"] == round(100 * fully, 1)
    assert row["consistent p99 (s)"] == one["consistent_p99_s"]  # the worst run's


def test_runs_without_the_check_give_an_empty_table(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "tags").drop(columns=[c for c in load_runs(tmp_path) if "accuracy" in c])
    assert invalidation_table(runs).empty
    assert invalidation_table(runs.iloc[0:0], "variant").empty


def test_seed_variants_come_first_under_any_label(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "tags", "seed", "lease")
    labels = runs["param_strategy"] + " ttl_scale=" + runs["param_ttl_scale"].astype(str)
    table = invalidation_table(runs.assign(variant=labels), "variant")
    assert list(table["variant"].drop_duplicates()) == [
        "seed ttl_scale=1.0",
        "lease ttl_scale=1.0",
        "tags ttl_scale=1.0",
    ]
