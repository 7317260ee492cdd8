"""Record a run's request stream, replay it with ``workload: trace:PATH``: the same outcomes.

Real servers, short runs on the runner tests' template. The digest of the outcome bytes must
be equal between a generated run and the replay of its trace, serial and overlapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from evalcache.domain.families import FAMILIES
from evalcache.errors import ConfigError
from evalcache.runner import run
from evalcache.runner.resources import read_seeded
from evalcache.workload.export import export_trace, read_entries
from evalcache.workload.logimport import import_log
from evalcache.workload.trace import META_KEY, OUTCOMES, SCHEMA, read_trace, write_trace

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BASE = {
    "workload": "mixed",
    "strategy": "explicit",
    "duration_s": 30,
    "rate": 20,
    "seed": 4,
    "scale": 0.02,
    "stale_sample": 0.0,
    "baseline": False,
}


def _record_and_replay(settings: Any, tmp_path: Path, **extra: Any) -> tuple[dict, dict, Path]:
    params = {**BASE, **extra}
    first = run({**params, "record_trace": True}, settings=settings, out=tmp_path, progress=False)
    assert first.folder is not None
    path = first.folder / "trace.parquet"
    again = run(
        {
            **{k: v for k, v in params.items() if k not in ("rate", "duration_s")},
            "workload": f"trace:{path}",
        },
        settings=settings,
        progress=False,
    )
    return first.summary, again.summary, path


def test_serial_replay_gives_the_same_outcomes_and_the_file_holds_them(
    runner_settings: Any, tmp_path: Path
) -> None:
    a, b, path = _record_and_replay(runner_settings, tmp_path)
    assert a["outcome_digest"] == b["outcome_digest"]
    for key in ("requests", "reads", "writes", "hits", "misses", "warmup_s", "simulated_s"):
        assert a[key] == b[key], key
    # the file: schema, metadata, and one outcome per request in arrival order
    table = pq.read_table(path)
    assert table.schema.remove_metadata().equals(SCHEMA)
    tr = read_trace(path)
    assert b["params"]["workload"] == f"trace:{path}"
    assert b["params"]["rate"] == pytest.approx(len(tr) / 30) and b["params"]["duration_s"] == 30
    meta = tr.meta
    assert meta.source == "run" and meta.duration_s == 30 and meta.warmup_s == a["warmup_s"]
    assert meta.run["outcome_digest"] == a["outcome_digest"]
    assert meta.specializations and meta.pool_sizes["users"] > 0 and meta.ttl["user_profile"] > 0
    assert bool((np.diff(tr.t) >= 0).all()) and int((tr.outcome < 0).sum()) == 0
    outcomes = [OUTCOMES[c] for c in tr.outcome]
    counted = tr.t >= a["warmup_s"]
    reads = np.array([tr.op_names[o].startswith("read:") for o in tr.op])
    assert int((counted & reads).sum()) == a["reads"]
    hits = sum(1 for o, c in zip(outcomes, counted, strict=True) if c and o == "hit")
    assert hits == a["hits"]
    # writes carry the dependency groups they made stale
    wrote = [g for g, o in zip(tr.invalidates or [], outcomes, strict=True) if o == "write"]
    assert wrote and all(g for g in wrote)
    assert not [g for gs in wrote for g in gs if g.endswith("*")]  # looked up, not wildcards
    assert META_KEY in table.schema.metadata
    # exported from the run folder: the first read's key, its fill's TTL, the writes' deletes
    out = path.parent / "twitter.csv"
    stats = export_trace(read_trace(path), "twitter", out)
    first = next(read_entries(tr))
    row = out.read_text().splitlines()[0].split(",")
    assert row[1] == first.keys[0] and row[5] == "get" and OUTCOMES[first.outcome] == "miss"
    fill = out.read_text().splitlines()[1].split(",")
    family_ttl = tr.meta.ttl[FAMILIES[first.family].ttl_setting]
    assert (
        fill[1] == row[1]
        and fill[5] == "set"
        and float(fill[6]) == pytest.approx(family_ttl, abs=1)
    )
    assert stats.ops["delete"] > 0 and stats.ops["get"] >= a["reads"]


def test_overlap_replay_gives_the_same_outcomes(runner_settings: Any, tmp_path: Path) -> None:
    a, b, _ = _record_and_replay(
        runner_settings, tmp_path, workload="booking", concurrency="overlap", db_pool=2
    )
    assert a["outcome_digest"] == b["outcome_digest"]
    assert (
        a["misses"] == b["misses"]
        and a["latency"]["all"]["p99_ms"] == b["latency"]["all"]["p99_ms"]
    )


@pytest.mark.parametrize("workload", ["ycsb_d", "ycsb_e"])
def test_a_trace_with_inserts_and_scans_replays_and_exports(
    runner_settings: Any, tmp_path: Path, workload: str
) -> None:
    """Ids the trace inserts are valid later in it; a scan's entries export one key per id."""
    a, b, path = _record_and_replay(
        runner_settings, tmp_path, workload=workload, strategy="tags", rate=40, duration_s=20
    )
    assert a["writes"] > 0 and a["outcome_digest"] == b["outcome_digest"]
    tr = read_trace(path)
    entries = list(read_entries(tr))
    if workload == "ycsb_e":
        longest = max(len(e.keys) for e in entries)
        assert longest > 1 and all(k.startswith("user_profile:") for e in entries for k in e.keys)
    stats = export_trace(tr, "libcachesim", tmp_path / "lcs.csv")
    assert stats.ops["get"] == sum(len(e.keys) for e in entries)


