"""Generate the project's notebooks (run ``python notebooks/build.py``; commit the .ipynb files).

The notebooks stay thin: a markdown title, one cell tagged ``parameters``, then calls into
``evalcache`` and charts from ``evalcache.report``. Their parameter names and defaults are listed
in ``PARAMETERS`` below; tests check them with ``papermill.inspect_notebook``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# name -> (parameter, default) in cell order: the documented parameters of each notebook.
PARAMETERS: dict[str, list[tuple[str, object]]] = {
    "experiment": [
        ("workload", "mixed"),
        ("strategy", "tags"),
        ("ttl_scale", 1.0),
        ("mode", "virtual"),
        ("duration_s", 600),
        ("seed", 1),
        ("scale", 0.1),
        ("stale_sample", 1.0),
        ("refresh", None),
        ("stampede", None),
        ("rate", None),
        ("warmup_s", None),
        ("results_dir", "../runs/notebook"),
    ],
    "ttl_sweep": [("sweep_dir", "../runs/default")],
    "strategies": [("sweep_dir", "../runs/default")],
    "workloads": [("sweep_dir", "../runs/default")],
    "summary": [("sweep_dir", "../runs/default"), ("workload", "mixed")],
}

LOAD_SWEEP = """\
from pathlib import Path

from evalcache.report import charts
from evalcache.results import load_families
from evalcache.sweep import collect

runs = collect(Path(sweep_dir))
families = charts.attach_params(load_families(Path(sweep_dir)), runs)
print(f"{len(runs)} runs, {len(families)} run x family rows from {sweep_dir}")"""

BODIES: dict[str, tuple[str, list[str]]] = {
    "experiment": (
        "# One experiment\n\nRuns one configuration with `evalcache.runner.run`, saves the "
        "results to `results_dir`, and charts them. `None` parameters take the runner's default.",
        [
            """\
from pathlib import Path

import pandas as pd
from IPython.display import display

from evalcache import runner
from evalcache.report import charts, scorecard

params = dict(
    workload=workload, strategy=strategy, ttl_scale=ttl_scale, mode=mode,
    duration_s=duration_s, seed=seed, scale=scale, stale_sample=stale_sample,
    refresh=refresh, stampede=stampede, rate=rate, warmup_s=warmup_s,
)
result = runner.run(
    {k: v for k, v in params.items() if v is not None}, out=Path(results_dir),
             progress=False)
summary = result.summary""",
            """\
keys = ["hit_rate", "db_reduction", "stale_read_rate", "db_statements", "errors",
        "time_model", "simulated_s", "warmup_s", "elapsed_s"]
display(pd.Series({k: summary.get(k) for k in keys}, name="value").to_frame())""",
            "charts.show(charts.hit_rate_over_time(result.timeseries, summary['warmup_s']))",
            "charts.show(charts.latency_cdf(result.latency))",
            "charts.show(charts.db_load_over_time(result.timeseries, summary))",
            "charts.show(charts.staleness_by_family(charts.families_frame(summary)))",
            "display(scorecard.run_scorecard(summary)[['target', 'shown', 'passed', 'how']])",
        ],
    ),
    "ttl_sweep": (
        "# TTL sweep\n\nHit rate, database load, staleness and Redis memory versus TTL scale, "
        "per workload, with the analytical model overlaid; then the trade-off frontier.",
        [
            LOAD_SWEEP,
            "charts.show(charts.metric_vs_ttl(runs, 'hit_rate', 'hit rate (%)', "
            "model='model_hit_rate', title='Hit rate versus TTL scale (dashed: model)'))",
            "charts.show(charts.metric_vs_ttl(runs, 'db_reduction', 'fewer DB statements (%)', "
            "title='Database load saved versus TTL scale'))",
            "charts.show(charts.metric_vs_ttl(runs, 'stale_read_rate', "
            "'stale-read rate (% of checked reads)', title='Staleness versus TTL scale'))",
            """\
