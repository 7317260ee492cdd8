from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalcache.errors import ConfigError, EvalCacheError
from evalcache.metrics import OUTCOMES, LatencyRecorder, RedisSnapshot, ServerCounts, TimeSeries
from evalcache.results import RunResult, load_families, load_runs, run_folder_name
from evalcache.results_schema import (
    SCHEMA_VERSION,
    DbServer,
    FamilySummary,
    Latency,
    LatencyStats,
    Params,
    RedisFootprint,
    Summary,
    empty_summary,
    family_columns,
    flatten_summary,
    keys,
    required_keys,
    run_columns,
    unknown_keys,
)
from evalcache.runner import PARAM_NAMES

PARAMS = {
    "workload": "mixed",
    "strategy": "tags",
    "ttl_scale": 1.0,
    "mode": "virtual",
    "duration_s": 3600.0,
    "seed": 1,
    "scale": 0.1,
    "stale_sample": 1.0,
    "rate": 200.0,
    "refresh": "none",
    "stampede": "none",
    "cache": True,
}


def _result(params: dict[str, object] = PARAMS, hits: int = 90) -> RunResult:
    summary = empty_summary(params, run_id="r1", started_at="2025-01-01T00:00:00+00:00")
    rec = LatencyRecorder()
    ts = TimeSeries()
    for i in range(hits):
        rec.record("user_profile", "hit", 50_000 + i)
        ts.read(float(i), "user_profile", "hit", 50_000 + i)
    rec.record("user_profile", "miss", 2_000_000)
    ts.read(5.0, "user_profile", "miss", 2_000_000, db_statements=1)
    summary.update(
        requests=hits + 1,
        reads=hits + 1,
        hits=hits,
        misses=1,
        hit_rate=hits / (hits + 1),
        latency=rec.summary(),
        db_statements=1,
        stale_read_rate=float("nan"),
        families={
            "user_profile": {
                "reads": hits + 1,
                "hits": hits,
                "misses": 1,
                "hit_rate": hits / (hits + 1),
            },
            "expert_full": {"reads": 0, "hits": 0, "misses": 0, "hit_rate": None},
        },
    )
    return RunResult(summary, ts.to_frame(), rec.to_frame())


def test_save_load_round_trip(tmp_path: Path) -> None:
    result = _result()
    folder = result.save(tmp_path / run_folder_name(PARAMS))
    assert result.folder == folder
    assert {p.name for p in folder.iterdir()} == {
        "summary.json",
        "timeseries.parquet",
        "latency.parquet",
    }
    raw = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert list(raw) == list(required_keys(Summary)) and raw["schema_version"] == SCHEMA_VERSION
    assert raw["stale_read_rate"] is None  # NaN is not JSON: saved as null
    back = RunResult.load(folder)
    assert back.summary["hits"] == 90 and back.summary["params"] == PARAMS
    pd.testing.assert_frame_equal(back.timeseries, result.timeseries)
    pd.testing.assert_frame_equal(back.latency, result.latency)
    merged = LatencyRecorder.from_frame(back.latency)
    assert merged.histogram().get_total_count() == 91


def test_malformed_summary_writes_nothing(tmp_path: Path) -> None:
    result = _result()
    del result.summary["hit_rate"]
    with pytest.raises(ConfigError, match="hit_rate"):
        result.save(tmp_path / "run")
    assert not (tmp_path / "run").exists()
    bad = _result()
    bad.summary["params"] = {"when": object()}
    with pytest.raises(ConfigError, match="JSON"):
        bad.save(tmp_path / "run2")
    assert not (tmp_path / "run2").exists()


