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

from evalcache.errors import ConfigError
from evalcache.runner import run
from evalcache.runner.params import parse_params
from evalcache.workload.trace import META_KEY, OUTCOMES, SCHEMA, read_trace

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BASE = {
    "workload": "mixed",
    "strategy": "explicit",
    "duration_s": 60,
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
        {**{k: v for k, v in params.items() if k not in ("rate", "duration_s")},
         "workload": f"trace:{path}"},
        settings=settings, progress=False,
    )  # fmt: skip
    return first.summary, again.summary, path


def test_serial_replay_gives_the_same_outcomes_and_the_file_holds_them(
    runner_settings: Any, tmp_path: Path
) -> None:
    a, b, path = _record_and_replay(runner_settings, tmp_path)
    assert a["outcome_digest"] == b["outcome_digest"]
    for key in ("requests", "reads", "writes", "hits", "misses", "warmup_s", "simulated_s"):
        assert a[key] == b[key], key
    assert b["params"]["workload"] == f"trace:{path}"
    assert b["params"]["rate"] == pytest.approx(a["requests_total"] / 60) if "requests_total" in a else True
    # the file: schema, metadata, and one outcome per request in arrival order
    table = pq.read_table(path)
    assert table.schema.remove_metadata().equals(SCHEMA)
    tr = read_trace(path)
    meta = tr.meta
    assert meta.source == "run" and meta.duration_s == 60 and meta.warmup_s == a["warmup_s"]
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
    assert META_KEY in table.schema.metadata


def test_overlap_replay_gives_the_same_outcomes(runner_settings: Any, tmp_path: Path) -> None:
    a, b, _ = _record_and_replay(
        runner_settings, tmp_path, workload="booking", concurrency="overlap", db_pool=2
    )
    assert a["outcome_digest"] == b["outcome_digest"]
    assert a["misses"] == b["misses"] and a["latency"]["all"]["p99_ms"] == b["latency"]["all"]["p99_ms"]


def test_overrides_a_trace_cannot_take_are_refused(runner_settings: Any, tmp_path: Path) -> None:
    first = run({**BASE, "duration_s": 20, "record_trace": True}, settings=runner_settings,
                out=tmp_path, progress=False)  # fmt: skip
    assert first.folder is not None
    name = f"trace:{first.folder}"  # a run folder stands for its trace.parquet
    for key, value in (("rate", 5), ("skew", 0.5), ("write_ratio", 0.1)):
        with pytest.raises(ConfigError, match=key):
            parse_params({"workload": name, key: value})
    with pytest.raises(ConfigError, match="longer than the trace"):
        parse_params({"workload": name, "duration_s": 40})
    assert parse_params({"workload": name, "duration_s": 10}).spec().duration_s == 10
    with pytest.raises(ConfigError, match="cannot be read"):
        parse_params({"workload": f"trace:{tmp_path}/none.parquet"})