mem = charts.column(runs, "redis_used_memory_bytes", "redis_used_memory")
if mem:
    runs["redis_memory_mb"] = runs[mem] / 1e6
charts.show(charts.metric_vs_ttl(runs, "redis_memory_mb", "Redis memory used (MB)",
                                 percent=False, title="Redis memory versus TTL scale"))""",
            "charts.show(charts.tradeoff_frontier(runs))",
        ],
    ),
    "strategies": (
        "# Invalidation strategies\n\nEvery strategy on the same workloads, side by side; "
        "the seed plan's own strategy (`seed`) comes first so its gaps are visible.",
        [
            LOAD_SWEEP,
            """\
charts.show(charts.compare_bars(
    runs, "param_strategy",
    {"hit_rate": "hit rate (%)", "db_reduction": "fewer DB statements (%)",
     "stale_read_rate": "stale reads (%)"},
    title="Hit rate, database load and staleness per strategy",
    percent=("hit_rate", "db_reduction", "stale_read_rate"),
))""",
            """\
charts.show(charts.compare_bars(
    runs, "param_strategy",
    {"invalidation_time_ms": "invalidation time (ms)", "keys_removed": "keys removed",
     "latency_all_p99_ms": "p99 latency (ms)"},
    title="Invalidation cost and tail latency per strategy",
))""",
            "charts.show(charts.family_heatmap(families, 'param_strategy', 'stale_read_rate', "
            "title='Stale reads per query family and strategy', label='stale-read rate (%)'))",
        ],
    ),
    "workloads": (
        "# Workloads\n\nWhere caching pays and where it does not: per workload and per query "
        "family, including the stampede (`flash_crowd`) and `cold_start` scenarios.",
        [
            LOAD_SWEEP,
            """\
charts.show(charts.compare_bars(
    runs, "param_workload",
    {"hit_rate": "hit rate (%)", "db_reduction": "fewer DB statements (%)",
     "latency_all_p99_ms": "p99 latency (ms)"},
    title="What the cache buys per workload", percent=("hit_rate", "db_reduction"),
))""",
            "charts.show(charts.family_heatmap(families, 'param_workload', 'hit_rate', "
            "title='Hit rate per query family and workload', label='hit rate (%)'))",
            """\
special = runs[runs.get("param_workload", "").isin(["flash_crowd", "cold_start"])]
charts.show(charts.compare_bars(
    special, "param_workload",
    {"hit_rate": "hit rate (%)", "latency_miss_p99_ms": "p99 miss latency (ms)"},
    title="Stampede and cold start", percent=("hit_rate",),
))""",
        ],
    ),
    "summary": (
        "# Scorecard\n\nThe seed plan's success targets per configuration (✓ pass, ✗ fail, "
        "with the measured value), and the configuration that meets the most targets.",
        [
            LOAD_SWEEP,
            """\
from IPython.display import display

from evalcache.report import scorecard

display(scorecard.scorecard(runs, families))""",
            """\
rec = scorecard.recommend(runs, families, workload)
print(rec.text)""",
            "display(scorecard.score_run({}).drop(columns=['measured', 'shown', 'passed', 'key']))",
        ],
    ),
}


def parameters_source(name: str) -> str:
    return "\n".join(f"{key} = {value!r}" for key, value in PARAMETERS[name])


def build(name: str) -> nbformat.NotebookNode:
    title, cells = BODIES[name]
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells = [
        new_markdown_cell(title),
        new_code_cell(parameters_source(name), metadata={"tags": ["parameters"]}),
        *(new_code_cell(src) for src in cells),
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name}-{i}"  # stable ids: rebuilding gives the same file
    return nb


def main(out: Path = HERE) -> list[Path]:
    paths = []
    for name in PARAMETERS:
        path = out / f"{name}.ipynb"
        nbformat.write(build(name), path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
