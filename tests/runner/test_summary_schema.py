"""Every key a real run writes is in the schema (in its order) and documented."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_schema_doc import PARQUET, documented_paths

from evalcache.metrics import wilson_upper
from evalcache.results_schema import Summary, key_paths, keys, required_keys, unknown_keys
from evalcache.runner import run
from evalcache.runner.database import AS_OF
from evalcache.settings import Settings

SCALE = 0.02  # the template's scale (conftest.SCALE)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_every_written_key_is_in_the_schema_and_documented(
    runner_settings: Settings, tmp_path: Path
) -> None:
    params = {
        "workload": "mixed",  # reads of every family and writes: every nested part is filled
        "strategy": "tags",
        "scale": SCALE,
        "duration_s": 60,
        "rate": 20.0,
        "seed": 3,
        "stale_sample": 1.0,
    }
    folder = run(params, settings=runner_settings, out=tmp_path, progress=False).folder
    assert folder is not None
    written = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert written["families"] and written["write_ops"] and written["db_server"]
    assert "baseline_reused" in written and "server_keys" in written["redis"]
    accuracy = written["invalidation_accuracy"]  # the per-write check runs with the oracle
    assert accuracy["overall"]["writes"] > 0 and accuracy["by_write"]

    assert unknown_keys(written) == [], "keys the runner writes that the schema lacks"
    undocumented = key_paths(written) - documented_paths()
    assert not undocumented, f"written but not in docs/results-schema.md: {undocumented}"
    # Required keys first, then the optional ones, in the order the schema declares them.
    assert list(written) == [k for k in keys(Summary) if k in written]
    assert set(required_keys(Summary)) <= set(written)
    for file, columns in PARQUET.items():
        assert set(pd.read_parquet(folder / file).columns) <= columns, file

    # The staleness bound is the one of the counts written beside it, overall and per family.
    assert written["stale_checked"] > 0
    for figures in (written, *written["families"].values()):
        bound = wilson_upper(figures["stale_reads"], figures["stale_checked"])
        assert figures["stale_read_rate_upper95"] == bound
    assert written["stale_read_rate_upper95"] > (written["stale_read_rate"] or 0.0)

    # The frequently accessed keys hold 80 % of the cacheable reads; hit latencies per family
    # come from the hits, cache-off ones from the baseline; provenance names data and servers.
    looked = written["hits"] + written["misses"]
    assert 0 < written["frequent_keys"] <= written["keys_read"]
    assert 0.8 * looked <= written["frequent_reads"] <= looked
    assert 0.0 <= written["frequent_hit_rate"] <= 1.0
    assert written["data_as_of"] == AS_OF
    assert written["postgres_version"] and written["redis_version"]
    for figures in written["families"].values():
        assert (figures["hit_p99_ms"] is None) == (figures["hits"] == 0)
        assert figures["uncached_p50_ms"] is not None  # the baseline read this family too
