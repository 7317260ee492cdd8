"""TEST FIXTURES ONLY: synthetic run folders in the results-contract format, and a test notebook.

Nothing here is measured. ``write_fake_run`` writes ``summary.json``, ``timeseries.parquet`` and
``latency.parquet`` as ``evalcache/results.py`` documents them (schema_version 1), with numbers
drawn from the seed, so the sweep engine and the reports can be tested before (and independently
of) the experiment runner. ``fixture_experiment.ipynb`` (built by :func:`build_fixture_notebook`,
``python tests/sweep/fake_runs.py`` rewrites it) is a parameterised notebook that calls
``write_fake_run``; it is never used by ``make report``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalcache.domain.families import FAMILIES as REGISTRY
from evalcache.metrics import wilson_upper

FAMILIES = tuple(REGISTRY)
OUTCOMES = ("all", "hit", "miss", "uncached", "write")
NOTEBOOK = Path(__file__).with_name("fixture_experiment.ipynb")

PARAMETERS_CELL = """\
workload = "mixed"
strategy = "tags"
ttl_scale = 1.0
mode = "virtual"
seed = 1
fail = False
secret_url = ""
results_dir = "results"
"""

BODY_CELLS = [
    """\
import sys

print("kernel python:", sys.executable)
""",
    """\
if fail:
    raise RuntimeError(f"fixture cell failed on purpose (seed={seed})")
""",
    """\
from fake_runs import write_fake_run

params = dict(workload=workload, strategy=strategy, ttl_scale=ttl_scale, mode=mode, seed=seed)
folder = write_fake_run(results_dir, params)
print("wrote", folder)
if secret_url:
    print("connecting to", secret_url)
""",
    """\
import matplotlib.pyplot as plt

fig, ax = plt.subplots()
ax.plot([0, 1, 2], [seed, seed + 1, seed])
ax.set_title("fixture chart")
plt.show()
""",
]


def build_fixture_notebook(path: Path = NOTEBOOK) -> Path:
    """Write the test notebook: a ``parameters`` cell, then cells calling :func:`write_fake_run`."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [new_code_cell(PARAMETERS_CELL.rstrip(), metadata={"tags": ["parameters"]})]
    nb.cells += [new_code_cell(src.rstrip()) for src in BODY_CELLS]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(nb, path)
    return path


#: Write ops of the fake per-write invalidation check.
WRITE_OPS = ("write:add_review", "write:create_appointment", "write:user_profile")


def _accuracy(figures: list[tuple[int, int, int, int, int]]) -> dict[str, Any]:
    """Per-write figures from (writes, with dependents, fully invalidated, checked, stale)."""
    writes, deps, fully, checked, stale = (sum(col) for col in zip(*figures, strict=True))
    later = stale // 2
    return {
        "writes": writes,
        "writes_with_dependents": deps,
        "writes_fully_invalidated": fully,
        "fully_invalidated_share": fully / deps if deps else None,
        "entries_checked": checked,
        "entries_stale": stale,
        "entries_consistent_later": later,
        "entries_never_consistent": stale - later,
        "consistent_p50_s": 1.0 if later else None,
        "consistent_p99_s": 9.0 + stale / 10 if later else None,
        "consistent_max_s": 10.0 + stale / 10 if later else None,
        "never_age_max_s": 50.0 if stale - later else None,
    }


def fake_invalidation_accuracy(strategy: str) -> dict[str, Any]:
    """The per-write check's figures: ``ttl`` leaves every write's dependents stale, ``seed``
    every review's and some others', the rest none."""
    rows = {}
    for i, op in enumerate(WRITE_OPS):
        writes = 100 + 10 * i
        deps = writes - 5
        fully = {"ttl": 0, "seed": 0 if op == "write:add_review" else deps - 4 * i}.get(
            strategy, deps
        )
        rows[op] = (writes, deps, fully, 3 * deps, 2 * (deps - fully))
    return {
        "overall": _accuracy(list(rows.values())),
        "by_write": {op: _accuracy([r]) for op, r in rows.items()},
    }