def test_an_imported_log_runs_end_to_end_and_bad_ids_name_their_line(
    runner_settings: Any, tmp_path: Path
) -> None:
    seeded = read_seeded(runner_settings.database_url)
    u, e = seeded.pools["users"][:3].tolist(), seeded.pools["experts"][:2].tolist()
    lines = [
        f"0.5,read,user_profile,{u[0]},",
        f"1.0,read,user_profile,{u[0]},",
        f"2.0,read,experts_by_spec,{seeded.spec_names[0]},",
        f"3.0,read,user_profiles_batch,{u[0]} {u[1]} {u[2]},",
        f"4.0,write,user_profile,{u[0]},preferences",
        f"5.0,read,user_profile,{u[0]},",
        f"6.0,read,expert_basic,{e[0]},",
        f"7.0,write,create_appointment,{u[1]} {e[1]},",
        "8.0,read,dashboard_admin,,",
        f"9.0,read,expert_basic,{e[0]},",
    ]
    log = tmp_path / "app.csv"
    log.write_text("time,op,family,ids,detail\n" + "\n".join(lines) + "\n")
    path = write_trace(import_log(log), tmp_path / "app.parquet")
    params = {
        "workload": f"trace:{path}",
        "strategy": "explicit",
        "scale": 0.02,
        "stale_sample": 0.0,
        "baseline": False,
        "warmup_s": 0,
        "record_trace": True,
    }
    result = run(params, settings=runner_settings, out=tmp_path / "runs", progress=False)
    s = result.summary
    assert s["requests"] == len(lines) and s["writes"] == 2 and s["errors"] == 0
    assert s["simulated_s"] == pytest.approx(8.5 + 8.5 / 9)  # from the first: last + mean gap
    assert result.folder is not None
    outcomes = [OUTCOMES[c] for c in read_trace(result.folder).outcome]
    # the second read hits; the write invalidates; the read after it misses
    assert outcomes[:2] == ["miss", "hit"] and outcomes[4:6] == ["write", "miss"]
    assert outcomes[9] == "hit" and s["hits"] == outcomes.count("hit")
    # an id the database does not have: refused before anything runs, naming the log's line
    lines[2] = "2.0,read,user_profile,999999999,"
    log.write_text("time,op,family,ids,detail\n" + "\n".join(lines) + "\n")
    write_trace(import_log(log), path)
    with pytest.raises(ConfigError, match=rf"{log} line 4: ids.*999999999.*not in pool 'users'"):
        run(params, settings=runner_settings, progress=False)
