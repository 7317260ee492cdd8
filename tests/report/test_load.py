"""Offered-load curves: grouping of like runs only, the knee, read latency, the chart's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evalcache.metrics.latency import encode_histogram, new_histogram
from evalcache.report import charts
from evalcache.report.load import (
    burst_load,
    burst_window,
    config_columns,
    curves,
    db_capacity,
    describe,
    held_fixed,
    knee,
    load_table,
    read_latency,
    stampede_loads,
)

BASE: dict[str, Any] = {
    "param_workload": "mixed",
    "param_strategy": "tags",
    "param_concurrency": "overlap",
    "param_db_pool": 2,
    "param_db_service_ms": 50.0,
    "param_cache": True,
    "param_ttl": {},
}


def _row(rate: float, p99: float, **params: Any) -> dict[str, Any]:
    return {
        **BASE,
        **{f"param_{k}": v for k, v in params.items()},
        "param_rate": rate,
        "read_p50_ms": p99 / 10,
        "read_p99_ms": p99,
        "db_statements_per_s": rate,
        "cell": f"c{rate}-{sorted(params.items())}",
    }


def test_runs_differing_in_any_parameter_but_the_axis_are_separate_curves() -> None:
    table = pd.DataFrame(
        [
            *(_row(r, 10.0) for r in (1, 2, 3)),
            *(_row(r, 100.0, cache=False) for r in (1, 2, 3)),
            # differs from the first curve only in the service time: never averaged with it
            *(_row(r, 1000.0, db_service_ms=80.0) for r in (1, 2, 3)),
            _row(2, 30.0),  # a repeat of the first curve's rate-2 run: averaged with it
            _row(5, 1.0, workload="browse"),  # one rate only: no curve
        ]
    )
    found = {c.label: c for c in curves(table)}
    assert set(found) == {
        "tags, db_service_ms=50.0",
        "cache off, db_service_ms=50.0",
        "tags, db_service_ms=80.0",
    }
    first = found["tags, db_service_ms=50.0"].points
    assert list(first["param_rate"]) == [1, 2, 3]
    assert list(first["read_p99_ms"]) == [10.0, 20.0, 10.0]  # (10 + 30) / 2 at rate 2 only
    assert list(first["runs"]) == [1, 2, 1]
    assert list(found["tags, db_service_ms=80.0"].points["read_p99_ms"]) == [1000.0] * 3
    assert "param_rate" not in config_columns(table) and "param_ttl" in config_columns(table)


def test_describe_names_each_curves_runs_and_knee() -> None:
    table = pd.DataFrame([_row(r, p) for r, p in ((1, 10.0), (2, 12.0), (4, 80.0))])
    d = describe(curves(table))
    assert d.loc[0, "rate"] == "1, 2, 4"
    assert d.loc[0, "runs per point"] == "1, 1, 1"
    assert d.loc[0, "p99 knee"] == "4"
    assert "c4-[]" in d.loc[0, "cells"]


def test_held_fixed_lists_what_every_curve_shares() -> None:
    table = pd.DataFrame(
        [*(_row(r, 10.0) for r in (1, 2)), *(_row(r, 10.0, cache=False) for r in (1, 2))]
    )
    t = load_table_like(table)
    fixed = held_fixed(curves(t))
    assert fixed["db_pool"] == 2 and type(fixed["db_pool"]) is int
    assert fixed["strategy"] == "tags"  # the cache-off curve has none, the others agree
    assert "cache" not in fixed


def test_knee_is_the_first_rate_past_the_factor() -> None:
    assert knee([4, 1, 2, 3], [500.0, 10.0, 12.0, 60.0]) == 3  # unsorted input
    assert knee([1, 2, 3], [10.0, 20.0, 49.0]) is None  # never 5x: beyond the axis
    assert knee([1, 2, 3], [10.0, 20.0, 49.0], factor=2.0) == 3
    assert knee([1], [1.0]) is None


def _hist(values_ms: list[float]) -> str:
    h = new_histogram()
    for v in values_ms:
        h.record_value(int(v * 1e6))  # the recorder's unit: nanoseconds
    return encode_histogram(h)


def _latency_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        ("expert_basic", "hit", _hist([1.0] * 95)),
        ("expert_basic", "miss", _hist([100.0] * 5)),
        ("expert_basic", "uncached", _hist([500.0] * 100)),  # a baseline's reads
        ("write:book", "write", _hist([9000.0] * 50)),
    ]
    pd.DataFrame(rows, columns=["family", "outcome", "hdr"]).to_parquet(folder / "latency.parquet")
    return folder


def test_read_latency_takes_the_runs_own_reads_only(tmp_path: Path) -> None:
    folder = _latency_file(tmp_path / "run")
    on = read_latency(folder, cache_on=True)
    assert on["read_p50_ms"] == pytest.approx(1.0, rel=0.01)
    assert on["read_p99_ms"] == pytest.approx(100.0, rel=0.01)  # not the baseline's 500
    off = read_latency(folder, cache_on=False)
    assert off["read_p99_ms"] == pytest.approx(500.0, rel=0.01)  # writes left out


def test_load_table_rates_statements_over_the_counted_window(tmp_path: Path) -> None:
    runs = pd.DataFrame(
        [
            {
                **BASE,
                "param_rate": 10.0,
                "folder": str(_latency_file(tmp_path / "a")),
                "simulated_s": 120.0,
                "warmup_s": 30.0,
                "db_statements": 900,
                "hit_rate": 0.7,
                "cell": "a",
            }
        ]
    )
    t = load_table(runs)
    assert t.loc[0, "db_statements_per_s"] == pytest.approx(10.0)
    assert t.loc[0, "read_p99_ms"] == pytest.approx(100.0, rel=0.01)
    assert t.loc[0, "cell"] == "a" and t.loc[0, "param_db_pool"] == 2


def test_load_curves_draws_each_curves_means_knee_and_capacity() -> None:
    table = pd.DataFrame(
        [
            *(_row(r, p) for r, p in ((1, 10.0), (2, 11.0), (3, 12.0))),
            *(_row(r, p, cache=False) for r, p in ((1, 50.0), (2, 400.0), (3, 9000.0))),
        ]
    )
    fig = charts.load_curves(table)
    lat, db = fig.axes[:2]
    lines = {ln.get_label(): ln for ln in lat.lines}
    assert list(lines["cache off p99"].get_ydata()) == [50.0, 400.0, 9000.0]
    assert list(lines["tags p50"].get_ydata()) == pytest.approx([1.0, 1.1, 1.2])
    assert "cache off knee (2/s)" in lines and not any("tags knee" in k for k in lines)
    assert np.asarray(lines["cache off knee (2/s)"].get_xdata())[0] == 2
    assert lat.get_yscale() == "log"
    db_lines = {ln.get_label(): ln for ln in db.lines}
    cap = db_lines["database capacity (40/s)"]
    assert np.asarray(cap.get_ydata())[0] == pytest.approx(db_capacity(BASE))
    assert db.get_ylabel() == "SQL statements per second"


def test_load_curves_without_an_axis_says_so() -> None:
    fig = charts.load_curves(pd.DataFrame([_row(1, 10.0)]))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("two or more rates" in t for t in texts)


def test_a_cached_runs_baseline_is_the_cache_off_point_counted_once(tmp_path: Path) -> None:
    folder = str(_latency_file(tmp_path / "a"))
    common = {"folder": folder, "simulated_s": 120.0, "warmup_s": 30.0, "hit_rate": 0.7}
    runs = pd.DataFrame(
        [
            # two strategies' runs of one stream reuse one baseline (1800 statements)
            {**BASE, "param_rate": 10.0, "db_statements": 900, "cell": "tags", **common},
            {
                **BASE,
                "param_strategy": "ttl",
                "param_rate": 10.0,
                "db_statements": 450,
                "cell": "ttl",
                **common,
            },
            # an explicit cache-off run of the same stream at another rate
            {**BASE, "param_cache": False, "param_rate": 20.0, "db_statements": 3600, **common},
        ]
    ).assign(db_statements_baseline=[1800, 1800, None])
    t = load_table(runs)
    off = t[t["param_cache"].eq(False)]
    assert len(t) == 4 and len(off) == 2  # tags, ttl, one baseline, the cache-off run
    assert off["param_strategy"].isna().all()  # the cache-off stream ignores the strategy
    base = off[off["param_rate"] == 10.0].iloc[0]
    assert base["db_statements_per_s"] == pytest.approx(20.0)
    assert base["read_p99_ms"] == pytest.approx(500.0, rel=0.01)  # the baseline's reads
    assert base["cell"] == "tags (baseline)"
    labels = {c.label: c for c in curves(t)}
    assert set(labels) == {"cache off"}  # tags and ttl have one rate each: no curve
    assert list(labels["cache off"].points["runs"]) == [1, 1]


def _ts(folder: Path, per_window: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, n in enumerate(per_window):  # two families per window, 60 s windows
        rows += [(60.0 * i, "expert_full", n - 1), (60.0 * i, "user_profile", 1)]
    pd.DataFrame(rows, columns=["window_start_s", "family", "db_statements"]).to_parquet(
        folder / "timeseries.parquet"
    )
    return folder


def test_burst_load_counts_whole_windows_inside_the_burst(tmp_path: Path) -> None:
    ts = pd.read_parquet(_ts(tmp_path, [10] * 10 + [600, 1200] + [10]) / "timeseries.parquet")
    # flash_crowd's burst is 600-900 s; the run ends at 720 s: windows 600 and 660 count
    assert burst_window("flash_crowd") == (600.0, 900.0)
    assert burst_load(ts, (600.0, 900.0), 720.0) == (1800, 120.0)
    assert burst_load(ts, (600.0, 900.0), 720.0, families=["user_profile"]) == (2, 120.0)
    assert burst_window("mixed") is None


def test_stampede_loads_ratio_within_like_runs(tmp_path: Path) -> None:
    def run(name: str, stampede: str, burst: int, **extra: Any) -> dict[str, Any]:
        folder = _ts(tmp_path / name, [10] * 10 + [burst, burst])
        return {
            **BASE,
            "param_workload": "flash_crowd",
            "param_rate": 5.0,
            "param_stampede": stampede,
            **{f"param_{k}": v for k, v in extra.items()},
            "folder": str(folder),
            "simulated_s": 720.0,
            "cell": name,
        }

    runs = pd.DataFrame(
        [
            run("n", "none", 1200),
            run("l", "lease", 120),
            run("n4", "none", 900, db_pool=4),  # another group: compared with its own lease
            run("l4", "lease", 300, db_pool=4),
        ]
    )
    fam = pd.DataFrame(
        {"folder": [runs.loc[0, "folder"]] * 2, "loads": [7, 3], "coalesced": [0, 1]}
    )
    out = stampede_loads(runs, fam).set_index("cell")
    assert out.loc["n", "burst_db_statements_per_s"] == pytest.approx(20.0)
    assert out.loc["n", "ratio_to_lease"] == pytest.approx(10.0)
    assert out.loc["n4", "ratio_to_lease"] == pytest.approx(3.0)
    assert out.loc["l", "ratio_to_lease"] == pytest.approx(1.0)
    assert out.loc["n", "loads"] == 10 and out.loc["l", "loads"] == 0


def test_burst_db_load_draws_statements_per_second_and_shades_the_burst(tmp_path: Path) -> None:
    ts = pd.read_parquet(_ts(tmp_path, [60, 120, 600]) / "timeseries.parquet")
    fig = charts.burst_db_load({"stampede none": ts}, (120.0, 300.0), warmup_s=60.0, capacity=20.0)
    ax = fig.axes[0]
    line, cap = ax.lines
    assert cap.get_label() == "database capacity (20/s)" and list(cap.get_ydata()) == [20, 20]
    assert line.get_label() == "stampede none"
    assert list(line.get_ydata()) == [1.0, 2.0, 10.0]  # per window of 60 s
    assert list(line.get_xdata()) == [0.0, 1.0, 2.0]
    labels = [p.get_label() for p in ax.patches]
    assert "burst" in labels and "warm-up (not counted)" in labels
    burst = ax.patches[labels.index("burst")].get_extents()
    # the shaded burst ends with the run's last window (3 min), not at the burst's 5 min
    assert ax.transData.inverted().transform((burst.x1, 0))[0] == pytest.approx(3.0)
    assert ax.get_ylabel() == "SQL statements per second"


def load_table_like(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with cache-off rows' cache-only parameters blanked, as load_table does."""
    off = table["param_cache"].eq(False)
    return table.assign(param_strategy=table["param_strategy"].where(~off, None))