def fake_summary(params: Mapping[str, Any]) -> dict[str, Any]:
    """A contract-shaped summary whose numbers depend on the parameters (deterministic)."""
    seed = int(params.get("seed", 1))
    ttl = float(params.get("ttl_scale", 1.0))
    rng = np.random.default_rng(seed * 1000 + int(ttl * 100))
    hit_rate = float(min(0.97, 0.55 + 0.1 * np.log2(ttl * 4) + rng.uniform(0, 0.05)))
    reads, writes = 20_000, 1_000
    hits = int(reads * hit_rate)
    stale_checked = hits
    stale_rate = float(min(0.2, 0.004 * ttl * (2 if params.get("strategy") == "ttl" else 1)))
    baseline = reads + writes
    db = (reads - hits) + writes
    lat = {
        o: {
            "p50_ms": 0.2 + i,
            "p95_ms": 0.5 + i,
            "p99_ms": 1.0 + 2 * i,
            "p999_ms": 3.0 + 2 * i,
            "max_ms": 9.0 + 3 * i,
            "count": 100 * (i + 1),
        }
        for i, o in enumerate(OUTCOMES)
    }
    families = {}
    for j, fam in enumerate(FAMILIES):
        f_reads = 2000
        f_hits = int(f_reads * min(0.99, hit_rate + (j - 5) * 0.01))
        families[fam] = {
            "reads": f_reads,
            "hits": f_hits,
            "misses": f_reads - f_hits,
            "negative_hits": 0,
            "hit_rate": f_hits / f_reads,
            "stale_reads": int(f_hits * stale_rate),
            "stale_checked": f_hits,
            "stale_read_rate": stale_rate,
            "stale_read_rate_upper95": wilson_upper(int(f_hits * stale_rate), f_hits),
            "p50_ms": 0.3 + j,
            "p99_ms": 2.0 + 30 * j,
            "db_statements": f_reads - f_hits,
            "model_hit_rate": hit_rate,
            "hit_p50_ms": 0.1 + 0.01 * j,
            "hit_p99_ms": 0.5 + j,
            "uncached_p50_ms": 1.0 + j,
        }
    return {
        "schema_version": 1,
        "run_id": f"fake-{seed}-{ttl}",
        "started_at": "2025-01-01T00:00:00Z",
        "params": {
            "workload": "mixed",
            "strategy": "tags",
            "ttl_scale": 1.0,
            "mode": "virtual",
            "duration_s": 600,
            "seed": 1,
            "scale": 0.1,
            "stale_sample": 1.0,
            "rate": 50.0,
            "refresh": False,
            "stampede": False,
            "cache": True,
            **dict(params),
        },
        "requests": reads + writes,
        "reads": reads,
        "writes": writes,
        "hits": hits,
        "misses": reads - hits,
        "negative_hits": 0,
        "expirations": 10,
        "hit_rate": hit_rate,
        "stale_reads": int(stale_checked * stale_rate),
        "stale_checked": stale_checked,
        "stale_read_rate": stale_rate,
        "stale_age_p50_s": 3.0,
        "stale_age_max_s": 30.0,
        "db_statements": db,
        "db_statements_server": db + 3,
        "db_rows": 5 * db,
        "db_time_ms": 0.1 * db,
        "db_statements_baseline": baseline,
        "db_reduction": 1 - db / baseline,
        "model_hit_rate": hit_rate - 0.005,
        "latency": lat,
        "invalidations": writes,
        "keys_removed": 2 * writes,
        "invalidation_time_ms": 50.0,
        "notify_lag_p50_ms": None,
        "notify_lag_p99_ms": None,
        "refreshes_tried": 100,
        "refreshes_succeeded": 99,
        "errors": 2,
        "error_rate": 2 / (reads + writes),
        "redis": {"commands": 50_000, "used_memory_bytes": int(1e6 * ttl), "keys": 900},
        "saturated": False,
        "elapsed_s": 1.5,
        "simulated_s": 600.0,
        "time_model": "virtual/inline refresh, ideal notify lag",
        "families": families,
        "stale_read_rate_upper95": wilson_upper(int(stale_checked * stale_rate), stale_checked),
        "stale_age_p99_s": 25.0,
        "cache_errors": 3,
        "template_database": "evalcache",
        "frequent_hit_rate": min(0.99, hit_rate + 0.05),
        "frequent_keys": 120,
        "frequent_reads": 16_000,
        "keys_read": 900,
        "data_as_of": "2025-01-06T00:00:00+00:00",
        "postgres_version": "16.4",
        "redis_version": "7.2.4",
        "invalidation_accuracy": fake_invalidation_accuracy(str(params.get("strategy", "tags"))),
    }


def _hdr(rng: np.random.Generator, median_us: float) -> str:
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 60_000_000, 3)
    for v in rng.lognormal(np.log(median_us), 0.5, 500):
        h.record_value(max(1, int(v)))
    encoded = h.encode()
    return encoded.decode() if isinstance(encoded, bytes) else base64.b64encode(encoded).decode()


def write_fake_run(results_dir: str | Path, params: Mapping[str, Any]) -> Path:
    """Write one synthetic run folder under ``results_dir``; return the folder."""
    summary = fake_summary(params)
    folder = Path(results_dir) / summary["run_id"].replace(".", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    minutes = np.arange(10)
    hr = summary["hit_rate"]
    ts = pd.DataFrame(
        {
            "window_start_s": minutes * 60.0,
            "requests": 2100,
            "hits": (hr * 2000 * (1 - 0.5 ** (minutes + 1))),
            "misses": 0,
            "db_statements": 0,
            "stale_reads": 1,
        }
    )
    ts["misses"] = 2000 - ts["hits"]
    ts["hit_rate"] = ts["hits"] / 2000
    ts["db_statements"] = ts["misses"] + 100
    ts.to_parquet(folder / "timeseries.parquet")
    rng = np.random.default_rng(int(summary["params"]["seed"]))
    rows = []
    for fam in FAMILIES[:3]:
        for k, outcome in enumerate(("hit", "miss", "uncached")):
            lat = summary["latency"][outcome]
            rows.append(
                {
                    "family": fam,
                    "outcome": outcome,
                    "count": lat["count"],
                    **{q: lat[q] for q in ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")},
                    "mean_ms": lat["p50_ms"],
                    "hdr": _hdr(rng, 200.0 * (k + 1)),
                }
            )
    pd.DataFrame(rows).to_parquet(folder / "latency.parquet")
    return folder


if __name__ == "__main__":
    print(build_fixture_notebook())