def test_load_rejects_incomplete_or_foreign_folders(tmp_path: Path) -> None:
    with pytest.raises(EvalCacheError, match="not a run folder"):
        RunResult.load(tmp_path)
    folder = _result().save(tmp_path / "a")
    (folder / "latency.parquet").unlink()
    with pytest.raises(EvalCacheError, match=r"latency\.parquet"):
        RunResult.load(folder)
    (folder / "summary.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(EvalCacheError, match="schema_version 99"):
        RunResult.load(folder)


def test_run_folder_name_is_stable_and_safe() -> None:
    name = run_folder_name(PARAMS)
    assert name.startswith("mixed-tags-ttl1.0-virtual-s1-")
    assert name == run_folder_name(dict(reversed(list(PARAMS.items()))))
    assert name != run_folder_name({**PARAMS, "rate": 100.0})
    assert run_folder_name({**PARAMS, "cache": False}).startswith("mixed-nocache-")
    odd = run_folder_name({**PARAMS, "strategy": "../../etc/pass wd*"})
    assert "/" not in odd and " " not in odd and "*" not in odd and ".." not in odd


def test_load_runs_flattens_every_run(tmp_path: Path) -> None:
    _result().save(tmp_path / "sweep" / run_folder_name(PARAMS))
    other = {**PARAMS, "strategy": "ttl", "ttl_scale": 0.5}
    _result(other, hits=10).save(tmp_path / "sweep" / "deeper" / run_folder_name(other))
    runs = load_runs(tmp_path)
    assert len(runs) == 2
    assert set(runs["param_strategy"]) == {"tags", "ttl"}
    assert sorted(runs["hits"]) == [10, 90]
    assert {
        "latency_all_p50_ms",
        "latency_hit_p99_ms",
        "latency_write_count",
        "redis_keys",
        "folder",
    } <= set(runs.columns)
    assert "families" not in runs.columns and "params" not in runs.columns
    row = runs[runs.param_strategy == "ttl"].iloc[0]
    assert row["latency_all_count"] == 11 and row["latency_miss_p50_ms"] == pytest.approx(
        2.0, rel=1e-3
    )
    assert Path(row["folder"]).name == run_folder_name(other)
    fams = load_families(tmp_path)
    assert len(fams) == 4
    up = fams[(fams.family == "user_profile") & (fams.param_strategy == "tags")].iloc[0]
    assert up["hits"] == 90 and up["run_id"] == "r1"


def test_empty_folder_gives_empty_frames_with_columns(tmp_path: Path) -> None:
    runs, fams = load_runs(tmp_path / "nothing"), load_families(tmp_path)
    assert runs.empty and fams.empty
    assert {"hit_rate", "db_reduction", "param_workload", "latency_all_p99_ms", "folder"} <= set(
        runs.columns
    )
    assert {"run_id", "family", "hit_rate", "param_strategy", "folder"} <= set(fams.columns)


def test_empty_summary_is_valid_and_has_the_required_keys(tmp_path: Path) -> None:
    s = empty_summary(PARAMS, run_id="r")
    assert list(s) == list(required_keys(Summary)) and unknown_keys(s) == []
    assert s["hits"] == 0 and s["hit_rate"] is None and s["db_time_ms"] == 0.0
    assert s["latency"]["hit"] == {**dict.fromkeys(keys(LatencyStats)), "count": 0}
    assert s["redis"] == {"commands": 0, "used_memory_bytes": 0, "keys": 0}
    assert (s["saturated"], s["time_model"], s["families"]) == (False, "", {})
    RunResult(s, TimeSeries().to_frame(), LatencyRecorder().to_frame()).save(tmp_path / "r")


def test_schema_parts_match_the_code_that_fills_them() -> None:
    # The figures come from these classes; a field added there must be added to the schema.
    assert keys(Params) == PARAM_NAMES
    assert keys(DbServer) == tuple(ServerCounts(None, None).as_dict())
    assert keys(Latency) == ("all", *OUTCOMES)
    assert set(keys(LatencyStats)) == set(LatencyRecorder().summary()["all"])
    assert required_keys(RedisFootprint) == tuple(RedisSnapshot(0, 0, 0).summary())


def test_unknown_keys_names_the_part() -> None:
    s = empty_summary(PARAMS)
    s["new_figure"] = 1
    s["params"]["new_param"] = 2
    s["families"] = {"user_profile": {"reads": 1, "new_family_figure": 3}}
    assert unknown_keys(s) == [
        "families.<family>: new_family_figure",
        "params: new_param",
        "summary.json: new_figure",
    ]


def test_flat_columns_follow_the_schema(tmp_path: Path) -> None:
    row = flatten_summary(_result().summary)
    assert set(row) <= set(run_columns())
    assert {"param_seed", "latency_hit_p99_ms", "redis_keys", "hits"} <= set(row)
    assert not {"params", "latency", "redis", "families"} & set(row)
    assert list(load_runs(tmp_path).columns) == [*run_columns(), "folder"]
    assert list(load_families(tmp_path).columns) == [*family_columns(), "folder"]
    figures = [k for k in keys(FamilySummary) if k != "stale_causes"]
    assert family_columns()[2 : 2 + len(figures)] == figures
    # stale causes spread over columns, on run rows and family rows alike
    assert "stale_causes" not in run_columns() and "stale_cause_fill_race" in run_columns()
    assert "stale_cause_missed_invalidation" in family_columns()
